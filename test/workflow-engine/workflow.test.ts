import { createHmac } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { addMember, bearer, createWorkspace, problem, signup, type TestUser } from '../helpers/api.js';
import { createTestPlatform, type TestPlatform } from '../helpers/platform.js';
import { waitFor } from '../events/poll.js';
import type { WorkflowEngineInstance } from '../../src/services/workflow-engine/index.js';

/** A local receiver that applies each Idempotency-Key once and can be told to fail. */
function receiver() {
  const applied = new Map<string, unknown>();
  const seen: { key: string; body: string }[] = [];
  let failNext = 0;
  let failAlways = false;
  const server = http.createServer((req, res) => {
    let body = '';
    req.on('data', (c) => (body += c));
    req.on('end', () => {
      const key = String(req.headers['idempotency-key'] ?? '');
      seen.push({ key, body });
      if (failAlways || failNext > 0) {
        failNext = Math.max(0, failNext - 1);
        res.writeHead(503).end('busy');
        return;
      }
      if (!applied.has(key)) applied.set(key, body ? JSON.parse(body) : null);
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ ok: true, key }));
    });
  });
  return {
    applied,
    seen,
    failTimes: (n: number) => (failNext = n),
    setFailAlways: (v: boolean) => (failAlways = v),
    start: () => new Promise<string>((r) => server.listen(0, '127.0.0.1', () => r(`http://127.0.0.1:${(server.address() as AddressInfo).port}`))),
    stop: () => new Promise<void>((r) => server.close(() => r())),
  };
}

describe('workflow-engine over HTTP', () => {
  let t: TestPlatform;
  let owner: TestUser;
  let viewer: TestUser;
  let ws: string;
  let base: string;
  const rcv = receiver();
  let url: string;

  beforeAll(async () => {
    url = await rcv.start();
    t = await createTestPlatform({ V01T_EGRESS_ALLOW: '127.0.0.1', V01T_EVENT_POLL_MS: '20', WORKFLOW_POLL_SECONDS: '0.5' });
    await t.platform.startServices();
    owner = await signup(t, 'Owner');
    viewer = await signup(t, 'Viewer');
    ws = await createWorkspace(t, owner);
    await addMember(t, ws, owner, viewer, 'viewer');
    base = `/v1/workspaces/${ws}`;
  });
  afterAll(async () => {
    await t?.close();
    await rcv.stop();
  });

  const create = async (def: unknown, user = owner) => t.inject({ method: 'POST', url: `${base}/workflows`, headers: bearer(user.token), payload: def as object });
  const start = async (workflowId: string, input: unknown = {}, headers: Record<string, string> = {}) =>
    t.inject({ method: 'POST', url: `${base}/workflows/${workflowId}/runs`, headers: { ...bearer(owner.token), ...headers }, payload: { input } });
  const getRun = async (runId: string) => (await t.inject({ method: 'GET', url: `${base}/runs/${runId}`, headers: bearer(owner.token) })).json().run;
  const settle = (runId: string, statuses = ['succeeded', 'failed', 'cancelled', 'timed_out']) =>
    waitFor(async () => {
      const r = await getRun(runId);
      return statuses.includes(r.status) ? r : null;
    }, { timeoutMs: 30_000, what: `run ${runId} to reach ${statuses.join('|')}` });

  it('runs transform → condition → emit, records every step and publishes the run events', async () => {
    const res = await create({
      name: 'score',
      steps: [
        { id: 'double', type: 'transform', with: { expression: 'input.n * 2' } },
        { id: 'big', type: 'condition', with: { expression: 'steps.double.output > 5' } },
        { id: 'tell', type: 'emit', with: { signal: 'score.big', data: '={"n": steps.double.output}' } },
      ],
    });
    expect(res.statusCode).toBe(201);
    const wf = res.json().workflow;
    const started = await start(wf.id, { n: 4 });
    expect(started.statusCode).toBe(202);
    const run = await settle(started.json().run.id);
    expect(run.status).toBe('succeeded');
    expect(run.version).toBe(1);
    expect(run.steps.map((s: { stepId: string; status: string }) => `${s.stepId}:${s.status}`)).toEqual(['double:succeeded', 'big:succeeded', 'tell:succeeded']);
    expect(run.outputs.double).toBe(8);
    expect(run.output).toEqual({ signal: 'score.big', data: { n: 8 } });
    const events = await t.platform.database.query<{ name: string; payload: { runId?: string; signal?: string } }>(
      "SELECT name, payload FROM kernel.outbox WHERE payload->>'runId' = $1 ORDER BY seq",
      [run.id],
    );
    expect(events.map((e) => e.name)).toEqual(['workflow.run.started.v1', 'workflow.signal.v1', 'workflow.run.succeeded.v1']);

    // A false condition without an else branch ends the run there.
    const small = await settle((await start(wf.id, { n: 1 })).json().run.id);
    expect(small.status).toBe('succeeded');
    expect(small.steps.map((s: { stepId: string }) => s.stepId)).toEqual(['double', 'big']);

    const metrics = (await t.inject({ method: 'GET', url: '/metrics' })).body;
    expect(metrics).toMatch(/workflow_runs_total\{status="succeeded"[^}]*\} [1-9]/);
    expect(metrics).toMatch(/workflow_step_duration_seconds_count\{[^}]*type="transform"/);
    expect(metrics).toMatch(/workflow_queue_depth/);
    expect(metrics).toMatch(/workflow_oldest_queued_age_seconds/);
  });

  it('honours Idempotency-Key and pins a run to the version it started on', async () => {
    const wf = (await create({ name: 'v', steps: [{ id: 'a', type: 'transform', with: { expression: '"v1"' } }] })).json().workflow;
    const a = await start(wf.id, {}, { 'idempotency-key': 'same' });
    const b = await start(wf.id, {}, { 'idempotency-key': 'same' });
    expect(a.statusCode).toBe(202);
    expect(b.statusCode).toBe(200);
    expect(b.json().run.id).toBe(a.json().run.id);
    const upd = await t.inject({ method: 'PUT', url: `${base}/workflows/${wf.id}`, headers: bearer(owner.token), payload: { name: 'v', steps: [{ id: 'a', type: 'transform', with: { expression: '"v2"' } }] } });
    expect(upd.statusCode).toBe(200);
    expect((await settle(a.json().run.id)).output).toBe('v1');
    const second = await settle((await start(wf.id)).json().run.id);
    expect(second.version).toBe(2);
    expect(second.output).toBe('v2');
    const versions = (await t.inject({ method: 'GET', url: `${base}/workflows/${wf.id}/versions`, headers: bearer(owner.token) })).json().versions;
    expect(versions.map((v: { version: number }) => v.version)).toEqual([2, 1]);
  });

  it('rejects bad definitions with errors that point at the step and field', async () => {
    const res = await create({
      name: 'bad',
      steps: [
        { id: 'a', type: 'transform', with: { expression: 'input.(' } },
        { id: 'a', type: 'http', with: { url: 'ftp://x' }, next: 'nowhere' },
        { id: 'c', type: 'condition', with: { expression: 'true', then: 'zzz' } },
      ],
      trigger: { type: 'schedule', cron: '61 * * * *', timezone: 'Mars/Olympus' },
    });
    expect(res.statusCode).toBe(400);
    const p = problem(res);
    expect(p.code).toBe('validation_failed');
    const paths = p.errors!.map((e) => e.path);
    expect(paths).toEqual(expect.arrayContaining(['steps[0].with.expression', 'steps[1].id', 'steps[1].next', 'steps[1].with.url', 'steps[2].with.then', 'trigger.cron', 'trigger.timezone']));
    const unknownType = problem(await create({ name: 'x', steps: [{ id: 'a', type: 'shell', with: {} }] }));
    expect(unknownType.errors!.map((e) => e.path)).toEqual(['steps[0].type']);
  });

  it('saves a definition that reads a step no earlier step produces, with warnings saying so', async () => {
    const def = { name: 'warned', steps: [{ id: 'check', type: 'condition', with: { expression: 'steps.fetch.output.ok' } }, { id: 'fetch', type: 'transform', with: { expression: '{"ok": true}' } }] };
    const res = await create(def);
    expect(res.statusCode).toBe(201);
    expect(res.json().warnings).toEqual([{ path: 'steps[0].with.expression', message: 'reads steps.fetch, but no step before this one produces it (it can only run later)' }]);
    const fixed = await t.inject({ method: 'PUT', url: `${base}/workflows/${res.json().workflow.id}`, headers: bearer(owner.token), payload: { ...def, steps: [...def.steps].reverse() } });
    expect(fixed.statusCode).toBe(200);
    expect(fixed.json().warnings).toEqual([]);
  });

  it('lets viewers read and forbids them to write or run', async () => {
    const wf = (await create({ name: 'perm', steps: [{ id: 'a', type: 'transform', with: { expression: '1' } }] })).json().workflow;
    expect((await t.inject({ method: 'GET', url: `${base}/workflows/${wf.id}`, headers: bearer(viewer.token) })).statusCode).toBe(200);
    expect((await create({ name: 'x', steps: [{ id: 'a', type: 'transform', with: { expression: '1' } }] }, viewer)).statusCode).toBe(403);
    expect((await t.inject({ method: 'POST', url: `${base}/workflows/${wf.id}/runs`, headers: bearer(viewer.token), payload: {} })).statusCode).toBe(403);
  });

  it('calls http steps through the guarded client with a per-attempt idempotency key, retries with backoff, and resumes a failed run from the failed step', async () => {
    const wf = (
      await create({
        name: 'http',
        steps: [
          { id: 'prep', type: 'transform', with: { expression: '{"order": input.order}' } },
          { id: 'call', type: 'http', with: { url, method: 'POST', body: '=steps.prep.output' }, retry: { maxAttempts: 3, backoffMs: 0 } },
        ],
      })
    ).json().workflow;
    rcv.failTimes(1);
    const run = await settle((await start(wf.id, { order: 7 })).json().run.id);
    expect(run.status).toBe('succeeded');
    const calls = run.steps.filter((s: { stepId: string }) => s.stepId === 'call');
    expect(calls.map((s: { attempt: number; status: string }) => `${s.attempt}:${s.status}`)).toEqual(['1:failed', '2:succeeded']);
    expect(calls[0].idempotencyKey).not.toBe(calls[1].idempotencyKey);
    expect(rcv.applied.get(calls[1].idempotencyKey)).toEqual({ order: 7 });
    expect(run.output.status).toBe(200);

    // All attempts fail: the run fails at the step; after the receiver recovers, retry resumes there.
    rcv.setFailAlways(true);
    const failed = await settle((await start(wf.id, { order: 8 })).json().run.id);
    expect(failed.status).toBe('failed');
    expect(failed.error).toMatch(/steps\.call: HTTP 503/);
    rcv.setFailAlways(false);
    const retried = await t.inject({ method: 'POST', url: `${base}/runs/${failed.id}/retry`, headers: bearer(owner.token) });
    expect(retried.statusCode).toBe(200);
    const done = await settle(failed.id);
    expect(done.status).toBe('succeeded');
    expect(done.steps.filter((s: { stepId: string }) => s.stepId === 'prep')).toHaveLength(1);
    expect((await t.inject({ method: 'POST', url: `${base}/runs/${failed.id}/retry`, headers: bearer(owner.token) })).statusCode).toBe(409);
  });

  it('refuses http steps to private addresses that are not allowed', async () => {
    const wf = (await create({ name: 'ssrf', steps: [{ id: 'call', type: 'http', with: { url: 'http://169.254.169.254/latest/meta-data', method: 'GET' } }] })).json().workflow;
    const run = await settle((await start(wf.id)).json().run.id);
    expect(run.status).toBe('failed');
    expect(run.error).toMatch(/steps\.call:/);
  });

  it('pauses on an approval until approved, and fails a rejected one', async () => {
    const wf = (
      await create({
        name: 'approve',
        steps: [
          { id: 'ask', type: 'approval', with: { expiresInMs: 3_600_000 } },
          { id: 'after', type: 'transform', with: { expression: 'steps.ask.output.approved' } },
        ],
      })
    ).json().workflow;
    const r1 = (await start(wf.id)).json().run.id;
    await settle(r1, ['waiting']);
    const ok = await t.inject({ method: 'POST', url: `${base}/runs/${r1}/approve`, headers: bearer(owner.token), payload: { comment: 'fine' } });
    expect(ok.statusCode).toBe(200);
    expect((await settle(r1)).output).toBe(true);
    const r2 = (await start(wf.id)).json().run.id;
    await settle(r2, ['waiting']);
    expect((await t.inject({ method: 'POST', url: `${base}/runs/${r2}/reject`, headers: bearer(owner.token), payload: { comment: 'no' } })).statusCode).toBe(200);
    const rejected = await settle(r2);
    expect(rejected.status).toBe('failed');
    expect(rejected.error).toMatch(/rejected: no/);
    expect((await t.inject({ method: 'POST', url: `${base}/runs/${r2}/approve`, headers: bearer(owner.token) })).statusCode).toBe(409);
  });

  it('cancels a waiting run and lists runs by status with a cursor', async () => {
    const wf = (await create({ name: 'sleepy', steps: [{ id: 'nap', type: 'delay', with: { ms: 3_600_000 } }] })).json().workflow;
    const ids: string[] = [];
    for (let i = 0; i < 3; i++) ids.push((await start(wf.id)).json().run.id);
    for (const id of ids) await settle(id, ['waiting']);
    const c = await t.inject({ method: 'POST', url: `${base}/runs/${ids[0]}/cancel`, headers: bearer(owner.token) });
    expect(c.statusCode).toBe(200);
    expect(c.json().run.status).toBe('cancelled');
    const page1 = (await t.inject({ method: 'GET', url: `${base}/runs?workflowId=${wf.id}&status=waiting&limit=1`, headers: bearer(owner.token) })).json();
    expect(page1.runs).toHaveLength(1);
    const page2 = (await t.inject({ method: 'GET', url: `${base}/runs?workflowId=${wf.id}&status=waiting&limit=1&cursor=${page1.nextCursor}`, headers: bearer(owner.token) })).json();
    expect(page2.runs).toHaveLength(1);
    expect(page2.runs[0].id).not.toBe(page1.runs[0].id);
    expect(page2.nextCursor).toBeNull();
    expect(problem(await t.inject({ method: 'GET', url: `${base}/runs?cursor=garbage`, headers: bearer(owner.token) })).code).toBe('bad_request');
  });

  it('starts webhook workflows from a signed request only', async () => {
    const res = await create({ name: 'hook', trigger: { type: 'webhook', hmac: true }, steps: [{ id: 'echo', type: 'transform', with: { expression: 'input.hello' } }] });
    const { url: hookUrl, hmacSecret } = res.json().webhook;
    const body = JSON.stringify({ hello: 'world' });
    const unsigned = await t.inject({ method: 'POST', url: hookUrl, headers: { 'content-type': 'application/json' }, payload: body });
    expect(problem(unsigned).code).toBe('unauthenticated');
    const sig = `sha256=${createHmac('sha256', hmacSecret).update(body).digest('hex')}`;
    const ok = await t.inject({ method: 'POST', url: hookUrl, headers: { 'content-type': 'application/json', 'x-v01t-signature': sig }, payload: body });
    expect(ok.statusCode).toBe(202);
    expect((await settle(ok.json().runId)).output).toBe('world');
    expect((await t.inject({ method: 'POST', url: '/hooks/workflows/not-a-real-token-at-all-xx', payload: '{}' })).statusCode).toBe(404);
  });

  it('a webhook with respond: onCompletion answers with the run\'s output, its error, or 202 when the run outlasts the timeout', async () => {
    // The n8n anchor's shape: webhook → set flag → if flag = "yes" → set result.
    const flow = await create({
      name: 'answer',
      trigger: { type: 'webhook', respond: 'onCompletion', responseTimeoutMs: 10_000 },
      steps: [
        { id: 'flag', type: 'transform', with: { expression: '{"flag": input.answer}' } },
        { id: 'yes', type: 'condition', with: { expression: 'steps.flag.output.flag = "yes"' } },
        { id: 'result', type: 'transform', with: { expression: '{"result": "accepted", "for": input.who}' } },
      ],
    });
    expect(flow.statusCode, flow.body).toBe(201);
    const hook = flow.json().webhook.url as string;
    const done = await t.inject({ method: 'POST', url: hook, headers: { 'content-type': 'application/json' }, payload: { answer: 'yes', who: 'ada' } });
    expect(done.statusCode, done.body).toBe(200);
    expect(done.json()).toMatchObject({ status: 'succeeded', output: { result: 'accepted', for: 'ada' }, error: null });
    // The answer is the run as stored.
    expect((await getRun(done.json().runId)).output).toEqual({ result: 'accepted', for: 'ada' });

    // A run that fails answers 200 with its status and error, no output.
    const failing = await create({ name: 'answer-fails', trigger: { type: 'webhook', respond: 'onCompletion' }, steps: [{ id: 'boom', type: 'transform', with: { expression: '$error("no answer for " & input.who)' } }] });
    const failed = await t.inject({ method: 'POST', url: failing.json().webhook.url, headers: { 'content-type': 'application/json' }, payload: { who: 'bob' } });
    expect(failed.statusCode, failed.body).toBe(200);
    expect(failed.json().status).toBe('failed');
    expect(failed.json().output).toBeUndefined();
    expect(failed.json().error).toMatch(/no answer for bob/);

    // A run still waiting when the timeout passes: 202 with the run id, and the run goes on.
    const slow = await create({ name: 'answer-late', trigger: { type: 'webhook', respond: 'onCompletion', responseTimeoutMs: 300 }, steps: [{ id: 'nap', type: 'delay', with: { ms: 3_600_000 } }] });
    const late = await t.inject({ method: 'POST', url: slow.json().webhook.url, headers: { 'content-type': 'application/json' }, payload: {} });
    expect(late.statusCode, late.body).toBe(202);
    expect((await settle(late.json().runId, ['waiting'])).status).toBe('waiting');

    // Out-of-range timeouts are refused when the workflow is saved.
    const bad = await create({ name: 'answer-bad', trigger: { type: 'webhook', respond: 'onCompletion', responseTimeoutMs: 120_000 }, steps: [{ id: 'x', type: 'transform', with: { expression: '1' } }] });
    expect(bad.statusCode).toBe(400);
    expect((await create({ name: 'answer-bad2', trigger: { type: 'webhook', respond: 'later' }, steps: [{ id: 'x', type: 'transform', with: { expression: '1' } }] })).statusCode).toBe(400);

    // The default stays 202 at once.
    const plain = await create({ name: 'answer-default', trigger: { type: 'webhook' }, steps: [{ id: 'x', type: 'transform', with: { expression: '1' } }] });
    expect((await t.inject({ method: 'POST', url: plain.json().webhook.url, headers: { 'content-type': 'application/json' }, payload: {} })).statusCode).toBe(202);
  });

  it('fires a schedule once per tick even when two replicas tick at the same moment', async () => {
    const res = await create({ name: 'cron', trigger: { type: 'schedule', cron: '*/5 * * * *', timezone: 'Europe/Berlin' }, steps: [{ id: 'a', type: 'transform', with: { expression: 'input.scheduledAt' } }] });
    expect(res.statusCode, res.body).toBe(201);
    const wf = res.json().workflow;
    const svc = (t.platform.instances.get('workflow-engine') as WorkflowEngineInstance).service;
    // One second after the first */5 boundary that lies a minute or more after creation (Berlin is whole hours off UTC).
    const at = new Date(Math.ceil((Date.parse(wf.createdAt) + 60_000) / 300_000) * 300_000 + 1000);
    const fired = await Promise.all([svc.scheduleTick(at), svc.scheduleTick(at)]);
    const list = (await t.inject({ method: 'GET', url: `${base}/runs?workflowId=${wf.id}`, headers: bearer(owner.token) })).json().runs;
    expect(list).toHaveLength(1);
    expect(fired.filter((n) => n > 0)).toHaveLength(1);
    expect(await svc.scheduleTick(at)).toBe(0);
  });
});
