import { execFile, execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TEST_DB, freshPostgresDatabase } from '../helpers/platform.js';

/** `v01t backup ...` as an operator types it: exit codes, --json output and one-line errors. */
let env: Record<string, string>;
let root: string;
let dropDb: (() => Promise<void>) | undefined;

function v01t(args: string[], extra: Record<string, string> = {}, input?: string): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = execFile(process.execPath, ['bin/v01t.js', ...args], { env: { ...process.env, ...env, ...extra }, timeout: 120_000 }, (err, stdout, stderr) =>
      resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stdout, stderr }),
    );
    if (input !== undefined) child.stdin!.end(input);
    else child.stdin!.end();
  });
}

beforeAll(async () => {
  execFileSync(process.execPath, ['scripts/ensure-build.mjs'], { stdio: 'inherit' });
  root = fs.mkdtempSync(path.join(os.tmpdir(), 'v01t-cli-backup-'));
  env = {
    V01T_DATA_DIR: path.join(root, 'data'),
    BACKUP_TARGET: path.join(root, 'backups'),
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
}, 600_000);

afterAll(async () => {
  await dropDb?.();
  fs.rmSync(root, { recursive: true, force: true });
});

describe(`v01t backup (CLI, ${TEST_DB})`, { timeout: 300_000 }, () => {
  let id: string;

  it('creates a backup of a data folder with an account, and lists it as JSON', async () => {
    expect((await v01t(['user', 'create', '--email', 'cli-backup@example.test', '--password-stdin'], {}, 'a-long-password-123')).code).toBe(0);
    const created = await v01t(['backup', 'create', '--json']);
    expect(created.code, created.stderr).toBe(0);
    id = JSON.parse(created.stdout).id;
    expect(id).toMatch(/^\d{8}T\d{6}Z-[0-9a-f]{6}$/);
    const list = await v01t(['backup', 'list', '--json']);
    expect(JSON.parse(list.stdout)).toEqual([{ id, createdAt: expect.any(String), bytes: expect.any(Number), kind: TEST_DB === 'postgres' ? 'distributed' : 'embedded' }]);
  });

  it('exits 1 with one line naming the damage on a corrupted byte, and with a wrong key', async () => {
    const dir = path.join(root, 'backups', id, 'files');
    const file = path.join(dir, fs.readdirSync(dir).sort()[0]!);
    const original = fs.readFileSync(file);
    const bad = Buffer.from(original);
    bad[bad.length - 1]! ^= 0x80;
    fs.writeFileSync(file, bad);
    const corrupted = await v01t(['backup', 'verify', id]);
    fs.writeFileSync(file, original);
    expect(corrupted.code).toBe(1);
    expect(corrupted.stderr).toMatch(/^v01t: database\/\S+: authentication failed/m);
    expect(corrupted.stderr).not.toMatch(/\n\s+at /);

    const wrong = await v01t(['backup', 'verify', id], { BACKUP_KEY: randomBytes(32).toString('hex') });
    expect(wrong.code).toBe(1);
    expect(wrong.stderr.trim()).toMatch(/^v01t: backup \S+ was encrypted with the key [0-9a-f]{16}, but the configured backup key is [0-9a-f]{16}/);
    expect(wrong.stderr.trim().split('\n')).toHaveLength(1);

    const ok = await v01t(['backup', 'verify', id, '--json']);
    expect(ok.code).toBe(0);
    expect(JSON.parse(ok.stdout)).toMatchObject({ id, ok: true });
  });

  it('refuses to restore over data without --force, and restores with it', async () => {
    const refused = await v01t(['backup', 'restore', id]);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toMatch(/restore refuses to overwrite it without --force/);
    const restored = await v01t(['backup', 'restore', id, '--force', '--json']);
    expect(restored.code, restored.stderr).toBe(0);
    expect(JSON.parse(restored.stdout)).toMatchObject({ id });
    // The restored folder serves the account: the CLI finds it.
    const again = await v01t(['user', 'create', '--email', 'cli-backup@example.test', '--password-stdin'], {}, 'a-long-password-123');
    expect(again.code).toBe(1);
    const pruned = await v01t(['backup', 'prune', '--dry-run', '--json']);
    expect(JSON.parse(pruned.stdout)).toMatchObject({ pruned: [], dryRun: true });
  });
});
