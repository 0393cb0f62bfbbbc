import { execFile, execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openDatabase, type Database } from '../src/kernel/db/database.js';
import { TEST_DB, freshPostgresDatabase } from './helpers/platform.js';

/** The `v01t` CLI as a user runs it: a child process of bin/v01t.js on the built code. */
let env: Record<string, string>;
let dataDir: string;
let dropDb: (() => Promise<void>) | undefined;

function v01t(args: string[], input?: string): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = execFile(process.execPath, ['bin/v01t.js', ...args], { env: { ...process.env, ...env }, timeout: 60_000 }, (err, stdout, stderr) =>
      resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stdout, stderr }),
    );
    if (input !== undefined) child.stdin!.end(input);
  });
}

async function withDb<T>(fn: (db: Database) => Promise<T>): Promise<T> {
  const db = await openDatabase(env.DATABASE_URL ? { url: env.DATABASE_URL } : { dataDir: path.join(dataDir, 'pg') });
  try {
    return await fn(db);
  } finally {
    await db.close();
  }
}

beforeAll(async () => {
  execFileSync(process.execPath, ['scripts/ensure-build.mjs'], { stdio: 'inherit' });
  dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'v01t-cli-'));
  env = { V01T_DATA_DIR: dataDir, LOG_LEVEL: 'warn', ARGON2_MEMORY_KIB: '1024', ARGON2_TIME_COST: '1', V01T_MASTER_KEY: randomBytes(32).toString('hex') };
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

describe('v01t CLI', { timeout: 240_000 }, () => {
  it('prints --help for every command', async () => {
    for (const cmd of [[], ['start'], ['serve'], ['migrate'], ['user', 'create'], ['audit', 'verify'], ['gdpr', 'export'], ['gdpr', 'erase'], ['gdpr', 'request', 'add'], ['gdpr', 'request', 'list'], ['retention', 'run']]) {
      const r = await v01t([...cmd, '--help']);
      expect(r.code, cmd.join(' ')).toBe(0);
      expect(r.stdout).toMatch(/^Usage: v01t/);
    }
  });

  it('migrates, then reports up to date', async () => {
    const first = await v01t(['migrate']);
    expect(first.code).toBe(0);
    expect(first.stdout).toMatch(/migration\(s\) applied/);
    // Every set the server would apply at start: the kernel's, the event backbone's, ops and each service's.
    for (const set of ['kernel/', 'kernel.events/', 'ops/', 'orchestrator/', 'workflow-engine/', 'analytics-engine/']) expect(first.stdout).toContain(`applied migration ${set}`);
    const status = await v01t(['migrate', '--status']);
    expect(status.stdout.trim()).toBe('up to date');
  });

  it('leaves nothing in the data folder that other users of the machine can read (the CLI narrows the umask)', () => {
    const open: string[] = [];
    const pgDir = path.join(dataDir, 'pg');
    const walk = (p: string) => {
      const st = fs.statSync(p);
      // PGlite sets 0666 on the files of its cluster itself; its folder (0700) is what keeps them private.
      const engineFile = p.startsWith(pgDir + path.sep) && st.isFile();
      if (st.mode & 0o077 && !engineFile) open.push(`${p} ${(st.mode & 0o777).toString(8)}`);
      if (st.isDirectory()) for (const name of fs.readdirSync(p)) walk(path.join(p, name));
    };
    walk(dataDir);
    expect(open).toEqual([]);
  });

  it('creates a platform admin from a password on stdin; audit verify passes, then catches tampering', async () => {
    const created = await v01t(['user', 'create', '--email', 'root@example.test', '--name', 'Root', '--admin', '--password-stdin'], 'a very good root password\n');
    expect(created.code, created.stderr).toBe(0);
    const out = JSON.parse(created.stdout);
    expect(out).toMatchObject({ email: 'root@example.test', platformAdmin: true });
    expect(out.password).toBeUndefined();
    const dup = await v01t(['user', 'create', '--email', 'ROOT@example.test', '--password', 'another good password']);
    expect(dup.code).toBe(1);
    expect(dup.stderr).toMatch(/already exists/);
    expect(dup.stderr).not.toMatch(/\n\s+at /);

    const ok = await v01t(['audit', 'verify']);
    expect(ok.code).toBe(0);
    expect(ok.stdout).toMatch(/intact: 1 entries/);
    await withDb(async (db) => {
      await db.withTransaction(async (c) => {
        await c.exec('ALTER TABLE kernel.audit_log DISABLE TRIGGER audit_log_append_only');
        await c.exec(`UPDATE kernel.audit_log SET actor_ip = '10.6.6.6' WHERE seq = (SELECT min(seq) FROM kernel.audit_log)`);
        await c.exec('ALTER TABLE kernel.audit_log ENABLE TRIGGER audit_log_append_only');
      });
    });
    const broken = await v01t(['audit', 'verify']);
    expect(broken.code).toBe(1);
    expect(broken.stdout).toMatch(/BROKEN at seq 1 /);
  }, 120_000);

  it('refuses bad configuration and unknown services with a message, not a stack trace', async () => {
    const r = await new Promise<{ code: number; stderr: string }>((resolve) =>
      execFile(process.execPath, ['bin/v01t.js', 'start'], { env: { ...process.env, ...env, PORT: 'eighty' } }, (err, _o, stderr) => resolve({ code: err ? 1 : 0, stderr })),
    );
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/PORT: /);
    expect(r.stderr).not.toMatch(/\n\s+at /);
    // Bad values of the kernel and of two services' slices, one of them a secret: one message naming each, the secret not shown.
    const many = await new Promise<{ code: number; stderr: string }>((resolve) =>
      execFile(
        process.execPath,
        ['bin/v01t.js', 'start'],
        { env: { ...process.env, ...env, PORT: 'eighty', WORKFLOW_LEASE_MS: '5', ANALYTICS_FLUSH_BATCH: '0', V01T_DEPLOY_TOKEN: 'hunter2-is-short' } },
        (err, _o, stderr) => resolve({ code: err ? 1 : 0, stderr }),
      ),
    );
    expect(many.code).toBe(1);
    expect(many.stderr).toMatch(/^v01t: invalid configuration:\n {2}- PORT: .*\n {2}- WORKFLOW_LEASE_MS: .*\n {2}- ANALYTICS_FLUSH_BATCH: .*\n {2}- V01T_DEPLOY_TOKEN: .*not shown/m);
    expect(many.stderr).not.toContain('hunter2');
    expect(many.stderr).not.toMatch(/\n\s+at /);
    const unknown = await v01t(['serve', 'teleporter']);
    expect(unknown.code).toBe(1);
    expect(unknown.stderr).toMatch(/unknown service "teleporter"/);
  }, 60_000);
});
