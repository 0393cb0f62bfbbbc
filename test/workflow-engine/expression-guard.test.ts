import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ManualClock } from '../../src/kernel/clock.js';
import type { EventEnvelope, EventName, NewEvent } from '../../src/kernel/events/index.js';
import type { GamificationInstance } from '../../src/services/gamification/index.js';
import { TRIGGER_CONSUMER_GROUP } from '../../src/services/workflow-engine/index.js';
import { bearer, createWorkspace, problem, signup, type TestUser } from '../helpers/api.js';
import { createTestPlatform, type TestPlatform } from '../helpers/platform.js';
import { waitFor } from '../events/poll.js';

/**
 * Issue 13, item 1: a user expression can never take the server down. Expression bombs saved in a
 * workflow (transform, condition, `=` template), an event-trigger filter and a gamification rule
 * filter end with a stable code while /health keeps answering promptly; one workspace's bombs and
 * flood of runs do not starve another's runs. Wall-clock time is what is measured here, so the
 * platform's clock follows the real one.
 */
class RealClock extends ManualClock {
  override now(): Date {
    return new Date();
  }
}

/**
 * /health must answer every probe within this, measured from a concurrent request (issue 13).
 * Measured 30-110 ms on an idle 2-core machine; a machine shared with other heavy suites can
 * stall any process for longer, so V01T_TEST_HEALTH_BOUND_MS may widen it there (without the
 * guard the loop is blocked for good, so any bound separates the two).
 */
const HEALTH_BOUND_MS = Number(process.env.V01T_TEST_HEALTH_BOUND_MS ?? 200);

describe('expression guard end to end', () => {
  let t: TestPlatform;
  let alice: TestUser;
  let bob: TestUser;
  let wsA: string;
  let wsB: string;

  beforeAll(async () => {
    t = await createTestPlatform({ V01T_EVENT_POLL_MS: '20', WORKFLOW_POLL_SECONDS: '0.5', EXPRESSION_TIMEOUT_MS: '5000', EXPRESSION_WORKERS: '2' }, { clock: new RealClock() });
    await t.platform.startServices();
    alice = await signup(t, 'Alice');
    bob = await signup(t, 'Bob');
    wsA = await createWorkspace(t, alice, 'Noisy');
    wsB = await createWorkspace(t, bob, 'Quiet');
  }, 120_000);
  afterAll(async () => {
    await t?.close();
  }, 120_000);

  /** Probes /health every 20 ms until stopped; returns the slowest answer in ms. */
  function healthProbe(): () => Promise<{ worst: number; probes: number }> {
    let stopped = false;
    let worst = 0;
    let probes = 0;
    const loop = (async () => {
      while (!stopped) {
        const t0 = performance.now();
        const res = await t.inject({ method: 'GET', url: '/health' });
        if (res.statusCode !== 200) throw new Error(`/health answered ${res.statusCode}`);
        worst = Math.max(worst, performance.now() - t0);
        probes++;
        await new Promise((r) => setTimeout(r, 20));
      }
    })();
    return async () => {
      stopped = true;
      await loop;
      return { worst, probes };
    };
  }

  const create = async (ws: string, user: TestUser, def: unknown) => {
    const res = await t.inject({ method: 'POST', url: `/v1/workspaces/${ws}/workflows`, headers: bearer(user.token), payload: def as object });
    if (res.statusCode !== 201) throw new Error(`create failed: ${res.statusCode} ${res.body}`);
    return res.json().workflow.id as string;
  };
  const start = async (ws: string, user: TestUser, workflowId: string, input: unknown = {}) => {
    const res = await t.inject({ method: 'POST', url: `/v1/workspaces/${ws}/workflows/${workflowId}/runs`, headers: bearer(user.token), payload: { input } as object });
    if (res.statusCode !== 202 && res.statusCode !== 201) throw new Error(`start failed: ${res.statusCode} ${res.body}`);
    return res.json().run.id as string;
  };
  const getRun = async (ws: string, user: TestUser, runId: string) => (await t.inject({ method: 'GET', url: `/v1/workspaces/${ws}/runs/${runId}`, headers: bearer(user.token) })).json().run;
  const settle = (ws: string, user: TestUser, runId: string, timeoutMs = 60_000) =>
    waitFor(
      async () => {
        const r = await getRun(ws, user, runId);
        return ['succeeded', 'failed', 'cancelled', 'timed_out'].includes(r.status) ? r : null;
      },
      { timeoutMs, what: `run ${runId} to finish` },
    );

  it('fails each bomb in a workflow with its code while /health answers promptly', async () => {
    const bombs: { step: unknown; code: string }[] = [
      { step: { id: 'loop', type: 'transform', with: { expression: '( $f := function($x){ $f($x) }; $f(1) )' } }, code: 'expression_timeout' },
      { step: { id: 'deep', type: 'condition', with: { expression: '( $f := function($n){ $n = 0 ? 0 : 1 + $f($n - 1) }; $f(1000000) ) > 0' } }, code: 'expression_too_deep' },
      { step: { id: 'range', type: 'transform', with: { expression: '[1..10000000].$string()' } }, code: 'expression_too_large' },
      { step: { id: 'pad', type: 'emit', with: { signal: 'big', data: { text: '=$pad("", 100000000)' } } }, code: 'expression_too_large' },
    ];
    const ids = [];
    for (const [i, b] of bombs.entries()) ids.push(await create(wsA, alice, { name: `bomb ${i}`, steps: [b.step] }));
    const stop = healthProbe();
    const runs = await Promise.all(ids.map((id) => start(wsA, alice, id)));
    const settled = await Promise.all(runs.map((r) => settle(wsA, alice, r)));
    const health = await stop();
    for (const [i, run] of settled.entries()) {
      expect(run.status, `bomb ${i}`).toBe('failed');
      expect(run.error, `bomb ${i}`).toMatch(new RegExp(`^${bombs[i]!.code}: steps\\.`));
      expect(run.steps.at(-1).error, `bomb ${i}`).toMatch(new RegExp(`^${bombs[i]!.code}: `));
    }
    expect(health.probes).toBeGreaterThan(5);
    expect(health.worst).toBeLessThan(HEALTH_BOUND_MS);
  }, 120_000);

  it("does not let an expression outlast the run's timeoutMs", async () => {
    const id = await create(wsA, alice, { name: 'bounded', timeoutMs: 1000, steps: [{ id: 'loop', type: 'transform', with: { expression: '( $f := function($x){ $f($x) }; $f(1) )' } }] });
    const t0 = Date.now();
    const run = await settle(wsA, alice, await start(wsA, alice, id));
    // The configured expression limit is 5 s here; the run's 1 s deadline cut it short.
    expect(run.status).toBe('failed');
    expect(run.error).toMatch(/^expression_timeout: /);
    expect(Date.now() - t0).toBeLessThan(4000);
  }, 60_000);

  describe('event-trigger filters', () => {
    const publish = async <N extends NewEvent['name']>(event: NewEvent<N>): Promise<EventEnvelope<N>> => t.platform.database.orm.transaction(async (tx) => t.platform.events.publish(event, tx));
    const delivered = (eventId: string) =>
      waitFor(async () => (await t.platform.database.query('SELECT 1 FROM kernel.event_deliveries WHERE group_name = $1 AND event_id = $2', [TRIGGER_CONSUMER_GROUP, eventId])).length > 0, {
        timeoutMs: 30_000,
        what: `event ${eventId} handled`,
      });
    const runsOf = async (ws: string, user: TestUser, workflowId: string) =>
      (await t.inject({ method: 'GET', url: `/v1/workspaces/${ws}/runs?workflowId=${workflowId}`, headers: bearer(user.token) })).json().runs as { id: string }[];

    it('refuses a filter that is not a simple predicate when saved', async () => {
      for (const filter of ['( $f := function($x){ $f($x) }; $f(1) )', '$count([1..10000000]) > 0', '$pad("", 100000000) = ""']) {
        const res = await t.inject({
          method: 'POST',
          url: `/v1/workspaces/${wsA}/workflows`,
          headers: bearer(alice.token),
          payload: { name: 'f', trigger: { type: 'event', event: 'content.post.published.v1', filter }, steps: [{ id: 'a', type: 'transform', with: { expression: '1' } }] },
        });
        const p = problem(res);
        expect(p.code, filter).toBe('validation_failed');
        expect(p.errors, filter).toEqual([expect.objectContaining({ path: 'trigger.filter', message: expect.stringMatching(/^expression_not_allowed: /) })]);
      }
    });

    it('a bomb filter stored before that check matches nothing, and other workspaces keep being served', async () => {
      const trigger = (filter: string) => ({ type: 'event', event: 'content.post.published.v1', filter });
      const steps = [{ id: 'a', type: 'transform', with: { expression: 'input.payload.postId' } }];
      const bombed = await create(wsA, alice, { name: 'bombed filter', trigger: trigger('payload.channel = "x"'), steps });
      // As if saved before filters had to be simple: the stored version's filter is a bomb.
      await t.platform.database.query(`UPDATE workflow.versions SET definition = jsonb_set(definition, '{trigger,filter}', to_jsonb($2::text)) WHERE workflow_id = $1`, [
        bombed,
        '$count([1..10000000]) > 0 or ( $f := function($x){ $f($x) }; $f(1) )',
      ]);
      const fine = await create(wsB, bob, { name: 'fine filter', trigger: trigger('payload.channel = "x"'), steps });
      const stop = healthProbe();
      const evA = await publish({ name: 'content.post.published.v1', workspaceId: wsA, actorId: alice.id, payload: { postId: randomUUID(), channel: 'x', publishedAt: new Date().toISOString() } } as NewEvent<'content.post.published.v1'>);
      const evB = await publish({ name: 'content.post.published.v1', workspaceId: wsB, actorId: bob.id, payload: { postId: randomUUID(), channel: 'x', publishedAt: new Date().toISOString() } } as NewEvent<'content.post.published.v1'>);
      await delivered(evA.id);
      await delivered(evB.id);
      const health = await stop();
      expect(await runsOf(wsA, alice, bombed)).toEqual([]);
      const [runB] = await runsOf(wsB, bob, fine);
      expect((await settle(wsB, bob, runB!.id)).status).toBe('succeeded');
      expect(health.worst).toBeLessThan(HEALTH_BOUND_MS);
    }, 90_000);
  });

  describe('gamification rule filters', () => {
    const rule = { name: 'posts', event: 'content.post.published.v1', persona: 'vCreator', metric: 'Reach Points', points: 5 };

    it('refuses ranges and the other unbounded constructs when saved', async () => {
      for (const filter of ['$count([1..10000000]) > 0', '($f := function($x){ $f($x) }; $f(1))', '$string(payload) = $pad("", 100000000)']) {
        const res = await t.inject({ method: 'POST', url: `/v1/workspaces/${wsA}/gamification/rules`, headers: bearer(alice.token), payload: { ...rule, filter } });
        expect(problem(res).code, filter).toBe('validation_failed');
      }
    });

    it('a bomb filter stored before that check does not match, and /health keeps answering', async () => {
      const created = await t.inject({ method: 'POST', url: `/v1/workspaces/${wsA}/gamification/rules`, headers: bearer(alice.token), payload: { ...rule, filter: 'payload.channel = "x"' } });
      expect(created.statusCode, created.body).toBe(201);
      const ruleId = created.json().rule.id as string;
      const g = (t.platform.instances.get('gamification') as GamificationInstance).services;
      const event = (channel: string) =>
        ({ id: randomUUID(), name: 'content.post.published.v1' as EventName, occurredAt: new Date().toISOString(), workspaceId: wsA, actorId: alice.id, payload: { postId: randomUUID(), channel } }) as EventEnvelope;
      const score = (e: EventEnvelope) => t.platform.database.orm.transaction((tx) => g.scoring.handle(e, tx));
      // The rule as saved matches (and the workspace's configuration is loaded and warm).
      const ruleIds = (o: unknown) => ((o as { entries?: { ruleId: string }[] }).entries ?? []).map((e) => e.ruleId);
      expect(ruleIds(await score(event('x')))).toContain(ruleId);
      await t.platform.database.query(`UPDATE gamification.rules SET definition = jsonb_set(definition, '{filter}', to_jsonb($2::text)) WHERE id = $1`, [ruleId, '$count([1..10000000]) > 0']);
      await t.platform.database.query('UPDATE gamification.settings SET config_version = config_version + 1 WHERE workspace_id = $1', [wsA]);
      const stop = healthProbe();
      const outcome = await score(event('x'));
      const health = await stop();
      // The bombed rule does not match (its filter ran out of memory in a worker process).
      expect(outcome).toMatchObject({ status: 'scored' });
      expect(ruleIds(outcome)).not.toContain(ruleId);
      expect(health.worst).toBeLessThan(HEALTH_BOUND_MS);
    }, 60_000);
  });

  it("one workspace's bombs and flood do not starve another workspace's runs", async () => {
    const bomb = await create(wsA, alice, { name: 'noisy bomb', steps: [{ id: 'loop', type: 'transform', with: { expression: '( $f := function($x){ $f($x) }; $f(1) )' } }] });
    const flood = await create(wsA, alice, { name: 'noisy flood', steps: [{ id: 'double', type: 'transform', with: { expression: '{"n": input.n * 2}' } }] });
    // B's workflow needs an expression worker too ($sum over a range), so it competes with A's bombs for them.
    const steady = await create(wsB, bob, { name: 'steady', steps: [{ id: 'sum', type: 'transform', with: { expression: '$sum([1..input.n])' } }, { id: 'check', type: 'condition', with: { expression: 'steps.sum.output = 55' } }] });
    const stop = healthProbe();
    const bombs = await Promise.all(Array.from({ length: 10 }, () => start(wsA, alice, bomb)));
    const floodRuns = await Promise.all(Array.from({ length: 200 }, (_, n) => start(wsA, alice, flood, { n })));
    const steadyRuns = await Promise.all(Array.from({ length: 10 }, () => start(wsB, bob, steady, { n: 10 })));
    // Read straight from the table: the API's own latency here is the shared database's, busy with
    // A's events (every run's events are consumed by the other services), not the executor's.
    type Row = { id: string; status: string; error: string | null; created_at: Date | string; finished_at: Date | string | null };
    const finished = (ids: string[], timeoutMs: number) =>
      waitFor(
        async () => {
          const rows = await t.platform.database.query<Row>('SELECT id, status, error, created_at, finished_at FROM workflow.runs WHERE id = ANY($1::uuid[])', [ids]);
          return rows.length === ids.length && rows.every((r) => r.finished_at) ? rows : null;
        },
        { timeoutMs, intervalMs: 200, what: 'runs to finish' },
      );
    const quiet = await finished(steadyRuns, 120_000);
    const noisy = await finished(bombs, 120_000);
    const flooded = await finished(floodRuns, 120_000);
    const health = await stop();
    const latency = (r: Row) => new Date(r.finished_at!).getTime() - new Date(r.created_at).getTime();
    const quietWorst = Math.max(...quiet.map(latency));
    const noisyLast = Math.max(...noisy.map((r) => new Date(r.finished_at!).getTime()));
    expect(quiet.map((r) => `${r.status} ${r.error ?? ''}`.trim())).toEqual(Array(10).fill('succeeded'));
    expect(noisy.map((r) => r.status)).toEqual(Array(10).fill('failed'));
    for (const r of noisy) expect(r.error).toMatch(/^expression_timeout: /);
    expect(flooded.every((r) => r.status === 'succeeded')).toBe(true);
    console.log(
      `noisy neighbour: workspace B's 10 runs each finished within ${quietWorst} ms of being started; A's last bomb ended ${noisyLast - Math.max(...quiet.map((r) => new Date(r.finished_at!).getTime()))} ms after B's last run; /health worst ${Math.round(health.worst)} ms over ${health.probes} probes`,
    );
    // Ten 5-second bombs on two workers are 25 s of worker time: B's runs did not wait behind them
    // (they finished before A's bombs did) and each finished within 20 s of its start (the start of
    // B's runs also waits for the fetch of A's 200 flood runs queued before them on a shared database).
    expect(Math.max(...quiet.map((r) => new Date(r.finished_at!).getTime()))).toBeLessThan(noisyLast);
    expect(quietWorst).toBeLessThan(20_000);
    expect(health.worst).toBeLessThan(HEALTH_BOUND_MS);
  }, 300_000);
});
