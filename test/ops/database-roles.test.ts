import { execFileSync } from 'node:child_process';
import { chmodSync, mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ThrowawayPostgres } from '../chaos/harness.js';
import { createTestPlatform, type TestPlatform } from '../helpers/platform.js';
import { bearer, createWorkspace, signup } from '../helpers/api.js';
import { DEPLOY, requireBinary } from './tools.js';

/**
 * deploy/postgres/roles.sql (least privilege, issue 20): v01t runs its migrations and serves as a
 * role with no superuser rights, and a read-only role reads what it creates but changes nothing.
 */
const work = mkdtempSync(path.join(os.tmpdir(), 'v01t-dbroles-'));
chmodSync(work, 0o711);
const cluster = new ThrowawayPostgres(path.join(work, 'pg'));
let t: TestPlatform;

function applyRoles(): void {
  execFileSync('psql', ['-h', '127.0.0.1', '-p', String(cluster.port), '-U', 'postgres', '-d', 'v01t', '-v', 'app_password=app-secret', '-v', 'reader_password=reader-secret', '-f', path.join(DEPLOY, 'postgres', 'roles.sql')], { stdio: 'pipe' });
}
const urlAs = (role: string) => `postgres://${role}@127.0.0.1:${cluster.port}/v01t`;

async function asReader<T>(fn: (c: pg.Client) => Promise<T>): Promise<T> {
  const c = new pg.Client({ connectionString: urlAs('v01t_reader') });
  await c.connect();
  try {
    return await fn(c);
  } finally {
    await c.end();
  }
}

beforeAll(async () => {
  requireBinary('psql');
  await cluster.init();
  applyRoles();
  t = await createTestPlatform({ DATABASE_URL: urlAs('v01t_app') });
}, 180_000);

afterAll(async () => {
  await t?.close();
  cluster.destroy();
  rmSync(work, { recursive: true, force: true });
});

describe('database roles (deploy/postgres/roles.sql)', () => {
  it('v01t migrates and serves as v01t_app, which holds no superuser, role or database creation rights', async () => {
    const [me] = await t.platform.database.query<{ current_user: string; rolsuper: boolean; rolcreaterole: boolean; rolcreatedb: boolean; rolreplication: boolean; rolbypassrls: boolean }>(
      'SELECT current_user, rolsuper, rolcreaterole, rolcreatedb, rolreplication, rolbypassrls FROM pg_roles WHERE rolname = current_user',
    );
    expect(me).toEqual({ current_user: 'v01t_app', rolsuper: false, rolcreaterole: false, rolcreatedb: false, rolreplication: false, rolbypassrls: false });
    await t.platform.startServices();
    const owner = await signup(t, 'Roles Owner');
    const ws = await createWorkspace(t, owner);
    const wf = await t.inject({ method: 'POST', url: `/v1/workspaces/${ws}/workflows`, headers: bearer(owner.token), payload: { name: 'least privilege', steps: [{ id: 't', type: 'transform', with: { expression: '1' } }] } });
    expect(wf.statusCode, wf.body).toBe(201);
    const run = await t.inject({ method: 'POST', url: `/v1/workspaces/${ws}/workflows/${wf.json().workflow.id}/runs`, headers: bearer(owner.token), payload: { input: {} } });
    expect(run.statusCode, run.body).toBe(202);
    const deadline = Date.now() + 30_000;
    let status = '';
    while (Date.now() < deadline && status !== 'succeeded') {
      status = (await t.inject({ method: 'GET', url: `/v1/workspaces/${ws}/runs/${run.json().run.id}`, headers: bearer(owner.token) })).json().run.status;
      if (status !== 'succeeded') await new Promise((r) => setTimeout(r, 100));
    }
    expect(status).toBe('succeeded');
  }, 120_000);

  it('v01t_reader reads every service schema, including those created after the script ran, and changes nothing', async () => {
    await asReader(async (c) => {
      const users = await c.query('SELECT count(*)::int AS n FROM orchestrator.users');
      expect(users.rows[0].n).toBeGreaterThanOrEqual(1);
      for (const table of ['workflow.workflows', 'kernel.audit_log', 'pgboss.job']) {
        await expect(c.query(`SELECT count(*) FROM ${table}`), table).resolves.toBeTruthy();
      }
      const refused = async (sql: string) => {
        const err = (await c.query(sql).then(() => undefined, (e: { code?: string }) => e)) as { code?: string } | undefined;
        expect(err?.code, sql).toBe('42501');
      };
      await refused("UPDATE orchestrator.users SET name = 'x'");
      await refused('DELETE FROM workflow.workflows');
      await refused('CREATE TABLE public.scratch (id int)');
      await refused('CREATE SCHEMA scratch');
    });
  });

  it('re-running the script is safe, and grants what v01t created before it ran', async () => {
    await asReader((c) => c.query('SELECT 1 FROM ops.incidents LIMIT 1'));
    expect(() => applyRoles()).not.toThrow();
    await asReader(async (c) => {
      const [schemas] = (await c.query("SELECT count(*)::int AS n FROM pg_namespace n WHERE has_schema_privilege('v01t_readonly', n.oid, 'USAGE') AND nspname IN ('orchestrator', 'workflow', 'content', 'analytics', 'gamification', 'integration_hub', 'ops', 'kernel')")).rows;
      expect(schemas.n).toBe(8);
    });
  });
});
