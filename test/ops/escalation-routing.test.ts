import { randomBytes, randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ManualClock } from '../../src/kernel/clock.js';
import type { TestPlatform } from '../helpers/platform.js';
import { bearer, problem, type TestUser } from '../helpers/api.js';
import type { FakePagerDuty } from './fake-pagerduty.js';
import { startOpsFixture, type OpsFixture } from './ops-fixture.js';
import type { mailbox, webhookReceiver } from './receivers.js';

const AM_TOKEN = randomBytes(24).toString('hex');
const ROUTING_KEY = randomBytes(16).toString('hex');

function alert(name: string, labels: Record<string, string>, fingerprint: string, startsAt: string) {
  return {
    version: '4',
    groupKey: `{}:{alertname="${name}"}`,
    truncatedAlerts: 0,
    status: 'firing',
    receiver: 'v01t-incidents',
    groupLabels: { alertname: name },
    commonLabels: { alertname: name },
    commonAnnotations: {},
    alerts: [{ status: 'firing', labels: { alertname: name, service: 'orchestrator', ...labels }, annotations: {}, startsAt, endsAt: '0001-01-01T00:00:00Z', fingerprint }],
  };
}

describe('per-severity escalation routes and the communication cadence (ADR 0802)', () => {
  let t: TestPlatform;
  let clock: ManualClock;
  let pd: FakePagerDuty;
  let hooks: Awaited<ReturnType<typeof webhookReceiver>>;
  let smtp: Awaited<ReturnType<typeof mailbox>>;
  let admin: TestUser;
  let operator: TestUser;
  let viewer: TestUser;
  let outsider: TestUser;
  let opsWs: string;
  const conn: Record<'pd' | 'ceo' | 'lead' | 'vp' | 'fallback' | 'github', string> = { pd: '', ceo: '', lead: '', vp: '', fallback: '', github: '' };

  const as = (u: TestUser) => bearer(u.token);
  const get = (url: string, u: TestUser = admin) => t.inject({ method: 'GET', url, headers: as(u) });
  const act = (id: string, what: string, body: object = {}, u: TestUser = operator) => t.inject({ method: 'POST', url: `/v1/ops/incidents/${id}/${what}`, headers: as(u), payload: body });
  const putRoutes = (routes: object[], u: TestUser = operator) => t.inject({ method: 'PUT', url: '/v1/ops/escalation-routes', headers: as(u), payload: { routes } });
  const open = async (name: string, labels: Record<string, string>) => {
    const res = await t.inject({ method: 'POST', url: '/v1/ops/alertmanager', headers: bearer(AM_TOKEN), payload: alert(name, labels, randomUUID(), clock.now().toISOString()) });
    expect(res.statusCode, res.body).toBe(200);
    expect(res.json().action).toBe('opened');
    return { id: res.json().incidentId as string, number: res.json().number as number };
  };
  const tick = () => t.platform.ops!.tick();
  const incident = async (id: string) => (await get(`/v1/ops/incidents/${id}`)).json().incident;

  /** Everything delivered for one incident, in order: `<receiver>:<what>`. */
  const deliveries = (i: { id: string; number: number }) => [
    ...pd.events.filter((e) => e.dedup_key === `v01t-incident-${i.id}`).map((e) => `pd:${e.event_action}`),
    ...hooks.got
      .filter((h) => h.body.data.id === i.id)
      .map((h) => `${h.path.slice(1)}:${h.body.type.replace(/^v01t\.incident\.|\.v1$/g, '')}${h.body.data.reminder ? `:${h.body.data.reminder.kind}` : ''}`),
    ...smtp.mails
      .filter((m) => m.text.includes(`Incident ${i.number}:`))
      .map((m) => {
        const status = /Status: (.*)/.exec(m.text)![1]!;
        const reminder = /^REMINDER: (internal update|status page update|post-mortem|acknowledgement|impact assessment|response team)/i.exec(status);
        return `vp:${reminder ? `reminder:${reminder[1]!.toLowerCase()}` : status}`;
      }),
  ];

  /** Pages, notices, tickets and follow-ups: the deliveries that are not reminders. */
  const pages = (i: { id: string; number: number }) => deliveries(i).filter((d) => !d.includes('reminder'));

  let f: OpsFixture;
  beforeAll(async () => {
    f = await startOpsFixture({ amToken: AM_TOKEN, routingKey: ROUTING_KEY });
    ({ t, clock, pd, hooks, smtp, admin, operator, viewer, outsider, opsWs } = f);
    const webhook = (path: string) => ({ credentials: { secret: `whsec_${randomBytes(32).toString('base64')}` }, config: { url: `${hooks.base}/${path}` } });
    const specs: [keyof typeof conn, object][] = [
      ['pd', { connector: 'pagerduty', name: 'PagerDuty on-call', credentials: { routingKey: ROUTING_KEY }, config: { baseUrl: pd.url } }],
      ['ceo', { connector: 'webhook', name: 'CEO', ...webhook('ceo') }],
      ['lead', { connector: 'webhook', name: 'Team lead', ...webhook('lead') }],
      ['fallback', { connector: 'webhook', name: 'Unrouted', ...webhook('fallback') }],
      [
        'vp',
        {
          connector: 'email',
          name: 'VP Engineering',
          credentials: {},
          config: { host: '127.0.0.1', port: smtp.port, secure: false, requireTls: false, from: 'v01t <alerts@example.test>', defaultTo: ['vp-engineering@example.test'] },
        },
      ],
      ['github', { connector: 'github', name: 'Repository', credentials: { type: 'token', token: 'ghp_abc' }, config: { owner: 'o', repo: 'r' } }],
    ];
    for (const [key, body] of specs) conn[key] = await f.connect(body);
  }, 120_000);

  afterAll(async () => {
    await f?.close();
  });

  it('refuses invalid routes with 400 problem+json naming the field and the rule, and non-operators with 403', async () => {
    const cases: [object[], string, string][] = [
      [[{ connectionId: randomUUID(), severities: [1] }], 'body.routes.0.connectionId', 'unknown_connection'],
      [[{ connectionId: conn.github, severities: [1] }], 'body.routes.0.connectionId', 'not_an_escalation_connector'],
      [[{ connectionId: conn.pd, severities: [1, 4] }], 'body.routes.0.severities', 'sev4_never_pages'],
      [[{ connectionId: conn.ceo, severities: [4], immediate: [4] }], 'body.routes.0.immediate', 'sev4_never_pages'],
      [[{ connectionId: conn.ceo, severities: [2], immediate: [1] }], 'body.routes.0.immediate', 'immediate_not_routed'],
      [[{ connectionId: conn.pd, severities: [1], reminders: true }], 'body.routes.0.reminders', 'pagerduty_no_reminders'],
      [[{ connectionId: conn.ceo, severities: [1, 1] }], 'body.routes.0.severities', 'duplicate_severity'],
      [[{ connectionId: conn.ceo, severities: [1] }, { connectionId: conn.ceo, severities: [2] }], 'body.routes.1.connectionId', 'duplicate_connection'],
    ];
    for (const [routes, path, rule] of cases) {
      const res = await putRoutes(routes);
      expect(res.statusCode, `${rule}: ${res.body}`).toBe(400);
      const p = problem(res) as ReturnType<typeof problem> & { rules?: string[] };
      expect(p.code).toBe('validation_failed');
      expect(p.errors?.map((e) => e.path)).toContain(path);
      expect(p.rules).toContain(rule);
    }
    // Shape errors come from the schema, with the field's path.
    for (const [body, path] of [
      [{ routes: [{ connectionId: conn.ceo, severities: [5] }] }, 'body.routes.0.severities.0'],
      [{ routes: [{ connectionId: 'ceo', severities: [1] }] }, 'body.routes.0.connectionId'],
      [{ routes: [{ connectionId: conn.ceo, severities: [1], paging: true }] }, 'body.routes.0'],
      [{}, 'body.routes'],
    ] as const) {
      const res = await t.inject({ method: 'PUT', url: '/v1/ops/escalation-routes', headers: as(operator), payload: body });
      expect(res.statusCode).toBe(400);
      expect(problem(res).errors?.map((e) => e.path).join(' ')).toContain(path);
    }
    // Nothing was stored by the refused requests.
    const now = (await get('/v1/ops/escalation-routes', operator)).json();
    expect(now.routes).toEqual([]);
    expect(now.connections.map((c: { name: string; routed: boolean; severities: number[] }) => `${c.name}:${c.routed}:${c.severities.join('')}`).sort()).toEqual([
      'CEO:false:123',
      'PagerDuty on-call:false:123',
      'Team lead:false:123',
      'Unrouted:false:123',
      'VP Engineering:false:123',
    ]);

    const viewerPut = await putRoutes([{ connectionId: conn.ceo, severities: [1] }], viewer);
    expect(viewerPut.statusCode).toBe(403);
    expect(problem(viewerPut).code).toBe('forbidden');
    expect((await get('/v1/ops/escalation-routes', outsider)).statusCode).toBe(403);
    expect((await putRoutes([{ connectionId: conn.ceo, severities: [1] }], outsider)).statusCode).toBe(403);
    expect((await t.inject({ method: 'GET', url: '/v1/ops/escalation-routes' })).statusCode).toBe(401);
  });

  it('stores the routes (audit-logged) and shows what each connection receives', async () => {
    const res = await putRoutes([
      { connectionId: conn.pd, severities: [1, 2] }, // pages Sev1 and Sev2 when nobody acknowledged in time
      { connectionId: conn.ceo, severities: [1], immediate: [1] }, // the runbook's "Immediate CEO notification"
      { connectionId: conn.vp, severities: [1, 2], reminders: true }, // "VP Engineering notification", and the cadence reminders
      { connectionId: conn.lead, severities: [3, 4], reminders: true }, // "Team lead notification"; Sev4 as bug tickets
    ]);
    expect(res.statusCode, res.body).toBe(200);
    const byName = Object.fromEntries(res.json().connections.map((c: { name: string }) => [c.name, c]));
    expect(byName['CEO']).toMatchObject({ routed: true, severities: [1], immediate: [1], reminders: false });
    expect(byName['Team lead']).toMatchObject({ routed: true, severities: [3, 4], immediate: [], reminders: true });
    expect(byName['Unrouted']).toMatchObject({ routed: false, severities: [1, 2, 3], immediate: [], reminders: false });
    expect(res.json().routes).toHaveLength(4);
    expect((await get('/v1/ops/escalation-routes', operator)).json()).toEqual(res.json());
    expect((await get('/v1/ops/escalation-routes', viewer)).statusCode).toBe(403); // a viewer of the ops workspace is no operator
    const audit = await t.platform.ctx.audit.list({ action: 'ops.escalation_routes_replaced', limit: 5 });
    expect(audit).toHaveLength(1);
    expect(audit[0]).toMatchObject({ actorId: operator.id, targetId: opsWs });
    expect((audit[0]!.data as { after: unknown[] }).after).toHaveLength(4);
  });

  it('Sev1: the CEO route hears at once; at 15 minutes PagerDuty, the VP and the unrouted connection are paged; nobody else', async () => {
    clock.set('2026-01-05T09:00:00Z');
    const i = await open('ApiDown', { severity: 'critical' });
    expect(await tick()).toMatchObject({ escalated: 0, sent: 1, failed: 0 });
    expect(deliveries(i)).toEqual(['ceo:opened']);
    expect((await incident(i.id)).timeline.map((e: { kind: string }) => e.kind)).toEqual(['opened', 'notified', 'notification_sent']);

    clock.set('2026-01-05T09:14:59Z');
    // Not acknowledged at 5 minutes, not assessed at 10 (ADR 0060): reminded to the VP's reminder route only.
    expect(await tick()).toMatchObject({ escalated: 0, sent: 2 });
    expect(deliveries(i).filter((d) => d.includes('reminder')).sort()).toEqual(['vp:reminder:acknowledgement', 'vp:reminder:impact assessment']);
    clock.set('2026-01-05T09:15:00Z');
    // The escalation (3 pages), the team not formed and the first internal update (2 reminders).
    expect(await tick()).toMatchObject({ escalated: 1, sent: 5, failed: 0 });
    expect(pages(i).sort()).toEqual(['ceo:opened', 'fallback:escalated', 'pd:trigger', 'vp:ESCALATED (not acknowledged in time)']);
    const escalated = (await incident(i.id)).timeline.find((e: { kind: string }) => e.kind === 'escalated');
    expect(escalated.text).toBe('Not acknowledged within 15 minutes (Sev1 target): escalating to PagerDuty on-call (pagerduty), Unrouted (webhook), VP Engineering (email) (CEO (webhook) notified at open)');

    // The acknowledgement reaches everyone who was paged (the CEO's notice included), not the email.
    clock.set('2026-01-05T09:16:00Z');
    await act(i.id, 'acknowledge');
    await tick();
    expect(deliveries(i).filter((d) => /:acknowledged?$/.test(d)).sort()).toEqual(['ceo:acknowledged', 'fallback:acknowledged', 'pd:acknowledge']);
    expect(deliveries(i).filter((d) => d.startsWith('lead:'))).toEqual([]);
    await act(i.id, 'notes', { text: 'Working on it' });
    await act(i.id, 'resolve', { resolution: 'restarted' });
    await act(i.id, 'postmortem/done', {});
    await tick();
    expect(deliveries(i).filter((d) => /:resolved?$/.test(d)).sort()).toEqual(['ceo:resolved', 'fallback:resolved', 'pd:resolve', 'vp:resolved']);
    expect(deliveries(i).filter((d) => d.includes('reminder'))).toHaveLength(4);
  });

  it('Sev3: only the team lead (routed for Sev3) and the unrouted connection are paged, at 2 hours', async () => {
    clock.set('2026-01-07T09:00:00Z');
    const i = await open('PodMemoryHigh', { severity: 'warning' });
    expect(await tick()).toMatchObject({ escalated: 0, sent: 0 });
    clock.set('2026-01-07T10:59:00Z');
    await act(i.id, 'notes', { text: 'looking' }); // keeps the cadence quiet for this test
    expect(await tick()).toMatchObject({ escalated: 0 });
    clock.set('2026-01-07T11:00:00Z');
    expect(await tick()).toMatchObject({ escalated: 1, failed: 0 });
    expect(pages(i).sort()).toEqual(['fallback:escalated', 'lead:escalated']);
    // The first minutes' timers still unmet at the 10:59 tick (the note came after assess was due, between ticks).
    expect(deliveries(i).filter((d) => d.includes('reminder')).sort()).toEqual(['lead:reminder:acknowledge', 'lead:reminder:assemble']);
    await act(i.id, 'resolve', {});
    await act(i.id, 'postmortem/done', { url: 'https://wiki.example.test/pm/pod-memory' });
    await tick();
    expect(pages(i).sort()).toEqual(['fallback:escalated', 'fallback:resolved', 'lead:escalated', 'lead:resolved']);
    expect(pd.events.filter((e) => e.dedup_key === `v01t-incident-${i.id}`)).toEqual([]);
  });

  it('Sev4 pages nobody: a routed webhook gets a bug ticket at open; past the next business day nothing is paged', async () => {
    clock.set('2026-01-08T09:00:00Z'); // a Thursday: due Friday 17:00
    const mailsBefore = smtp.mails.length;
    const i = await open('TypoOnSettingsPage', { severity: 'info' });
    expect(await tick()).toMatchObject({ escalated: 0, sent: 1, failed: 0 });
    expect(deliveries(i)).toEqual(['lead:ticket']);
    const ticket = hooks.got.find((h) => h.body.data.id === i.id)!;
    expect(ticket.body).toMatchObject({ type: 'v01t.incident.ticket.v1', data: { severity: 'Sev4', incident: i.number } });
    const detail = await incident(i.id);
    expect(detail).toMatchObject({ severity: 'Sev4', respondBy: '2026-01-09T17:00:00.000Z', internalUpdateDueAt: null, publicUpdateDueAt: null });
    expect(detail.timeline.find((e: { kind: string }) => e.kind === 'bug_ticket').text).toBe('Sev4 (Normal bug tracking process): never paged; ticket sent to Team lead (webhook)');

    clock.set('2026-01-09T17:01:00Z');
    expect(await tick()).toMatchObject({ escalated: 0 });
    clock.set('2026-01-11T12:00:00Z'); // (the clock only moves forward: the hub's rate limiter reads it)
    expect(await tick()).toMatchObject({ escalated: 0 });
    expect(deliveries(i)).toEqual(['lead:ticket']);
    expect(smtp.mails.slice(mailsBefore).filter((m) => m.text.includes(`Incident ${i.number}:`))).toEqual([]);
    expect((await incident(i.id))).toMatchObject({ status: 'open', overdue: true, escalatedAt: null });
    await act(i.id, 'resolve', {});
    await tick();
    expect(deliveries(i)).toEqual(['lead:ticket', 'lead:resolved']);
    expect((await incident(i.id)).postmortemDueAt).toBeNull(); // the bug tracking process, no post-mortem
  });

  it('without any route: the default (every escalation connection paged for Sev1-3 at the target; Sev4 recorded, not paged)', async () => {
    expect((await putRoutes([])).statusCode).toBe(200);
    clock.set('2026-01-12T09:00:00Z');
    const sev2 = await open('CheckoutErrors', { severity: 'error' });
    const sev4 = await open('OldBrowserWarning', { severity: 'info' });
    expect(await tick()).toMatchObject({ escalated: 0, sent: 0, failed: 0 }); // no immediate notice, no ticket
    expect((await incident(sev4.id)).timeline.find((e: { kind: string }) => e.kind === 'bug_ticket').text).toBe(
      'Sev4 (Normal bug tracking process): never paged; recorded here for bug tracking (no webhook or email connection is routed for Sev4)',
    );
    clock.set('2026-01-12T09:30:00Z');
    expect(await tick()).toMatchObject({ escalated: 1, sent: 5, failed: 0 });
    expect(deliveries(sev2).sort()).toEqual(['ceo:escalated', 'fallback:escalated', 'lead:escalated', 'pd:trigger', 'vp:ESCALATED (not acknowledged in time)']);
    // Without a reminder route the cadence is tracked (due times, the counter) but nothing is sent.
    expect((await incident(sev2.id)).internalUpdateDueAt).toBe('2026-01-12T09:15:00.000Z');
    expect(deliveries(sev2).filter((d) => d.includes('reminder'))).toEqual([]);
    for (const i of [sev2, sev4]) await act(i.id, 'resolve', {});
    await act(sev2.id, 'postmortem/done', {});
    await tick();
  });

  it('reminds of the communication plan once per overdue window, to the reminder routes, until an update or the resolution', async () => {
    expect(
      (
        await putRoutes([
          { connectionId: conn.vp, severities: [1, 2], reminders: true },
          { connectionId: conn.lead, severities: [3], reminders: true },
        ])
      ).statusCode,
    ).toBe(200);
    const metric = async (kind: string) => Number(new RegExp(`v01t_incident_reminders_total\\{[^}]*kind="${kind}"[^}]*\\} (\\d+)`).exec((await t.inject({ method: 'GET', url: '/metrics' })).body)![1]);
    const internalBefore = await metric('internal_update');
    clock.set('2026-01-13T09:00:00Z');
    const i = await open('DatabaseDown', { severity: 'critical' });
    const reminders = () => deliveries(i).filter((d) => d.includes('reminder'));
    await tick();
    expect(await incident(i.id)).toMatchObject({ internalUpdateDueAt: '2026-01-13T09:15:00.000Z', publicUpdateDueAt: '2026-01-13T09:30:00.000Z', postmortemDueAt: null });
    await act(i.id, 'acknowledge');

    clock.set('2026-01-13T09:09:59Z');
    await tick();
    expect(reminders()).toEqual([]);
    // Not assessed at 10 minutes (ADR 0060); at 15 the team is not formed and the first internal update is due.
    clock.set('2026-01-13T09:10:00Z');
    await tick();
    expect(reminders()).toEqual(['vp:reminder:impact assessment']);
    clock.set('2026-01-13T09:15:00Z');
    await tick();
    expect(reminders().slice(1).sort()).toEqual(['vp:reminder:internal update', 'vp:reminder:response team']);
    clock.set('2026-01-13T09:30:00Z');
    await tick();
    expect(reminders().slice(3)).toEqual(['vp:reminder:status page update']);
    // The same window is reminded once, however many ticks see it.
    for (const at of ['09:31', '09:40', '09:44']) {
      clock.set(`2026-01-13T${at}:00Z`);
      await tick();
    }
    expect(reminders()).toHaveLength(4);
    // The next internal window (every 30 minutes) at 09:45; the status page's is hourly (10:30).
    clock.set('2026-01-13T09:45:00Z');
    await tick();
    expect(reminders().filter((r) => r.endsWith('internal update'))).toHaveLength(2);
    // A note at 10:05 moves the internal update due to 10:35.
    clock.set('2026-01-13T10:05:00Z');
    await act(i.id, 'notes', { text: 'Failover in progress' });
    expect((await incident(i.id)).internalUpdateDueAt).toBe('2026-01-13T10:35:00.000Z');
    clock.set('2026-01-13T10:30:00Z');
    await tick();
    expect(reminders().filter((r) => r.endsWith('internal update'))).toHaveLength(2);
    expect(reminders().filter((r) => r.endsWith('status page update'))).toHaveLength(2);
    clock.set('2026-01-13T10:35:00Z');
    await tick();
    expect(reminders().filter((r) => r.endsWith('internal update'))).toHaveLength(3);
    const timeline = (await incident(i.id)).timeline.filter((e: { kind: string }) => e.kind === 'reminder');
    expect(timeline.map((e: { at: string; data: { reminder: string; dueAt: string } }) => `${e.at} ${e.data.reminder} due ${e.data.dueAt}`)).toEqual([
      '2026-01-13T09:10:00.000Z assess due 2026-01-13T09:10:00.000Z',
      '2026-01-13T09:15:00.000Z internal_update due 2026-01-13T09:15:00.000Z',
      '2026-01-13T09:15:00.000Z assemble due 2026-01-13T09:15:00.000Z',
      '2026-01-13T09:30:00.000Z public_update due 2026-01-13T09:30:00.000Z',
      '2026-01-13T09:45:00.000Z internal_update due 2026-01-13T09:45:00.000Z',
      '2026-01-13T10:30:00.000Z public_update due 2026-01-13T10:30:00.000Z',
      '2026-01-13T10:35:00.000Z internal_update due 2026-01-13T10:35:00.000Z',
    ]);
    expect(await metric('internal_update')).toBe(internalBefore + 3);

    // Resolved at 10:40: no more cadence reminders; the post-mortem is due 24 h later, reminded once.
    clock.set('2026-01-13T10:40:00Z');
    await act(i.id, 'resolve', { resolution: 'failed over' });
    const resolved = await incident(i.id);
    expect(resolved).toMatchObject({ internalUpdateDueAt: null, publicUpdateDueAt: null, postmortemDueAt: '2026-01-14T10:40:00.000Z', postmortemDoneAt: null });
    const count = reminders().length;
    for (const at of ['2026-01-13T11:05:00Z', '2026-01-13T12:00:00Z', '2026-01-14T10:39:59Z']) {
      clock.set(at);
      await tick();
    }
    expect(reminders()).toHaveLength(count);
    clock.set('2026-01-14T10:40:00Z');
    await tick();
    expect(reminders().slice(count)).toEqual(['vp:reminder:post-mortem']);
    clock.set('2026-01-14T16:00:00Z');
    await tick();
    expect(reminders()).toHaveLength(count + 1);

    // Marking it done: recorded, audited, idempotent; only a resolved incident's post-mortem can be done.
    const done = await act(i.id, 'postmortem/done', { url: 'https://wiki.example.test/pm/database-down' });
    expect(done.statusCode, done.body).toBe(200);
    expect(done.json().incident).toMatchObject({ postmortemDoneAt: '2026-01-14T16:00:00.000Z', postmortemDoneBy: operator.id, postmortemUrl: 'https://wiki.example.test/pm/database-down' });
    expect((await act(i.id, 'postmortem/done', {})).json().incident.postmortemDoneAt).toBe('2026-01-14T16:00:00.000Z');
    expect((await act(i.id, 'postmortem/done', { url: 'javascript:alert(1)' })).statusCode).toBe(400);
    expect((await act(i.id, 'postmortem/done', {}, viewer)).statusCode).toBe(403);
    const audit = await t.platform.ctx.audit.list({ action: 'incident.postmortem_done', limit: 10 });
    expect(audit.filter((e) => e.targetId === i.id)).toHaveLength(1);
    const another = await open('StillFiring', { severity: 'error' });
    const conflict = await act(another.id, 'postmortem/done', {});
    expect(conflict.statusCode).toBe(409);
    expect(problem(conflict).code).toBe('conflict');
    await act(another.id, 'resolve', {});
    await act(another.id, 'postmortem/done', {});
  });

  it('a Sev3 raised to Sev1 notifies the immediate routes at the raise', async () => {
    expect((await putRoutes([{ connectionId: conn.ceo, severities: [1], immediate: [1] }])).statusCode).toBe(200);
    clock.set('2026-01-15T09:00:00Z');
    const i = await open('SlowQueries', { severity: 'warning' });
    await tick();
    expect(deliveries(i)).toEqual([]);
    const raised = await t.inject({
      method: 'POST',
      url: '/v1/ops/alertmanager',
      headers: bearer(AM_TOKEN),
      payload: { ...alert('SlowQueries', { severity: 'critical' }, 'raise-2', clock.now().toISOString()) },
    });
    expect(raised.json()).toMatchObject({ action: 'updated', incidentId: i.id });
    await tick();
    expect(deliveries(i)).toEqual(['ceo:opened']);
    await tick();
    expect(deliveries(i)).toEqual(['ceo:opened']);
    await act(i.id, 'resolve', {});
    await act(i.id, 'postmortem/done', {});
    await tick();
  });
});
