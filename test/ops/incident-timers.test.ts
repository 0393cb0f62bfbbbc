import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { randomBytes, randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bearer } from '../helpers/api.js';
import { startOpsFixture, type OpsFixture } from './ops-fixture.js';

// The first minutes of an incident (ADR 0060): acknowledge < 5 min, assess < 10 min, assemble the
// team < 15 min, the first internal update at 15 min; breaches reminded to the routed targets, among
// them a Slack incoming webhook (a local server stands for Slack).

const AM_TOKEN = randomBytes(24).toString('hex');
const ROUTING_KEY = randomBytes(16).toString('hex');

/** Slack's incoming-webhook endpoint: answers 200 "ok" and keeps each posted JSON body. */
async function fakeSlack() {
  const posts: { path: string; text: string }[] = [];
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      posts.push({ path: String(req.url), text: (JSON.parse(Buffer.concat(chunks).toString('utf8')) as { text: string }).text });
      res.writeHead(200, { 'content-type': 'text/plain' }).end('ok');
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return { posts, url: `${base}/services/T000/B000/${randomBytes(12).toString('hex')}`, close: () => new Promise<void>((r) => server.close(() => r())) };
}

describe('incident timers and Slack #incidents (ADR 0060)', () => {
  let f: OpsFixture;
  let slack: Awaited<ReturnType<typeof fakeSlack>>;
  let slackId: string;

  beforeAll(async () => {
    slack = await fakeSlack();
    f = await startOpsFixture({ amToken: AM_TOKEN, routingKey: ROUTING_KEY });
    slackId = await f.connect({ connector: 'slack', name: '#incidents', credentials: { type: 'bot_token', token: 'xoxb-test-token', incomingWebhookUrl: slack.url } });
    const routes = await f.t.inject({ method: 'PUT', url: '/v1/ops/escalation-routes', headers: bearer(f.operator.token), payload: { routes: [{ connectionId: slackId, severities: [1, 2, 3], reminders: true }] } });
    expect(routes.statusCode, routes.body).toBe(200);
  }, 120_000);
  afterAll(async () => {
    await f?.close();
    await slack?.close();
  });

  const open = async (name: string) => {
    const res = await f.t.inject({
      method: 'POST',
      url: '/v1/ops/alertmanager',
      headers: bearer(AM_TOKEN),
      payload: {
        version: '4',
        groupKey: `{}:{alertname="${name}"}`,
        truncatedAlerts: 0,
        status: 'firing',
        receiver: 'v01t-incidents',
        groupLabels: { alertname: name },
        commonLabels: { alertname: name },
        commonAnnotations: {},
        alerts: [{ status: 'firing', labels: { alertname: name, service: 'orchestrator', severity: 'critical' }, annotations: {}, startsAt: f.clock.now().toISOString(), endsAt: '0001-01-01T00:00:00Z', fingerprint: randomUUID() }],
      },
    });
    expect(res.statusCode, res.body).toBe(200);
    return { id: res.json().incidentId as string, number: res.json().number as number };
  };
  const at = async (time: string) => {
    f.clock.set(`2026-01-05T${time}Z`);
    await f.t.platform.ops!.tick();
  };
  const act = (id: string, what: string, body: object = {}) => f.t.inject({ method: 'POST', url: `/v1/ops/incidents/${id}/${what}`, headers: bearer(f.operator.token), payload: body });
  const view = async (id: string) => (await f.t.inject({ method: 'GET', url: `/v1/ops/incidents/${id}`, headers: bearer(f.operator.token) })).json().incident;
  const metrics = async () => (await f.t.inject({ method: 'GET', url: '/metrics' })).body;
  const gauge = async (timer: string) => Number(new RegExp(`^v01t_incidents_breaching\\{timer="${timer}"[^}]*\\} (\\d+)$`, 'm').exec(await metrics())![1]);
  const breaches = async (timer: string) => Number(new RegExp(`^v01t_incident_timer_breaches_total\\{timer="${timer}"[^}]*\\} (\\d+)$`, 'm').exec(await metrics())![1]);
  const posted = (n: number) => slack.posts.filter((p) => p.text.includes(`Incident ${n}:`)).map((p) => p.text.split('\n')[0]!.replace(/ \| .*$/, ''));

  it('reminds #incidents once per breached timer, shows the breach in the incident and the gauge, and moves the first internal update to 15 minutes', async () => {
    await at('10:00:00');
    const i = await open('ApiDown');
    await at('10:00:30');
    expect((await view(i.id)).timers).toEqual({
      acknowledge: { dueAt: '2026-01-05T10:05:00.000Z', doneAt: null, breached: false },
      assess: { dueAt: '2026-01-05T10:10:00.000Z', doneAt: null, breached: false },
      assemble: { dueAt: '2026-01-05T10:15:00.000Z', doneAt: null, breached: false },
    });
    expect((await view(i.id)).internalUpdateDueAt).toBe('2026-01-05T10:15:00.000Z');
    const before = await breaches('acknowledge');

    await at('10:04:59');
    expect(posted(i.number)).toEqual([]);
    await at('10:05:00');
    expect(posted(i.number)).toEqual([':alarm_clock: *Reminder*: Acknowledgement (within 5 minutes of opening) was due 2026-01-05T10:05:00.000Z']);
    expect(await gauge('acknowledge')).toBe(1);
    expect(await breaches('acknowledge')).toBe(before + 1);
    // Once per timer, however many ticks see it.
    await at('10:06:00');
    expect(posted(i.number)).toHaveLength(1);

    // Acknowledged late, assessed (a note) in time: the acknowledgement stays a breach, the gauge clears.
    expect((await act(i.id, 'acknowledge')).statusCode).toBe(200);
    f.clock.set('2026-01-05T10:08:00Z');
    expect((await act(i.id, 'notes', { text: 'Impact: all API calls fail; revenue at risk' })).statusCode).toBe(201);
    await at('10:10:00');
    expect(await gauge('acknowledge')).toBe(0);
    expect(await gauge('assess')).toBe(0);
    const v = await view(i.id);
    expect(v.timers.acknowledge).toEqual({ dueAt: '2026-01-05T10:05:00.000Z', doneAt: '2026-01-05T10:06:00.000Z', breached: true });
    expect(v.timers.assess).toEqual({ dueAt: '2026-01-05T10:10:00.000Z', doneAt: '2026-01-05T10:08:00.000Z', breached: false });
    expect(v.internalUpdateDueAt).toBe('2026-01-05T10:38:00.000Z');

    // Nobody formed the team by 10:15: reminded; assigning the three roles ends the breach.
    await at('10:15:00');
    expect(posted(i.number)).toHaveLength(2);
    expect(posted(i.number)[1]).toMatch(/^:alarm_clock: \*Reminder\*: Response team: incident commander, technical lead and communications lead \(within 15 minutes of opening\) was due 2026-01-05T10:15:00.000Z$/);
    expect(await gauge('assemble')).toBe(1);
    f.clock.set('2026-01-05T10:17:00Z');
    const roles = await act(i.id, 'roles', { incidentCommander: f.operator.id, technicalLead: f.admin.id });
    expect(roles.statusCode, roles.body).toBe(200);
    expect(roles.json().incident.timers.assemble.doneAt).toBeNull();
    await act(i.id, 'roles', { communicationsLead: f.operator.id });
    await at('10:18:00');
    expect(await gauge('assemble')).toBe(0);
    expect((await view(i.id)).timers.assemble).toEqual({ dueAt: '2026-01-05T10:15:00.000Z', doneAt: '2026-01-05T10:17:00.000Z', breached: true });
    // The timeline says whom it reminded.
    const reminders = (await view(i.id)).timeline.filter((e: { kind: string }) => e.kind === 'reminder').map((e: { data: { reminder: string } }) => e.data.reminder);
    expect(reminders).toEqual(['acknowledge', 'assemble']);
    await act(i.id, 'resolve', { resolution: 'restarted' });
  });

  it('with no update at all: assess at 10 minutes, the first internal update at 15; the Slack message names the incident', async () => {
    await at('12:00:00');
    const i = await open('QueueStuck');
    await act(i.id, 'acknowledge');
    await at('12:10:00');
    await at('12:15:00');
    expect(posted(i.number).slice().sort()).toEqual(
      [
        ':alarm_clock: *Reminder*: Impact assessment, the first internal update (within 10 minutes of opening) was due 2026-01-05T12:10:00.000Z',
        ':alarm_clock: *Reminder*: Internal update (every 30 minutes until resolved) was due 2026-01-05T12:15:00.000Z',
        ':alarm_clock: *Reminder*: Response team: incident commander, technical lead and communications lead (within 15 minutes of opening) was due 2026-01-05T12:15:00.000Z',
      ].sort(),
    );
    const message = slack.posts.find((p) => p.text.includes(`Incident ${i.number}:`))!.text;
    expect(message).toContain(`[Sev1] Incident ${i.number}: QueueStuck`);
    expect(message).toContain('Severity Sev1 (Critical), response target 15 minutes');
    // The webhook URL is a credential: stored encrypted, never in the clear.
    const stored = await f.t.platform.database.query<{ credentials: string }>('SELECT credentials FROM integration_hub.connections WHERE id = $1', [slackId]);
    expect(stored[0]!.credentials).not.toContain(slack.url.split('/').at(-1)!);
    await act(i.id, 'resolve', {});
  });
});
