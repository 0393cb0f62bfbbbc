import { randomUUID } from 'node:crypto';
import { sql } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { EventEnvelope } from '../../src/kernel/events/index.js';
import { rows } from '../../src/kernel/db/rows.js';
import type { GamificationInstance } from '../../src/services/gamification/index.js';
import type { Outcome } from '../../src/services/gamification/scoring.service.js';
import { badgeBody, ruleBody } from '../../src/services/gamification/schemas.js';
import { createTestPlatform, type TestPlatform } from '../helpers/platform.js';

/**
 * Batch scoring (ScoringService.handleBatch, what the bus consumer runs) against the per-event
 * path (handle): the same pseudo-random event stream is scored one event per transaction in one
 * workspace and in batches of random sizes in another, and every table the scoring writes must
 * end up the same (ids mapped: rules by name, badges by key, events by their place in the stream).
 */
let t: TestPlatform;
let g: GamificationInstance['services'];
const db = () => t.platform.database.orm;

beforeAll(async () => {
  t = await createTestPlatform({ V01T_SERVICES: 'orchestrator,gamification' });
  t.clock.set('2026-11-23T12:00:00Z');
  g = (t.platform.instances.get('gamification') as GamificationInstance).services;
}, 60_000);

afterAll(async () => {
  await t?.close();
});

/** mulberry32: a small seeded generator, so a failing stream can be replayed. */
function prng(seed: number) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let x = Math.imul(a ^ (a >>> 15), a | 1);
    x ^= x + Math.imul(x ^ (x >>> 7), x | 61);
    return ((x ^ (x >>> 14)) >>> 0) / 4294967296;
  };
}

/** A workspace with the defaults plus a filtered rule, a points badge, badge and level rewards and a steep level curve. */
async function configure(ws: string, users: string[]): Promise<void> {
  await g.configs.createRule(ws, ruleBody.parse({ name: 'LinkedIn posts', event: 'content.post.published.v1', filter: 'payload.channel = "linkedin"', persona: 'vCreator', metric: 'Reach Points', points: 7, dailyCap: 30, multipliers: [{ activity: 'publish', cadence: 'daily', minStreak: 2, factor: 2 }] }));
  // A metric with the characters an array literal must quote (the batch sends its rows as arrays, ADR 0075).
  await g.configs.createRule(ws, ruleBody.parse({ name: 'Insights', event: 'analytics.insight.created.v1', persona: 'vAnalyst', metric: 'Insight "points", {x} \\ NULL', points: 3, dailyCap: 9 }));
  await g.configs.createRule(ws, ruleBody.parse({ name: 'Failed runs', event: 'workflow.run.failed.v1', persona: 'vAutomator', metric: 'Automation XP', points: 1, streak: { activity: 'automate', cadence: 'daily' } }));
  await g.configs.createBadge(ws, badgeBody.parse({ key: 'reach-50', name: 'Reach 50', criteria: { kind: 'points', metric: 'Reach Points', atLeast: 50, windowDays: 3 } }));
  await g.configs.createBadge(ws, badgeBody.parse({ key: 'xp-300', name: 'XP 300', criteria: { kind: 'points', metric: 'Automation XP', atLeast: 300, windowDays: 7 } }));
  await g.configs.updateSettings(ws, {
    levels: { vAutomator: { base: 20, exponent: 1.2, maxLevel: 40 }, vCreator: { base: 15, exponent: 1.1, maxLevel: 30 } },
    freezes: { earnEvery: 3, maxHeld: 2 },
    rewards: [
      { key: 'reach-flair', kind: 'dashboard_flair', name: 'Reach flair', unlock: { badge: 'reach-50' } },
      { key: 'first-flair', kind: 'dashboard_flair', name: 'First flair', unlock: { badge: 'first-automation' } },
      { key: 'automator-5', kind: 'shortcut', name: 'Shortcuts', unlock: { persona: 'vAutomator', level: 5 } },
      { key: 'creator-3', kind: 'workflow_template', name: 'Templates', unlock: { persona: 'vCreator', level: 3 } },
    ],
  });
  // One user keeps their streak days in another zone.
  await g.scoring.setUserTimezone(ws, users[0]!, 'Pacific/Auckland');
  await g.scoring.setUserTimezone(ws, users[1]!, 'America/New_York');
}

type Spec = { name: string; actor: string | null; at: number; payload: Record<string, unknown>; repeatOf?: number };

/** The stream: several users over ~3 weeks, mostly in time order with some late events, redeliveries and unscorable events. */
function stream(seed: number, users: string[], n: number): Spec[] {
  const rnd = prng(seed);
  const start = Date.parse('2026-11-01T08:00:00Z');
  const kinds = [
    () => ({ name: 'workflow.run.succeeded.v1', payload: { runId: 'r', workflowId: 'wf', workflowVersion: 1, durationMs: 5 } }),
    () => ({ name: 'workflow.run.failed.v1', payload: { runId: 'r', workflowId: 'wf', workflowVersion: 1, error: 'x' } }),
    () => ({ name: 'workflow.deployment.succeeded.v1', payload: { deploymentId: 'd', workflowId: 'wf', environment: 'prod' } }),
    () => ({ name: 'content.post.published.v1', payload: { postId: 'p', channel: rnd() < 0.6 ? 'linkedin' : 'x' } }),
    () => ({ name: 'content.campaign.launched.v1', payload: { campaignId: 'c' } }),
    () => ({ name: 'analytics.report.run.v1', payload: { reportId: null, kind: 'funnel' } }),
    () => ({ name: 'analytics.insight.created.v1', payload: { insightId: 'i', kind: 'anomaly' } }),
  ];
  const out: Spec[] = [];
  let clock = start;
  for (let i = 0; i < n; i++) {
    const r = rnd();
    if (out.length > 5 && r < 0.05) {
      const j = Math.floor(rnd() * out.length);
      out.push({ ...out[j]!, repeatOf: j });
      continue;
    }
    clock += Math.floor(rnd() * 1.2 * 3_600_000);
    const late = rnd() < 0.1 ? Math.floor(rnd() * 2 * 86_400_000) : 0;
    const k = kinds[Math.floor(rnd() * kinds.length)]!();
    const actor = r < 0.07 ? (rnd() < 0.5 ? null : 'not-a-uuid') : users[Math.floor(rnd() * users.length)]!;
    out.push({ name: k.name, actor, at: clock - late, payload: k.payload });
  }
  return out;
}

/** Envelopes of the stream for one workspace; a redelivery reuses the id of the event it repeats. */
function envelopes(ws: string, specs: Spec[]): { list: EventEnvelope[]; index: Map<string, number> } {
  const ids: string[] = [];
  const index = new Map<string, number>();
  const list = specs.map((s, i) => {
    const id = s.repeatOf !== undefined ? ids[s.repeatOf]! : randomUUID();
    ids.push(id);
    if (!index.has(id)) index.set(id, i);
    return { id, name: s.name, occurredAt: new Date(s.at).toISOString(), workspaceId: ws, actorId: s.actor, payload: s.payload } as EventEnvelope;
  });
  return { list, index };
}

/** Everything scoring wrote for a workspace, with ids that differ between workspaces mapped to stable names. */
async function state(ws: string, eventIndex: Map<string, number>) {
  const q = <T>(query: ReturnType<typeof sql>) => rows<T>(db(), query);
  const rules = new Map((await q<{ id: string; name: string }>(sql`SELECT id, definition->>'name' AS name FROM gamification.rules WHERE workspace_id = ${ws}`)).map((r) => [r.id, r.name]));
  const badges = new Map((await q<{ id: string; key: string }>(sql`SELECT id, key FROM gamification.badges WHERE workspace_id = ${ws}`)).map((r) => [r.id, r.key]));
  const ledger = (
    await q<{ user_id: string; persona: string; metric: string; points: number; kind: string; event_id: string; event_name: string; rule_id: string; occurred_at: Date | string }>(
      sql`SELECT user_id, persona, metric, points, kind, event_id, event_name, rule_id, occurred_at FROM gamification.ledger WHERE workspace_id = ${ws}`,
    )
  )
    .map((r) => ({ ...r, event_id: eventIndex.get(r.event_id), rule_id: rules.get(r.rule_id), occurred_at: new Date(r.occurred_at).toISOString() }))
    .sort((a, b) => a.event_id! - b.event_id! || a.rule_id!.localeCompare(b.rule_id!));
  const table = (name: string, cols: string, order: string) => q<Record<string, unknown>>(sql.raw(`SELECT ${cols} FROM gamification.${name} WHERE workspace_id = '${ws}' ORDER BY ${order}`));
  const outbox = (
    await q<{ name: string; actor_id: string; payload: Record<string, unknown> }>(
      sql`SELECT name, actor_id, payload FROM kernel.outbox WHERE workspace_id = ${ws} AND name LIKE 'gamification.%' ORDER BY seq`,
    )
  ).map((e) => ({ ...e, payload: { ...e.payload, badgeId: e.payload.badgeId ? badges.get(e.payload.badgeId as string) : undefined } }));
  return {
    ledger,
    balances: await table('balances', 'user_id, persona, metric, points::text', 'user_id, persona, metric'),
    counts: await table('event_counts', 'user_id, event_name, count::text', 'user_id, event_name'),
    streaks: await table('streaks', 'user_id, activity, cadence, current, longest, last_period, freezes, freezes_used', 'user_id, activity, cadence'),
    caps: (await table('daily_caps', "user_id, rule_id, to_char(day, 'YYYY-MM-DD') AS day, points", 'user_id, day, points')).map((r) => ({ ...r, rule_id: rules.get(r.rule_id as string) })).sort((a, b) => JSON.stringify(a).localeCompare(JSON.stringify(b))),
    levels: await table('levels', 'user_id, persona, level', 'user_id, persona'),
    badges: (await table('user_badges', 'user_id, badge_id', 'user_id')).map((r) => `${r.user_id as string}:${badges.get(r.badge_id as string)}`).sort(),
    entitlements: await table('entitlements', 'user_id, reward_key, kind, source', 'user_id, reward_key'),
    scores: await table('scores', 'board, period, user_id, score::text', 'board, period, user_id'),
    // The rank structure the triggers keep (migration 0002): the same whether written per event or per batch.
    buckets: await table('score_counts', 'board, period, lvl, bucket::text, members::text', 'board, period, lvl, bucket'),
    processed: (await table('processed_events', 'count(*)::int AS n', '1'))[0],
    outbox,
  };
}

const mapOutcomes = async (ws: string, outcomes: Outcome[]) => {
  const rules = new Map((await rows<{ id: string; name: string }>(db(), sql`SELECT id, definition->>'name' AS name FROM gamification.rules WHERE workspace_id = ${ws}`)).map((r) => [r.id, r.name]));
  return outcomes.map((o) => (o.status === 'scored' ? { status: o.status, entries: o.entries.map((e) => ({ rule: rules.get(e.ruleId), points: e.points })) } : o));
};

/** Removes what scoring wrote for the workspace (its configuration stays), so a stream can be scored again from the same start. */
async function reset(ws: string): Promise<void> {
  await db().transaction(async (tx) => {
    await tx.execute(sql`SELECT set_config('v01t.gamification_purge', 'on', true)`);
    for (const table of ['processed_events', 'ledger', 'balances', 'daily_caps', 'event_counts', 'streaks', 'levels', 'user_badges', 'entitlements', 'scores', 'board_sync']) {
      await tx.execute(sql.raw(`DELETE FROM gamification.${table} WHERE workspace_id = '${ws}'`));
    }
    await tx.execute(sql`DELETE FROM kernel.outbox WHERE workspace_id = ${ws} AND name LIKE 'gamification.%'`);
  });
}

const scoreOneByOne = async (list: EventEnvelope[]) => {
  const out: Outcome[] = [];
  for (const e of list) out.push(await db().transaction((tx) => g.scoring.handle(e, tx)));
  return out;
};
const scoreInBatches = async (list: EventEnvelope[], seed: number, maxSize = 60) => {
  const rnd = prng(seed);
  const out: Outcome[] = [];
  for (let i = 0; i < list.length; ) {
    const size = 1 + Math.floor(rnd() * maxSize);
    const chunk = list.slice(i, i + size);
    out.push(...(await db().transaction((tx) => g.scoring.handleBatch(chunk, tx))));
    i += size;
  }
  return out;
};

describe('batch scoring', () => {
  // Seed 3: batches of up to 500 events (GAMIFICATION_SCORING_BATCH's default on PostgreSQL), so most of the stream goes in one or two.
  it.each([
    [1, 60],
    [2, 60],
    [3, 500],
  ])('gives the same outcomes and state as scoring one event at a time (seed %i, batches of up to %i)', async (seed, maxSize) => {
    const users = Array.from({ length: 6 }, () => randomUUID());
    const ws = randomUUID();
    await configure(ws, users);
    const { list, index } = envelopes(ws, stream(seed, users, 450));

    const single = await scoreOneByOne(list);
    const sa = await state(ws, index);
    await reset(ws);
    const inBatches = await scoreInBatches(list, seed * 7919, maxSize);
    const sb = await state(ws, index);

    expect(await mapOutcomes(ws, inBatches)).toEqual(await mapOutcomes(ws, single));
    expect(sb).toEqual(sa);
    // The stream exercised what it is meant to: caps, streak bonuses, level-ups, badges of each kind, rewards, redeliveries.
    expect(single.filter((o) => o.status === 'duplicate').length).toBeGreaterThan(5);
    expect(single.filter((o) => o.status === 'skipped').length).toBeGreaterThan(5);
    expect(sa.caps.length).toBeGreaterThan(10);
    expect(sa.outbox.filter((e) => e.name === 'gamification.level.up.v1').length).toBeGreaterThan(10);
    expect(sa.badges.some((b) => b.endsWith(':reach-50'))).toBe(true);
    expect(sa.badges.some((b) => b.endsWith(':first-automation'))).toBe(true);
    expect(sa.entitlements.map((e) => e.reward_key)).toEqual(expect.arrayContaining(['reach-flair', 'automator-5']));
    expect(sa.ledger.some((l) => l.rule_id === 'LinkedIn posts' && l.points === 14)).toBe(true); // a streak bonus applied
    expect(sa.balances.some((b) => b.metric === 'Insight "points", {x} \\ NULL')).toBe(true);
  }, 120_000);

  it('changes nothing when a batch is delivered again, alone or mixed with new events', async () => {
    const users = Array.from({ length: 3 }, () => randomUUID());
    const ws = randomUUID();
    await configure(ws, users);
    const { list, index } = envelopes(ws, stream(3, users, 120));
    await scoreOneByOne(list);
    const reference = await state(ws, index);
    await reset(ws);

    const [first, second] = [list.slice(0, 60), list.slice(60)];
    await db().transaction((tx) => g.scoring.handleBatch(first, tx));
    const before = await state(ws, index);
    const again = await db().transaction((tx) => g.scoring.handleBatch(first, tx));
    expect(again.every((o) => o.status !== 'scored')).toBe(true);
    expect(await state(ws, index)).toEqual(before);

    // Old and new together: only the new ones score, as if the new ones came alone.
    const mixed = await db().transaction((tx) => g.scoring.handleBatch([...first.slice(0, 20), ...second], tx));
    expect(mixed.slice(0, 20).every((o) => o.status !== 'scored')).toBe(true);
    expect(await state(ws, index)).toEqual(reference);
  }, 60_000);

  it('awards no rule twice for an event whose processed mark retention removed, as the per-event path', async () => {
    // With the mark gone only the ledger's (event, rule) pairs know the event was scored: the batch
    // reads them by event id (ADR 0098), the per-event path meets them as an insert conflict.
    const users = Array.from({ length: 3 }, () => randomUUID());
    const ws = randomUUID();
    await configure(ws, users);
    const { list, index } = envelopes(ws, stream(4, users, 90));
    const purgeMarks = () => db().execute(sql`DELETE FROM gamification.processed_events WHERE workspace_id = ${ws}`);
    await scoreOneByOne(list);
    const once = await state(ws, index);
    await purgeMarks();
    const single = await scoreOneByOne(list);
    const sa = await state(ws, index);
    await reset(ws);
    await scoreInBatches(list, 11);
    await purgeMarks();
    const inBatches = await scoreInBatches(list, 13);
    const sb = await state(ws, index);

    expect(await mapOutcomes(ws, inBatches)).toEqual(await mapOutcomes(ws, single));
    expect(sb).toEqual(sa);
    expect(single.every((o) => o.status !== 'scored' || o.entries.length === 0)).toBe(true);
    expect(sa.ledger).toEqual(once.ledger);
    expect(sa.balances).toEqual(once.balances);
    expect(sa.scores).toEqual(once.scores);
  }, 60_000);

  it('keeps workspaces apart within one batch', async () => {
    const user = randomUUID();
    const [w1, w2] = [randomUUID(), randomUUID()];
    const ev = (ws: string) => ({ id: randomUUID(), name: 'workflow.run.succeeded.v1', occurredAt: t.clock.now().toISOString(), workspaceId: ws, actorId: user, payload: { runId: 'r', workflowId: 'wf', workflowVersion: 1, durationMs: 1 } }) as EventEnvelope;
    await db().transaction((tx) => g.scoring.handleBatch([ev(w1), ev(w1), ev(w2), ev(w1)], tx));
    const xp = async (ws: string) => Number((await rows<{ p: string }>(db(), sql`SELECT coalesce(sum(points), 0) AS p FROM gamification.balances WHERE workspace_id = ${ws} AND user_id = ${user}`))[0]!.p);
    expect([await xp(w1), await xp(w2)]).toEqual([30, 10]);
    const counts = await rows<{ workspace_id: string; count: string }>(db(), sql`SELECT workspace_id, count::text FROM gamification.event_counts WHERE user_id = ${user} ORDER BY count`);
    expect(counts.map((c) => [c.workspace_id, c.count])).toEqual([
      [w2, '1'],
      [w1, '3'],
    ]);
  }, 30_000);

  it('scores a batch with JIT compilation off for the rest of its transaction, and only there', async () => {
    // A batch's statements take their keys as arrays; on large tables their cost estimates pass
    // jit_above_cost and compiling them cost more than running them (ADR 0081).
    const ws = randomUUID();
    const ev = { id: randomUUID(), name: 'workflow.run.succeeded.v1', occurredAt: t.clock.now().toISOString(), workspaceId: ws, actorId: randomUUID(), payload: { runId: 'r', workflowId: 'wf', workflowVersion: 1, durationMs: 1 } } as EventEnvelope;
    const jit = async (ex: Parameters<typeof rows>[0]) => (await rows<{ jit: string }>(ex, sql`SELECT current_setting('jit') AS jit`))[0]!.jit;
    const before = await jit(db());
    const inside = await db().transaction(async (tx) => {
      await g.scoring.handleBatch([ev], tx);
      return jit(tx);
    });
    expect(inside).toBe('off');
    expect(await jit(db())).toBe(before);
  }, 30_000);
});
