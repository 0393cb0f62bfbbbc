import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { getTableConfig } from 'drizzle-orm/pg-core';
import { createTestPlatform, type TestPlatform } from '../helpers/platform.js';
import { addMember, bearer, createWorkspace, signup } from '../helpers/api.js';
import { ORCHESTRATOR_TABLES } from '../../src/services/orchestrator/schema.js';
import { migrate, MigrationError } from '../../src/kernel/db/migrate.js';

let t: TestPlatform;
beforeAll(async () => {
  t = await createTestPlatform();
});
afterAll(async () => {
  await t?.close();
});

describe('audit log', () => {
  it('records sign-ins, MFA, role changes, tokens, invitations; owners/admins read it with filters and paging', async () => {
    const owner = await signup(t, 'Auditor');
    const ws = await createWorkspace(t, owner);
    const dev = await signup(t, 'Audited');
    await addMember(t, ws, owner, dev, 'viewer');
    await t.inject({ method: 'PATCH', url: `/v1/workspaces/${ws}/members/${dev.id}`, headers: bearer(owner.token), payload: { role: 'developer' } });
    await t.inject({ method: 'POST', url: '/v1/me/tokens', headers: bearer(owner.token), payload: { name: 'x', scopes: ['read'] } });
    await t.inject({ method: 'POST', url: '/v1/auth/login', payload: { email: owner.email, password: owner.password } });

    const all = await t.inject({ method: 'GET', url: `/v1/workspaces/${ws}/audit`, headers: bearer(owner.token) });
    expect(all.statusCode).toBe(200);
    const actions = all.json().entries.map((e: { action: string }) => e.action);
    expect(actions).toEqual(['member.role_changed', 'invitation.accepted', 'invitation.created', 'workspace.created']);
    const role = all.json().entries[0];
    expect(role).toMatchObject({ actorId: owner.id, targetId: dev.id, data: { from: 'viewer', to: 'developer' } });

    const filtered = await t.inject({ method: 'GET', url: `/v1/workspaces/${ws}/audit?action=invitation.*`, headers: bearer(owner.token) });
    expect(filtered.json().entries.map((e: { action: string }) => e.action)).toEqual(['invitation.accepted', 'invitation.created']);
    const page1 = (await t.inject({ method: 'GET', url: `/v1/workspaces/${ws}/audit?limit=3`, headers: bearer(owner.token) })).json();
    expect(page1.entries).toHaveLength(3);
    const page2 = (await t.inject({ method: 'GET', url: `/v1/workspaces/${ws}/audit?limit=3&cursor=${page1.nextCursor}`, headers: bearer(owner.token) })).json();
    expect(page2.entries.map((e: { action: string }) => e.action)).toEqual(['workspace.created']);
    expect(page2.nextCursor).toBeNull();

    const userLevel = await t.platform.ctx.audit.list({ actorId: owner.id, limit: 50 });
    expect(userLevel.map((e) => e.action)).toEqual(expect.arrayContaining(['auth.signup', 'auth.login', 'auth.token.created']));
    expect((await t.inject({ method: 'GET', url: `/v1/workspaces/${ws}/audit`, headers: bearer(dev.token) })).statusCode).toBe(403);
  });

  it('is append-only: UPDATE and DELETE are refused by the database', async () => {
    await expect(t.platform.database.query(`UPDATE kernel.audit_log SET action = 'forged'`)).rejects.toThrow(/append-only/);
    await expect(t.platform.database.query(`DELETE FROM kernel.audit_log`)).rejects.toThrow(/append-only/);
  });

  it('verifies the hash chain and reports the first broken link after tampering', async () => {
    const before = await t.platform.ctx.audit.verify();
    expect(before.ok).toBe(true);
    expect(before.checked).toBeGreaterThan(5);
    const victim = (await t.platform.ctx.audit.list({ action: 'member.role_changed', limit: 1 }))[0]!;
    // A superuser bypassing the trigger is exactly what the chain is there to catch.
    await t.platform.database.withTransaction(async (c) => {
      await c.exec('ALTER TABLE kernel.audit_log DISABLE TRIGGER audit_log_append_only');
      await c.query(`UPDATE kernel.audit_log SET data = '{"from":"viewer","to":"owner"}'::jsonb WHERE seq = $1`, [victim.seq]);
      await c.exec('ALTER TABLE kernel.audit_log ENABLE TRIGGER audit_log_append_only');
    });
    const after = await t.platform.ctx.audit.verify();
    expect(after.ok).toBe(false);
    if (!after.ok) {
      expect(after.brokenAt.seq).toBe(victim.seq);
      expect(after.brokenAt.reason).toMatch(/modified/);
    }
  });
});

describe('GDPR export and erase', () => {
  it('exports what is kept about a user and erases it, handing the workspace to the next admin', async () => {
    const leaving = await signup(t, 'Leaving');
    const ws = await createWorkspace(t, leaving, 'Inherited');
    const solo = await createWorkspace(t, leaving, 'Solo');
    const heir = await signup(t, 'Heir');
    const viewer = await signup(t, 'Bystander');
    await addMember(t, ws, leaving, viewer, 'viewer');
    await addMember(t, ws, leaving, heir, 'admin');

    const exp = await t.inject({ method: 'GET', url: '/v1/me/export', headers: bearer(leaving.token) });
    expect(exp.statusCode).toBe(200);
    const data = exp.json();
    expect(data.orchestrator.user.email).toBe(leaving.email);
    expect(data.orchestrator.memberships).toHaveLength(2);
    expect(JSON.stringify(data)).not.toMatch(/argon2|password_hash|passwordHash|mfaSecret/);

    const wrong = await t.inject({ method: 'DELETE', url: '/v1/me', headers: bearer(leaving.token), payload: { password: 'not it at all' } });
    expect(wrong.statusCode).toBe(401);
    const erase = await t.inject({ method: 'DELETE', url: '/v1/me', headers: bearer(leaving.token), payload: { password: leaving.password } });
    expect(erase.statusCode).toBe(200);
    expect(erase.json().erased.orchestrator).toMatchObject({ users: 1, workspacesDeleted: 1, ownershipTransferred: 1 });

    expect((await t.inject({ method: 'GET', url: '/v1/me', headers: bearer(leaving.token) })).statusCode).toBe(401);
    expect((await t.inject({ method: 'POST', url: '/v1/auth/login', payload: { email: leaving.email, password: leaving.password } })).statusCode).toBe(401);
    const members = (await t.inject({ method: 'GET', url: `/v1/workspaces/${ws}/members`, headers: bearer(heir.token) })).json().members;
    expect(members.map((m: { userId: string; role: string }) => [m.userId, m.role]).sort()).toEqual([[heir.id, 'owner'], [viewer.id, 'viewer']].sort());
    const rows = await t.platform.database.query('SELECT 1 FROM orchestrator.workspaces WHERE id = $1', [solo]);
    expect(rows).toHaveLength(0);
    const leftovers = await t.platform.database.query(`SELECT 1 FROM orchestrator.users WHERE email_normalized = $1`, [leaving.email.toLowerCase()]);
    expect(leftovers).toHaveLength(0);
  });

  it('retention rules purge security events after 90 days', async () => {
    await t.inject({ method: 'POST', url: '/v1/auth/login', payload: { email: 'ghost@example.test', password: 'wrong password' }, remoteAddress: '192.0.2.99' });
    const rule = t.platform.orchestrator!.retention!.find((r) => r.name === 'orchestrator.security_events')!;
    expect(await rule.purge(t.clock.now())).toBe(0);
    const later = new Date(t.clock.now().getTime() + 91 * 86_400_000);
    expect(await rule.purge(later)).toBeGreaterThan(0);
  });
});

describe('schema and migrations', () => {
  it('the drizzle tables match the migrated columns (no drift)', async () => {
    for (const table of Object.values(ORCHESTRATOR_TABLES)) {
      const cfg = getTableConfig(table);
      const rows = await t.platform.database.query<{ column_name: string }>(
        'SELECT column_name FROM information_schema.columns WHERE table_schema = $1 AND table_name = $2',
        [cfg.schema, cfg.name],
      );
      expect(rows.map((r) => r.column_name).sort(), `${cfg.schema}.${cfg.name}`).toEqual(cfg.columns.map((c) => c.name).sort());
    }
  });

  it('re-running migrations is a no-op; editing an applied one is refused', async () => {
    expect((await migrate(t.platform.database, t.platform.migrationSets)).applied).toEqual([]);
    const tampered = t.platform.migrationSets.map((s) => ({ ...s, migrations: s.migrations.map((m) => ({ ...m, sql: `${m.sql}\n-- edited` })) }));
    await expect(migrate(t.platform.database, tampered)).rejects.toBeInstanceOf(MigrationError);
  });
});

describe('events out', () => {
  it('publishes sign-up, workspace, membership and erasure events through the outbox, in the same transaction', async () => {
    const u = await signup(t, 'Evented');
    const ws = await createWorkspace(t, u);
    const m = await signup(t, 'Joiner');
    await addMember(t, ws, u, m, 'viewer');
    await t.inject({ method: 'DELETE', url: '/v1/me', headers: bearer(m.token), payload: { password: m.password } });
    const rows = await t.platform.database.query<{ name: string; workspace_id: string | null; payload: unknown }>(
      `SELECT name, workspace_id, payload FROM kernel.outbox WHERE name LIKE 'orchestrator.%' ORDER BY position`,
    );
    const mine = rows.map((r) => ({ name: r.name, workspaceId: r.workspace_id, payload: typeof r.payload === 'string' ? JSON.parse(r.payload) : r.payload }));
    expect(mine).toEqual(
      expect.arrayContaining([
        { name: 'orchestrator.user.signed_up.v1', workspaceId: null, payload: { userId: u.id, via: 'signup' } },
        { name: 'orchestrator.workspace.created.v1', workspaceId: ws, payload: { workspaceId: ws, name: 'Workspace' } },
        { name: 'orchestrator.member.joined.v1', workspaceId: ws, payload: { userId: m.id, role: 'viewer' } },
        { name: 'orchestrator.user.erased.v1', workspaceId: null, payload: { userId: m.id } },
      ]),
    );
    // A failed sign-up (taken email) leaves no event behind.
    const before = rows.length;
    await t.inject({ method: 'POST', url: '/v1/auth/signup', payload: { email: u.email, password: 'another long password', name: 'Dup' } });
    const after = await t.platform.database.query(`SELECT 1 FROM kernel.outbox WHERE name LIKE 'orchestrator.%'`);
    expect(after).toHaveLength(before);
  });
});
