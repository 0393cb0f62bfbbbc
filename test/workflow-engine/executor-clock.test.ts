import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { WorkflowEngineInstance } from '../../src/services/workflow-engine/index.js';
import { WorkflowRepository } from '../../src/services/workflow-engine/repository.js';
import { bearer, createWorkspace, signup, type TestUser } from '../helpers/api.js';
import { createTestPlatform, type TestPlatform } from '../helpers/platform.js';
import { waitFor } from '../events/poll.js';

/**
 * The executor driven by a ManualClock: services are not started (no queue worker, no sweeps), and
 * the test advances the clock and calls `executor.drain()`, which advances every run due by that
 * clock. Scheduled times are read from the run's wait and from the queue job it enqueued.
 */

/** A local HTTP receiver: /ok answers, /fail answers 503 while told to, /hold holds until released, /slow answers after 40 ms and counts requests in flight. */
function receiver() {
  const seen: { path: string; key: string }[] = [];
  let failing = 0;
  const held: (() => void)[] = [];
  let holding = true;
  let inFlight = 0;
  let maxInFlight = 0;
  const arrivals: { n: number; resolve: () => void }[] = [];
  const server = http.createServer((req, res) => {
    req.resume();
    req.on('end', () => {
      const path = (req.url ?? '/').split('?')[0]!;
      seen.push({ path, key: String(req.headers['idempotency-key'] ?? '') });
      for (const a of arrivals.filter((x) => seen.filter((s) => s.path === '/hold').length >= x.n)) a.resolve();
      const ok = () => res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ ok: true }));
      if (path === '/fail' && failing > 0) {
        failing--;
        res.writeHead(503).end('busy');
      } else if (path === '/hold' && holding) {
        held.push(ok);
      } else if (path === '/hang') {
        /* never answers: the step's timeout must end it */
        req.socket.on('close', () => {});
      } else if (path === '/slow') {
        inFlight++;
        maxInFlight = Math.max(maxInFlight, inFlight);
        setTimeout(() => {
          inFlight--;
          ok();
        }, 40);
      } else ok();
    });
  });
  return {
    seen,
    failTimes: (n: number) => (failing = n),
    /** Resolves once /hold has been called n times in total. */
    holdArrivals: (n: number) => new Promise<void>((resolve) => (seen.filter((s) => s.path === '/hold').length >= n ? resolve() : arrivals.push({ n, resolve }))),
    release: (keepHolding = false) => {
      holding = keepHolding;
      for (const f of held.splice(0)) f();
    },
    hold: () => (holding = true),
    maxInFlight: () => maxInFlight,
    start: () => new Promise<string>((r) => server.listen(0, '127.0.0.1', () => r(`http://127.0.0.1:${(server.address() as AddressInfo).port}`))),
    stop: () =>
      new Promise<void>((r) => {
        server.closeAllConnections();
        server.close(() => r());
      }),
  };
}

describe('workflow executor on an injected clock', () => {
  let t: TestPlatform;
  let owner: TestUser;
  let engine: WorkflowEngineInstance;
  const rcv = receiver();
  let url: string;

  beforeAll(async () => {
    url = await rcv.start();
    t = await createTestPlatform({ V01T_EGRESS_ALLOW: '127.0.0.1', WORKFLOW_WORKSPACE_CONCURRENCY: '2' });
    engine = t.platform.instances.get('workflow-engine') as WorkflowEngineInstance;
    owner = await signup(t, 'Owner');
  });
  afterAll(async () => {
    rcv.release();
    await t?.close();
    await rcv.stop();
  });

  const newWorkspace = () => createWorkspace(t, owner);
  const create = async (ws: string, def: unknown) => {
    const res = await t.inject({ method: 'POST', url: `/v1/workspaces/${ws}/workflows`, headers: bearer(owner.token), payload: def as object });
    expect(res.statusCode, res.body).toBe(201);
    return res.json().workflow.id as string;
  };
  const start = async (ws: string, workflowId: string, input: unknown = {}) => {
    const res = await t.inject({ method: 'POST', url: `/v1/workspaces/${ws}/workflows/${workflowId}/runs`, headers: bearer(owner.token), payload: { input } });
    expect(res.statusCode, res.body).toBe(202);
    return res.json().run.id as string;
  };
  const getRun = async (ws: string, runId: string) => (await t.inject({ method: 'GET', url: `/v1/workspaces/${ws}/runs/${runId}`, headers: bearer(owner.token) })).json().run;
  /** The newest queue job for the run: when it is due. */
  const lastJob = async (runId: string) => {
    const [row] = await t.platform.database.query<{ start_after: string | Date }>("SELECT start_after FROM pgboss.job WHERE name = 'workflow-run' AND data->>'runId' = $1 ORDER BY created_on DESC LIMIT 1", [runId]);
    return row ? new Date(row.start_after).toISOString() : null;
  };
  const attempts = (run: { steps: { stepId: string; attempt: number; status: string }[] }, stepId: string) => run.steps.filter((s) => s.stepId === stepId).map((s) => `${s.attempt}:${s.status}`);

  it('retries a failing step with exponential backoff and jitter at the scheduled times', async () => {
    const ws = await newWorkspace();
    const wf = await create(ws, { name: 'retry', steps: [{ id: 'call', type: 'http', with: { url: `${url}/fail` }, retry: { maxAttempts: 3, backoffMs: 1000, maxBackoffMs: 60_000 } }] });
    rcv.failTimes(2);
    const runId = await start(ws, wf);
    const t0 = t.clock.now().getTime();
    await engine.executor.drain();
    let run = await getRun(ws, runId);
    expect(run.status).toBe('running');
    expect(attempts(run, 'call'), JSON.stringify(run.steps)).toEqual(['1:failed']);
    expect(run.steps[0].error).toMatch(/HTTP 503/);
    expect(run.wait.kind).toBe('retry');
    const first = Date.parse(run.wait.until) - t0;
    // Attempt 1 failed: backoff between half and all of 1000 ms.
    expect(first).toBeGreaterThanOrEqual(500);
    expect(first).toBeLessThanOrEqual(1000);
    expect(await lastJob(runId)).toBe(run.wait.until);
    // Not a millisecond early.
    t.clock.set(new Date(Date.parse(run.wait.until) - 1));
    expect(await engine.executor.drain()).toBe(0);
    t.clock.set(run.wait.until);
    const t1 = t.clock.now().getTime();
    await engine.executor.drain();
    run = await getRun(ws, runId);
    expect(attempts(run, 'call')).toEqual(['1:failed', '2:failed']);
    // Attempt 2 failed: backoff doubled, between 1000 and 2000 ms.
    const second = Date.parse(run.wait.until) - t1;
    expect(second).toBeGreaterThanOrEqual(1000);
    expect(second).toBeLessThanOrEqual(2000);
    expect(await lastJob(runId)).toBe(run.wait.until);
    t.clock.set(run.wait.until);
    await engine.executor.drain();
    run = await getRun(ws, runId);
    expect(run.status, JSON.stringify(run.steps.map((x: { attempt: number; error: string | null }) => [x.attempt, x.error]))).toBe('succeeded');
    expect(attempts(run, 'call')).toEqual(['1:failed', '2:failed', '3:succeeded']);
    expect(new Set(run.steps.map((s: { idempotencyKey: string }) => s.idempotencyKey)).size).toBe(3);
  });

  it('fails a step attempt that exceeds its timeout, retries it, and fails the run after the last attempt', async () => {
    const ws = await newWorkspace();
    const wf = await create(ws, { name: 'timeout', steps: [{ id: 'call', type: 'http', with: { url: `${url}/hang` }, timeoutMs: 150, retry: { maxAttempts: 2, backoffMs: 0 } }] });
    const runId = await start(ws, wf);
    await engine.executor.drain();
    const run = await getRun(ws, runId);
    expect(run.status).toBe('failed');
    expect(attempts(run, 'call')).toEqual(['1:failed', '2:failed']);
    expect(run.steps[0].error).toMatch(/timed out after 150 ms/);
    expect(run.error).toMatch(/steps\.call: timed out after 150 ms/);
  });

  it('ends a run past its run timeout as timed_out, woken at the deadline even inside a long delay', async () => {
    const ws = await newWorkspace();
    const wf = await create(ws, { name: 'slow', timeoutMs: 5000, steps: [{ id: 'nap', type: 'delay', with: { ms: 3_600_000 } }, { id: 'after', type: 'transform', with: { expression: '1' } }] });
    const runId = await start(ws, wf);
    await engine.executor.drain();
    let run = await getRun(ws, runId);
    expect(run.status).toBe('waiting');
    expect(run.deadlineAt).toBe(new Date(t.clock.now().getTime() + 5000).toISOString());
    // The wake-up is the deadline, not the end of the hour-long delay.
    expect(await lastJob(runId)).toBe(run.deadlineAt);
    t.clock.advance(4999);
    expect(await engine.executor.drain()).toBe(0);
    t.clock.advance(1);
    await engine.executor.drain();
    run = await getRun(ws, runId);
    expect(run.status).toBe('timed_out');
    expect(run.error).toMatch(/run timeout of 5000 ms exceeded/);
    expect(run.steps.map((s: { stepId: string }) => s.stepId)).not.toContain('after');
  });

  it('delays until a given time', async () => {
    const ws = await newWorkspace();
    const until = new Date(t.clock.now().getTime() + 10 * 60_000).toISOString();
    const wf = await create(ws, { name: 'until', steps: [{ id: 'wait', type: 'delay', with: { until: '=input.at' } }, { id: 'done', type: 'transform', with: { expression: 'steps.wait.output.waitedUntil' } }] });
    const runId = await start(ws, wf, { at: until });
    await engine.executor.drain();
    expect((await getRun(ws, runId)).status).toBe('waiting');
    expect(await lastJob(runId)).toBe(until);
    t.clock.set(new Date(Date.parse(until) - 1));
    expect(await engine.executor.drain()).toBe(0);
    t.clock.set(until);
    await engine.executor.drain();
    const run = await getRun(ws, runId);
    expect(run.status).toBe('succeeded');
    expect(run.output).toBe(until);
  });

  it('expires an approval nobody decided', async () => {
    const ws = await newWorkspace();
    const wf = await create(ws, { name: 'approve', steps: [{ id: 'ask', type: 'approval', with: { expiresInMs: 60_000 } }] });
    const runId = await start(ws, wf);
    await engine.executor.drain();
    let run = await getRun(ws, runId);
    expect(run.status).toBe('waiting');
    expect(run.wait.until).toBe(new Date(t.clock.now().getTime() + 60_000).toISOString());
    t.clock.advance(59_999);
    expect(await engine.executor.drain()).toBe(0);
    t.clock.advance(1);
    await engine.executor.drain();
    run = await getRun(ws, runId);
    expect(run.status).toBe('failed');
    expect(run.error).toMatch(/approval expired/);
    expect((await t.inject({ method: 'POST', url: `/v1/workspaces/${ws}/runs/${runId}/approve`, headers: bearer(owner.token) })).statusCode).toBe(409);
  });

  it('maps foreach items with at most `concurrency` requests in flight, each with its own key', async () => {
    const ws = await newWorkspace();
    const wf = await create(ws, { name: 'fan out', steps: [{ id: 'each', type: 'foreach', with: { items: '=input.items', concurrency: 2, step: { type: 'http', with: { url: `${url}/slow`, body: '={"i": item}' } } } }] });
    const before = rcv.seen.length;
    const runId = await start(ws, wf, { items: [1, 2, 3, 4, 5, 6] });
    await engine.executor.drain();
    const run = await getRun(ws, runId);
    expect(run.status).toBe('succeeded');
    expect(run.output).toHaveLength(6);
    const calls = rcv.seen.slice(before).filter((s) => s.path === '/slow');
    expect(calls).toHaveLength(6);
    // Six 40 ms requests at concurrency 2: the bound was reached and never exceeded.
    expect(rcv.maxInFlight()).toBe(2);
    const key = run.steps[0].idempotencyKey;
    expect(calls.map((c) => c.key).sort()).toEqual([0, 1, 2, 3, 4, 5].map((i) => `${key}_i${i}`).sort());
  });

  it('keeps a run over the per-workflow limit queued and starts it when the slot frees', async () => {
    const ws = await newWorkspace();
    const wf = await create(ws, { name: 'one at a time', concurrency: 1, steps: [{ id: 'call', type: 'http', with: { url: `${url}/hold` } }] });
    rcv.hold();
    const holdsBefore = rcv.seen.filter((s) => s.path === '/hold').length;
    const a = await start(ws, wf);
    const b = await start(ws, wf);
    const first = engine.executor.advance(a);
    await rcv.holdArrivals(holdsBefore + 1);
    await engine.executor.drain();
    const queued = await getRun(ws, b);
    expect(queued.status).toBe('queued');
    expect(queued.wait.kind).toBe('concurrency');
    expect(rcv.seen.filter((s) => s.path === '/hold')).toHaveLength(holdsBefore + 1);
    rcv.release();
    await first;
    expect((await getRun(ws, a)).status).toBe('succeeded');
    // A's finish cleared B's concurrency wait: B is due now, without advancing the clock.
    expect((await getRun(ws, b)).wait).toBeNull();
    await engine.executor.drain();
    expect((await getRun(ws, b)).status).toBe('succeeded');
  });

  it('keeps a run over the per-workspace limit (2) queued until a run of the workspace finishes', async () => {
    const ws = await newWorkspace();
    const ids = [await create(ws, { name: 'w1', steps: [{ id: 'call', type: 'http', with: { url: `${url}/hold` } }] }), await create(ws, { name: 'w2', steps: [{ id: 'call', type: 'http', with: { url: `${url}/hold` } }] })];
    rcv.hold();
    const holdsBefore = rcv.seen.filter((s) => s.path === '/hold').length;
    const r1 = await start(ws, ids[0]!);
    const r2 = await start(ws, ids[1]!);
    const r3 = await start(ws, ids[1]!);
    const p1 = engine.executor.advance(r1);
    const p2 = engine.executor.advance(r2);
    await rcv.holdArrivals(holdsBefore + 2);
    await engine.executor.drain();
    expect((await getRun(ws, r3)).status).toBe('queued');
    // Past the re-check interval, still over the limit: still queued.
    t.clock.advance(1000);
    await engine.executor.drain();
    expect((await getRun(ws, r3)).status).toBe('queued');
    expect(rcv.seen.filter((s) => s.path === '/hold')).toHaveLength(holdsBefore + 2);
    rcv.release();
    await Promise.all([p1, p2]);
    await engine.executor.drain();
    expect((await getRun(ws, r3)).status).toBe('succeeded');
  });

  it('cancels a run mid-step and a waiting run; neither continues afterwards', async () => {
    const ws = await newWorkspace();
    const wf = await create(ws, { name: 'cancel me', steps: [{ id: 'call', type: 'http', with: { url: `${url}/hold` } }, { id: 'after', type: 'emit', with: { signal: 'after.cancel' } }] });
    rcv.hold();
    const holdsBefore = rcv.seen.filter((s) => s.path === '/hold').length;
    const runId = await start(ws, wf);
    const busy = engine.executor.advance(runId);
    await rcv.holdArrivals(holdsBefore + 1);
    const c = await t.inject({ method: 'POST', url: `/v1/workspaces/${ws}/runs/${runId}/cancel`, headers: bearer(owner.token) });
    expect(c.statusCode).toBe(200);
    rcv.release();
    await busy;
    await engine.executor.drain();
    const run = await getRun(ws, runId);
    expect(run.status).toBe('cancelled');
    expect(run.steps.map((s: { stepId: string }) => s.stepId)).toEqual(['call']);
    const events = await t.platform.database.query<{ name: string }>("SELECT name FROM kernel.outbox WHERE payload->>'runId' = $1 ORDER BY seq", [runId]);
    expect(events.map((e) => e.name)).toEqual(['workflow.run.started.v1', 'workflow.run.failed.v1']);

    const napper = await create(ws, { name: 'nap', steps: [{ id: 'nap', type: 'delay', with: { ms: 60_000 } }, { id: 'after', type: 'transform', with: { expression: '1' } }] });
    const sleeping = await start(ws, napper);
    await engine.executor.drain();
    expect((await getRun(ws, sleeping)).status).toBe('waiting');
    expect((await t.inject({ method: 'POST', url: `/v1/workspaces/${ws}/runs/${sleeping}/cancel`, headers: bearer(owner.token) })).statusCode).toBe(200);
    t.clock.advance(60_000);
    await engine.executor.drain();
    // The wake-up job of the delay still fires: advancing the cancelled run does nothing.
    await engine.executor.advance(sleeping);
    const after = await getRun(ws, sleeping);
    expect(after.status).toBe('cancelled');
    expect(after.steps.map((s: { stepId: string }) => s.stepId)).toEqual([]);
  });

  it('retry resumes a failed run from the failed step with a fresh attempt', async () => {
    const ws = await newWorkspace();
    const wf = await create(ws, { name: 'resume', steps: [{ id: 'prep', type: 'transform', with: { expression: '"x"' } }, { id: 'call', type: 'http', with: { url: `${url}/fail` } }, { id: 'done', type: 'transform', with: { expression: 'steps.call.output.status' } }] });
    rcv.failTimes(1);
    const runId = await start(ws, wf);
    await engine.executor.drain();
    let run = await getRun(ws, runId);
    expect(run.status).toBe('failed');
    expect(run.error).toMatch(/HTTP 503/);
    expect((await t.inject({ method: 'POST', url: `/v1/workspaces/${ws}/runs/${runId}/retry`, headers: bearer(owner.token) })).statusCode).toBe(200);
    await engine.executor.drain();
    run = await getRun(ws, runId);
    expect(run.status).toBe('succeeded');
    expect(run.output).toBe(200);
    expect(attempts(run, 'prep')).toEqual(['1:succeeded']);
    expect(attempts(run, 'call')).toEqual(['1:failed', '2:succeeded']);
    expect(attempts(run, 'done')).toEqual(['1:succeeded']);
  });

  it('a step refused by the outbound rate limit (10/s, burst 20 per workflow) waits for its token without using an attempt', async () => {
    const ws = await newWorkspace();
    const steps = Array.from({ length: 21 }, (_, i) => ({ id: `s${i + 1}`, type: 'http', with: { url: `${url}/ok`, method: 'GET' } }));
    const wf = await create(ws, { name: 'chatty', steps });
    const runId = await start(ws, wf);
    await engine.executor.drain();
    let run = await getRun(ws, runId);
    // The burst of 20 went out; the 21st request was refused before sending.
    expect(run.status).toBe('running');
    expect(run.wait).toMatchObject({ kind: 'retry', stepId: 's21' });
    expect(Date.parse(run.wait.until) - t.clock.now().getTime()).toBe(100);
    expect(attempts(run, 's21')).toEqual(['1:running']);
    expect(attempts(run, 's20')).toEqual(['1:succeeded']);
    t.clock.advance(100);
    await engine.executor.drain();
    run = await getRun(ws, runId);
    expect(run.status).toBe('succeeded');
    expect(attempts(run, 's21')).toEqual(['1:succeeded']);
  });

  it('a run whose worker stopped renewing its lease is taken over once the lease ran out', async () => {
    const ws = await newWorkspace();
    const wf = await create(ws, { name: 'orphan', steps: [{ id: 'a', type: 'transform', with: { expression: '1' } }] });
    const runId = await start(ws, wf);
    // Another worker claimed it and died: its lease runs 10 s (WORKFLOW_LEASE_MS default).
    await t.platform.database.query("UPDATE workflow.runs SET lease_owner = 'dead-worker', lease_until = $2, status = 'running', started_at = $3, current_step = 'a' WHERE id = $1", [
      runId,
      new Date(t.clock.now().getTime() + 10_000).toISOString(),
      t.clock.now().toISOString(),
    ]);
    expect(await engine.executor.drain()).toBe(0);
    t.clock.advance(10_001);
    await waitFor(async () => (await engine.executor.drain()) > 0, { what: 'the orphaned run to be advanced' });
    const run = await getRun(ws, runId);
    expect(run.status).toBe('succeeded');
    expect(run.takeovers).toBe(1);
  });

  it('quarantines a poison run after its processing was interrupted three times, and never takes it up again', async () => {
    const ws = await newWorkspace();
    const wf = await create(ws, { name: 'poison', steps: [{ id: 'call', type: 'http', with: { url: `${url}/ok`, method: 'GET' } }] });
    const runId = await start(ws, wf);
    const repo = new WorkflowRepository(t.platform.database.orm);
    const seen = rcv.seen.length;
    // A worker took the run mid-step and crashed; two more took it over and crashed too (each a
    // process whose lease ran out without being renewed): what a run that kills its worker leaves.
    await t.platform.database.query("UPDATE workflow.runs SET lease_owner = 'crashed-1', lease_until = $2, status = 'running', started_at = $3, current_step = 'call' WHERE id = $1", [
      runId,
      new Date(t.clock.now().getTime() + 10_000).toISOString(),
      t.clock.now().toISOString(),
    ]);
    for (const worker of ['crashed-2', 'crashed-3']) {
      t.clock.advance(10_001);
      expect((await repo.claim(runId, worker, t.clock.now(), 10_000))?.takeover).toBe(true);
    }
    t.clock.advance(10_001);
    // The third takeover finds two interruptions behind it and this one: quarantined, the step is not tried again.
    await waitFor(async () => (await engine.executor.drain()) > 0, { what: 'the poison run to be looked at' });
    const run = await getRun(ws, runId);
    expect(run.status).toBe('failed');
    expect(run.takeovers).toBe(3);
    expect(run.error).toMatch(/^run_quarantined: /);
    expect(rcv.seen.length).toBe(seen);
    t.clock.advance(60_000);
    expect(await engine.executor.drain()).toBe(0);
    expect((await getRun(ws, runId)).status).toBe('failed');
  });
});
