import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestPlatform, type TestPlatform } from '../helpers/platform.js';
import { addMember, bearer, createWorkspace, problem, signup, type TestUser } from '../helpers/api.js';

/**
 * The GDPR requests register (ADR 0064) over HTTP: platform admins record, list, start, complete and
 * refuse requests; users see only their own; self-service exports and erasures are recorded
 * completed; due and overdue follow the (injected) clock, and so do the gauges.
 */
let t: TestPlatform;
let admin: TestUser;
const DAY = 86_400_000;

beforeAll(async () => {
  t = await createTestPlatform();
  const password = 'admin password 123';
  const created = await t.platform.orchestrator!.services.auth.createUser({ email: 'gdpr-admin@example.test', password, name: 'Greta Admin', platformAdmin: true }, null);
  admin = { id: created.id, email: 'gdpr-admin@example.test', password, token: '' };
  await signInAdmin();
});
/** A fresh session (moving the clock by weeks expires the previous one). */
async function signInAdmin() {
  const login = await t.inject({ method: 'POST', url: '/v1/auth/login', payload: { email: admin.email, password: admin.password } });
  admin.token = login.json().token;
}
afterAll(async () => {
  await t?.close();
});

const gauges = async () => {
  const body = (await t.inject({ method: 'GET', url: '/metrics' })).body;
  const open = Object.fromEntries([...body.matchAll(/^v01t_gdpr_requests_open\{[^}]*kind="(\w+)"[^}]*\} (\d+)$/gm)].map((m) => [m[1], Number(m[2])]));
  const overdue = Number(/^v01t_gdpr_requests_overdue(?:\{[^}]*\})? (\d+)$/m.exec(body)?.[1]);
  return { open, overdue };
};

const listOpen = async (token = admin.token, query = '') => t.inject({ method: 'GET', url: `/v1/admin/gdpr-requests${query}`, headers: bearer(token) });

describe('GDPR requests register', () => {
  it('only platform admins use the register: a workspace owner, a member and an anonymous caller are refused', async () => {
    const owner = await signup(t, 'Olga Owner');
    const ws = await createWorkspace(t, owner);
    const member = await signup(t, 'Mo Member');
    await addMember(t, ws, owner, member, 'admin');
    for (const u of [owner, member]) {
      expect(problem(await listOpen(u.token))).toMatchObject({ status: 403, code: 'forbidden' });
      const add = await t.inject({ method: 'POST', url: '/v1/admin/gdpr-requests', headers: bearer(u.token), payload: { kind: 'erasure', userId: owner.id } });
      expect(problem(add)).toMatchObject({ status: 403, code: 'forbidden' });
    }
    expect((await t.inject({ method: 'GET', url: '/v1/admin/gdpr-requests' })).statusCode).toBe(401);
  });

  it('records a request received by email, due 30 days after receipt; overdue after that, in the list and in the gauges', async () => {
    const before = await gauges();
    const subject = await signup(t, 'Sam Subject');
    const receivedAt = new Date(t.clock.now().getTime() - 3 * DAY);
    const add = await t.inject({
      method: 'POST',
      url: '/v1/admin/gdpr-requests',
      headers: bearer(admin.token),
      payload: { kind: 'rectification', email: subject.email.toUpperCase(), details: 'My name is spelt wrong', receivedAt: receivedAt.toISOString() },
    });
    expect(add.statusCode, add.body).toBe(201);
    const r = add.json().request;
    // The address is matched to the account holding it.
    expect(r).toMatchObject({ kind: 'rectification', userId: subject.id, channel: 'api', status: 'received', overdue: false, recordedBy: admin.id, handledBy: null });
    expect(new Date(r.dueAt).getTime()).toBe(receivedAt.getTime() + 30 * DAY);
    expect((await gauges()).open.rectification).toBe((before.open.rectification ?? 0) + 1);
    expect((await gauges()).overdue).toBe(before.overdue);

    // 27 days later (30 after receipt) it is still due; a minute past its due time it is overdue.
    t.clock.advance(27 * DAY - 60_000);
    await signInAdmin();
    expect((await listOpen()).json().requests.find((x: { id: string }) => x.id === r.id)).toMatchObject({ overdue: false });
    t.clock.advance(2 * 60_000);
    const overdueList = (await listOpen(admin.token, '?status=overdue')).json();
    expect(overdueList.requests.map((x: { id: string }) => x.id)).toContain(r.id);
    expect(overdueList.requests.find((x: { id: string }) => x.id === r.id)).toMatchObject({ overdue: true });
    expect((await gauges()).overdue).toBe(before.overdue + 1);

    // Handled: started, then completed; no longer open nor overdue.
    const started = await t.inject({ method: 'POST', url: `/v1/admin/gdpr-requests/${r.id}/start`, headers: bearer(admin.token) });
    expect(started.json().request).toMatchObject({ status: 'in_progress', handledBy: admin.id });
    expect(problem(await t.inject({ method: 'POST', url: `/v1/admin/gdpr-requests/${r.id}/start`, headers: bearer(admin.token) }))).toMatchObject({ status: 409, code: 'conflict' });
    const done = await t.inject({ method: 'POST', url: `/v1/admin/gdpr-requests/${r.id}/complete`, headers: bearer(admin.token), payload: { resolution: 'Name corrected' } });
    expect(done.json().request).toMatchObject({ status: 'completed', resolution: 'Name corrected', overdue: false });
    expect((await gauges()).overdue).toBe(before.overdue);
    expect((await gauges()).open.rectification ?? 0).toBe(before.open.rectification ?? 0);
    expect(problem(await t.inject({ method: 'POST', url: `/v1/admin/gdpr-requests/${r.id}/refuse`, headers: bearer(admin.token), payload: { reason: 'late' } }))).toMatchObject({ status: 409 });

    // Its audit trail: received, started, completed, linked to the request.
    const detail = (await t.inject({ method: 'GET', url: `/v1/admin/gdpr-requests/${r.id}`, headers: bearer(admin.token) })).json();
    expect(detail.audit.map((e: { action: string }) => e.action)).toEqual(['gdpr.request_received', 'gdpr.request_started', 'gdpr.request_completed']);
    expect(detail.audit.every((e: { actorId: string }) => e.actorId === admin.id)).toBe(true);
  });

  it('refuses with a reason; a refusal without one is a validation error; an unknown subject address is kept as given', async () => {
    const add = await t.inject({ method: 'POST', url: '/v1/admin/gdpr-requests', headers: bearer(admin.token), payload: { kind: 'access', email: 'stranger@elsewhere.test' } });
    expect(add.statusCode, add.body).toBe(201);
    const r = add.json().request;
    expect(r).toMatchObject({ userId: null, email: 'stranger@elsewhere.test', status: 'received' });
    expect(problem(await t.inject({ method: 'POST', url: `/v1/admin/gdpr-requests/${r.id}/refuse`, headers: bearer(admin.token), payload: {} }))).toMatchObject({ status: 400 });
    const refused = await t.inject({ method: 'POST', url: `/v1/admin/gdpr-requests/${r.id}/refuse`, headers: bearer(admin.token), payload: { reason: 'No account holds this address' } });
    expect(refused.json().request).toMatchObject({ status: 'refused', refusalReason: 'No account holds this address' });
    const closed = (await listOpen(admin.token, '?status=refused')).json().requests;
    expect(closed.map((x: { id: string }) => x.id)).toContain(r.id);

    // Without a subject, or received in the future, or about an unknown account: refused.
    expect(problem(await t.inject({ method: 'POST', url: '/v1/admin/gdpr-requests', headers: bearer(admin.token), payload: { kind: 'access' } }))).toMatchObject({ status: 400 });
    const future = new Date(t.clock.now().getTime() + DAY).toISOString();
    expect(problem(await t.inject({ method: 'POST', url: '/v1/admin/gdpr-requests', headers: bearer(admin.token), payload: { kind: 'access', email: 'a@b.test', receivedAt: future } }))).toMatchObject({ status: 400 });
    expect(problem(await t.inject({ method: 'POST', url: '/v1/admin/gdpr-requests', headers: bearer(admin.token), payload: { kind: 'access', userId: '00000000-0000-4000-8000-000000000000' } }))).toMatchObject({ status: 404 });
  });

  it('self-service: an export and an erasure are recorded completed; a rectification request waits for an operator; users see only their own', async () => {
    const alice = await signup(t, 'Alice');
    const bob = await signup(t, 'Bob');
    const exported = await t.inject({ method: 'GET', url: '/v1/me/export', headers: bearer(alice.token) });
    expect(exported.statusCode).toBe(200);
    const asked = await t.inject({ method: 'POST', url: '/v1/me/gdpr-requests', headers: bearer(alice.token), payload: { kind: 'objection', details: 'No marketing analytics, please' } });
    expect(asked.statusCode, asked.body).toBe(201);
    expect(asked.json().request).toMatchObject({ kind: 'objection', userId: alice.id, email: alice.email, channel: 'self_service', status: 'received' });
    // Export and erasure are the self-service routes, not requests to file.
    expect((await t.inject({ method: 'POST', url: '/v1/me/gdpr-requests', headers: bearer(alice.token), payload: { kind: 'erasure', details: 'x' } })).statusCode).toBe(400);

    const mine = (await t.inject({ method: 'GET', url: '/v1/me/gdpr-requests', headers: bearer(alice.token) })).json().requests;
    expect(mine.map((r: { kind: string; status: string }) => [r.kind, r.status])).toEqual([
      ['objection', 'received'],
      ['access', 'completed'],
    ]);
    expect(mine.every((r: { userId: string }) => r.userId === alice.id)).toBe(true);
    expect((await t.inject({ method: 'GET', url: '/v1/me/gdpr-requests', headers: bearer(bob.token) })).json().requests).toEqual([]);
    // Bob cannot reach Alice's request through the admin API either.
    expect((await t.inject({ method: 'GET', url: `/v1/admin/gdpr-requests/${mine[0].id}`, headers: bearer(bob.token) })).statusCode).toBe(403);

    // The export lists the register's requests about her, as personal data.
    const again = (await t.inject({ method: 'GET', url: '/v1/me/export', headers: bearer(alice.token) })).json();
    expect(again.orchestrator.gdprRequests.map((r: { kind: string }) => r.kind)).toEqual(['access', 'objection', 'access']);

    const erased = await t.inject({ method: 'DELETE', url: '/v1/me', headers: bearer(alice.token), payload: { password: alice.password } });
    expect(erased.statusCode, erased.body).toBe(200);
    // The register keeps the erasure (and her other requests) as evidence after the account is gone.
    const hers = (await listOpen(admin.token, `?status=all&userId=${alice.id}`)).json().requests;
    const erasure = hers.find((r: { kind: string }) => r.kind === 'erasure');
    expect(erasure).toMatchObject({ status: 'completed', email: alice.email, channel: 'self_service', handledBy: null });
    const trail = (await t.inject({ method: 'GET', url: `/v1/admin/gdpr-requests/${erasure.id}`, headers: bearer(admin.token) })).json().audit;
    expect(trail.map((e: { action: string }) => e.action)).toEqual(['gdpr.request_received', 'gdpr.user_erased', 'gdpr.request_completed']);
    expect(trail[1].data).toMatchObject({ requestId: erasure.id });
  });

  it('an open erasure request recorded by address is completed by the erasure that answers it', async () => {
    const carol = await signup(t, 'Carol');
    const gdpr = t.platform.orchestrator!.services.gdpr;
    const r = await gdpr.record({ kind: 'erasure', email: carol.email, channel: 'email' }, { actorId: admin.id, ip: null });
    const other = await signup(t, 'Dave');
    // Not Dave's request, and not an access request.
    await expect(gdpr.fulfilErasure(other.id, { requestId: r.id, channel: 'cli', by: { actorId: null, ip: null } })).rejects.toMatchObject({ code: 'conflict' });
    await expect(gdpr.fulfilAccess(carol.id, { requestId: r.id, channel: 'cli', by: { actorId: null, ip: null } })).rejects.toMatchObject({ code: 'conflict' });
    const done = await gdpr.fulfilErasure(carol.id, { requestId: await gdpr.resolve(`#${r.number}`), channel: 'cli', by: { actorId: null, ip: null } });
    expect(done.request).toMatchObject({ id: r.id, status: 'completed', userId: carol.id });
    expect((await t.inject({ method: 'POST', url: '/v1/auth/login', payload: { email: carol.email, password: carol.password } })).statusCode).toBe(401);
  });

  it('the retention rule deletes closed requests 3 years after they closed, never open ones', async () => {
    const rule = t.platform.orchestrator!.retention!.find((r) => r.name.startsWith('orchestrator.gdpr_requests'))!;
    const openBefore = (await listOpen(admin.token, '?status=open')).json().requests.length;
    const closedBefore = (await listOpen(admin.token, '?status=all&limit=500')).json().requests.length - openBefore;
    expect(closedBefore).toBeGreaterThan(0);
    expect(await rule.purge(new Date(t.clock.now().getTime() + 2 * 365 * DAY))).toBe(0);
    expect(await rule.purge(new Date(t.clock.now().getTime() + 3 * 366 * DAY))).toBe(closedBefore);
    expect((await listOpen(admin.token, '?status=all&limit=500')).json().requests.length).toBe(openBefore);
  });
});
