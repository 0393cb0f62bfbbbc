import { execFile, execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openDatabase } from '../src/kernel/db/database.js';
import { TEST_DB, freshPostgresDatabase } from './helpers/platform.js';

/** `v01t sso add|list|remove` as an operator runs them (on the data folder; the admin-socket path is the same command code, ADR 0021). */
let env: Record<string, string>;
let dataDir: string;
let dropDb: (() => Promise<void>) | undefined;
const SECRET = `client-secret-${randomBytes(8).toString('hex')}`;

function v01t(args: string[], input?: string): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = execFile(process.execPath, ['bin/v01t.js', ...args], { env: { ...process.env, ...env }, timeout: 60_000 }, (err, stdout, stderr) =>
      resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stdout, stderr }),
    );
    if (input !== undefined) child.stdin!.end(input);
  });
}

beforeAll(async () => {
  execFileSync(process.execPath, ['scripts/ensure-build.mjs'], { stdio: 'inherit' });
  dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'v01t-cli-sso-'));
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

describe('v01t sso', { timeout: 240_000 }, () => {
  it('adds a provider with the secret from stdin (stored encrypted, never printed), lists it and removes it', async () => {
    const added = await v01t(
      ['sso', 'add', '--slug', 'kc', '--name', 'Keycloak', '--issuer', 'https://kc.example.com/realms/acme', '--client-id', 'v01t', '--client-secret-stdin', '--scopes', 'openid,email,profile,groups', '--groups-claim', 'groups', '--jit'],
      `${SECRET}\n`,
    );
    expect(added.code, added.stderr).toBe(0);
    const out = JSON.parse(added.stdout);
    expect(out.provider).toMatchObject({ slug: 'kc', name: 'Keycloak', issuerUrl: 'https://kc.example.com/realms/acme', scopes: ['openid', 'email', 'profile', 'groups'], groupsClaim: 'groups', jitEnabled: true });
    expect(out.redirectPath).toBe('/v1/auth/sso/kc/callback');
    expect(added.stdout).not.toContain(SECRET);

    const db = await openDatabase(env.DATABASE_URL ? { url: env.DATABASE_URL } : { dataDir: path.join(dataDir, 'pg') });
    try {
      const rows = await db.withTransaction((c) => c.query<{ client_secret: string }>('SELECT client_secret FROM orchestrator.sso_providers'));
      expect(rows[0]!.client_secret).toMatch(/^v1\./);
      expect(rows[0]!.client_secret).not.toContain(SECRET);
    } finally {
      await db.close();
    }

    const bad = await v01t(['sso', 'add', '--slug', 'x', '--name', 'X', '--issuer', 'http://idp.example.com', '--client-id', 'a', '--client-secret', 'b']);
    expect(bad.code).toBe(1);
    expect(bad.stderr).toMatch(/https/);
    expect(bad.stderr).not.toMatch(/\n\s+at /);

    const listed = await v01t(['sso', 'list']);
    expect(listed.code, listed.stderr).toBe(0);
    expect(JSON.parse(listed.stdout).providers.map((p: { slug: string }) => p.slug)).toEqual(['kc']);
    expect(listed.stdout).not.toContain(SECRET);

    const removed = await v01t(['sso', 'remove', 'kc']);
    expect(removed.code, removed.stderr).toBe(0);
    expect(JSON.parse((await v01t(['sso', 'list'])).stdout).providers).toEqual([]);
    const missing = await v01t(['sso', 'remove', 'kc']);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toMatch(/not found/);
  });
});
