import { randomUUID } from 'node:crypto';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import type { WorkflowEngineInstance } from '../../src/services/workflow-engine/index.js';
import { WorkflowRepository, type RunRow } from '../../src/services/workflow-engine/repository.js';
import { bearer, createWorkspace, problem, signup, type TestUser } from '../helpers/api.js';
import { createTestPlatform, type TestPlatform } from '../helpers/platform.js';

/**
 * The two batched paths behind the benchmark's throughput: starts that arrive together are written
 * in one transaction (group commit), and a queue fetch's fresh runs of pure steps are claimed and
 * finished by one conditional UPDATE. Each must answer every caller on its own and never write over
 * a run someone else got to first. Services are not started: the executor is driven by drain().
 */
describe('workflow batching: group-committed starts and batch-finished fresh runs', () => {
  let t: TestPlatform;
  let owner: TestUser;
  let engine: WorkflowEngineInstance;

  beforeAll(async () => {
    t = await createTestPlatform();
    engine = t.platform.instances.get('workflow-engine') as WorkflowEngineInstance;
    owner = await signup(t, 'Owner');
  });
  afterAll(async () => {
    await t?.close();
  });
  afterEach(() => {
    vi.restoreAllMocks();
  });

  const pure = {
    name: 'pure',
    steps: [
      { id: 't', type: 'transform', with: { expression: 'input.n * 2' } },
      { id: 'c', type: 'condition', with: { expression: 'steps.t.output >= 0' } },
      { id: 'e', type: 'emit', with: { signal: 'batch.done', data: '=steps.t.output' } },
    ],
  };
  const create = async (ws: string, def: unknown) => {
    const res = await t.inject({ method: 'POST', url: `/v1/workspaces/${ws}/workflows`, headers: bearer(owner.token), payload: def as object });
    expect(res.statusCode, res.body).toBe(201);
    return res.json().workflow.id as string;
  };
  const startReq = (ws: string, wf: string, input: unknown, key?: string) =>
    t.inject({ method: 'POST', url: `/v1/workspaces/${ws}/workflows/${wf}/runs`, headers: { ...bearer(owner.token), ...(key ? { 'idempotency-key': key } : {}) }, payload: { input } });
  const getRun = async (ws: string, runId: string) => (await t.inject({ method: 'GET', url: `/v1/workspaces/${ws}/runs/${runId}`, headers: bearer(owner.token) })).json().run;
  const eventsOf = async (runId: string) =>
    (await t.platform.database.query<{ name: string }>("SELECT name FROM kernel.outbox WHERE payload->>'runId' = $1 ORDER BY seq", [runId])).map((r) => r.name);

  it('writes concurrent starts in one batch and still answers each on its own (repeated key, disabled and unknown workflows)', async () => {
    const ws = await createWorkspace(t, owner);
    const wf = await create(ws, pure);
    const off = await create(ws, { ...pure, name: 'off' });
    expect((await t.inject({ method: 'POST', url: `/v1/workspaces/${ws}/workflows/${off}/disable`, headers: bearer(owner.token) })).statusCode).toBeLessThan(300);
    const batches = vi.spyOn(WorkflowRepository.prototype, 'insertRuns');

    const [plain, keyed, disabled, unknown] = await Promise.all([
      Promise.all(Array.from({ length: 20 }, (_, i) => startReq(ws, wf, { n: i }))),
      Promise.all([startReq(ws, wf, { n: 100 }, 'same-key'), startReq(ws, wf, { n: 101 }, 'same-key')]),
      startReq(ws, off, { n: 1 }),
      startReq(ws, randomUUID(), { n: 1 }),
    ]);

    for (const r of plain) expect(r.statusCode, r.body).toBe(202);
    const ids = plain.map((r) => r.json().run.id as string);
    expect(new Set(ids).size).toBe(20);
    // The same key twice in one batch: one run, created once (202), found once (200).
    expect(keyed.map((r) => r.statusCode).sort()).toEqual([200, 202]);
    expect(keyed[0]!.json().run.id).toBe(keyed[1]!.json().run.id);
    expect(disabled.statusCode).toBe(409);
    expect(problem(disabled).code).toBe('conflict');
    expect(unknown.statusCode).toBe(404);
    expect(problem(unknown).code).toBe('not_found');

    // Group commit: far fewer batch INSERTs than starts, and every start of the batch is in one of them.
    const rowsWritten = batches.mock.calls.reduce((n, [rows]) => n + rows.length, 0);
    expect(batches.mock.calls.length).toBeLessThanOrEqual(3);
    expect(rowsWritten).toBeGreaterThanOrEqual(24);
    // Every created run has exactly one queue job, committed with it.
    const jobs = await t.platform.database.query<{ run: string; n: string }>(
      "SELECT data->>'runId' AS run, count(*) AS n FROM pgboss.job WHERE name = 'workflow-run' AND data->>'runId' = ANY($1::text[]) GROUP BY 1",
      [[...ids, keyed[0]!.json().run.id]],
    );
    expect(jobs).toHaveLength(21);
    expect(jobs.every((j) => Number(j.n) === 1)).toBe(true);
  });

  it('finishes a fetch of fresh pure runs with one claiming UPDATE, with attempts and events per run in order; other runs take the normal path', async () => {
    const ws = await createWorkspace(t, owner);
    const wf = await create(ws, pure);
    const waits = await create(ws, { name: 'waits', steps: [{ id: 'd', type: 'delay', with: { ms: 60_000 } }] });
    const ids = await Promise.all(Array.from({ length: 10 }, async (_, i) => (await startReq(ws, wf, { n: i })).json().run.id as string));
    const delayed = (await startReq(ws, waits, {})).json().run.id as string;
    const filtered = (await startReq(ws, wf, { n: -5 })).json().run.id as string;
    const finishFresh = vi.spyOn(WorkflowRepository.prototype, 'finishFresh');

    await engine.executor.advanceMany([...ids, delayed, filtered]);

    expect(finishFresh).toHaveBeenCalledTimes(1);
    expect(finishFresh.mock.calls[0]![0].map((r) => r.id).sort()).toEqual([...ids, filtered].sort());
    for (const [i, id] of ids.entries()) {
      const run = await getRun(ws, id);
      expect(run.status).toBe('succeeded');
      expect(run.output).toEqual({ signal: 'batch.done', data: i * 2 });
      expect(run.steps.map((s: { stepId: string; status: string }) => `${s.stepId}:${s.status}`)).toEqual(['t:succeeded', 'c:succeeded', 'e:succeeded']);
      expect(Date.parse(run.finishedAt)).toBeGreaterThanOrEqual(Date.parse(run.startedAt));
      expect(await eventsOf(id)).toEqual(['workflow.run.started.v1', 'workflow.signal.v1', 'workflow.run.succeeded.v1']);
    }
    // A false condition without an else ends the run there: succeeded, no signal.
    const f = await getRun(ws, filtered);
    expect(f.status).toBe('succeeded');
    expect(f.output).toBe(false);
    expect(await eventsOf(filtered)).toEqual(['workflow.run.started.v1', 'workflow.run.succeeded.v1']);
    // The delay run is not pure: it went the normal way and waits.
    const d = await getRun(ws, delayed);
    expect(d.status).toBe('waiting');
    expect(d.wait.kind).toBe('delay');
  });

  it('reads the trigger set once per delivery transaction and event name, and again in the next transaction', async () => {
    const ws = await createWorkspace(t, owner);
    const wf = await create(ws, { name: 'on-signal', trigger: { type: 'event', event: 'workflow.signal.v1' }, steps: [{ id: 't', type: 'transform', with: { expression: 'input.payload.data' } }] });
    const reads = vi.spyOn(WorkflowRepository.prototype, 'eventWorkflows');
    const signal = (n: number) => ({
      id: randomUUID(),
      name: 'workflow.signal.v1' as const,
      occurredAt: t.clock.now().toISOString(),
      workspaceId: ws,
      actorId: null,
      payload: { signal: 's', data: n, runId: randomUUID(), workflowId: randomUUID(), stepId: 'x' },
    });
    const started = await t.platform.database.orm.transaction(async (tx) => {
      const runs = [];
      for (let n = 0; n < 5; n++) runs.push(...(await engine.service.onEvent(signal(n), tx)));
      await engine.service.onEvent({ ...signal(9), name: 'workflow.run.started.v1' as never, payload: { runId: randomUUID(), workflowId: randomUUID(), workflowVersion: 1, trigger: 'manual' } as never }, tx);
      return runs;
    });
    // Five events, one name: one read; another name: one more.
    expect(reads).toHaveBeenCalledTimes(2);
    expect(started.map((r) => r.workflowId)).toEqual([wf, wf, wf, wf, wf]);
    // A new transaction reads again (a workflow disabled in between is not started any more).
    expect((await t.inject({ method: 'POST', url: `/v1/workspaces/${ws}/workflows/${wf}/disable`, headers: bearer(owner.token) })).statusCode).toBeLessThan(300);
    const later = await t.platform.database.orm.transaction((tx) => engine.service.onEvent(signal(6), tx));
    expect(reads).toHaveBeenCalledTimes(3);
    expect(later).toEqual([]);
  });

  it('reads the trigger sets of a whole delivery batch in one statement (every workspace and name in it) and starts the same runs as event by event', async () => {
    const ws = await createWorkspace(t, owner);
    const other = await createWorkspace(t, owner);
    const onSignal = await create(ws, { name: 'on-signal', trigger: { type: 'event', event: 'workflow.signal.v1' }, steps: [{ id: 't', type: 'transform', with: { expression: 'input.payload.data' } }] });
    const filtered = await create(ws, { name: 'on-big-signal', trigger: { type: 'event', event: 'workflow.signal.v1', filter: 'payload.data > 2' }, steps: [{ id: 't', type: 'transform', with: { expression: '1' } }] });
    const res = await t.inject({ method: 'POST', url: `/v1/workspaces/${other}/workflows`, headers: bearer(owner.token), payload: { name: 'elsewhere', trigger: { type: 'event', event: 'workflow.run.started.v1' }, steps: [{ id: 't', type: 'transform', with: { expression: '1' } }] } });
    expect(res.statusCode, res.body).toBe(201);
    const elsewhere = res.json().workflow.id as string;
    const each = vi.spyOn(WorkflowRepository.prototype, 'eventWorkflows');
    const batched = vi.spyOn(WorkflowRepository.prototype, 'eventWorkflowsOf');
    const event = (workspaceId: string, name: string, payload: object) => ({ id: randomUUID(), name: name as never, occurredAt: t.clock.now().toISOString(), workspaceId, actorId: null, payload: payload as never });
    const signal = (workspaceId: string, n: number) => event(workspaceId, 'workflow.signal.v1', { signal: 's', data: n, runId: randomUUID(), workflowId: randomUUID(), stepId: 'x' });
    const started = (workspaceId: string) => event(workspaceId, 'workflow.run.started.v1', { runId: randomUUID(), workflowId: randomUUID(), workflowVersion: 1, trigger: 'manual' });
    const batch = [signal(ws, 1), started(other), signal(ws, 3), started(ws), signal(other, 5), { ...signal(ws, 7), workspaceId: null }];
    await t.platform.database.orm.transaction((tx) => engine.service.onEvents(batch as never, tx));
    expect(batched).toHaveBeenCalledTimes(1);
    expect(each).not.toHaveBeenCalled();
    const runs = await t.platform.database.query<{ workflow_id: string; idempotency_key: string }>(
      'SELECT workflow_id, idempotency_key FROM workflow.runs WHERE workflow_id = ANY($1::uuid[]) ORDER BY created_at, idempotency_key',
      [[onSignal, filtered, elsewhere]],
    );
    const key = (e: { id: string }) => `event:${e.id}`;
    expect(runs.map((r) => `${r.workflow_id} ${r.idempotency_key}`).sort()).toEqual(
      [`${onSignal} ${key(batch[0]!)}`, `${onSignal} ${key(batch[2]!)}`, `${filtered} ${key(batch[2]!)}`, `${elsewhere} ${key(batch[1]!)}`].sort(),
    );
  });

  it('leaves alone a run cancelled between the read and the batch write (the write is the claim)', async () => {
    const ws = await createWorkspace(t, owner);
    const wf = await create(ws, pure);
    const ids = await Promise.all(Array.from({ length: 3 }, async (_, i) => (await startReq(ws, wf, { n: i })).json().run.id as string));
    const victim = ids[1]!;
    const original = WorkflowRepository.prototype.runsByIds;
    vi.spyOn(WorkflowRepository.prototype, 'runsByIds').mockImplementationOnce(async function (this: WorkflowRepository, runIds, ex) {
      const rows = await original.call(this, runIds, ex);
      // The rows say queued; by the time they are written, one was cancelled through the API.
      const res = await t.inject({ method: 'POST', url: `/v1/workspaces/${ws}/runs/${victim}/cancel`, headers: bearer(owner.token) });
      expect(res.statusCode, res.body).toBeLessThan(300);
      return rows;
    });

    await engine.executor.advanceMany(ids);

    const v = await getRun(ws, victim);
    expect(v.status).toBe('cancelled');
    expect(v.steps).toEqual([]);
    expect(await eventsOf(victim)).not.toContain('workflow.run.succeeded.v1');
    for (const id of [ids[0]!, ids[2]!]) expect((await getRun(ws, id)).status).toBe('succeeded');
  });

  it('remembers a webhook token per process, and the run insert itself rejects a token, version or state changed elsewhere', async () => {
    const ws = await createWorkspace(t, owner);
    const res = await t.inject({ method: 'POST', url: `/v1/workspaces/${ws}/workflows`, headers: bearer(owner.token), payload: { ...pure, name: 'hooked', trigger: { type: 'webhook' } } });
    expect(res.statusCode, res.body).toBe(201);
    const wf = res.json().workflow.id as string;
    const url = res.json().webhook.url as string;
    const lookups = vi.spyOn(WorkflowRepository.prototype, 'workflowByWebhook');
    const hook = () => t.inject({ method: 'POST', url, headers: { 'content-type': 'application/json' }, payload: '{"n": 1}' });
    const runsOf = async () => Number((await t.platform.database.query<{ n: string }>('SELECT count(*) AS n FROM workflow.runs WHERE workflow_id = $1', [wf]))[0]!.n);

    for (let i = 0; i < 3; i++) expect((await hook()).statusCode).toBe(202);
    // Read once, then served from the cache.
    expect(lookups).toHaveBeenCalledTimes(1);

    // Another process disables it (straight in the database, this process is not told): refused, nothing inserted.
    await t.platform.database.query('UPDATE workflow.workflows SET enabled = false WHERE id = $1', [wf]);
    const disabled = await hook();
    expect(disabled.statusCode, disabled.body).toBe(409);
    expect(await runsOf()).toBe(3);
    await t.platform.database.query('UPDATE workflow.workflows SET enabled = true WHERE id = $1', [wf]);
    expect((await hook()).statusCode).toBe(202);
    expect(await runsOf()).toBe(4);

    // Another process saves a new version answering on completion: the cached entry is stale and read again.
    await t.platform.database.query(
      `WITH w AS (UPDATE workflow.workflows SET current_version = current_version + 1 WHERE id = $1 RETURNING current_version)
       INSERT INTO workflow.versions (workflow_id, version, definition, created_at)
       SELECT $1, w.current_version, jsonb_set(v.definition, '{trigger}', '{"type": "webhook", "respond": "onCompletion", "responseTimeoutMs": 1}'::jsonb), now()
       FROM w, workflow.versions v WHERE v.workflow_id = $1 AND v.version = w.current_version - 1`,
      [wf],
    );
    const calls = lookups.mock.calls.length;
    const answered = await hook();
    expect([200, 202]).toContain(answered.statusCode);
    expect(lookups.mock.calls.length).toBe(calls + 1);
    const run = (await t.platform.database.query<{ version: number }>('SELECT version FROM workflow.runs WHERE id = $1', [answered.json().runId]))[0]!;
    expect(run.version).toBe(2);

    // Another process moves the webhook to a new token: the old one is gone at once.
    await t.platform.database.query("UPDATE workflow.workflows SET webhook_token_hash = 'rotated elsewhere' WHERE id = $1", [wf]);
    const before = await runsOf();
    const gone = await hook();
    expect(gone.statusCode, gone.body).toBe(404);
    expect(problem(gone).code).toBe('not_found');
    expect(await runsOf()).toBe(before);
  });

  it('finishes a webhook run of pure steps that waits for its result (respond: onCompletion) in the statement that inserts it, exactly once; any other run is queued', async () => {
    const ws = await createWorkspace(t, owner);
    const hookOf = async (def: object) => {
      const res = await t.inject({ method: 'POST', url: `/v1/workspaces/${ws}/workflows`, headers: bearer(owner.token), payload: def });
      expect(res.statusCode, res.body).toBe(201);
      return res.json().webhook.url as string;
    };
    const post = (url: string, payload: object) => t.inject({ method: 'POST', url, headers: { 'content-type': 'application/json' }, payload });
    const jobsOf = async (runIds: string[]) =>
      Number((await t.platform.database.query<{ n: string }>("SELECT count(*) AS n FROM pgboss.job WHERE name = 'workflow-run' AND data->>'runId' = ANY($1::text[])", [runIds]))[0]!.n);
    const answering = await hookOf({ ...pure, name: 'answers', trigger: { type: 'webhook', respond: 'onCompletion', responseTimeoutMs: 300 } });

    // The queue is not started here (nothing drains): the answers can only come from the start's own statement.
    expect((await post(answering, { n: -1 })).statusCode).toBe(200); // the token's lookup, once
    const inserted = vi.spyOn(WorkflowRepository.prototype, 'insertFinishedRuns');
    const queuedInserts = vi.spyOn(WorkflowRepository.prototype, 'insertRuns');
    const statements = vi.spyOn(t.platform.database.orm, 'execute');
    const transactions = vi.spyOn(t.platform.database.orm, 'transaction');
    const answers = await Promise.all(Array.from({ length: 12 }, (_, i) => post(answering, { n: i })));
    for (const [i, a] of answers.entries()) {
      expect(a.statusCode, a.body).toBe(200);
      expect(a.json()).toMatchObject({ status: 'succeeded', output: { signal: 'batch.done', data: i * 2 }, error: null });
    }
    expect(inserted.mock.calls.length).toBeLessThan(12); // still group-committed
    // One statement per batch, committed on its own: no transaction, no queued insert, nothing else.
    expect(statements).toHaveBeenCalledTimes(inserted.mock.calls.length);
    expect(transactions).not.toHaveBeenCalled();
    expect(queuedInserts).not.toHaveBeenCalled();
    statements.mockRestore();
    transactions.mockRestore();
    // The runs it returns (the statement reads back only id and output, ADR 0099) are the rows as stored: every field, in jsonb's key order.
    const returned = (await Promise.all(inserted.mock.results.map((r) => r.value as Promise<RunRow[]>))).flat();
    expect(returned).toHaveLength(12);
    for (const r of returned) {
      const stored = await WorkflowRepository.prototype.runById.call(inserted.mock.contexts[0], r.id);
      expect(r).toEqual(stored);
      expect(JSON.stringify(r)).toBe(JSON.stringify(stored));
    }
    const ids = answers.map((a) => a.json().runId as string);
    for (const [i, id] of ids.entries()) {
      const run = await getRun(ws, id);
      // The answer is the run as stored.
      expect(run).toMatchObject({ status: 'succeeded', output: { signal: 'batch.done', data: i * 2 }, trigger: 'webhook' });
      expect(run.steps.map((s: { stepId: string; status: string }) => `${s.stepId}:${s.status}`)).toEqual(['t:succeeded', 'c:succeeded', 'e:succeeded']);
      expect(await eventsOf(id)).toEqual(['workflow.run.started.v1', 'workflow.signal.v1', 'workflow.run.succeeded.v1']);
    }
    // Finished with their start: no queue wake-up, and a later sweep finds nothing to do.
    expect(await jobsOf(ids)).toBe(0);
    await engine.executor.drain();
    for (const id of ids) expect(await eventsOf(id)).toHaveLength(3);

    // A run that cannot be finished in memory (its expression fails) is queued, with its wake-up, and the queue fails it as before.
    const failing = await hookOf({ name: 'fails', trigger: { type: 'webhook', respond: 'onCompletion', responseTimeoutMs: 300 }, steps: [{ id: 'boom', type: 'transform', with: { expression: '$error("no")' } }] });
    const late = await post(failing, {});
    expect(late.statusCode, late.body).toBe(202);
    expect(late.json().status).toBe('queued');
    expect(await jobsOf([late.json().runId])).toBe(1);
    await engine.executor.drain();
    expect((await getRun(ws, late.json().runId)).status).toBe('failed');

    // When inserting the finished runs fails, the starts are written again on their own and queued: nothing is lost, and the queue runs them once.
    vi.spyOn(WorkflowRepository.prototype, 'insertFinishedRuns').mockRejectedValueOnce(new Error('boom'));
    const retried = await post(answering, { n: 50 });
    expect(retried.statusCode, retried.body).toBe(202);
    const id = retried.json().runId as string;
    expect(await jobsOf([id])).toBe(1);
    await engine.executor.drain();
    expect(await getRun(ws, id)).toMatchObject({ status: 'succeeded', output: { signal: 'batch.done', data: 100 } });
    expect(await eventsOf(id)).toEqual(['workflow.run.started.v1', 'workflow.signal.v1', 'workflow.run.succeeded.v1']);
  });

  it('a webhook run finished in its insert: a repeated Idempotency-Key answers the first run and writes nothing more, a disabled workflow writes nothing, and it computes from its input as stored', async () => {
    const ws = await createWorkspace(t, owner);
    const res = await t.inject({ method: 'POST', url: `/v1/workspaces/${ws}/workflows`, headers: bearer(owner.token), payload: { ...pure, name: 'keyed', trigger: { type: 'webhook', respond: 'onCompletion' } } });
    expect(res.statusCode, res.body).toBe(201);
    const wf = res.json().workflow.id as string;
    const url = res.json().webhook.url as string;
    const post = (payload: object, key?: string) => t.inject({ method: 'POST', url, headers: { 'content-type': 'application/json', ...(key ? { 'idempotency-key': key } : {}) }, payload });
    const count = async (table: string, where: string) => Number((await t.platform.database.query<{ n: string }>(`SELECT count(*) AS n FROM ${table} WHERE ${where}`, [wf]))[0]!.n);
    const rows = async () => ({
      runs: await count('workflow.runs', 'workflow_id = $1'),
      attempts: await count('workflow.step_attempts a JOIN workflow.runs r ON r.id = a.run_id', 'r.workflow_id = $1'),
      events: await count('kernel.outbox', "payload->>'workflowId' = $1::text OR payload->>'runId' IN (SELECT id::text FROM workflow.runs WHERE workflow_id = $1::text::uuid)"),
    });
    const finished = vi.spyOn(WorkflowRepository.prototype, 'insertFinishedRuns');

    // The same key twice in one batch and once more later: one run, one set of attempts and events; every caller gets that run.
    const first = await Promise.all([post({ n: 1 }, 'k1'), post({ n: 2 }, 'k1')]);
    const again = await post({ n: 3 }, 'k1');
    const runIds = new Set([...first, again].map((r) => r.json().runId as string));
    expect(runIds.size).toBe(1);
    for (const r of [...first, again]) {
      expect(r.statusCode, r.body).toBe(200);
      expect(r.json().status).toBe('succeeded');
    }
    expect(finished).toHaveBeenCalled();
    expect(await rows()).toEqual({ runs: 1, attempts: 3, events: 3 });

    // Finished and queued starts in one batch: the statement and the queued starts' transaction run side by side, each caller gets its own answer.
    const manual = await create(ws, { ...pure, name: 'manual' });
    const mixed = await Promise.all([...Array.from({ length: 4 }, (_, i) => post({ n: 10 + i })), ...Array.from({ length: 4 }, (_, i) => startReq(ws, manual, { n: 20 + i }))]);
    for (const [i, r] of mixed.slice(0, 4).entries()) expect(r.json(), r.body).toMatchObject({ status: 'succeeded', output: { signal: 'batch.done', data: (10 + i) * 2 } });
    for (const r of mixed.slice(4)) expect(r.json().run?.status, r.body).toBe('queued');
    await engine.executor.drain();
    for (const [i, r] of mixed.slice(4).entries()) expect(await getRun(ws, r.json().run.id)).toMatchObject({ status: 'succeeded', output: { signal: 'batch.done', data: (20 + i) * 2 } });
    expect(await rows()).toEqual({ runs: 5, attempts: 15, events: 15 });

    // Disabled elsewhere (this process still has the token cached): refused, nothing written.
    await t.platform.database.query('UPDATE workflow.workflows SET enabled = false WHERE id = $1', [wf]);
    const refused = await post({ n: 4 });
    expect(refused.statusCode, refused.body).toBe(409);
    expect(await rows()).toEqual({ runs: 5, attempts: 15, events: 15 });
    await t.platform.database.query('UPDATE workflow.workflows SET enabled = true WHERE id = $1', [wf]);

    // Computed before it is stored, the run sees its input as a queued run reads it back (jsonb's key order).
    const keys = { name: 'keys', steps: [{ id: 'k', type: 'transform', with: { expression: '$keys(input)' } }] };
    const waits = await t.inject({ method: 'POST', url: `/v1/workspaces/${ws}/workflows`, headers: bearer(owner.token), payload: { ...keys, trigger: { type: 'webhook', respond: 'onCompletion' } } });
    const queues = await t.inject({ method: 'POST', url: `/v1/workspaces/${ws}/workflows`, headers: bearer(owner.token), payload: { ...keys, name: 'keys queued', trigger: { type: 'webhook' } } });
    const body = '{"zz": 1, "a": 2, "é": 3, "b": {"yy": 1, "x": 2}}';
    const answered = await t.inject({ method: 'POST', url: waits.json().webhook.url, headers: { 'content-type': 'application/json' }, payload: body });
    expect(answered.statusCode, answered.body).toBe(200);
    const queued = await t.inject({ method: 'POST', url: queues.json().webhook.url, headers: { 'content-type': 'application/json' }, payload: body });
    expect(queued.statusCode, queued.body).toBe(202);
    await engine.executor.drain();
    const stored = await getRun(ws, queued.json().runId);
    expect(stored.status).toBe('succeeded');
    expect(answered.json().output).toEqual(stored.output);
    expect(answered.json().output).toEqual(['a', 'b', 'zz', 'é']);
  });

  it('finishes a respond: immediately webhook run of pure steps with its start when embedded: 202 after the commit, exactly once, the same steps and events as the queue; any other run is queued', async () => {
    const embedded = t.platform.database.kind === 'pglite';
    const ws = await createWorkspace(t, owner);
    const hookOf = async (def: object) => {
      const res = await t.inject({ method: 'POST', url: `/v1/workspaces/${ws}/workflows`, headers: bearer(owner.token), payload: def });
      expect(res.statusCode, res.body).toBe(201);
      return res.json().webhook.url as string;
    };
    const post = (url: string, payload: object) => t.inject({ method: 'POST', url, headers: { 'content-type': 'application/json' }, payload });
    const jobsOf = async (runIds: string[]) =>
      Number((await t.platform.database.query<{ n: string }>("SELECT count(*) AS n FROM pgboss.job WHERE name = 'workflow-run' AND data->>'runId' = ANY($1::text[])", [runIds]))[0]!.n);
    const immediate = await hookOf({ ...pure, name: 'immediate', trigger: { type: 'webhook' } });

    // The queue is not started here (nothing drains): a finished run can only come from the start's own transaction.
    // Queued starts go through insertRuns, finished ones through insertFinishedRuns (ADR 0077).
    const inserted = vi.spyOn(WorkflowRepository.prototype, 'insertRuns');
    const insertedFinished = vi.spyOn(WorkflowRepository.prototype, 'insertFinishedRuns');
    const answers = await Promise.all(Array.from({ length: 12 }, (_, i) => post(immediate, { n: i })));
    for (const a of answers) {
      expect(a.statusCode, a.body).toBe(202);
      // On PostgreSQL the run is queued as before (ADR 0076: the queued path is as fast there).
      expect(a.json()).toEqual({ runId: expect.any(String), status: embedded ? 'succeeded' : 'queued' });
    }
    // Still group-committed: fewer inserts than starts, each through the path its runs take.
    const inserts = inserted.mock.calls.length + insertedFinished.mock.calls.length;
    expect(inserts).toBeGreaterThan(0);
    expect(inserts).toBeLessThan(12);
    expect(embedded ? insertedFinished : inserted).toHaveBeenCalled();
    const ids = answers.map((a) => a.json().runId as string);
    expect(await jobsOf(ids)).toBe(embedded ? 0 : 12);
    if (!embedded) await engine.executor.drain();
    for (const [i, id] of ids.entries()) {
      expect(await getRun(ws, id)).toMatchObject({ status: 'succeeded', output: { signal: 'batch.done', data: i * 2 }, trigger: 'webhook' });
      const run = await getRun(ws, id);
      expect(run.steps.map((s: { stepId: string; status: string; attempt: number }) => `${s.stepId}:${s.status}:${s.attempt}`)).toEqual(['t:succeeded:1', 'c:succeeded:1', 'e:succeeded:1']);
      expect(await eventsOf(id)).toEqual(['workflow.run.started.v1', 'workflow.signal.v1', 'workflow.run.succeeded.v1']);
    }
    await engine.executor.drain();
    for (const id of ids) expect(await eventsOf(id)).toHaveLength(3);

    // A run that fails is queued with its wake-up (its failure is written step by step, retries as configured), and the queue fails it as before.
    const failing = await hookOf({ name: 'fails', trigger: { type: 'webhook' }, steps: [{ id: 'boom', type: 'transform', with: { expression: '$error("no")' } }] });
    const late = await post(failing, {});
    expect(late.statusCode, late.body).toBe(202);
    expect(late.json().status).toBe('queued');
    expect(await jobsOf([late.json().runId])).toBe(1);
    await engine.executor.drain();
    expect((await getRun(ws, late.json().runId)).status).toBe('failed');

    // A step that is not pure (a delay) queues the run as before.
    const waits = await hookOf({ name: 'waits', trigger: { type: 'webhook' }, steps: [{ id: 'd', type: 'delay', with: { ms: 60_000 } }] });
    const waiting = await post(waits, {});
    expect(waiting.statusCode, waiting.body).toBe(202);
    expect(waiting.json().status).toBe('queued');
    expect(await jobsOf([waiting.json().runId])).toBe(1);

    if (!embedded) return;
    // When finishing in the start's transaction fails, the start is written again on its own and queued: nothing is lost, and the queue runs it once.
    vi.spyOn(engine.executor, 'finishStarted').mockRejectedValueOnce(new Error('boom'));
    const retried = await post(immediate, { n: 50 });
    expect(retried.statusCode, retried.body).toBe(202);
    expect(retried.json().status).toBe('queued');
    const id = retried.json().runId as string;
    expect(await jobsOf([id])).toBe(1);
    await engine.executor.drain();
    expect(await getRun(ws, id)).toMatchObject({ status: 'succeeded', output: { signal: 'batch.done', data: 100 } });
    expect(await eventsOf(id)).toEqual(['workflow.run.started.v1', 'workflow.signal.v1', 'workflow.run.succeeded.v1']);
  });

  it('refuses a webhook that would queue a run while its workspace\'s oldest queued run has waited longer than the bound (503 workflow_queue_full, Retry-After), and accepts again once the queue caught up', async () => {
    const ws = await createWorkspace(t, owner);
    const other = await createWorkspace(t, owner);
    const hookIn = async (workspace: string, def: object) => {
      const res = await t.inject({ method: 'POST', url: `/v1/workspaces/${workspace}/workflows`, headers: bearer(owner.token), payload: def });
      expect(res.statusCode, res.body).toBe(201);
      return res.json().webhook.url as string;
    };
    const post = (url: string, payload: object) => t.inject({ method: 'POST', url, headers: { 'content-type': 'application/json' }, payload });
    // A concurrency limit keeps the run off the in-start finish (ADR 0076): it is queued.
    const queued = await hookIn(ws, { ...pure, name: 'queued', concurrency: 10, trigger: { type: 'webhook' } });
    const elsewhere = await hookIn(other, { ...pure, name: 'elsewhere', trigger: { type: 'webhook' } });
    const answering = await hookIn(ws, { ...pure, name: 'answers', trigger: { type: 'webhook', respond: 'onCompletion' } });
    const runsIn = async (workspace: string) => Number((await t.platform.database.query<{ n: string }>('SELECT count(*) AS n FROM workflow.runs WHERE workspace_id = $1', [workspace]))[0]!.n);

    const first = await post(queued, { n: 1 });
    expect(first.statusCode, first.body).toBe(202);
    // Nothing advances the queue here: the run waits, and past the bound (default 2,000 ms) the next start is refused.
    t.clock.advance(2_500);
    const before = await runsIn(ws);
    const refused = await post(queued, { n: 2 });
    expect(refused.statusCode, refused.body).toBe(503);
    expect(problem(refused).code).toBe('workflow_queue_full');
    expect(refused.headers['retry-after']).toBe('1');
    expect(await runsIn(ws)).toBe(before);
    // Another workspace's webhooks are not held up, nor a webhook that waits for its result (it never queues).
    expect((await post(elsewhere, { n: 3 })).statusCode).toBe(202);
    const answered = await post(answering, { n: 4 });
    expect(answered.statusCode, answered.body).toBe(200);
    expect(answered.json().output).toEqual({ signal: 'batch.done', data: 8 });

    // Once the queue has run the old run, the workspace's webhooks are accepted again (the ages are read again after 250 ms).
    await engine.executor.drain();
    expect((await getRun(ws, first.json().runId)).status).toBe('succeeded');
    t.clock.advance(300);
    expect((await post(queued, { n: 5 })).statusCode).toBe(202);
  });
});
