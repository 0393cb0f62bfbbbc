import { execFile, execFileSync, spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TEST_DB, freshPostgresDatabase } from './helpers/platform.js';
import { freePort } from './helpers/ports.js';
import { linkIn, startTestSmtp, type TestSmtp } from './helpers/smtp.js';

/**
 * The platform mail outbox across crashes (ADR 0040), with real `v01t start` processes on one data
 * folder: a mail committed while no SMTP_URL is set waits in the outbox (read with `v01t mail list`
 * through the admin socket); a server killed with SIGKILL while the mail is mid-send loses nothing;
 * the next server delivers it exactly once.
 */
let env: Record<string, string>;
let dataDir: string;
let baseUrl: string;
let server: ChildProcess | undefined;
let serverLog = '';
let smtp: TestSmtp;
let dropDb: (() => Promise<void>) | undefined;

const running = () => server !== undefined && server.exitCode === null && server.signalCode === null;

function v01t(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, ['bin/v01t.js', ...args], { env: { ...process.env, ...env }, timeout: 120_000 }, (err, stdout, stderr) =>
      resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stdout, stderr }),
    );
  });
}

async function waitFor(what: string, check: () => Promise<boolean> | boolean, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (!running()) throw new Error(`the server exited (${server?.exitCode ?? server?.signalCode}) while waiting for ${what}:\n${serverLog}`);
    if (await Promise.resolve().then(check).catch(() => false)) return;
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error(`timed out waiting for ${what}:\n${serverLog}`);
}

async function start(extra: Record<string, string>): Promise<void> {
  serverLog = '';
  server = spawn(process.execPath, ['bin/v01t.js', 'start'], { env: { ...process.env, ...env, ...extra }, stdio: ['ignore', 'pipe', 'pipe'] });
  server.stdout!.on('data', (d: Buffer) => (serverLog += d.toString()));
  server.stderr!.on('data', (d: Buffer) => (serverLog += d.toString()));
  await waitFor('the server to be ready', async () => (await fetch(`${baseUrl}/ready`)).status === 200, 300_000);
  await waitFor('the admin socket', () => fs.existsSync(path.join(dataDir, 'admin.sock')), 30_000);
}

async function kill9(): Promise<void> {
  const s = server!;
  const exited = new Promise((r) => s.once('exit', r));
  s.kill('SIGKILL');
  await exited;
}

interface MailLine {
  id: string;
  template: string;
  to: string;
  status: string;
  attempts: number;
}
async function mailList(to: string): Promise<MailLine[]> {
  const r = await v01t(['mail', 'list', '--to', to]);
  expect(r.code, r.stderr).toBe(0);
  return r.stdout.trim() ? r.stdout.trim().split('\n').map((l) => JSON.parse(l) as MailLine) : [];
}

beforeAll(async () => {
  execFileSync(process.execPath, ['scripts/ensure-build.mjs'], { stdio: 'inherit' });
  smtp = await startTestSmtp();
  dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'v01t-mailcrash-'));
  const port = await freePort();
  baseUrl = `http://127.0.0.1:${port}`;
  env = {
    V01T_DATA_DIR: dataDir,
    PORT: String(port),
    LOG_LEVEL: 'info',
    ARGON2_MEMORY_KIB: '1024',
    ARGON2_TIME_COST: '1',
    V01T_MASTER_KEY: randomBytes(32).toString('hex'),
    V01T_PUBLIC_URL: 'https://v01t.example.test',
    MAIL_LEASE_SECONDS: '2',
    MAIL_POLL_SECONDS: '1',
  };
  if (TEST_DB === 'postgres') {
    const db = await freshPostgresDatabase();
    env.DATABASE_URL = db.url;
    dropDb = db.drop;
  }
}, 420_000);

afterAll(async () => {
  if (server && running()) {
    server.kill('SIGTERM');
    await new Promise((r) => server!.once('exit', r));
  }
  await smtp?.close();
  await dropDb?.();
  fs.rmSync(dataDir, { recursive: true, force: true });
}, 60_000);

describe('platform mail outbox across kill -9', { timeout: 900_000 }, () => {
  it('keeps mails without SMTP_URL, survives a kill mid-send, and delivers exactly once after restart', async () => {
    // 1. The embedded default: no SMTP_URL. The mail is committed with the account and waits.
    await start({});
    const email = `crash.${randomBytes(4).toString('hex')}@example.test`;
    const res = await fetch(`${baseUrl}/v1/auth/signup`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ email, password: 'crash test passphrase 1', name: 'Crash' }) });
    expect(res.status).toBe(201);
    const kept = await mailList(email);
    expect(kept).toMatchObject([{ template: 'email_verify', to: email, status: 'pending', attempts: 0 }]);
    const shown = await v01t(['mail', 'show', kept[0]!.id]);
    expect(shown.code, shown.stderr).toBe(0);
    expect(JSON.parse(shown.stdout).text).toContain('https://v01t.example.test/verify-email?token=');
    await kill9();

    // 2. With SMTP_URL: the worker leases the mail and is mid-send (the SMTP server never answers) when it is killed.
    smtp.hold(true);
    await start({ SMTP_URL: smtp.url });
    await waitFor('the worker to be mid-send', () => smtp.held > 0, 120_000);
    await kill9();
    smtp.hold(false);
    expect(smtp.mails.filter((m) => m.to.includes(email))).toHaveLength(0);

    // 3. The next server takes the mail over once the dead worker's lease ends, and sends it once.
    await start({ SMTP_URL: smtp.url });
    const received = await smtp.waitFor(email, /verify-email\?token=/, 120_000);
    await waitFor('the outbox to record the mail as sent', async () => (await mailList(email))[0]?.status === 'sent', 60_000);
    const [row] = await mailList(email);
    expect(row!.attempts).toBe(2);
    // Sent is final: no worker picks it again, so the one copy stays the only one.
    expect(smtp.mails.filter((m) => m.to.includes(email))).toHaveLength(1);
    expect(received.messageId).toBe(`<${row!.id}@localhost>`);

    // The link from the received mail confirms the address.
    const token = linkIn(received, '/verify-email').searchParams.get('token');
    const verified = await fetch(`${baseUrl}/v1/auth/email/verify`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ token }) });
    expect(verified.status).toBe(200);

    // Operators issue a reset link through the running server.
    const reset = await v01t(['user', 'reset-password', '--email', email]);
    expect(reset.code, reset.stderr).toBe(0);
    expect(JSON.parse(reset.stdout).link).toMatch(/^https:\/\/v01t\.example\.test\/reset-password\?token=/);
    await smtp.waitFor(email, /reset-password\?token=/, 60_000);
    const unknown = await v01t(['user', 'reset-password', '--email', 'nobody@example.test']);
    expect(unknown.code).toBe(1);
    expect(unknown.stderr).toMatch(/No account/);
  });
});
