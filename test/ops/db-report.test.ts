import { mkdtempSync, rmSync, chmodSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ThrowawayPostgres } from '../chaos/harness.js';
import { createTestPlatform, freshPostgresDatabase, TEST_DB, type TestPlatform } from '../helpers/platform.js';
import { bearer, signup, type TestUser } from '../helpers/api.js';
import { runOperatorCommand, type DataAccess } from '../../src/apps/operator-commands.js';
import { requireBinary, runOk } from './tools.js';

/**
 * `v01t db report` and GET /v1/ops/db/report (runbook: "Database health check", "Database
 * Performance Optimization") against real servers: a PostgreSQL cluster of this suite's own with
 * pg_stat_statements preloaded and created, the machine's PostgreSQL (no preload), and PGlite.
 */
const work = mkdtempSync(path.join(os.tmpdir(), 'v01t-dbreport-'));
chmodSync(work, 0o711);
const cluster = new ThrowawayPostgres(path.join(work, 'pg'), '-c shared_preload_libraries=pg_stat_statements -c pg_stat_statements.track=all');
let t: TestPlatform;
let admin: TestUser;
let member: TestUser;

async function adminOf(p: TestPlatform): Promise<TestUser> {
  const email = `db-admin-${randomUUID().slice(0, 8)}@example.test`;
  const password = 'admin password 123';
  const created = await p.platform.orchestrator!.services.auth.createUser({ email, password, name: 'Dana DBA', platformAdmin: true }, null);
  const login = await p.inject({ method: 'POST', url: '/v1/auth/login', payload: { email, password } });
  return { id: created.id, email, password, token: login.json().token };
}

function access(p: TestPlatform): DataAccess {
  return { database: (fn) => fn(p.platform.database, p.platform.migrationSets), platform: (fn) => fn(p.platform) };
}

async function cliReport(p: TestPlatform, json: boolean): Promise<string> {
  let out = '';
  await runOperatorCommand({ command: 'db.report', args: { limit: 10, json } }, { out: async (s) => void (out += s), err: () => {}, setExitCode: () => {} }, access(p));
  return out;
}

beforeAll(async () => {
  requireBinary('psql');
  await cluster.init();
  runOk('psql', ['-h', '127.0.0.1', '-p', String(cluster.port), '-U', 'postgres', '-d', 'v01t', '-c', 'CREATE EXTENSION pg_stat_statements']);
  t = await createTestPlatform({ DATABASE_URL: cluster.url });
  admin = await adminOf(t);
  member = await signup(t, 'Not An Operator');
  // Work to report: a slow statement, sequential scans of a table, and an index nobody uses.
  for (let i = 0; i < 3; i++) await t.platform.database.query('SELECT pg_sleep(0.15)');
  await t.platform.database.query('CREATE TABLE public.report_probe (id int, note text)');
  await t.platform.database.query("INSERT INTO public.report_probe SELECT g, 'n' || g FROM generate_series(1, 500) g");
  await t.platform.database.query('CREATE INDEX report_probe_note_idx ON public.report_probe (note)');
  await t.platform.database.query('DELETE FROM public.report_probe WHERE id <= 200');
  for (let i = 0; i < 4; i++) await t.platform.database.query('SELECT count(*) FROM public.report_probe WHERE id > 0');
  // The statistics collector publishes table counters after a short delay.
  await t.platform.database.query('SELECT pg_stat_force_next_flush()').catch(() => {});
}, 240_000);

afterAll(async () => {
  await t?.close();
  cluster.destroy();
  rmSync(work, { recursive: true, force: true });
}, 60_000);

describe('database report on PostgreSQL with pg_stat_statements', () => {
  it('lists the top statements by total and mean time, tables by dead tuples, unused indexes and connections', async () => {
    const res = await t.inject({ method: 'GET', url: '/v1/ops/db/report?limit=5', headers: bearer(admin.token) });
    expect(res.statusCode, res.body).toBe(200);
    const r = res.json();
    expect(r.database.kind).toBe('postgres');
    expect(r.statementsByTotalTime.available).toBe(true);
    expect(r.statementsByTotalTime.rows.length).toBeLessThanOrEqual(5);
    const sleepy = r.statementsByMeanTime.rows[0];
    expect(sleepy.query).toMatch(/pg_sleep/);
    expect(sleepy.calls).toBe(3);
    expect(sleepy.mean_ms).toBeGreaterThanOrEqual(150);
    const totals = r.statementsByTotalTime.rows.map((s: { total_ms: number }) => s.total_ms);
    expect(totals).toEqual([...totals].sort((a: number, b: number) => b - a));
    const probe = r.tables.rows.find((x: { tablename: string }) => x.tablename === 'report_probe');
    expect(probe).toMatchObject({ schemaname: 'public', n_live_tup: 300, n_dead_tup: 200 });
    expect(probe.seq_scan).toBeGreaterThanOrEqual(4);
    expect(r.tables.rows[0].tablename).toBe('report_probe');
    expect(r.unusedIndexes.rows.map((i: { indexname: string }) => i.indexname)).toContain('report_probe_note_idx');
    // Primary keys and unique indexes enforce constraints: never offered for dropping.
    expect(r.unusedIndexes.rows.every((i: { unique: boolean }) => !i.unique)).toBe(true);
    expect(r.connections).toMatchObject({ available: true, max: 200 });
    expect(r.connections.server).toBeGreaterThanOrEqual(1);
  });

  it('is for operators only', async () => {
    const res = await t.inject({ method: 'GET', url: '/v1/ops/db/report', headers: bearer(member.token) });
    expect(res.statusCode).toBe(403);
    expect(res.headers['content-type']).toMatch(/^application\/problem\+json/);
    const bad = await t.inject({ method: 'GET', url: '/v1/ops/db/report?limit=0', headers: bearer(admin.token) });
    expect(bad.statusCode).toBe(400);
  });

  it('`v01t db report` prints the same report for a terminal, or as JSON', async () => {
    const text = await cliReport(t, false);
    expect(text).toMatch(/^Database report \(postgres /);
    expect(text).toMatch(/Top statements by total time[\s\S]*pg_sleep/);
    expect(text).toMatch(/public\.report_probe_note_idx/);
    expect(text).toMatch(/\d+ of 200 in use on the server/);
    const json = JSON.parse(await cliReport(t, true));
    expect(json.unusedIndexes.rows.map((i: { indexname: string }) => i.indexname)).toContain('report_probe_note_idx');
  });
});

describe('database report where statement statistics are missing', () => {
  it('says how to enable pg_stat_statements when it is not installed, or installed but not preloaded', async () => {
    const db = await freshPostgresDatabase();
    const p = await createTestPlatform({ DATABASE_URL: db.url });
    try {
      const a = await adminOf(p);
      const missing = (await p.inject({ method: 'GET', url: '/v1/ops/db/report', headers: bearer(a.token) })).json();
      expect(missing.statementsByTotalTime).toMatchObject({ available: false, rows: [] });
      expect(missing.statementsByTotalTime.reason).toMatch(/not installed.*shared_preload_libraries.*CREATE EXTENSION pg_stat_statements/);
      expect(missing.tables.available).toBe(true);
      // The machine's server does not preload the library: the extension can be created, not read.
      await p.platform.database.query('CREATE EXTENSION IF NOT EXISTS pg_stat_statements');
      const unloaded = (await p.inject({ method: 'GET', url: '/v1/ops/db/report', headers: bearer(a.token) })).json();
      expect(unloaded.statementsByTotalTime.available).toBe(false);
      expect(unloaded.statementsByTotalTime.reason).toMatch(/did not preload it/);
    } finally {
      await p.close();
    }
  });

  it.runIf(TEST_DB === 'pglite')('on the embedded PGlite, says statement statistics need PostgreSQL and still answers', async () => {
    const p = await createTestPlatform();
    try {
      const a = await adminOf(p);
      const res = await p.inject({ method: 'GET', url: '/v1/ops/db/report', headers: bearer(a.token) });
      expect(res.statusCode).toBe(200);
      const r = res.json();
      expect(r.database.kind).toBe('pglite');
      expect(r.statementsByTotalTime.reason).toMatch(/PGlite keeps no statement statistics/);
      expect(await cliReport(p, false)).toMatch(/unavailable: the embedded PGlite/);
    } finally {
      await p.close();
    }
  });
});
