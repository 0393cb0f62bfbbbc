import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freshPostgresDatabase, TEST_DB } from '../helpers/platform.js';
import { waitFor } from '../events/poll.js';
import { freePort } from '../helpers/ports.js';

/**
 * The crash test: a worker process is killed with SIGKILL while a side-effecting step is in
 * flight; a second process takes the run over (lease ran out) and finishes it. The receiver
 * applies an effect on arrival (the worst case: the effect happened, the answer was lost) and
 * dedupes by Idempotency-Key, so every effect must be applied exactly once.
 *
 * PostgreSQL only: two processes share one database, which embedded PGlite (in-process, one
 * connection) cannot do. `npm run test:postgres` runs it.
 */
const HERE = path.dirname(new URL(import.meta.url).pathname);
const REPO = path.resolve(HERE, '../..');


interface Child {
  proc: ChildProcess;
  url: string;
  output: () => string;
}

async function startChild(env: Record<string, string>): Promise<Child> {
  const port = await freePort();
  let output = '';
  const proc = spawn(process.execPath, [path.join(HERE, 'support/run-ts.mjs'), path.join(HERE, 'support/crash-child.ts')], {
    cwd: REPO,
    env: { ...process.env, ...env, PORT: String(port), HOST: '127.0.0.1' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  proc.stdout!.on('data', (d) => (output += String(d)));
  proc.stderr!.on('data', (d) => (output += String(d)));
  await waitFor(
    () => {
      if (proc.exitCode !== null) throw new Error(`worker process exited (${proc.exitCode}):\n${output}`);
      return output.includes(`READY ${port}`);
    },
    { timeoutMs: 120_000, intervalMs: 100, what: 'the worker process to serve' },
  ).catch((err) => {
    proc.kill('SIGKILL');
    throw new Error(`${(err as Error).message}\n${output.slice(-4000)}`);
  });
  return { proc, url: `http://127.0.0.1:${port}`, output: () => output };
}

/** Receives the steps' effects: applies each Idempotency-Key once, on arrival; can hold one step's answer. */
function effectReceiver() {
  const seen: { step: string; key: string; at: number }[] = [];
  const applied = new Map<string, string>();
  let holdStep: string | null = null;
  let arrived: (() => void) | null = null;
  const heldArrival = new Promise<void>((r) => (arrived = r));
  const held: http.ServerResponse[] = [];
  const server = http.createServer((req, res) => {
    req.resume();
    req.on('end', () => {
      const step = (req.url ?? '').split('/').pop() ?? '';
      const key = String(req.headers['idempotency-key'] ?? '');
      seen.push({ step, key, at: Date.now() });
      if (!applied.has(key)) applied.set(key, step);
      if (step === holdStep) {
        held.push(res);
        arrived?.();
        return;
      }
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ step, key, first: applied.get(key) === step }));
    });
  });
  return {
    seen,
    applied,
    heldArrival,
    hold: (step: string | null) => (holdStep = step),
    start: () => new Promise<string>((r) => server.listen(0, '127.0.0.1', () => r(`http://127.0.0.1:${(server.address() as net.AddressInfo).port}`))),
    stop: () =>
      new Promise<void>((r) => {
        for (const res of held) res.destroy();
        server.closeAllConnections();
        server.close(() => r());
      }),
  };
}

describe.skipIf(TEST_DB !== 'postgres')('workflow run survives SIGKILL of its worker (PostgreSQL only: two processes on one database)', () => {
  const rcv = effectReceiver();
  let db: { url: string; drop: () => Promise<void> };
  let env: Record<string, string>;
  let dataDir: string;
  const children: Child[] = [];

  beforeAll(async () => {
    const receiverUrl = await rcv.start();
    db = await freshPostgresDatabase();
    dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'v01t-crash-'));
    env = {
      NODE_ENV: 'test',
      DATABASE_URL: db.url,
      DATABASE_POOL_MAX: '5',
      V01T_DATA_DIR: dataDir,
      V01T_MASTER_KEY: randomBytes(32).toString('hex'),
      V01T_SERVICES: 'orchestrator,workflow-engine',
      V01T_EGRESS_ALLOW: '127.0.0.1',
      WORKFLOW_LEASE_MS: '2000',
      WORKFLOW_POLL_SECONDS: '0.5',
      ARGON2_MEMORY_KIB: '1024',
      ARGON2_TIME_COST: '1',
      LOG_LEVEL: 'warn',
      RECEIVER_URL: receiverUrl,
    };
  }, 60_000);

  afterAll(async () => {
    for (const c of children) if (c.proc.exitCode === null && c.proc.signalCode === null) c.proc.kill('SIGKILL');
    await rcv.stop();
    await db?.drop();
    if (dataDir) fs.rmSync(dataDir, { recursive: true, force: true });
  });

  it('a second process takes the run over within 30 s and every effect is applied exactly once', { timeout: 300_000 }, async () => {
    const first = await startChild(env);
    children.push(first);
    const call = async (c: Child, method: string, url: string, body?: unknown, token?: string) => {
      const res = await fetch(`${c.url}${url}`, {
        method,
        headers: { ...(body !== undefined ? { 'content-type': 'application/json' } : {}), ...(token ? { authorization: `Bearer ${token}` } : {}) },
        body: body === undefined ? undefined : JSON.stringify(body),
      });
      const text = await res.text();
      if (res.status >= 300) throw new Error(`${method} ${url}: ${res.status} ${text}`);
      return JSON.parse(text);
    };
    const { token } = await call(first, 'POST', '/v1/auth/signup', { email: `crash.${Date.now()}@example.test`, password: 'crash-test-password-1', name: 'Crash' });
    const ws = (await call(first, 'POST', '/v1/workspaces', { name: 'crash' }, token)).workspace.id as string;
    const steps = ['s1', 's2', 's3'].map((id) => ({ id, type: 'http', timeoutMs: 120_000, with: { url: `${env.RECEIVER_URL}/effect/${id}`, method: 'POST', body: { step: id } } }));
    const wf = (await call(first, 'POST', `/v1/workspaces/${ws}/workflows`, { name: 'three effects', steps: [...steps, { id: 'done', type: 'transform', with: { expression: '[steps.s1.output.status, steps.s2.output.status, steps.s3.output.status]' } }] }, token))
      .workflow.id as string;

    rcv.hold('s2');
    const runId = (await call(first, 'POST', `/v1/workspaces/${ws}/workflows/${wf}/runs`, { input: {} }, token)).run.id as string;
    // Step 2's effect arrived (and was applied); its answer is held. Kill the worker now.
    await rcv.heldArrival;
    const exited = new Promise((r) => first.proc.once('exit', r));
    first.proc.kill('SIGKILL');
    await exited;
    const killedAt = Date.now();
    expect(first.proc.signalCode).toBe('SIGKILL');
    rcv.hold(null);

    const second = await startChild(env);
    children.push(second);
    const run = await waitFor(
      async () => {
        const r = (await call(second, 'GET', `/v1/workspaces/${ws}/runs/${runId}`, undefined, token)).run;
        if (['failed', 'cancelled', 'timed_out'].includes(r.status)) throw new Error(`run ended ${r.status}: ${r.error}`);
        return r.status === 'succeeded' ? r : null;
      },
      { timeoutMs: 120_000, intervalMs: 200, what: `run ${runId} to succeed on the second process` },
    );

    expect(run.status).toBe('succeeded');
    expect(run.output).toEqual([200, 200, 200]);
    expect(run.takeovers).toBe(1);
    // Step 2 was sent twice (before the kill and by the new owner) with the same key; the others once.
    const s2 = rcv.seen.filter((s) => s.step === 's2');
    expect(s2).toHaveLength(2);
    expect(s2[0]!.key).toBe(s2[1]!.key);
    // Taken over within 30 s of the kill (this includes starting the second process).
    expect(s2[1]!.at - killedAt).toBeLessThan(30_000);
    console.info(`crash test: step 2 repeated by the new owner ${s2[1]!.at - killedAt} ms after SIGKILL (lease 2000 ms, second process start included)`);
    expect(rcv.seen.filter((s) => s.step === 's1')).toHaveLength(1);
    expect(rcv.seen.filter((s) => s.step === 's3')).toHaveLength(1);
    // Every key the receiver saw maps to one step, and each step's effect was applied once.
    const keysByStep = new Map<string, Set<string>>();
    for (const s of rcv.seen) keysByStep.set(s.step, (keysByStep.get(s.step) ?? new Set()).add(s.key));
    for (const [, keys] of keysByStep) expect(keys.size).toBe(1);
    expect(rcv.applied.size).toBe(3);
    expect([...rcv.applied.values()].sort()).toEqual(['s1', 's2', 's3']);
    // The timeline: one attempt per step, with the key the receiver saw.
    const attempts = run.steps.filter((s: { stepType: string }) => s.stepType === 'http');
    expect(attempts.map((s: { stepId: string; attempt: number; status: string }) => `${s.stepId}:${s.attempt}:${s.status}`)).toEqual(['s1:1:succeeded', 's2:1:succeeded', 's3:1:succeeded']);
    expect(attempts.find((s: { stepId: string }) => s.stepId === 's2').idempotencyKey).toBe(s2[0]!.key);

    const stopped = new Promise((r) => second.proc.once('exit', r));
    second.proc.kill('SIGTERM');
    await stopped;
  });
});
