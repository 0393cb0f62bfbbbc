import { randomBytes, randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ManualClock } from '../../src/kernel/clock.js';
import { createTestPlatform, type TestPlatform } from '../helpers/platform.js';
import { bearer, problem, signup, type TestUser } from '../helpers/api.js';
import type { FakePagerDuty } from './fake-pagerduty.js';
import { startOpsFixture, type OpsFixture } from './ops-fixture.js';
import type { mailbox, webhookReceiver } from './receivers.js';
import { OPS_CONFIG } from '../../src/services/ops/config.js';

const AM_TOKEN = randomBytes(24).toString('hex');
const DEPLOY_TOKEN = randomBytes(24).toString('hex');
const ROUTING_KEY = randomBytes(16).toString('hex');
const MIN = 60_000;

/** Alertmanager's webhook payload (version 4) for one group. */
function notification(groupKey: string, alerts: { status: 'firing' | 'resolved'; labels: Record<string, string>; fingerprint: string; startsAt: string; endsAt?: string; summary?: string }[]) {
  const status = alerts.some((a) => a.status === 'firing') ? 'firing' : 'resolved';
  const alertname = alerts[0]!.labels.alertname!;
  return {
    version: '4',
    groupKey,
    truncatedAlerts: 0,
    status,
    receiver: 'v01t-incidents',
    groupLabels: { alertname },
    commonLabels: { alertname, team: 'engineering', service: alerts[0]!.labels.service ?? 'orchestrator' },
    commonAnnotations: alerts[0]!.summary ? { summary: alerts[0]!.summary } : {},
    externalURL: 'http://alertmanager.example:9093',
    alerts: alerts.map((a) => ({
      status: a.status,
      labels: { team: 'engineering', service: 'orchestrator', ...a.labels },
      annotations: a.summary ? { summary: a.summary, description: 'internal: pod api-7f9c on node ip-10-0-3-17' } : {},
      startsAt: a.startsAt,
      endsAt: a.endsAt ?? '0001-01-01T00:00:00Z',
      generatorURL: 'http://prometheus.example:9090/graph?g0.expr=secret_internal_expr',
      fingerprint: a.fingerprint,
    })),
  };
}

describe('incident response: Alertmanager webhook, escalation through the integration-hub, status page, post-mortem', () => {
  let t: TestPlatform;
  let clock: ManualClock;
  let pd: FakePagerDuty;
  let hook: Awaited<ReturnType<typeof webhookReceiver>>;
  let smtp: Awaited<ReturnType<typeof mailbox>>;
  let admin: TestUser;
  let operator: TestUser;
  let viewer: TestUser;
  let outsider: TestUser;
  let opsWs: string;

  const post = (body: unknown, token: string | null = AM_TOKEN) =>
    t.inject({ method: 'POST', url: '/v1/ops/alertmanager', headers: token ? bearer(token) : {}, payload: body as object });
  const as = (u: TestUser) => bearer(u.token);
  const get = (url: string, u: TestUser = admin) => t.inject({ method: 'GET', url, headers: as(u) });
  const act = (id: string, what: string, body: object = {}, u: TestUser = admin) => t.inject({ method: 'POST', url: `/v1/ops/incidents/${id}/${what}`, headers: as(u), payload: body });
  const tick = () => t.platform.ops!.tick();

  let f: OpsFixture;
  beforeAll(async () => {
    f = await startOpsFixture({ amToken: AM_TOKEN, routingKey: ROUTING_KEY, env: { V01T_DEPLOY_TOKEN: DEPLOY_TOKEN } });
    ({ t, clock, pd, hooks: hook, smtp, admin, operator, viewer, outsider, opsWs } = f);
    await f.connect({ connector: 'pagerduty', name: 'PagerDuty on-call', credentials: { routingKey: ROUTING_KEY }, config: { baseUrl: pd.url } });
    await f.connect({ connector: 'webhook', name: 'Incident webhook', credentials: { secret: `whsec_${randomBytes(32).toString('base64')}` }, config: { url: hook.url } });
    await f.connect({
      connector: 'email',
      name: 'On-call mail',
      credentials: {},
      config: { host: '127.0.0.1', port: smtp.port, secure: false, requireTls: false, from: 'v01t <alerts@example.test>', defaultTo: ['oncall-team@example.test'] },
    });
  }, 120_000);

  afterAll(async () => {
    await f?.close();
  });

  it('refuses a missing or wrong bearer with 401 problem+json, before looking at the body', async () => {
    const body = notification(`{}:{alertname="X"}`, [{ status: 'firing', labels: { alertname: 'X', severity: 'critical' }, fingerprint: 'f0', startsAt: '2026-01-05T08:58:00Z' }]);
    const none = await post(body, null);
    expect(none.statusCode).toBe(401);
    expect(problem(none).code).toBe('unauthenticated');
    const wrong = await post(body, randomBytes(24).toString('hex'));
    expect(wrong.statusCode).toBe(401);
    expect(problem(wrong).code).toBe('invalid_token');
    const wrongAndMalformed = await post({ nonsense: true }, 'short');
    expect(wrongAndMalformed.statusCode).toBe(401);
    // A user's session token is not the Alertmanager secret either.
    expect((await post(body, admin.token)).statusCode).toBe(401);
    expect((await get('/v1/ops/incidents')).json().incidents).toHaveLength(0);
  });

  it('answers a malformed payload with 400 naming the field', async () => {
    const good = notification('{}:{alertname="Y"}', [{ status: 'firing', labels: { alertname: 'Y', severity: 'critical' }, fingerprint: 'f1', startsAt: '2026-01-05T08:58:00Z' }]);
    const cases: [object, string][] = [
      [{ ...good, groupKey: undefined }, 'body.groupKey'],
      [{ ...good, version: '3' }, 'body.version'],
      [{ ...good, alerts: [] }, 'body.alerts'],
      [{ ...good, alerts: [{ ...good.alerts[0], status: 'exploded' }] }, 'body.alerts.0.status'],
      [{ ...good, alerts: [{ ...good.alerts[0], startsAt: 'yesterday' }] }, 'body.alerts.0.startsAt'],
      [{ ...good, alerts: [{ ...good.alerts[0], fingerprint: '' }] }, 'body.alerts.0.fingerprint'],
      [{ ...good, alerts: [{ ...good.alerts[0], labels: { alertname: 'Y', incident_severity: 'sev9' } }] }, 'body.alerts.0.labels.incident_severity'],
    ];
    for (const [body, path] of cases) {
      const res = await post(body);
      expect(res.statusCode, path).toBe(400);
      const p = problem(res);
      expect(p.code).toBe('validation_failed');
      expect(p.errors?.map((e) => e.path)).toContain(path);
    }
    const notJson = await t.inject({ method: 'POST', url: '/v1/ops/alertmanager', headers: { ...bearer(AM_TOKEN), 'content-type': 'application/json' }, payload: '{"version":' });
    expect(notJson.statusCode).toBe(400);
    expect(problem(notJson).code).toBe('invalid_json');
    expect((await get('/v1/ops/incidents')).json().incidents).toHaveLength(0);
  });

  let sev1: string;
  it('a firing critical alert opens one Sev1 incident; a repeated notification updates it', async () => {
    const body = notification('{}/{severity="critical"}:{alertname="HighErrorRatio"}', [
      { status: 'firing', labels: { alertname: 'HighErrorRatio', severity: 'critical' }, fingerprint: 'a1b2c3', startsAt: '2026-01-05T08:58:00Z', summary: 'Error ratio above 1%' },
    ]);
    const opened = await post(body);
    expect(opened.statusCode, opened.body).toBe(200);
    expect(opened.json()).toMatchObject({ action: 'opened', number: expect.any(Number) });
    sev1 = opened.json().incidentId;
    const again = await post(body);
    expect(again.json()).toMatchObject({ action: 'updated', incidentId: sev1 });

    const list = (await get('/v1/ops/incidents?status=active')).json().incidents;
    expect(list).toHaveLength(1);
    expect(list[0]).toMatchObject({
      id: sev1,
      severity: 'Sev1',
      status: 'open',
      title: 'HighErrorRatio: Error ratio above 1% (orchestrator, engineering)',
      components: ['orchestrator'],
      openedAt: '2026-01-05T09:00:00.000Z',
      firstAlertAt: '2026-01-05T08:58:00.000Z',
      respondBy: '2026-01-05T09:15:00.000Z',
      responseTarget: '15 minutes',
      overdue: false,
    });
    const detail = (await get(`/v1/ops/incidents/${sev1}`)).json().incident;
    expect(detail.alerts).toHaveLength(1);
    expect(detail.timeline.map((e: { kind: string }) => e.kind)).toEqual(['opened']);
  });

  it('escalates to PagerDuty (Events v2) and the webhook when not acknowledged within 15 minutes, once', async () => {
    clock.advance(14 * MIN);
    expect(await tick()).toEqual({ escalated: 0, sent: 0, failed: 0 });
    expect(pd.events).toHaveLength(0);

    clock.advance(1 * MIN); // 09:15: the target has passed
    expect(await tick()).toMatchObject({ escalated: 1, sent: 3, failed: 0 });
    expect(pd.rejected).toEqual([]);
    expect(pd.events).toHaveLength(1);
    const trigger = pd.events[0]!;
    expect(trigger).toMatchObject({
      routing_key: ROUTING_KEY,
      event_action: 'trigger',
      dedup_key: `v01t-incident-${sev1}`,
      payload: { severity: 'critical', source: 'v01t', component: 'orchestrator', class: 'Sev1' },
    });
    expect(trigger.payload!.summary).toMatch(/^\[Sev1\] Incident \d+: HighErrorRatio/);
    expect(hook.got).toHaveLength(1);
    expect(hook.got[0]!.body.type).toBe('v01t.incident.escalated.v1');
    expect(hook.got[0]!.id).toBe(`incident-${sev1}-trigger`);
    expect(smtp.mails).toHaveLength(1);
    expect(smtp.mails[0]!.to).toEqual(['oncall-team@example.test']);
    expect(smtp.mails[0]!.raw.replace(/\r\n[ \t]+/g, ' ')).toMatch(/Subject: \[Sev1\] Incident \d+: HighErrorRatio.* - ESCALATED/);
    expect(smtp.mails[0]!.raw).toContain('ESCALATED (not acknowledged in time)');

    // Later ticks and repeated notifications do not page again.
    clock.advance(60 * MIN);
    await post(notification('{}/{severity="critical"}:{alertname="HighErrorRatio"}', [
      { status: 'firing', labels: { alertname: 'HighErrorRatio', severity: 'critical' }, fingerprint: 'a1b2c3', startsAt: '2026-01-05T08:58:00Z', summary: 'Error ratio above 1%' },
    ]));
    expect(await tick()).toEqual({ escalated: 0, sent: 0, failed: 0 });
    expect(pd.events).toHaveLength(1);
    const detail = (await get(`/v1/ops/incidents/${sev1}`)).json().incident;
    expect(detail).toMatchObject({ status: 'open', overdue: true, escalatedAt: '2026-01-05T09:15:00.000Z' });
    expect(detail.notifications.map((n: { connector: string; event: string; status: string }) => `${n.connector}:${n.event}:${n.status}`).sort()).toEqual(['email:trigger:sent', 'pagerduty:trigger:sent', 'webhook:trigger:sent']);

    const metrics = (await t.inject({ method: 'GET', url: '/metrics' })).body;
    expect(metrics).toMatch(/v01t_incident_escalations_total\{[^}]*severity="Sev1"[^}]*\} 1\n/);
    expect(metrics).toMatch(/v01t_incidents_open\{[^}]*severity="Sev1"[^}]*\} 1\n/);
    expect(metrics).toMatch(/v01t_incident_notifications_total\{[^}]*connector="pagerduty"[^}]*event="trigger"[^}]*result="sent"[^}]*\} 1\n/);
  });

  it('roles, notes and status page updates; operators only', async () => {
    // Not an operator: a user outside the ops workspace, and a viewer in it.
    for (const u of [outsider, viewer]) {
      const res = await get('/v1/ops/incidents', u);
      expect(res.statusCode).toBe(403);
      expect(problem(res).code).toBe('forbidden');
      expect((await act(sev1, 'acknowledge', {}, u)).statusCode).toBe(403);
    }
    expect((await t.inject({ method: 'GET', url: '/v1/ops/incidents' })).statusCode).toBe(401);
    expect((await get('/v1/ops/incidents', operator)).statusCode).toBe(200);

    const bad = await act(sev1, 'roles', { incidentCommander: randomUUID() });
    expect(bad.statusCode).toBe(400);
    expect(problem(bad).errors?.[0]?.path).toBe('body.incidentCommander');
    expect((await act(sev1, 'roles', { pilot: admin.id })).statusCode).toBe(400);
    expect((await act(randomUUID(), 'roles', { technicalLead: operator.id })).statusCode).toBe(404);

    const assigned = await act(sev1, 'roles', { incidentCommander: admin.id, technicalLead: operator.id, communicationsLead: viewer.id }, operator);
    expect(assigned.statusCode, assigned.body).toBe(200);
    expect(assigned.json().incident.roles).toEqual({ incidentCommander: admin.id, technicalLead: operator.id, communicationsLead: viewer.id });
    // The communications lead changes: Olga takes it over.
    expect((await act(sev1, 'roles', { communicationsLead: operator.id })).json().incident.roles.communicationsLead).toBe(operator.id);

    clock.advance(2 * MIN);
    const note = await act(sev1, 'notes', { text: 'Rolled back api to 1.4.1; error ratio falling. Internal: db-primary-2 saturated.' }, operator);
    expect(note.statusCode, note.body).toBe(201);
    expect(note.json().entry).toMatchObject({ kind: 'note', actorId: operator.id });
    expect((await act(sev1, 'notes', { text: '   ' }, operator)).statusCode).toBe(400);

    // Only the communications lead publishes; the first update needs a public title.
    const notLead = await act(sev1, 'public-updates', { status: 'investigating', message: 'x', title: 'y' }, admin);
    expect(notLead.statusCode).toBe(403);
    const noTitle = await act(sev1, 'public-updates', { status: 'investigating', message: 'We are looking into errors.' }, operator);
    expect(noTitle.statusCode).toBe(400);
    expect(problem(noTitle).errors?.[0]?.path).toBe('body.title');
    const published = await act(sev1, 'public-updates', { status: 'identified', title: 'Elevated API errors', message: 'Some API requests fail. We identified the cause and are rolling back.', components: ['api'] }, operator);
    expect(published.statusCode, published.body).toBe(201);

    const audit = await t.platform.ctx.audit.list({ action: 'incident.*', limit: 20 });
    expect(audit.map((e) => e.action)).toEqual(expect.arrayContaining(['incident.roles_assigned', 'incident.public_update']));
  });

  it('the public status page shows components and the published update, nothing internal', async () => {
    const json = await t.inject({ method: 'GET', url: '/status.json' });
    expect(json.statusCode).toBe(200);
    const doc = json.json();
    expect(doc.status).toBe('major_outage');
    expect(doc.components.find((c: { id: string }) => c.id === 'api')).toMatchObject({ status: 'major_outage' });
    expect(doc.components.find((c: { id: string }) => c.id === 'analytics')).toMatchObject({ status: 'operational' });
    expect(doc.incidents).toHaveLength(1);
    expect(doc.incidents[0]).toMatchObject({ title: 'Elevated API errors', status: 'identified', components: ['api'], resolvedAt: null });
    expect(doc.incidents[0].updates).toEqual([{ at: '2026-01-05T10:17:00.000Z', status: 'identified', message: 'Some API requests fail. We identified the cause and are rolling back.' }]);

    const html = await t.inject({ method: 'GET', url: '/status', headers: { accept: 'text/html' } });
    expect(html.statusCode).toBe(200);
    expect(html.headers['content-type']).toMatch(/^text\/html/);
    expect(html.body).toContain('Elevated API errors');
    expect(html.body).toContain('Major outage');
    const negotiated = await t.inject({ method: 'GET', url: '/status', headers: { accept: 'application/json' } });
    expect(negotiated.json()).toEqual(doc);

    for (const body of [json.body, html.body]) {
      for (const secret of ['HighErrorRatio', 'Error ratio above 1%', 'db-primary-2', 'ip-10-0-3-17', 'secret_internal_expr', 'Olga', operator.id, admin.id, 'Sev1', 'engineering']) {
        expect(body, secret).not.toContain(secret);
      }
    }
  });

  it('resolves when the group resolves and sends PagerDuty resolve with the same dedup_key', async () => {
    clock.advance(30 * MIN); // 10:47
    const res = await post(notification('{}/{severity="critical"}:{alertname="HighErrorRatio"}', [
      { status: 'resolved', labels: { alertname: 'HighErrorRatio', severity: 'critical' }, fingerprint: 'a1b2c3', startsAt: '2026-01-05T08:58:00Z', endsAt: '2026-01-05T10:46:00Z', summary: 'Error ratio above 1%' },
    ]));
    expect(res.json()).toMatchObject({ action: 'resolved', incidentId: sev1 });
    expect(await tick()).toMatchObject({ sent: 3, failed: 0 });
    expect(pd.events.map((e) => `${e.event_action}:${e.dedup_key}`)).toEqual([`trigger:v01t-incident-${sev1}`, `resolve:v01t-incident-${sev1}`]);
    expect(smtp.mails).toHaveLength(2);
    // Headers unfolded (a long Subject is folded over lines).
    expect(smtp.mails[1]!.raw.replace(/\r\n[ \t]+/g, ' ')).toMatch(/Subject: \[Sev1\] Incident \d+: HighErrorRatio.* - resolved/);
    expect(hook.got.map((h) => h.body.type)).toEqual(['v01t.incident.escalated.v1', 'v01t.incident.resolved.v1']);

    const detail = (await get(`/v1/ops/incidents/${sev1}`)).json().incident;
    expect(detail).toMatchObject({ status: 'resolved', resolvedAt: '2026-01-05T10:47:00.000Z', resolvedBy: null });
    expect(detail.timeline.map((e: { kind: string }) => e.kind)).toEqual([
      'opened',
      'escalated',
      'notification_sent',
      'notification_sent',
      'notification_sent',
      'role_assigned',
      'role_assigned',
      'role_assigned',
      'role_assigned',
      'note',
      'public_update',
      'alert_resolved',
      'resolved',
      'notification_sent',
      'notification_sent',
      'notification_sent',
    ]);
    // A late duplicate of the resolved notification changes nothing; the same group firing again is a new incident.
    expect((await post(notification('{}/{severity="critical"}:{alertname="HighErrorRatio"}', [
      { status: 'resolved', labels: { alertname: 'HighErrorRatio', severity: 'critical' }, fingerprint: 'a1b2c3', startsAt: '2026-01-05T08:58:00Z', endsAt: '2026-01-05T10:46:00Z' },
    ]))).json()).toEqual({ action: 'ignored', incidentId: null, number: null });
    expect((await act(sev1, 'resolve', {})).statusCode).toBe(409);

    const metrics = (await t.inject({ method: 'GET', url: '/metrics' })).body;
    expect(metrics).toMatch(/v01t_incidents_open\{[^}]*severity="Sev1"[^}]*\} 0\n/);

    // The status page keeps the incident as resolved (its component is operational again).
    const doc = (await t.inject({ method: 'GET', url: '/status.json' })).json();
    expect(doc.status).toBe('operational');
    expect(doc.incidents[0]).toMatchObject({ title: 'Elevated API errors', status: 'resolved', resolvedAt: '2026-01-05T10:47:00.000Z' });
  });

  it('the post-mortem is the runbook template, pre-filled with times, duration, team and timeline', async () => {
    const res = await get(`/v1/ops/incidents/${sev1}/postmortem`, operator);
    expect(res.statusCode).toBe(200);
    expect(res.headers['content-type']).toMatch(/^text\/markdown/);
    const md = res.body;
    for (const heading of ['## Incident Summary', '## Root Cause Analysis', '## Action Items', '## Timeline']) expect(md).toContain(heading);
    expect(md).toContain('-   Start Time: 2026-01-05 09:00 UTC');
    expect(md).toContain('-   End Time: 2026-01-05 10:47 UTC');
    expect(md).toContain('-   Duration: 1 h 47 min');
    expect(md).toContain('-   Severity: Sev1 (Critical: Complete service outage or major security breach)');
    expect(md).toContain('-   Detection time: 2 min (first alert started 2026-01-05 08:58 UTC');
    expect(md).toContain('-   Incident Commander: Ada Admin');
    expect(md).toContain('-   Technical Lead: Olga Operator');
    expect(md).toContain('-   Communications Lead: Olga Operator');
    expect(md).toContain('never acknowledged');
    expect(md).toContain('-   [ ] Immediate fixes (Owner: X, Due: Y)');
    expect(md).toMatch(/2026-01-05 09:15 UTC · escalated: Not acknowledged within 15 minutes/);
    expect(md).toMatch(/2026-01-05 10:17 UTC · note · Olga Operator: Rolled back api to 1.4.1/);
    expect(md).toContain('| HighErrorRatio | resolved | 2026-01-05 08:58 UTC | 2026-01-05 10:46 UTC | Error ratio above 1% |');
    expect((await get(`/v1/ops/incidents/${sev1}/postmortem`, outsider)).statusCode).toBe(403);
  });

  it('escapes what the communications lead writes on the HTML page', async () => {
    const res = await act(sev1, 'public-updates', { status: 'resolved', message: 'Fixed <script>alert(1)</script> & "done"' }, operator);
    expect(res.statusCode, res.body).toBe(201);
    const html = (await t.inject({ method: 'GET', url: '/status' })).body;
    expect(html).not.toContain('<script>');
    expect(html).toContain('Fixed &lt;script&gt;alert(1)&lt;/script&gt; &amp; &quot;done&quot;');
  });

  it('acknowledging before the target stops the escalation; acknowledge and resolve are audited', async () => {
    const events = pd.events.length;
    const opened = await post(notification('{}:{alertname="DatabaseQueryTimeAboveTarget"}', [
      { status: 'firing', labels: { alertname: 'DatabaseQueryTimeAboveTarget', severity: 'warning', incident_severity: 'sev2', service: 'analytics-engine' }, fingerprint: 'd1', startsAt: '2026-01-05T10:47:00Z' },
    ]));
    const id = opened.json().incidentId;
    expect((await get(`/v1/ops/incidents/${id}`)).json().incident).toMatchObject({ severity: 'Sev2', respondBy: '2026-01-05T11:17:00.000Z', responseTarget: '30 minutes' });
    clock.advance(10 * MIN);
    const ack = await act(id, 'acknowledge', {}, operator);
    expect(ack.statusCode, ack.body).toBe(200);
    expect(ack.json().incident).toMatchObject({ status: 'acknowledged', acknowledgedBy: operator.id, acknowledgedAt: '2026-01-05T10:57:00.000Z' });
    expect((await act(id, 'acknowledge', {}, operator)).json().incident.acknowledgedAt).toBe('2026-01-05T10:57:00.000Z');
    clock.advance(3 * 60 * MIN);
    expect(await tick()).toEqual({ escalated: 0, sent: 0, failed: 0 });
    expect(pd.events).toHaveLength(events);

    // A second alert joins the group while it fires; a more severe one would raise the level.
    const joined = await post(notification('{}:{alertname="DatabaseQueryTimeAboveTarget"}', [
      { status: 'firing', labels: { alertname: 'DatabaseQueryTimeAboveTarget', severity: 'warning', incident_severity: 'sev2', service: 'analytics-engine' }, fingerprint: 'd1', startsAt: '2026-01-05T10:47:00Z' },
      { status: 'firing', labels: { alertname: 'DatabaseQueryTimeCritical', severity: 'critical', service: 'analytics-engine' }, fingerprint: 'd2', startsAt: '2026-01-05T13:50:00Z' },
    ]));
    expect(joined.json()).toMatchObject({ action: 'updated', incidentId: id });
    const raised = (await get(`/v1/ops/incidents/${id}`)).json().incident;
    expect(raised).toMatchObject({ severity: 'Sev1', status: 'acknowledged' });
    expect(raised.timeline.map((e: { kind: string }) => e.kind)).toContain('severity_changed');

    const resolved = await act(id, 'resolve', { resolution: 'Index added' }, operator);
    expect(resolved.json().incident).toMatchObject({ status: 'resolved', resolvedBy: operator.id, resolution: 'Index added' });
    expect(await tick()).toEqual({ escalated: 0, sent: 0, failed: 0 }); // nothing was paged, so nothing to resolve
    const audit = await t.platform.ctx.audit.list({ action: 'incident.*', limit: 50 });
    const mine = audit.filter((e) => e.targetId === id).map((e) => `${e.action}:${e.actorId}`);
    expect(mine).toEqual(expect.arrayContaining([`incident.acknowledged:${operator.id}`, `incident.resolved:${operator.id}`]));
  });

  it('a PagerDuty outage delays the page but does not lose it', async () => {
    const before = pd.events.length;
    const opened = await post(notification('{}:{alertname="ServiceUptimeBelow99Percent"}', [
      { status: 'firing', labels: { alertname: 'ServiceUptimeBelow99Percent', severity: 'critical' }, fingerprint: 'u1', startsAt: '2026-01-05T13:50:00Z' },
    ]));
    const id = opened.json().incidentId;
    pd.failNext(50); // every attempt of this tick (the egress client retries an idempotent request itself)
    clock.advance(15 * MIN);
    const first = await tick();
    expect(first).toMatchObject({ escalated: 1, failed: 1 });
    expect(pd.events).toHaveLength(before);
    const pending = (await get(`/v1/ops/incidents/${id}`)).json().incident.notifications.find((n: { connector: string }) => n.connector === 'pagerduty');
    expect(pending).toMatchObject({ status: 'pending', attempts: 1, lastError: expect.stringMatching(/provider_error|egress/) });
    pd.failNext(0);
    expect(await tick()).toEqual({ escalated: 0, sent: 0, failed: 0 }); // not due before its backoff
    clock.advance(31_000);
    expect(await tick()).toMatchObject({ sent: 1, failed: 0 });
    expect(pd.events.slice(before).map((e) => `${e.event_action}:${e.dedup_key}`)).toEqual([`trigger:v01t-incident-${id}`]);
    // A late acknowledgement is passed on to PagerDuty.
    await act(id, 'acknowledge', {});
    await tick();
    expect(pd.events.slice(before).map((e) => e.event_action)).toEqual(['trigger', 'acknowledge']);
  });

  it('concurrent notifications and ticks (as from several replicas) open one incident and page once', async () => {
    const before = pd.events.length;
    const body = notification('{}:{alertname="KafkaConsumerLag"}', [
      { status: 'firing', labels: { alertname: 'KafkaConsumerLag', severity: 'critical' }, fingerprint: 'k1', startsAt: '2026-01-05T14:30:00Z' },
    ]);
    const answers = await Promise.all(Array.from({ length: 5 }, () => post(body)));
    expect(answers.map((a) => a.statusCode)).toEqual([200, 200, 200, 200, 200]);
    const results = answers.map((a) => a.json() as { action: string; incidentId: string });
    expect(results.filter((r) => r.action === 'opened')).toHaveLength(1);
    expect(new Set(results.map((r) => r.incidentId)).size).toBe(1);
    clock.advance(16 * MIN);
    const ticks = await Promise.all([tick(), tick(), tick()]);
    expect(ticks.reduce((n, r) => n + r.escalated, 0)).toBe(1);
    await tick();
    expect(pd.events.slice(before).map((e) => `${e.event_action}:${e.dedup_key}`)).toEqual([`trigger:v01t-incident-${results[0]!.incidentId}`]);
    await act(results[0]!.incidentId, 'resolve', { resolution: 'test' });
    await tick();
  });

  it('Sev3 and Sev4 targets: 2 hours, and the end of the next business day', async () => {
    clock.set('2026-01-09T20:00:00Z'); // a Friday evening
    const sev4 = await post(notification('{}:{alertname="UserActivationRateLow"}', [
      { status: 'firing', labels: { alertname: 'UserActivationRateLow', severity: 'info' }, fingerprint: 'l1', startsAt: '2026-01-09T19:55:00Z' },
    ]));
    const sev3 = await post(notification('{}:{alertname="PodMemoryHigh"}', [
      { status: 'firing', labels: { alertname: 'PodMemoryHigh', severity: 'warning' }, fingerprint: 'm1', startsAt: '2026-01-09T19:55:00Z' },
    ]));
    expect((await get(`/v1/ops/incidents/${sev4.json().incidentId}`)).json().incident).toMatchObject({ severity: 'Sev4', respondBy: '2026-01-12T17:00:00.000Z', responseTarget: 'Next business day' });
    expect((await get(`/v1/ops/incidents/${sev3.json().incidentId}`)).json().incident).toMatchObject({ severity: 'Sev3', respondBy: '2026-01-09T22:00:00.000Z' });
    const listed = (await get('/v1/ops/incidents?severity=4')).json().incidents;
    expect(listed.map((i: { id: string }) => i.id)).toEqual([sev4.json().incidentId]);
    expect((await get('/v1/ops/incidents?severity=9')).statusCode).toBe(400);
  });

  it('without an escalation target the escalation is recorded, logged and counted as failed', async () => {
    OPS_CONFIG.read(t.platform.config).workspaceId = undefined;
    try {
      const before = pd.events.length;
      const opened = await post(notification('{}:{alertname="DatabaseConnectionExhaustion"}', [
        { status: 'firing', labels: { alertname: 'DatabaseConnectionExhaustion', severity: 'critical' }, fingerprint: 'x1', startsAt: '2026-01-09T19:59:00Z' },
      ]));
      const id = opened.json().incidentId;
      clock.advance(15 * MIN);
      expect(await tick()).toEqual({ escalated: 1, sent: 0, failed: 0 });
      expect(pd.events).toHaveLength(before);
      const detail = (await get(`/v1/ops/incidents/${id}`)).json().incident;
      expect(detail.timeline.find((e: { kind: string }) => e.kind === 'escalated').text).toContain('no escalation target: V01T_OPS_WORKSPACE_ID is not set');
      const metrics = (await t.inject({ method: 'GET', url: '/metrics' })).body;
      expect(metrics).toMatch(/v01t_incident_notifications_total\{[^}]*connector="none"[^}]*result="failed"[^}]*\} 1\n/);
      await act(id, 'resolve', {});
    } finally {
      OPS_CONFIG.read(t.platform.config).workspaceId = opsWs;
    }
  });

  it('in a running server the escalation loop runs by itself every V01T_OPS_TICK_SECONDS', async () => {
    OPS_CONFIG.read(t.platform.config).tickSeconds = 1; // read when the loop starts
    const before = pd.events.length;
    const opened = await post(notification('{}:{alertname="ApiLatencyP95Critical"}', [
      { status: 'firing', labels: { alertname: 'ApiLatencyP95Critical', severity: 'critical' }, fingerprint: 'p1', startsAt: '2026-01-09T19:59:00Z' },
    ]));
    const id = opened.json().incidentId;
    await t.platform.ops!.start();
    try {
      clock.advance(15 * MIN);
      // Wall-clock wait for the real interval (no tick() call): poll with a deadline.
      const deadline = Date.now() + 15_000;
      while (pd.events.length === before && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
      expect(pd.events.slice(before).map((e) => `${e.event_action}:${e.dedup_key}`)).toEqual([`trigger:v01t-incident-${id}`]);
    } finally {
      await t.platform.ops!.stop();
    }
    await act(id, 'resolve', {});
    await tick();
  });

  it('keeps the PagerDuty routing key only encrypted (the hub\'s vault), nowhere in plain text', async () => {
    const db = t.platform.database;
    const tables = await db.query<{ s: string; n: string }>(
      `SELECT table_schema AS s, table_name AS n FROM information_schema.tables WHERE table_type = 'BASE TABLE' AND table_schema NOT IN ('pg_catalog', 'information_schema')`,
    );
    let rowsSeen = 0;
    for (const { s, n } of tables) {
      const rows = await db.query<{ j: string }>(`SELECT row_to_json(t)::text AS j FROM "${s}"."${n}" t`);
      rowsSeen += rows.length;
      for (const r of rows) expect(r.j, `${s}.${n}`).not.toContain(ROUTING_KEY);
    }
    expect(rowsSeen).toBeGreaterThan(50);
  });

  it('exports and erases the personal data it keeps (roles, notes, public updates)', async () => {
    const handler = t.platform.personalData.get('ops')!;
    const exported = (await handler.exportUser(operator.id)) as { roles: unknown[]; timeline: { text: string }[]; updates: { message: string }[] };
    expect(exported.roles.length).toBeGreaterThanOrEqual(2);
    expect(exported.timeline.map((e) => e.text).join('\n')).toContain('Rolled back api to 1.4.1');
    expect(exported.updates.map((u) => u.message)).toContain('Some API requests fail. We identified the cause and are rolling back.');
    const erased = await handler.eraseUser(operator.id);
    expect(erased.technical_lead_id).toBe(1);
    expect(erased.communications_lead_id).toBe(1);
    expect(erased.public_updates).toBe(2);
    const after = (await handler.exportUser(operator.id)) as { roles: unknown[]; timeline: unknown[]; updates: unknown[] };
    expect(after).toEqual({ roles: [], timeline: [], updates: [] });
    const md = (await get(`/v1/ops/incidents/${sev1}/postmortem`)).body;
    expect(md).not.toContain('Olga Operator');
    expect(md).toContain('-   Technical Lead: (not assigned)');
  });
});

describe('deployment history API', () => {
  let t: TestPlatform;
  let admin: TestUser;
  let user: TestUser;
  const record = (body: object, token: string | null) => t.inject({ method: 'POST', url: '/v1/ops/deployments', headers: token ? bearer(token) : {}, payload: body });

  beforeAll(async () => {
    t = await createTestPlatform({ V01T_DEPLOY_TOKEN: DEPLOY_TOKEN });
    const created = await t.platform.orchestrator!.services.auth.createUser({ email: 'deployer@example.test', password: 'deploy password 123', name: 'Deployer', platformAdmin: true }, null);
    const login = await t.inject({ method: 'POST', url: '/v1/auth/login', payload: { email: 'deployer@example.test', password: 'deploy password 123' } });
    admin = { id: created.id, email: created.email, token: login.json().token, password: '' };
    user = await signup(t, 'Plain User');
  }, 120_000);
  afterAll(async () => {
    await t?.close();
  });

  it('records from CI (bearer secret), a platform admin and the CLI code path alike, and reports success rates', async () => {
    const ci = await record({ version: '1.4.2', environment: 'production', result: 'success' }, DEPLOY_TOKEN);
    expect(ci.statusCode, ci.body).toBe(201);
    expect(ci.json().deployment).toMatchObject({ version: '1.4.2', environment: 'production', result: 'success', via: 'ci', actorId: null });
    const byAdmin = await record({ version: '1.4.3', environment: 'production', result: 'failed', notes: 'migration timeout' }, admin.token);
    expect(byAdmin.json().deployment).toMatchObject({ via: 'api', actorId: admin.id, notes: 'migration timeout' });
    // What `v01t deploy record` calls.
    await t.platform.ops!.deployments.record({ version: '1.4.3', environment: 'production', result: 'rolled_back' }, { via: 'cli' });
    await t.platform.ops!.deployments.record({ version: '1.4.4', environment: 'production', result: 'success' }, { via: 'cli' });
    await record({ version: '1.5.0-rc.1', environment: 'production-green', result: 'success' }, DEPLOY_TOKEN);

    const res = await t.inject({ method: 'GET', url: '/v1/ops/deployments', headers: bearer(admin.token) });
    expect(res.statusCode, res.body).toBe(200);
    const body = res.json();
    expect(body.deployments.map((d: { version: string }) => d.version)).toEqual(['1.5.0-rc.1', '1.4.4', '1.4.3', '1.4.3', '1.4.2']);
    expect(body.environments).toEqual([
      { environment: 'production', total: 4, success: 2, failed: 1, rolledBack: 1, successRate: 0.5, lastDeployment: { version: '1.4.4', result: 'success', recordedAt: expect.any(String) } },
      { environment: 'production-green', total: 1, success: 1, failed: 0, rolledBack: 0, successRate: 1, lastDeployment: { version: '1.5.0-rc.1', result: 'success', recordedAt: expect.any(String) } },
    ]);
    const page = (await t.inject({ method: 'GET', url: '/v1/ops/deployments?environment=production&limit=3', headers: bearer(admin.token) })).json();
    expect(page.deployments.map((d: { version: string }) => d.version)).toEqual(['1.4.4', '1.4.3', '1.4.3']);
    const next = (await t.inject({ method: 'GET', url: `/v1/ops/deployments?environment=production&limit=3&cursor=${page.nextCursor}`, headers: bearer(admin.token) })).json();
    expect(next.deployments.map((d: { version: string }) => d.version)).toEqual(['1.4.2']);
    expect(next.nextCursor).toBeNull();
    // The audit log is the store: the chain still verifies, and the gauge counts the same.
    expect((await t.platform.ctx.audit.verify()).ok).toBe(true);
    const metrics = (await t.inject({ method: 'GET', url: '/metrics' })).body;
    expect(metrics).toMatch(/v01t_deployments_total\{[^}]*environment="production"[^}]*result="success"[^}]*\} 2\n/);
  });

  it('refuses other callers and bad input with problem+json', async () => {
    const none = await record({ version: '1', environment: 'production', result: 'success' }, null);
    expect(none.statusCode).toBe(401);
    expect(problem(none).code).toBe('unauthenticated');
    const wrong = await record({ version: '1', environment: 'production', result: 'success' }, randomBytes(24).toString('hex'));
    expect(problem(wrong).code).toBe('invalid_token');
    const notAdmin = await record({ version: '1', environment: 'production', result: 'success' }, user.token);
    expect(notAdmin.statusCode).toBe(403);
    expect((await t.inject({ method: 'GET', url: '/v1/ops/deployments', headers: bearer(user.token) })).statusCode).toBe(403);
    expect((await t.inject({ method: 'GET', url: '/v1/ops/deployments', headers: bearer(DEPLOY_TOKEN) })).statusCode).toBe(401);

    const bad = await record({ version: 'v 1; rm -rf', environment: 'Production!', result: 'maybe' }, DEPLOY_TOKEN);
    expect(bad.statusCode).toBe(400);
    expect(problem(bad).errors?.map((e) => e.path).sort()).toEqual(['body.environment', 'body.result', 'body.version']);
  });
});
