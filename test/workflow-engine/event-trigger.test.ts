import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { EventEnvelope, NewEvent } from '../../src/kernel/events/index.js';
import { TRIGGER_CONSUMER_GROUP, type WorkflowEngineInstance } from '../../src/services/workflow-engine/index.js';
import { bearer, createWorkspace, problem, signup, type TestUser } from '../helpers/api.js';
import { createTestPlatform, type TestPlatform } from '../helpers/platform.js';
import { waitFor } from '../events/poll.js';

/**
 * The `event` trigger end to end: events published through the transactional outbox (as a service
 * publishes them, inside its business transaction) reach the workflow-engine's consumer group,
 * which starts matching workflows in the event's workspace. Runs on PGlite (one connection: the
 * handler must do everything in the delivery transaction) and on PostgreSQL.
 */
describe('workflow-engine event trigger', () => {
  let t: TestPlatform;
  let alice: TestUser;
  let bob: TestUser;
  let wsA: string;
  let wsB: string;

  beforeAll(async () => {
    t = await createTestPlatform({ V01T_EVENT_POLL_MS: '20', WORKFLOW_POLL_SECONDS: '0.5' });
    await t.platform.startServices();
    alice = await signup(t, 'Alice');
    bob = await signup(t, 'Bob');
    wsA = await createWorkspace(t, alice, 'A');
    wsB = await createWorkspace(t, bob, 'B');
  });
  afterAll(async () => {
    await t?.close();
  });

  const create = async (ws: string, user: TestUser, def: unknown) => t.inject({ method: 'POST', url: `/v1/workspaces/${ws}/workflows`, headers: bearer(user.token), payload: def as object });
  const runsOf = async (ws: string, user: TestUser, workflowId: string) =>
    (await t.inject({ method: 'GET', url: `/v1/workspaces/${ws}/runs?workflowId=${workflowId}`, headers: bearer(user.token) })).json().runs as { id: string; status: string; trigger: string }[];
  const getRun = async (ws: string, user: TestUser, runId: string) => (await t.inject({ method: 'GET', url: `/v1/workspaces/${ws}/runs/${runId}`, headers: bearer(user.token) })).json().run;

  /** Publishes through the outbox inside a transaction, as a service does with its business write. */
  const publish = async <N extends NewEvent['name']>(event: NewEvent<N>): Promise<EventEnvelope<N>> =>
    t.platform.database.orm.transaction(async (tx) => t.platform.events.publish(event, tx));
  /** Waits until the trigger consumer group has handled the event (its delivery row committed). */
  const delivered = (eventId: string) =>
    waitFor(async () => (await t.platform.database.query('SELECT 1 FROM kernel.event_deliveries WHERE group_name = $1 AND event_id = $2', [TRIGGER_CONSUMER_GROUP, eventId])).length > 0, {
      timeoutMs: 20_000,
      what: `event ${eventId} handled by ${TRIGGER_CONSUMER_GROUP}`,
    });
  /** Waits until the trigger group has handled every event published so far. */
  const quiesce = () =>
    waitFor(
      async () =>
        (
          await t.platform.database.query(
            'SELECT 1 FROM kernel.outbox o WHERE NOT EXISTS (SELECT 1 FROM kernel.event_deliveries d WHERE d.group_name = $1 AND d.event_id = o.id) LIMIT 1',
            [TRIGGER_CONSUMER_GROUP],
          )
        ).length === 0,
      { timeoutMs: 30_000, what: 'every event handled by the trigger group' },
    );
  const settle = (ws: string, user: TestUser, runId: string) =>
    waitFor(async () => {
      const r = await getRun(ws, user, runId);
      return ['succeeded', 'failed', 'cancelled', 'timed_out'].includes(r.status) ? r : null;
    }, { timeoutMs: 30_000, what: `run ${runId} to finish` });

  const trigger = { type: 'event', event: 'content.post.published.v1', filter: 'payload.channel = "mastodon"' };
  const steps = [{ id: 'post', type: 'transform', with: { expression: '{"post": input.payload.postId, "event": input.name}' } }];

  it('rejects unknown event names and bad filters with pointed errors', async () => {
    const unknown = problem(await create(wsA, alice, { name: 'x', trigger: { type: 'event', event: 'content.post.exploded.v1' }, steps }));
    expect(unknown.code).toBe('validation_failed');
    expect(unknown.errors).toEqual([{ path: 'trigger.event', message: expect.stringMatching(/unknown event name "content\.post\.exploded\.v1".*content\.post\.published\.v1/) }]);
    const badFilter = problem(await create(wsA, alice, { name: 'x', trigger: { type: 'event', event: 'content.post.published.v1', filter: 'payload.(' }, steps }));
    expect(badFilter.errors!.map((e) => e.path)).toEqual(['trigger.filter']);
    expect(badFilter.errors![0]!.message).toMatch(/invalid JSONata/);
    const missing = problem(await create(wsA, alice, { name: 'x', trigger: { type: 'event' }, steps }));
    expect(missing.errors!.map((e) => e.path)).toEqual(['trigger.event']);
  });

  it('starts a run per matching enabled workflow of the event workspace, once per event, with the event as input', async () => {
    const a = (await create(wsA, alice, { name: 'on mastodon post', trigger, steps })).json().workflow;
    expect(a.triggerType).toBe('event');
    expect(a.triggerEvent).toBe('content.post.published.v1');
    const disabled = (await create(wsA, alice, { name: 'disabled', trigger: { type: 'event', event: 'content.post.published.v1' }, steps })).json().workflow;
    expect((await t.inject({ method: 'POST', url: `/v1/workspaces/${wsA}/workflows/${disabled.id}/disable`, headers: bearer(alice.token) })).statusCode).toBe(200);
    const other = (await create(wsA, alice, { name: 'other event', trigger: { type: 'event', event: 'content.post.failed.v1' }, steps })).json().workflow;
    const b = (await create(wsB, bob, { name: 'B on any post', trigger: { type: 'event', event: 'content.post.published.v1' }, steps })).json().workflow;

    // A matching event of workspace A.
    const e1 = await publish({ name: 'content.post.published.v1', workspaceId: wsA, payload: { postId: 'p-1', channel: 'mastodon' } });
    await delivered(e1.id);
    const runsA = await runsOf(wsA, alice, a.id);
    expect(runsA).toHaveLength(1);
    const run = await settle(wsA, alice, runsA[0]!.id);
    expect(run.status).toBe('succeeded');
    expect(run.trigger).toBe('event');
    expect(run.triggerRef).toEqual({ type: 'event', eventId: e1.id, eventName: 'content.post.published.v1', occurredAt: e1.occurredAt });
    expect(run.input).toMatchObject({ id: e1.id, name: 'content.post.published.v1', workspaceId: wsA, payload: { postId: 'p-1', channel: 'mastodon' } });
    expect(run.output).toEqual({ post: 'p-1', event: 'content.post.published.v1' });
    expect(run.steps.map((s: { stepId: string; status: string }) => `${s.stepId}:${s.status}`)).toEqual(['post:succeeded']);
    // Listed by the runs API of workspace A.
    const listed = (await t.inject({ method: 'GET', url: `/v1/workspaces/${wsA}/runs`, headers: bearer(alice.token) })).json().runs as { id: string }[];
    expect(listed.map((r) => r.id)).toContain(run.id);
    // Not the disabled workflow, not the workflow of another event name, not workspace B's workflow.
    expect(await runsOf(wsA, alice, disabled.id)).toHaveLength(0);
    expect(await runsOf(wsA, alice, other.id)).toHaveLength(0);
    expect(await runsOf(wsB, bob, b.id)).toHaveLength(0);

    // A filter that is false starts nothing.
    const e2 = await publish({ name: 'content.post.published.v1', workspaceId: wsA, payload: { postId: 'p-2', channel: 'discord' } });
    await delivered(e2.id);
    expect(await runsOf(wsA, alice, a.id)).toHaveLength(1);

    // The same event delivered again (as after a lost delivery record) starts no second run.
    const engine = t.platform.instances.get('workflow-engine') as WorkflowEngineInstance;
    const again = await t.platform.database.orm.transaction(async (tx) => engine.service.onEvent(e1 as EventEnvelope, tx));
    expect(again).toEqual([]);
    expect(await runsOf(wsA, alice, a.id)).toHaveLength(1);

    // An event of workspace B starts B's workflow and never A's.
    const e3 = await publish({ name: 'content.post.published.v1', workspaceId: wsB, payload: { postId: 'p-3', channel: 'mastodon' } });
    await delivered(e3.id);
    const runsB = await runsOf(wsB, bob, b.id);
    expect(runsB).toHaveLength(1);
    expect((await settle(wsB, bob, runsB[0]!.id)).output).toEqual({ post: 'p-3', event: 'content.post.published.v1' });
    expect(await runsOf(wsA, alice, a.id)).toHaveLength(1);
    // Workspace A cannot read B's event-started run.
    expect((await t.inject({ method: 'GET', url: `/v1/workspaces/${wsA}/runs/${runsB[0]!.id}`, headers: bearer(alice.token) })).statusCode).toBe(404);

    // Re-enabled, the workflow reacts to the next event; a new version without the trigger does not.
    expect((await t.inject({ method: 'POST', url: `/v1/workspaces/${wsA}/workflows/${disabled.id}/enable`, headers: bearer(alice.token) })).statusCode).toBe(200);
    const e4 = await publish({ name: 'content.post.published.v1', workspaceId: wsA, payload: { postId: 'p-4', channel: 'bluesky' } });
    await delivered(e4.id);
    expect(await runsOf(wsA, alice, disabled.id)).toHaveLength(1);
    const put = await t.inject({ method: 'PUT', url: `/v1/workspaces/${wsA}/workflows/${disabled.id}`, headers: bearer(alice.token), payload: { name: 'manual now', steps } });
    expect(put.statusCode).toBe(200);
    expect(put.json().workflow.triggerType).toBe('manual');
    const e5 = await publish({ name: 'content.post.published.v1', workspaceId: wsA, payload: { postId: 'p-5', channel: 'bluesky' } });
    await delivered(e5.id);
    expect(await runsOf(wsA, alice, disabled.id)).toHaveLength(1);
  });

  it('never starts a workflow from its own run events, and stops a cycle of workflows started by each other', async () => {
    await quiesce();
    // Listens to every succeeded run of the workspace: its own success must not start it again.
    const self = (await create(wsB, bob, { name: 'after any run', trigger: { type: 'event', event: 'workflow.run.succeeded.v1' }, steps: [{ id: 'w', type: 'transform', with: { expression: 'input.payload.workflowId' } }] })).json().workflow;
    const first = await t.inject({ method: 'POST', url: `/v1/workspaces/${wsB}/workflows/${self.id}/runs`, headers: bearer(bob.token), payload: {} });
    const firstRun = await settle(wsB, bob, first.json().run.id);
    expect(firstRun.status).toBe('succeeded');
    const [succeeded] = await t.platform.database.query<{ id: string }>("SELECT id FROM kernel.outbox WHERE name = 'workflow.run.succeeded.v1' AND payload->>'runId' = $1", [firstRun.id]);
    await delivered(succeeded!.id);
    expect(await runsOf(wsB, bob, self.id)).toHaveLength(1);

    // A second workflow started by the first one's success: now each starts the other, a cycle that
    // must stop after MAX_EVENT_CHAIN_DEPTH (8) event hops: runs at depth 0..8, alternating.
    const other = (
      await create(wsB, bob, { name: 'after self', trigger: { type: 'event', event: 'workflow.run.succeeded.v1', filter: `payload.workflowId = "${self.id}"` }, steps: [{ id: 'w', type: 'transform', with: { expression: '1' } }] })
    ).json().workflow;
    await t.inject({ method: 'POST', url: `/v1/workspaces/${wsB}/workflows/${self.id}/runs`, headers: bearer(bob.token), payload: {} });
    await waitFor(async () => (await runsOf(wsB, bob, self.id)).length + (await runsOf(wsB, bob, other.id)).length >= 1 + 9, { timeoutMs: 60_000, what: 'the cycle to run 9 times' });
    await waitFor(async () => (await t.platform.database.query("SELECT 1 FROM workflow.runs WHERE status NOT IN ('succeeded') AND workspace_id = $1", [wsB])).length === 0, { timeoutMs: 30_000, what: 'all runs to finish' });
    await quiesce();
    const depths = await t.platform.database.query<{ workflow_id: string; chain_depth: number }>('SELECT workflow_id, chain_depth FROM workflow.runs WHERE workflow_id IN ($1, $2) ORDER BY chain_depth', [self.id, other.id]);
    expect(depths.filter((d) => d.workflow_id === self.id).map((d) => Number(d.chain_depth))).toEqual([0, 0, 2, 4, 6, 8]);
    expect(depths.filter((d) => d.workflow_id === other.id).map((d) => Number(d.chain_depth))).toEqual([1, 3, 5, 7]);
  });
});
