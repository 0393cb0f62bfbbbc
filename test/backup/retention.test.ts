import { randomUUID } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runRetention } from '../../src/apps/retention.js';
import type { Platform } from '../../src/apps/platform.js';
import { ManualClock } from '../../src/kernel/clock.js';
import { RETENTION_CLASSES } from '../../src/kernel/module.js';
import type { AnalyticsInstance } from '../../src/services/analytics-engine/index.js';
import type { StoredEvent } from '../../src/services/analytics-engine/event-store.js';
import { createTestPlatform, TEST_DB, type TestPlatform } from '../helpers/platform.js';
import { bearer, createWorkspace, signup } from '../helpers/api.js';

/**
 * The weekly cleanup (runbook data_retention, issue 18): user activity logs 90 days, analytics
 * data 3 years, financial records (subscription and revenue events) 7 years, so they outlive the
 * analytics purge; the summary per class goes to the configured webhook connection.
 */
const DAY = 86_400_000;
const NOW = Date.parse('2026-06-14T02:00:00Z'); // a Sunday, 02:00: the runbook's slot
const clock = new ManualClock(new Date(NOW));
let t: TestPlatform;
let ws: string;
let connectionId: string;
let receiver: http.Server;
const received: { type: string; data: Record<string, unknown> }[] = [];

const daysAgo = (d: number) => NOW - d * DAY;
const yearsAgo = (y: number, extraDays = 0) => Date.UTC(new Date(NOW).getUTCFullYear() - y, 5, 14) - extraDays * DAY;
const event = (name: string, ts: number): StoredEvent => ({ workspaceId: ws, event: name, personId: 'p', userId: 'u', anonymousId: '', ts, messageId: randomUUID(), properties: { amount: 10, currency: 'EUR' }, receivedAt: ts, batchId: 'b' });

beforeAll(async () => {
  receiver = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      received.push(JSON.parse(Buffer.concat(chunks).toString('utf8')));
      res.writeHead(200).end('{}');
    });
  });
  await new Promise<void>((r) => receiver.listen(0, '127.0.0.1', r));
  t = await createTestPlatform({ V01T_EGRESS_ALLOW: '127.0.0.1', BACKUP_SCHEDULES_ENABLED: 'false' }, { clock });
  const u = await signup(t, 'Data team');
  ws = await createWorkspace(t, u, 'Ops');
  const conn = await t.inject({
    method: 'POST',
    url: `/v1/workspaces/${ws}/connections`,
    headers: bearer(u.token),
    payload: { connector: 'webhook', name: 'data-team', credentials: { secret: `whsec_${Buffer.alloc(32, 7).toString('base64')}` }, config: { url: `http://127.0.0.1:${(receiver.address() as AddressInfo).port}/retention` } },
  });
  expect(conn.statusCode, conn.body).toBe(201);
  connectionId = conn.json().connection.id;
}, 120_000);

afterAll(async () => {
  await t?.close();
  await new Promise((r) => receiver?.close(r));
});

/** The platform as configured with V01T_OPS_WORKSPACE_ID and RETENTION_NOTIFY_CONNECTION_ID (known only once created). */
function withNotification(p: Platform): Platform {
  const ops = p.config.settings.ops as { workspaceId?: string; backup: Record<string, unknown> };
  return { ...p, config: { ...p.config, settings: { ...p.config.settings, ops: { ...ops, workspaceId: ws, backup: { ...ops.backup, notifyConnectionId: connectionId } } } } } as Platform;
}

describe(`retention cleanup per class (${TEST_DB})`, () => {
  it('deletes exactly the expired rows of each class, keeps 7-year financial events past the 3-year analytics purge, and sends the summary', async () => {
    const db = t.platform.database;
    await db.query('DELETE FROM orchestrator.security_events');
    for (const d of [91, 120, 400]) await db.query(`INSERT INTO orchestrator.security_events (occurred_at, kind) VALUES ($1, 'login_failed')`, [new Date(daysAgo(d)).toISOString()]);
    for (const d of [1, 89]) await db.query(`INSERT INTO orchestrator.security_events (occurred_at, kind) VALUES ($1, 'login_failed')`, [new Date(daysAgo(d)).toISOString()]);

    const store = (t.platform.instances.get('analytics-engine') as AnalyticsInstance).services.store;
    await store.insert([
      event('app.opened', yearsAgo(3, 10)), // analytics, past 3 years: deleted
      event('app.opened', yearsAgo(3, -10)), // analytics, within 3 years: kept
      event('app.opened', daysAgo(1)), // kept
      event('subscription.started', yearsAgo(3, 10)), // financial, 3+ years: kept
      event('revenue', yearsAgo(6)), // financial, 6 years: kept
      event('subscription.cancelled', yearsAgo(7, 10)), // financial, past 7 years: deleted
      event('payment.succeeded', yearsAgo(7, 1)), // deleted
    ]);

    const summary = await runRetention(withNotification(t.platform));
    expect(summary.byClass.user_activity_logs).toBe(3);
    expect(summary.byClass.analytics_data).toBe(1);
    expect(summary.byClass.financial_records).toBe(2);
    expect(summary.byClass.audit_logs).toBe(0);
    expect(summary.byClass.user_content).toBe(0);
    expect(Object.keys(summary.byClass).sort()).toEqual([...RETENTION_CLASSES].sort());
    expect(summary.rules.every((r) => !r.error)).toBe(true);

    const left = await db.query<{ occurred_at: string | Date }>('SELECT occurred_at FROM orchestrator.security_events ORDER BY occurred_at');
    expect(left.map((r) => new Date(r.occurred_at).getTime())).toEqual([daysAgo(89), daysAgo(1)]);
    const events = (await store.eventsOfUser('u')).map((e) => `${e.event}@${String(e.timestamp).slice(0, 10)}`).sort();
    expect(events).toEqual(
      [
        `app.opened@${new Date(yearsAgo(3, -10)).toISOString().slice(0, 10)}`,
        `app.opened@${new Date(daysAgo(1)).toISOString().slice(0, 10)}`,
        `revenue@${new Date(yearsAgo(6)).toISOString().slice(0, 10)}`,
        `subscription.started@${new Date(yearsAgo(3, 10)).toISOString().slice(0, 10)}`,
      ].sort(),
    );

    // The summary reached the data team's webhook, counts per class included.
    expect(summary.notified).toBe(`sent through webhook connection ${connectionId}`);
    const sent = received.find((r) => r.type === 'v01t.retention.summary.v1');
    expect(sent?.data).toMatchObject({ byClass: { user_activity_logs: 3, analytics_data: 1, financial_records: 2 } });

    // A second run finds nothing more to delete in these classes.
    const again = await runRetention(t.platform);
    expect([again.byClass.user_activity_logs, again.byClass.analytics_data, again.byClass.financial_records]).toEqual([0, 0, 0]);
    expect(again.notified).toBeUndefined();
  });
});
