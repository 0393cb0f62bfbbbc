import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import pg from 'pg';
import { REPO, runProcess, runScript } from './tools.js';

/**
 * The runbook's GDPR scripts over the real CLI (bin/v01t.js on the built code, as CI builds it)
 * and a real database: embedded PGlite in a data folder, or a fresh PostgreSQL database.
 */
const TEST_DB = process.env.V01T_TEST_DATABASE === 'postgres' ? 'postgres' : 'pglite';
const ADMIN_PG_URL = process.env.V01T_TEST_PG_URL ?? 'postgres://postgres@127.0.0.1:5432/test';

/** A fresh PostgreSQL database (as test/helpers/platform.ts makes, without loading the platform). */
async function freshPostgresDatabase(): Promise<{ url: string; drop: () => Promise<void> }> {
  const name = `v01t_t_${randomBytes(6).toString('hex')}`;
  const admin = async (q: string) => {
    const c = new pg.Client({ connectionString: ADMIN_PG_URL });
    await c.connect();
    try {
      await c.query(q);
    } finally {
      await c.end();
    }
  };
  await admin(`CREATE DATABASE ${name}`);
  const url = new URL(ADMIN_PG_URL);
  url.pathname = `/${name}`;
  return { url: url.toString(), drop: () => admin(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`) };
}

const script = (name: string) => path.join(REPO, 'scripts', name);
let env: Record<string, string>;
let dataDir: string;
let dropDb: (() => Promise<void>) | undefined;
let userId: string;
const today = new Date().toISOString().slice(0, 10);
const dayAfter = (d: string, n: number) => new Date(Date.parse(`${d}T00:00:00Z`) + n * 86_400_000).toISOString().slice(0, 10);

beforeAll(async () => {
  if (!fs.existsSync(path.join(REPO, 'dist', 'src', 'apps', 'cli.js'))) throw new Error('the CLI is not built: run npm run build');
  dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'v01t-gdpr-'));
  env = {
    V01T_CLI: `${process.execPath} ${path.join(REPO, 'bin', 'v01t.js')}`,
    V01T_DATA_DIR: dataDir,
    LOG_LEVEL: 'warn',
    ARGON2_MEMORY_KIB: '1024',
    ARGON2_TIME_COST: '1',
    V01T_MASTER_KEY: randomBytes(32).toString('hex'),
  };
  if (TEST_DB === 'postgres') {
    const db = await freshPostgresDatabase();
    env.DATABASE_URL = db.url;
    dropDb = db.drop;
  }
}, 180_000);

afterAll(async () => {
  await dropDb?.();
  fs.rmSync(dataDir, { recursive: true, force: true });
});

/** Runs the CLI itself (to set up data the scripts then read). */
function cli(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return runProcess(process.execPath, [path.join(REPO, 'bin', 'v01t.js'), ...args], env);
}

describe('GDPR scripts (scripts/gdpr-*.sh)', () => {
  it('gdpr-data-export.sh prints everything kept about a user as JSON', async () => {
    const created = await cli(['user', 'create', '--email', 'subject@example.test', '--name', 'Data Subject', '--password', `pw-${randomBytes(8).toString('hex')}`]);
    expect(created.code, created.stderr).toBe(0);
    userId = (JSON.parse(created.stdout) as { id: string }).id;

    const res = await runScript(script('gdpr-data-export.sh'), ['--user-id', userId, '--output-format', 'json'], env);
    expect(res.code, res.stderr).toBe(0);
    const data = JSON.parse(res.stdout) as { userId: string };
    expect(data.userId).toBe(userId);
    expect(res.stdout).toContain('subject@example.test');
    // Recorded in the register as a completed access request (ADR 0064).
    const listed = await cli(['gdpr', 'request', 'list', '--status', 'completed']);
    expect(listed.stdout.trim().split('\n').map((l) => JSON.parse(l) as { kind: string; userId: string; channel: string })).toEqual([expect.objectContaining({ kind: 'access', userId, channel: 'cli' })]);
  }, 180_000);

  it('gdpr-data-export.sh refuses other formats and malformed ids', async () => {
    const csv = await runScript(script('gdpr-data-export.sh'), ['--user-id', userId, '--output-format', 'csv'], env);
    expect(csv.code).toBe(64);
    expect(csv.stderr).toContain('only json');
    const bad = await runScript(script('gdpr-data-export.sh'), ['--user-id', "x'; drop table", '--output-format', 'json'], env);
    expect(bad.code).toBe(64);
  });

  it('gdpr-audit-trail.sh lists the period\'s audit entries, oldest first, with their hashes', async () => {
    const res = await runScript(script('gdpr-audit-trail.sh'), ['--start-date', dayAfter(today, -1), '--end-date', today], env);
    expect(res.code, res.stderr).toBe(0);
    const entries = res.stdout.trim().split('\n').map((l) => JSON.parse(l) as { seq: number; action: string; targetId: string; hash: string; prevHash: string });
    const created = entries.find((e) => e.action === 'admin.user.created' && e.targetId === userId);
    expect(created?.hash).toMatch(/^[0-9a-f]{64}$/);
    expect(entries.map((e) => e.seq)).toEqual([...entries.map((e) => e.seq)].sort((a, b) => a - b));
    // Chained: each entry's prev_hash is the hash of the one before it.
    for (let i = 1; i < entries.length; i++) expect(entries[i]!.prevHash).toBe(entries[i - 1]!.hash);

    const later = await runScript(script('gdpr-audit-trail.sh'), ['--start-date', dayAfter(today, 1), '--end-date', dayAfter(today, 2)], env);
    expect(later.code, later.stderr).toBe(0);
    expect(later.stdout.trim()).toBe('');

    // --output writes the same lines to a file only its owner can read.
    const file = path.join(dataDir, 'trail.jsonl');
    const toFile = await runScript(script('gdpr-audit-trail.sh'), ['--start-date', dayAfter(today, -1), '--end-date', today, '--output', file], env);
    expect(toFile.code, toFile.stderr).toBe(0);
    expect(fs.readFileSync(file, 'utf8')).toBe(res.stdout);
    expect(fs.statSync(file).mode & 0o077).toBe(0);

    const filtered = await runScript(script('gdpr-audit-trail.sh'), ['--start-date', today, '--end-date', today, '--action', 'gdpr.*'], env);
    expect(filtered.code, filtered.stderr).toBe(0);
    expect(filtered.stdout).not.toContain('admin.user.created');

    const backwards = await runScript(script('gdpr-audit-trail.sh'), ['--start-date', today, '--end-date', dayAfter(today, -3)], env);
    expect(backwards.code).toBe(64);
  }, 180_000);

  it('v01t deploy record writes the deployment history into the audit log', async () => {
    const rec = await cli(['deploy', 'record', '--version', 'hotfix-v20251031-1415', '--environment', 'production-green', '--result', 'rolled_back', '--notes', 'INC-42']);
    expect(rec.code, rec.stderr).toBe(0);
    expect(JSON.parse(rec.stdout)).toMatchObject({ version: 'hotfix-v20251031-1415', environment: 'production-green', result: 'rolled_back', notes: 'INC-42' });
    const bad = await cli(['deploy', 'record', '--version', 'v1', '--environment', 'production', '--result', 'maybe']);
    expect(bad.code).not.toBe(0);
    expect(bad.stderr).toMatch(/success, failed, rolled_back/);
    const trail = await runScript(script('gdpr-audit-trail.sh'), ['--start-date', today, '--end-date', today, '--action', 'deploy.*'], env);
    expect(trail.code, trail.stderr).toBe(0);
    const entries = trail.stdout.trim().split('\n').map((l) => JSON.parse(l) as { action: string; data: Record<string, string> });
    expect(entries).toHaveLength(1);
    expect(entries[0]).toMatchObject({ action: 'deploy.recorded', data: { environment: 'production-green', result: 'rolled_back', via: 'cli' } });
    // The same history GET /v1/ops/deployments answers (one implementation, src/ops/deployments.ts).
    const history = await cli(['deploy', 'history', '--environment', 'production-green']);
    expect(history.code, history.stderr).toBe(0);
    expect(JSON.parse(history.stdout)).toMatchObject({
      deployments: [{ version: 'hotfix-v20251031-1415', environment: 'production-green', result: 'rolled_back', notes: 'INC-42', via: 'cli' }],
      environments: [{ environment: 'production-green', total: 1, success: 0, rolledBack: 1, successRate: 0 }],
    });
    const badEnv = await cli(['deploy', 'record', '--version', 'v1', '--environment', 'Production!', '--result', 'success']);
    expect(badEnv.code).not.toBe(0);
    expect(badEnv.stderr).toContain('--environment');
  }, 180_000);

  it('gdpr-data-deletion.sh refuses without --confirm, then erases the user everywhere', async () => {
    const refused = await runScript(script('gdpr-data-deletion.sh'), ['--user-id', userId], env);
    expect(refused.code).toBe(64);
    expect(refused.stderr).toContain('without --confirm');
    // The request arrived by email and was recorded in the register; the script's erasure answers it.
    const asked = await cli(['gdpr', 'request', 'add', '--kind', 'erasure', '--user-id', userId, '--details', 'asked by email']);
    expect(asked.code, asked.stderr).toBe(0);
    const { number } = JSON.parse(asked.stdout) as { number: number };
    const erased = await runScript(script('gdpr-data-deletion.sh'), ['--user-id', userId, '--confirm', '--request', String(number)], env);
    expect(erased.code, erased.stderr).toBe(0);
    expect(JSON.parse(erased.stdout)).toMatchObject({ erased: expect.any(Object), request: { number, status: 'completed' } });

    // Nothing about the person is left to export (the CLI may also answer that there is no such user).
    const file = path.join(dataDir, 'after-erasure.json');
    const after = await runScript(script('gdpr-data-export.sh'), ['--user-id', userId, '--output-format', 'json', '--output', file], env);
    const left = after.code === 0 ? fs.readFileSync(file, 'utf8') : (expect(fs.existsSync(file)).toBe(false), after.stdout);
    expect(left).not.toContain('subject@example.test');
    // The erasure itself is in the audit trail.
    const trail = await runScript(script('gdpr-audit-trail.sh'), ['--start-date', today, '--end-date', today], env);
    expect(trail.stdout).toMatch(/erase/i);
  }, 180_000);
});
