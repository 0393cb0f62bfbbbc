import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bearer, problem } from '../helpers/api.js';
import { startOpsFixture, type OpsFixture } from './ops-fixture.js';

/**
 * What the web app's operations console reads besides the incident API (issue 16): the server's
 * clock with each incident (the response-target countdown counts from it) and the people an
 * incident role can go to.
 */
const AM_TOKEN = randomBytes(24).toString('hex');
const MIN = 60_000;
let f: OpsFixture;

beforeAll(async () => {
  f = await startOpsFixture({ amToken: AM_TOKEN, routingKey: randomBytes(16).toString('hex') });
}, 120_000);

afterAll(async () => {
  await f?.close();
});

const alert = (groupKey: string, severity: string) => ({
  version: '4',
  groupKey,
  truncatedAlerts: 0,
  status: 'firing',
  receiver: 'v01t-incidents',
  groupLabels: { alertname: 'ApiDown' },
  commonLabels: { alertname: 'ApiDown', severity },
  commonAnnotations: { summary: 'The API answers 5xx' },
  externalURL: 'http://alertmanager.example:9093',
  alerts: [{ status: 'firing', labels: { alertname: 'ApiDown', severity }, annotations: { summary: 'The API answers 5xx' }, startsAt: f.clock.now().toISOString(), endsAt: '0001-01-01T00:00:00Z', generatorURL: 'http://prometheus.example:9090/graph', fingerprint: `fp-${groupKey}` }],
});

describe('operations console support', () => {
  it("answers incidents with the server's time, so a countdown to the response target can be computed and frozen", async () => {
    const opened = await f.t.inject({ method: 'POST', url: '/v1/ops/alertmanager', headers: bearer(AM_TOKEN), payload: alert('{}:{alertname="ApiDown"}', 'critical') });
    expect(opened.statusCode, opened.body).toBe(200);
    const id = opened.json().incidentId as string;
    f.clock.advance(4 * MIN);
    const list = await f.t.inject({ method: 'GET', url: '/v1/ops/incidents', headers: bearer(f.operator.token) });
    expect(list.statusCode, list.body).toBe(200);
    expect(list.json().now).toBe('2026-01-05T09:04:00.000Z');
    const listed = list.json().incidents.find((i: { id: string }) => i.id === id);
    expect(Date.parse(listed.respondBy) - Date.parse(list.json().now)).toBe(11 * MIN); // Sev1: 15 minutes

    const ack = await f.t.inject({ method: 'POST', url: `/v1/ops/incidents/${id}/acknowledge`, headers: bearer(f.operator.token) });
    expect(ack.statusCode, ack.body).toBe(200);
    f.clock.advance(20 * MIN);
    const detail = (await f.t.inject({ method: 'GET', url: `/v1/ops/incidents/${id}`, headers: bearer(f.operator.token) })).json();
    expect(detail.now).toBe('2026-01-05T09:24:00.000Z');
    // Acknowledged 4 minutes in: the countdown stops at 11 minutes left however late it is read.
    expect(Date.parse(detail.incident.respondBy) - Date.parse(detail.incident.acknowledgedAt)).toBe(11 * MIN);
  });

  it('lists who can take an incident role: the caller first, then the ops workspace members who may manage incidents', async () => {
    const asAdmin = await f.t.inject({ method: 'GET', url: '/v1/ops/responders', headers: bearer(f.admin.token) });
    expect(asAdmin.statusCode, asAdmin.body).toBe(200);
    expect(asAdmin.json().responders.map((r: { name: string; you: boolean }) => [r.name, r.you])).toEqual([
      ['Ada Admin', true],
      ['Olga Operator', false],
    ]); // the viewer of the ops workspace cannot manage incidents
    const asOperator = (await f.t.inject({ method: 'GET', url: '/v1/ops/responders', headers: bearer(f.operator.token) })).json();
    expect(asOperator.responders.map((r: { name: string }) => r.name)).toEqual(['Olga Operator', 'Ada Admin']);
    expect(problem(await f.t.inject({ method: 'GET', url: '/v1/ops/responders', headers: bearer(f.viewer.token) })).code).toBe('forbidden');
    expect(problem(await f.t.inject({ method: 'GET', url: '/v1/ops/responders', headers: bearer(f.outsider.token) })).code).toBe('forbidden');
  });
});
