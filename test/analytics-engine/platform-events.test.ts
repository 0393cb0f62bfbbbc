import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestPlatform, type TestPlatform } from '../helpers/platform.js';
import { bearer, createWorkspace, signup } from '../helpers/api.js';
import type { AnalyticsInstance } from '../../src/services/analytics-engine/index.js';

const PLATFORM_WS = '66666666-6666-4666-8666-666666666666';
let t: TestPlatform;
let analytics: AnalyticsInstance;

async function until<T>(probe: () => Promise<T>, done: (v: T) => boolean, timeoutMs = 15_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await probe();
    if (done(v)) return v;
    if (Date.now() > deadline) throw new Error(`condition not met within ${timeoutMs} ms (last: ${JSON.stringify(v)})`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

beforeAll(async () => {
  t = await createTestPlatform({ ANALYTICS_PLATFORM_WORKSPACE_ID: PLATFORM_WS, V01T_EVENT_POLL_MS: '50' });
  analytics = t.platform.instances.get('analytics-engine') as AnalyticsInstance;
  await t.platform.startServices();
}, 120_000);

afterAll(async () => {
  await t?.close();
});

describe('platform events from the bus', () => {
  it('land in their workspace (or the platform workspace) once, and are queryable by name without version', async () => {
    const owner = await signup(t, 'Bus Owner');
    const ws = await createWorkspace(t, owner);
    const eventId = randomUUID();
    const runPayload = { runId: 'r1', workflowId: 'w1', workflowVersion: 3, durationMs: 1200 };
    await t.platform.events.publish({ id: eventId, name: 'workflow.run.succeeded.v1', workspaceId: ws, actorId: owner.id, payload: runPayload });
    const levelUpId = randomUUID();
    await t.platform.events.publish({ id: levelUpId, name: 'gamification.level.up.v1', workspaceId: null, payload: { userId: owner.id, persona: 'vCreator', level: 2, previousLevel: 1, xp: 120 } });
    await t.platform.events.relayOnce();
    // Wait for these two events by id: sign-up and workspace events of the orchestrator arrive too.
    await until(
      () => t.platform.database.query<{ n: string | number }>('SELECT count(*) AS n FROM analytics.event_buffer WHERE message_id IN ($1, $2)', [eventId, levelUpId]),
      (rows) => Number(rows[0]!.n) >= 2,
    );
    // Stop the background loop first: a batch it has claimed would otherwise be missed by drain().
    await analytics.services.flusher.stop();
    await analytics.services.flusher.drain();
    const now = t.clock.now().getTime();
    const res = await t.inject({
      method: 'POST',
      url: `/v1/workspaces/${ws}/analytics/query`,
      headers: bearer(owner.token),
      payload: { spec: { kind: 'trends', event: 'workflow.run.succeeded', interval: 'day', from: new Date(now - 86_400_000).toISOString(), to: new Date(now + 86_400_000).toISOString() } },
    });
    expect(res.statusCode, res.body).toBe(200);
    expect(res.json().rows.reduce((s: number, r: unknown[]) => s + Number(r[1]), 0)).toBe(1);
    const platformRows = await analytics.services.queries.run(PLATFORM_WS, {
      kind: 'trends',
      event: 'gamification.level.up',
      measure: 'unique_users',
      interval: 'day',
      filters: [{ property: 'persona', op: 'eq', value: 'vCreator' }],
      from: new Date(now - 86_400_000),
      to: new Date(now + 86_400_000),
    });
    expect(platformRows.rows.reduce((s, r) => s + Number(r[1]), 0)).toBe(1);
    // Redelivering the same bus event id changes nothing.
    const buffered = await t.platform.database.query('SELECT message_id FROM analytics.event_buffer WHERE message_id = $1', [eventId]);
    expect(buffered).toHaveLength(1);
  });
});
