import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { WorkflowEngineInstance } from '../../src/services/workflow-engine/index.js';
import { bearer, type TestUser } from '../helpers/api.js';
import type { TestPlatform } from '../helpers/platform.js';
import type { Fakes } from '../integration-hub/fakes.js';
import { startHubFixture } from '../integration-hub/hub-fixture.js';

/**
 * The integration step passes its attempt's idempotency key to the integration-hub's runAction:
 * a run taken over after its worker died (the action done, its result not yet recorded) gets the
 * hub's first result instead of a second action. Driven by the ManualClock through executor.drain().
 */
describe('workflow integration step idempotency', () => {
  let t: TestPlatform;
  let f: Fakes;
  let owner: TestUser;
  let ws: string;
  let fixture: Awaited<ReturnType<typeof startHubFixture>>;
  let engine: WorkflowEngineInstance;

  beforeAll(async () => {
    fixture = await startHubFixture('Workflow');
    ({ f, t, owner, ws } = fixture);
    engine = t.platform.instances.get('workflow-engine') as WorkflowEngineInstance;
  }, 60_000);
  afterAll(async () => {
    await fixture?.close();
  });

  /** A GitHub connection to the fakes (with `extra` fields such as name and rateLimit) and a one-step workflow filing an issue through it. */
  const issueWorkflow = async (name: string, extra: object) => {
    const conn = await t.inject({
      method: 'POST',
      url: `/v1/workspaces/${ws}/connections`,
      headers: bearer(owner.token),
      payload: { connector: 'github', credentials: { type: 'token', token: 'ghp_abc' }, config: { owner: 'o', repo: 'r', baseUrl: `${f.base}/gh` }, ...extra },
    });
    expect(conn.statusCode, conn.body).toBe(201);
    const connectionId = conn.json().connection.id as string;
    const wf = await t.inject({
      method: 'POST',
      url: `/v1/workspaces/${ws}/workflows`,
      headers: bearer(owner.token),
      payload: { name, steps: [{ id: 'issue', type: 'integration', with: { connectionId, action: 'createIssue', input: { title: '=input.title' } } }] },
    });
    expect(wf.statusCode, wf.body).toBe(201);
    return wf.json().workflow.id as string;
  };
  const startRun = async (workflowId: string, title: string) =>
    (await t.inject({ method: 'POST', url: `/v1/workspaces/${ws}/workflows/${workflowId}/runs`, headers: bearer(owner.token), payload: { input: { title } } })).json().run.id as string;
  const getRun = async (runId: string) => (await t.inject({ method: 'GET', url: `/v1/workspaces/${ws}/runs/${runId}`, headers: bearer(owner.token) })).json().run;
  const issueCalls = () => f.calls.filter((c) => c.method === 'POST' && c.path === '/gh/repos/o/r/issues').length;
  /** The database as a worker leaves it when it dies during the step: attempt running, run leased by the dead worker. */
  const rewindToDeadWorker = async (runId: string) => {
    await t.platform.database.query("UPDATE workflow.step_attempts SET status = 'running', output = NULL, finished_at = NULL WHERE run_id = $1", [runId]);
    await t.platform.database.query(
      "UPDATE workflow.runs SET status = 'running', current_step = 'issue', step_attempt = 1, outputs = '{}'::jsonb, output = NULL, finished_at = NULL, wait = NULL, lease_owner = 'dead-worker', lease_until = $2 WHERE id = $1",
      [runId, new Date(t.clock.now().getTime() + 10_000).toISOString()],
    );
  };

  it('a taken-over integration attempt with the same key does not run the action twice', async () => {
    const workflowId = await issueWorkflow('file an issue', { name: 'gh' });
    const runId = await startRun(workflowId, 'Once');
    await engine.executor.drain();
    const first = await getRun(runId);
    expect(first.status).toBe('succeeded');
    expect(first.output).toEqual({ number: expect.any(Number), url: expect.stringContaining('/issues/') });
    expect(issueCalls()).toBe(1);
    const key = first.steps[0].idempotencyKey as string;
    const [claim] = await t.platform.database.query<{ status: string; action: string }>("SELECT status, action FROM integration_hub.publications WHERE kind = 'action' AND idempotency_key = $1", [key]);
    expect(claim).toEqual({ status: 'confirmed', action: 'createIssue' });

    // The worker died after the action, before recording it: the takeover repeats the attempt with the same key.
    await rewindToDeadWorker(runId);
    expect(await engine.executor.drain()).toBe(0);
    t.clock.advance(10_001);
    await engine.executor.drain();
    const again = await getRun(runId);
    expect(again.status).toBe('succeeded');
    expect(again.takeovers).toBe(1);
    expect(again.output).toEqual(first.output);
    expect(again.steps.map((s: { attempt: number; status: string; idempotencyKey: string }) => `${s.attempt}:${s.status}:${s.idempotencyKey}`)).toEqual([`1:succeeded:${key}`]);
    expect(issueCalls()).toBe(1);

    // The worker died during the action (the hub's claim on the key is still pending): the attempt
    // waits, with the same key and without using up an attempt, until the hub resolves the claim.
    await rewindToDeadWorker(runId);
    await t.platform.database.query("UPDATE integration_hub.publications SET status = 'pending', confirmed_at = NULL, claimed_at = $2 WHERE kind = 'action' AND idempotency_key = $1", [key, t.clock.now().toISOString()]);
    t.clock.advance(10_001);
    await engine.executor.drain();
    const waiting = await getRun(runId);
    expect(waiting.status).toBe('running');
    expect(waiting.wait).toMatchObject({ kind: 'retry', stepId: 'issue' });
    expect(waiting.stepAttempt).toBe(1);
    expect(waiting.steps.map((s: { attempt: number; status: string }) => `${s.attempt}:${s.status}`)).toEqual(['1:running']);
    expect(issueCalls()).toBe(1);
    t.clock.advance(30_000);
    await engine.executor.drain();
    expect((await getRun(runId)).status).toBe('running');
    expect(issueCalls()).toBe(1);
    // The hub retakes a pending claim after 10 minutes (it cannot know whether the dead call reached
    // the provider): only then is the action run again, still as attempt 1 with the same key.
    t.clock.advance(10 * 60_000);
    await engine.executor.drain();
    const done = await getRun(runId);
    expect(done.status).toBe('succeeded');
    expect(done.steps.map((s: { attempt: number; status: string; idempotencyKey: string }) => `${s.attempt}:${s.status}:${s.idempotencyKey}`)).toEqual([`1:succeeded:${key}`]);
    expect(issueCalls()).toBe(2);
  });
  it("an action refused by the connection's own rate limit waits for its token with the same key, without using an attempt", async () => {
    // One request a minute on this connection.
    const workflowId = await issueWorkflow('paced issues', { name: 'slow gh', rateLimit: { requests: 1, windowSeconds: 60 } });
    const start = (title: string) => startRun(workflowId, title);
    const before = issueCalls();
    const a = await start('first');
    await engine.executor.drain();
    expect((await getRun(a)).status).toBe('succeeded');
    const b = await start('second');
    await engine.executor.drain();
    const held = await getRun(b);
    expect(held.status).toBe('running');
    expect(held.wait).toMatchObject({ kind: 'retry', stepId: 'issue' });
    // Due when the bucket has a token again (about a minute), not at the step's retry backoff.
    const due = Date.parse(held.wait.until) - t.clock.now().getTime();
    expect(due).toBeGreaterThan(30_000);
    expect(due).toBeLessThanOrEqual(61_000);
    expect(held.steps.map((s: { attempt: number; status: string }) => `${s.attempt}:${s.status}`)).toEqual(['1:running']);
    expect(issueCalls()).toBe(before + 1);
    t.clock.set(held.wait.until);
    await engine.executor.drain();
    const done = await getRun(b);
    expect(done.status, JSON.stringify(done.steps)).toBe('succeeded');
    expect(done.steps.map((s: { attempt: number; status: string; idempotencyKey: string }) => `${s.attempt}:${s.status}:${s.idempotencyKey}`)).toEqual([`1:succeeded:${held.steps[0].idempotencyKey}`]);
    expect(issueCalls()).toBe(before + 2);
  });
});
