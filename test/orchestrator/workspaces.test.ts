import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestPlatform, type TestPlatform } from '../helpers/platform.js';
import { addMember, bearer, createWorkspace, problem, signup, type TestUser } from '../helpers/api.js';

let t: TestPlatform;
beforeAll(async () => {
  t = await createTestPlatform();
});
afterAll(async () => {
  await t?.close();
});

const call = (user: TestUser, method: string, url: string, payload?: object) =>
  t.inject({ method: method as 'GET', url, headers: bearer(user.token), ...(payload ? { payload } : {}) });

describe('workspaces', () => {
  it('creates a workspace whose creator is owner, lists and renames it', async () => {
    const u = await signup(t, 'Creator');
    const res = await call(u, 'POST', '/v1/workspaces', { name: '  Launch Lab ' });
    expect(res.statusCode).toBe(201);
    expect(res.json().workspace).toMatchObject({ name: 'Launch Lab', role: 'owner', requireMfa: false });
    const id = res.json().workspace.id;
    expect((await call(u, 'GET', '/v1/workspaces')).json().workspaces.map((w: { id: string }) => w.id)).toEqual([id]);
    expect((await call(u, 'PATCH', `/v1/workspaces/${id}`, { name: 'Renamed' })).json().workspace.name).toBe('Renamed');
    expect((await call(u, 'GET', `/v1/workspaces/${id}`)).json().workspace).toMatchObject({ name: 'Renamed', role: 'owner' });
  });

  it('answers 404 for malformed and unknown workspace ids', async () => {
    const u = await signup(t, 'Probe');
    expect(problem(await call(u, 'GET', '/v1/workspaces/not-a-uuid')).code).toBe('workspace_not_found');
    expect(problem(await call(u, 'GET', '/v1/workspaces/00000000-0000-4000-8000-000000000000')).code).toBe('workspace_not_found');
  });
});

describe('roles (permission matrix in docs/permissions.md)', () => {
  let owner: TestUser;
  let ws: string;
  const users: Record<string, TestUser> = {};
  beforeAll(async () => {
    owner = await signup(t, 'Matrix Owner');
    ws = await createWorkspace(t, owner, 'Matrix');
    for (const role of ['admin', 'developer', 'analyst', 'viewer']) {
      users[role] = await signup(t, `Matrix ${role}`);
      await addMember(t, ws, owner, users[role]!, role);
    }
    users.owner = owner;
  });

  it.each([
    ['GET', '', { owner: 200, admin: 200, developer: 200, analyst: 200, viewer: 200 }],
    ['GET', '/members', { owner: 200, admin: 200, developer: 200, analyst: 200, viewer: 200 }],
    ['GET', '/audit', { owner: 200, admin: 200, developer: 403, analyst: 403, viewer: 403 }],
    ['GET', '/invitations', { owner: 200, admin: 200, developer: 403, analyst: 403, viewer: 403 }],
    ['PATCH', '', { owner: 200, admin: 200, developer: 403, analyst: 403, viewer: 403 }],
  ])('%s workspace%s', async (method, path, expected) => {
    const got: Record<string, number> = {};
    for (const role of Object.keys(expected)) {
      got[role] = (await call(users[role]!, method, `/v1/workspaces/${ws}${path}`, method === 'PATCH' ? { name: 'Matrix' } : undefined)).statusCode;
    }
    expect(got).toEqual(expected);
  });

  it('only owners delete a workspace', async () => {
    const w = await createWorkspace(t, owner, 'Doomed');
    const admin = await signup(t, 'Doomed Admin');
    await addMember(t, w, owner, admin, 'admin');
    expect((await call(admin, 'DELETE', `/v1/workspaces/${w}`)).statusCode).toBe(403);
    expect((await call(owner, 'DELETE', `/v1/workspaces/${w}`)).statusCode).toBe(204);
    expect((await call(owner, 'GET', `/v1/workspaces/${w}`)).statusCode).toBe(404);
  });
});

describe('members, invitations, the last owner', () => {
  it('invites by email token; only the invited address can accept, once', async () => {
    const owner = await signup(t, 'Inviter');
    const ws = await createWorkspace(t, owner);
    const invitee = await signup(t, 'Invitee');
    const stranger = await signup(t, 'Stranger');
    const inv = await call(owner, 'POST', `/v1/workspaces/${ws}/invitations`, { email: invitee.email.toUpperCase(), role: 'analyst' });
    expect(inv.statusCode).toBe(201);
    expect(inv.json().invitation).toMatchObject({ role: 'analyst', status: 'pending' });
    const token = inv.json().token;
    expect((await call(owner, 'GET', `/v1/workspaces/${ws}/invitations`)).json().invitations).toHaveLength(1);
    const wrong = await call(stranger, 'POST', '/v1/invitations/accept', { token });
    expect(wrong.statusCode).toBe(403);
    const ok = await call(invitee, 'POST', '/v1/invitations/accept', { token });
    expect(ok.statusCode).toBe(200);
    expect(ok.json().workspace).toMatchObject({ id: ws, role: 'analyst' });
    expect(problem(await call(invitee, 'POST', '/v1/invitations/accept', { token })).code).toBe('invitation_invalid');
    const members = (await call(owner, 'GET', `/v1/workspaces/${ws}/members`)).json().members;
    expect(members.map((m: { userId: string; role: string }) => [m.userId, m.role])).toEqual([
      [owner.id, 'owner'],
      [invitee.id, 'analyst'],
    ]);
    expect(problem(await call(owner, 'POST', `/v1/workspaces/${ws}/invitations`, { email: invitee.email, role: 'viewer' })).code).toBe('already_member');
  });

  it('invitations expire after 7 days and can be revoked', async () => {
    const owner = await signup(t, 'Expirer');
    const ws = await createWorkspace(t, owner);
    const a = await signup(t, 'Late');
    const b = await signup(t, 'Revoked');
    const invA = (await call(owner, 'POST', `/v1/workspaces/${ws}/invitations`, { email: a.email, role: 'viewer' })).json();
    const invB = (await call(owner, 'POST', `/v1/workspaces/${ws}/invitations`, { email: b.email, role: 'viewer' })).json();
    expect((await call(owner, 'DELETE', `/v1/workspaces/${ws}/invitations/${invB.invitation.id}`)).statusCode).toBe(204);
    expect(problem(await call(b, 'POST', '/v1/invitations/accept', { token: invB.token })).code).toBe('invitation_invalid');
    t.clock.advance(7 * 86_400_000 + 1000);
    const late = await call(a, 'POST', '/v1/invitations/accept', { token: invA.token });
    expect(late.statusCode).toBe(410);
  });

  it('admins cannot make owners; roles change; removal takes effect at once', async () => {
    const owner = await signup(t, 'Boss');
    const ws = await createWorkspace(t, owner);
    const admin = await signup(t, 'Deputy');
    const dev = await signup(t, 'Dev');
    await addMember(t, ws, owner, admin, 'admin');
    await addMember(t, ws, owner, dev, 'viewer');
    expect(problem(await call(admin, 'PATCH', `/v1/workspaces/${ws}/members/${dev.id}`, { role: 'owner' })).code).toBe('forbidden');
    expect(problem(await call(admin, 'POST', `/v1/workspaces/${ws}/invitations`, { email: 'x@example.test', role: 'owner' })).code).toBe('forbidden');
    expect(problem(await call(admin, 'PATCH', `/v1/workspaces/${ws}/members/${owner.id}`, { role: 'viewer' })).code).toBe('forbidden');
    const promoted = await call(admin, 'PATCH', `/v1/workspaces/${ws}/members/${dev.id}`, { role: 'developer' });
    expect(promoted.json().member.role).toBe('developer');
    expect((await call(dev, 'GET', `/v1/workspaces/${ws}/members`)).statusCode).toBe(200);
    expect((await call(admin, 'DELETE', `/v1/workspaces/${ws}/members/${dev.id}`)).statusCode).toBe(204);
    expect((await call(dev, 'GET', `/v1/workspaces/${ws}/members`)).statusCode).toBe(404);
  });

  it('the last owner can neither leave nor be demoted; with a second owner both work', async () => {
    const owner = await signup(t, 'Only Owner');
    const ws = await createWorkspace(t, owner);
    expect(problem(await call(owner, 'DELETE', `/v1/workspaces/${ws}/members/me`)).code).toBe('last_owner');
    expect(problem(await call(owner, 'PATCH', `/v1/workspaces/${ws}/members/${owner.id}`, { role: 'admin' })).code).toBe('last_owner');
    const second = await signup(t, 'Second Owner');
    await addMember(t, ws, owner, second, 'owner');
    expect((await call(owner, 'PATCH', `/v1/workspaces/${ws}/members/${owner.id}`, { role: 'admin' })).statusCode).toBe(200);
    expect(problem(await call(second, 'DELETE', `/v1/workspaces/${ws}/members/me`)).code).toBe('last_owner');
    expect((await call(owner, 'DELETE', `/v1/workspaces/${ws}/members/me`)).statusCode).toBe(204);
  });

  it('concurrent demotions of the two owners leave one owner', async () => {
    const a = await signup(t, 'Race A');
    const b = await signup(t, 'Race B');
    const ws = await createWorkspace(t, a);
    await addMember(t, ws, a, b, 'owner');
    const results = await Promise.all([
      call(a, 'PATCH', `/v1/workspaces/${ws}/members/${b.id}`, { role: 'admin' }),
      call(b, 'PATCH', `/v1/workspaces/${ws}/members/${a.id}`, { role: 'admin' }),
    ]);
    const owners = (await t.platform.database.query<{ n: number }>(`SELECT count(*)::int AS n FROM orchestrator.members WHERE workspace_id = $1 AND role = 'owner'`, [ws]))[0]!.n;
    expect(owners).toBe(1);
    // One demotion wins. The other is refused: 409 last_owner when it was authorised while its sender
    // was still an owner, 403 forbidden when the winner's commit had already made its sender an admin.
    const [won, lost] = [...results].sort((x, y) => x.statusCode - y.statusCode);
    expect(won!.statusCode).toBe(200);
    expect([[409, 'last_owner'], [403, 'forbidden']]).toContainEqual([lost!.statusCode, problem(lost!).code]);
  });
});

describe('personas', () => {
  it('each member picks their own personas per workspace', async () => {
    const owner = await signup(t, 'Persona Owner');
    const ws = await createWorkspace(t, owner);
    const ws2 = await createWorkspace(t, owner, 'Other');
    expect((await call(owner, 'GET', `/v1/workspaces/${ws}/members/me/personas`)).json()).toEqual({ personas: [] });
    const put = await call(owner, 'PUT', `/v1/workspaces/${ws}/members/me/personas`, { personas: ['founder', 'vCreator', 'vCreator'] });
    expect(put.json()).toEqual({ personas: ['founder', 'vCreator'] });
    expect((await call(owner, 'GET', `/v1/workspaces/${ws2}/members/me/personas`)).json()).toEqual({ personas: [] });
    const bad = await call(owner, 'PUT', `/v1/workspaces/${ws}/members/me/personas`, { personas: ['vWizard'] });
    expect(bad.statusCode).toBe(400);
    expect(problem(bad).errors?.[0]?.path).toBe('body.personas.0');
  });
});
