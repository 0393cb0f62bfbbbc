import { execFile, execFileSync, spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TEST_DB, freshPostgresDatabase } from './helpers/platform.js';
import { freePort } from './helpers/ports.js';

/**
 * Operator commands while `v01t start` runs (ADR 0021): a real server process on a temporary data
 * folder, and the CLI as a user runs it, reaching the server over the admin socket.
 */
let env: Record<string, string>;
let dataDir: string;
let baseUrl: string;
let server: ChildProcess;
let serverLog = '';
let dropDb: (() => Promise<void>) | undefined;

function v01t(args: string[], input?: string, extraEnv: Record<string, string> = {}): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = execFile(process.execPath, ['bin/v01t.js', ...args], { env: { ...process.env, ...env, ...extraEnv }, timeout: 120_000 }, (err, stdout, stderr) =>
      resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stdout, stderr }),
    );
    child.stdin!.end(input ?? '');
  });
}

/** Neither exited nor killed by a signal (a killed process has no exit code). */
const running = () => server.exitCode === null && server.signalCode === null;

async function waitFor(what: string, check: () => Promise<boolean> | boolean, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (!running()) throw new Error(`the server exited (${server.exitCode ?? server.signalCode}) while waiting for ${what}:\n${serverLog}`);
    if (await Promise.resolve().then(check).catch(() => false)) return;
    await new Promise((r) => setTimeout(r, 250));
  }
  throw new Error(`timed out waiting for ${what}:\n${serverLog}`);
}

async function post(pathname: string, body: unknown, token?: string): Promise<Response> {
  return fetch(`${baseUrl}${pathname}`, { method: 'POST', headers: { 'content-type': 'application/json', ...(token ? { authorization: `Bearer ${token}` } : {}) }, body: JSON.stringify(body) });
}

beforeAll(async () => {
  execFileSync(process.execPath, ['scripts/ensure-build.mjs'], { stdio: 'inherit' });
  // A folder that does not exist yet: on PostgreSQL with V01T_MASTER_KEY set only the admin socket needs it.
  dataDir = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'v01t-clisrv-')), 'data');
  const port = await freePort();
  baseUrl = `http://127.0.0.1:${port}`;
  env = { V01T_DATA_DIR: dataDir, PORT: String(port), LOG_LEVEL: 'info', ARGON2_MEMORY_KIB: '1024', ARGON2_TIME_COST: '1', V01T_MASTER_KEY: randomBytes(32).toString('hex') };
  if (TEST_DB === 'postgres') {
    const db = await freshPostgresDatabase();
    env.DATABASE_URL = db.url;
    dropDb = db.drop;
  }
  server = spawn(process.execPath, ['bin/v01t.js', 'start'], { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  server.stdout!.on('data', (d: Buffer) => (serverLog += d.toString()));
  server.stderr!.on('data', (d: Buffer) => (serverLog += d.toString()));
  await waitFor('the server to be ready', async () => (await fetch(`${baseUrl}/ready`)).status === 200, 300_000);
  await waitFor('the admin socket', () => fs.existsSync(path.join(dataDir, 'admin.sock')), 30_000);
}, 420_000);

afterAll(async () => {
  if (server && running()) {
    server.kill('SIGTERM');
    await new Promise((r) => server.once('exit', r));
  }
  await dropDb?.();
  fs.rmSync(path.dirname(dataDir), { recursive: true, force: true });
}, 60_000);

describe('v01t CLI while the server runs on the data folder', { timeout: 600_000 }, () => {
  it('the admin socket is private to the data folder owner, and the lock names the server', () => {
    expect((fs.statSync(path.join(dataDir, 'admin.sock')).mode & 0o777).toString(8)).toBe('600');
    if (TEST_DB === 'pglite') {
      const lock = JSON.parse(fs.readFileSync(path.join(dataDir, 'v01t.lock'), 'utf8'));
      expect(lock).toMatchObject({ pid: server.pid, command: 'v01t start' });
    } else {
      // The distributed profile (DATABASE_URL) opens no embedded database: no folder lock, the socket still serves.
      expect(fs.existsSync(path.join(dataDir, 'v01t.lock'))).toBe(false);
    }
  });

  it('creates the first platform admin, exports and erases a user, and runs every data command in the running server', async () => {
    const created = await v01t(['user', 'create', '--email', 'root@example.test', '--name', 'Root', '--admin', '--password-stdin'], 'a very good root password\n');
    expect(created.code, created.stderr).toBe(0);
    const admin = JSON.parse(created.stdout) as { id: string; platformAdmin: boolean; password?: string };
    expect(admin).toMatchObject({ email: 'root@example.test', platformAdmin: true });
    expect(admin.password).toBeUndefined();
    expect(serverLog).toContain('"command":"user.create"');
    // The running server sees the account at once: sign in and use the admin-only API.
    const login = await post('/v1/auth/login', { email: 'root@example.test', password: 'a very good root password' });
    expect(login.status).toBe(200);
    const { token } = (await login.json()) as { token: string };
    const events = await fetch(`${baseUrl}/v1/admin/security-events`, { headers: { authorization: `Bearer ${token}` } });
    expect(events.status).toBe(200);

    const generated = await v01t(['user', 'create', '--email', 'someone@example.test']);
    expect(generated.code, generated.stderr).toBe(0);
    const someone = JSON.parse(generated.stdout) as { id: string; password: string };
    expect(someone.password.length).toBeGreaterThanOrEqual(20);

    const exported = await v01t(['gdpr', 'export', '--user-id', someone.id]);
    expect(exported.code, exported.stderr).toBe(0);
    expect(JSON.parse(exported.stdout)).toMatchObject({ userId: someone.id, orchestrator: { user: { email: 'someone@example.test' } } });
    expect(serverLog).toContain('"command":"gdpr.export"');

    const notAnId = await v01t(['gdpr', 'export', '--user-id', 'nope']);
    expect(notAnId.code).toBe(1);
    expect(notAnId.stderr).toMatch(/--user-id: not a user id/);
    expect(notAnId.stderr).not.toMatch(/\n\s+at /);

    const verify = await v01t(['audit', 'verify']);
    expect(verify.code, verify.stderr).toBe(0);
    expect(verify.stdout).toMatch(/audit chain intact: \d+ entries verified/);

    const today = new Date().toISOString().slice(0, 10);
    const auditExport = await v01t(['audit', 'export', '--from', today, '--to', today]);
    expect(auditExport.code, auditExport.stderr).toBe(0);
    expect(auditExport.stdout.trim().split('\n').map((l) => JSON.parse(l).action)).toContain('admin.user.created');

    const status = await v01t(['migrate', '--status']);
    expect(status.stdout.trim()).toBe('up to date');
    const migrated = await v01t(['migrate']);
    expect(migrated.code, migrated.stderr).toBe(0);

    const recorded = await v01t(['deploy', 'record', '--version', '1.4.2', '--environment', 'production', '--result', 'success']);
    expect(recorded.code, recorded.stderr).toBe(0);
    const history = await v01t(['deploy', 'history', '--environment', 'production']);
    expect(JSON.parse(history.stdout).deployments[0]).toMatchObject({ version: '1.4.2', environment: 'production', result: 'success' });

    const rotated = await v01t(['keys', 'rotate']);
    expect(rotated.code, rotated.stderr).toBe(0);
    expect(JSON.parse(rotated.stdout).masterKeyId).toEqual(expect.any(String));

    const retention = await v01t(['retention', 'run']);
    expect(retention.code, retention.stderr).toBe(0);
    expect(JSON.parse(retention.stdout).purged).toHaveProperty(['kernel.audit_log']);

    const erased = await v01t(['gdpr', 'erase', '--user-id', someone.id, '--confirm']);
    expect(erased.code, erased.stderr).toBe(0);
    expect((await post('/v1/auth/login', { email: 'someone@example.test', password: someone.password })).status).toBe(401);
    // The server kept serving throughout.
    expect((await fetch(`${baseUrl}/health`)).status).toBe(200);
    // Both were recorded in the GDPR requests register as completed requests (ADR 0064).
    const closed = await v01t(['gdpr', 'request', 'list', '--status', 'completed']);
    expect(closed.stdout.trim().split('\n').map((l) => JSON.parse(l)).map((r: { kind: string; channel: string; userId: string }) => [r.kind, r.channel, r.userId])).toEqual([
      ['erasure', 'cli', someone.id],
      ['access', 'cli', someone.id],
    ]);
  });

  it('keeps the GDPR requests register through the admin socket: record an emailed request, list the overdue, answer it with gdpr export --request, refuse another', async () => {
    const created = await v01t(['user', 'create', '--email', 'subject@example.test', '--name', 'Subject']);
    const subject = JSON.parse(created.stdout) as { id: string };
    // Received 40 days ago: past its one-month deadline.
    const received = new Date(Date.now() - 40 * 86_400_000).toISOString().slice(0, 10);
    const added = await v01t(['gdpr', 'request', 'add', '--kind', 'access', '--email', 'Subject@example.test', '--received', received, '--details', 'asked by email']);
    expect(added.code, added.stderr).toBe(0);
    const request = JSON.parse(added.stdout) as { id: string; number: number; dueAt: string };
    expect(request).toMatchObject({ kind: 'access', userId: subject.id, email: 'Subject@example.test', channel: 'email', status: 'received', overdue: true, details: 'asked by email' });
    expect(Date.parse(request.dueAt)).toBe(Date.parse(`${received}T00:00:00Z`) + 30 * 86_400_000);
    expect(serverLog).toContain('"command":"gdpr.request.add"');
    const objection = JSON.parse((await v01t(['gdpr', 'request', 'add', '--kind', 'objection', '--email', 'stranger@example.test'])).stdout) as { number: number };

    const overdue = await v01t(['gdpr', 'request', 'list', '--status', 'overdue']);
    expect(overdue.code, overdue.stderr).toBe(0);
    expect(overdue.stdout.trim().split('\n').map((l) => JSON.parse(l).number)).toEqual([request.number]);
    expect(overdue.stderr).toMatch(/^1 request\(s\), 1 overdue$/m);
    const metrics = await (await fetch(`${baseUrl}/metrics`)).text();
    expect(metrics).toMatch(/^v01t_gdpr_requests_overdue(\{[^}]*\})? 1$/m);
    expect(metrics).toMatch(/^v01t_gdpr_requests_open\{[^}]*kind="objection"[^}]*\} 1$/m);

    const bad = await v01t(['gdpr', 'request', 'add', '--kind', 'access']);
    expect(bad.code).toBe(1);
    expect(bad.stderr).toMatch(/--user-id or --email/);

    // The export answers the request and completes it.
    const exported = await v01t(['gdpr', 'export', '--user-id', subject.id, '--request', `#${request.number}`]);
    expect(exported.code, exported.stderr).toBe(0);
    expect(JSON.parse(exported.stdout)).toMatchObject({ userId: subject.id });
    expect(exported.stderr).toContain(`GDPR request #${request.number} (access) completed`);
    const twice = await v01t(['gdpr', 'request', 'complete', String(request.number)]);
    expect(twice.code).toBe(1);
    expect(twice.stderr).toMatch(/is already completed/);

    const refused = await v01t(['gdpr', 'request', 'refuse', String(objection.number), '--reason', 'No account holds this address']);
    expect(refused.code, refused.stderr).toBe(0);
    expect(JSON.parse(refused.stdout)).toMatchObject({ status: 'refused', refusalReason: 'No account holds this address' });
    const open = await v01t(['gdpr', 'request', 'list']);
    expect(open.stdout).toBe('');
    expect(open.stderr).toMatch(/^0 request\(s\)$/m);
    expect(await (await fetch(`${baseUrl}/metrics`)).text()).toMatch(/^v01t_gdpr_requests_overdue(\{[^}]*\})? 0$/m);
  });

  it.runIf(TEST_DB === 'pglite')('a second v01t start on the same data folder fails, naming the running one', async () => {
    const second = await v01t(['start'], undefined, { PORT: String(await freePort()) });
    expect(second.code).toBe(1);
    expect(second.stderr).toContain(`is in use by process ${server.pid} (v01t start, since `);
    expect(second.stderr).not.toMatch(/\n\s+at /);
    expect((await fetch(`${baseUrl}/health`)).status).toBe(200);
  });

  it.runIf(TEST_DB === 'pglite')('after the server is killed, its stale lock and socket are taken over by the next command', async () => {
    server.kill('SIGKILL');
    await new Promise((r) => server.once('exit', r));
    expect(fs.existsSync(path.join(dataDir, 'v01t.lock'))).toBe(true);
    const created = await v01t(['user', 'create', '--email', 'after-crash@example.test', '--password', 'another good password']);
    expect(created.code, created.stderr).toBe(0);
    expect(JSON.parse(created.stdout)).toMatchObject({ email: 'after-crash@example.test' });
    // The CLI released the folder when it finished.
    expect(fs.existsSync(path.join(dataDir, 'v01t.lock'))).toBe(false);
  });
});
