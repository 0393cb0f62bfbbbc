import { randomUUID } from 'node:crypto';
import { sql } from 'drizzle-orm';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { EventEnvelope, EventName } from '../../src/kernel/events/index.js';
import { addMember, bearer, createWorkspace, problem, signup, type TestUser } from '../helpers/api.js';
import { TEST_REDIS_URL, createTestPlatform, type TestPlatform } from '../helpers/platform.js';
import type { GamificationInstance } from '../../src/services/gamification/index.js';
import { PostgresLeaderboard, RedisLeaderboard } from '../../src/services/gamification/leaderboard.js';
import { LeaderboardRepository } from '../../src/services/gamification/leaderboard.repository.js';
import { BatchScoringRepository, ScoringRepository } from '../../src/services/gamification/scoring.repository.js';
import { ProfileRepository } from '../../src/services/gamification/profile.repository.js';
import { ScoringService } from '../../src/services/gamification/scoring.service.js';
import { rows } from '../../src/kernel/db/rows.js';

/** A Redis client and a key prefix of the test's own; the prefix's keys are deleted and the client closed afterwards. */
async function withTestRedis(fn: (redis: Redis, prefix: string) => Promise<void>): Promise<void> {
  const redis = new Redis(TEST_REDIS_URL, { maxRetriesPerRequest: 2 });
  const prefix = `v01t-test:${randomUUID()}:`;
  try {
    await fn(redis, prefix);
  } finally {
    const keys = await redis.keys(`${prefix}*`);
    if (keys.length) await redis.del(...keys);
    redis.disconnect();
  }
}

/**
 * Every board and period the workspace has scores on in PostgreSQL, each asserted the same in Redis
 * (members and scores, in rank order); returns them.
 */
async function expectRedisMatchesPostgres(redis: Redis, rd: RedisLeaderboard, boards: LeaderboardRepository, workspaceId: string): Promise<{ board: string; period: string }[]> {
  const pg = new PostgresLeaderboard(boards);
  const live = await rows<{ board: string; period: string }>(db(), sql`SELECT DISTINCT board, period FROM gamification.scores WHERE workspace_id = ${workspaceId} ORDER BY 1, 2`);
  for (const { board, period } of live) {
    const ref = { workspaceId, board, period };
    expect(await redis.zrevrange(rd.key(ref), 0, -1, 'WITHSCORES'), `${board} ${period}`).toEqual((await pg.top(ref, 100)).flatMap((s) => [s.userId, String(s.score)]));
  }
  return live;
}

let t: TestPlatform;
let g: GamificationInstance['services'];
let owner: TestUser;
let dev: TestUser;
let ws: string;
const H = 3_600_000;
const D = 24 * H;

beforeAll(async () => {
  // Only the services this suite exercises: fewer start-up costs and no other consumers on the bus.
  t = await createTestPlatform({ V01T_SERVICES: 'orchestrator,gamification' });
  t.clock.set('2026-11-23T12:00:00Z'); // a Monday
  g = (t.platform.instances.get('gamification') as GamificationInstance).services;
  [owner, dev] = await Promise.all([signup(t, 'Owner'), signup(t, 'Dev')]);
  ws = await createWorkspace(t, owner, 'Gamified');
  await addMember(t, ws, owner, dev, 'developer');
}, 60_000);

afterAll(async () => {
  await t?.close();
});

const db = () => t.platform.database.orm;
function envelope<N extends EventName>(name: N, actorId: string, payload: EventEnvelope<N>['payload'], over: Partial<EventEnvelope> = {}): EventEnvelope {
  return { id: randomUUID(), name, occurredAt: t.clock.now().toISOString(), workspaceId: ws, actorId, payload, ...over } as EventEnvelope;
}
const score = (e: EventEnvelope) => db().transaction((tx) => g.scoring.handle(e, tx));
const run = (actor: string) => envelope('workflow.run.succeeded.v1', actor, { runId: randomUUID(), workflowId: 'wf', workflowVersion: 1, durationMs: 100 });
const deploy = (actor: string) => envelope('workflow.deployment.succeeded.v1', actor, { deploymentId: randomUUID(), workflowId: 'wf', environment: 'prod' });
const balance = async (user: string, metric: string) =>
  Number((await rows<{ p: string }>(db(), sql`SELECT coalesce(sum(points), 0) AS p FROM gamification.balances WHERE workspace_id = ${ws} AND user_id = ${user} AND metric = ${metric}`))[0]!.p);
const outbox = (name: string, user: string) =>
  rows<{ payload: Record<string, unknown> }>(db(), sql`SELECT payload FROM kernel.outbox WHERE name = ${name} AND actor_id = ${user} ORDER BY seq`);
const profile = async (user: TestUser, of?: string) => {
  const res = await t.inject({ method: 'GET', url: `/v1/workspaces/${ws}/gamification/${of ? `members/${of}` : 'me'}`, headers: bearer(user.token) });
  expect(res.statusCode, res.body).toBe(200);
  return res.json().profile;
};
const freshUser = async (name: string) => {
  const u = await signup(t, name);
  await addMember(t, ws, owner, u, 'viewer');
  return u;
};

describe('rules', () => {
  it('seeds the default rules for every persona and the badge catalog', async () => {
    const res = await t.inject({ method: 'GET', url: `/v1/workspaces/${ws}/gamification/rules`, headers: bearer(dev.token) });
    expect(res.statusCode).toBe(200);
    const rules = res.json().rules as { persona: string; metric: string }[];
    expect(new Set(rules.map((r) => r.persona))).toEqual(new Set(['vCreator', 'vBuilder', 'vAnalyst', 'vAutomator', 'founder']));
    expect(rules.map((r) => r.metric)).toEqual(expect.arrayContaining(['Creativity Score', 'Reach Points', 'Build Score', 'Insight Points', 'Automation XP']));
    const badges = (await t.inject({ method: 'GET', url: `/v1/workspaces/${ws}/gamification/badges`, headers: bearer(dev.token) })).json().badges as { key: string }[];
    expect(badges.map((b) => b.key)).toEqual(expect.arrayContaining(['trendsetter', 'rapid-builder']));
  });

  it('scores a matching event for the rule persona and metric, and caps points per user and day', async () => {
    const u = await freshUser('Capped');
    const first = await score(run(u.id));
    expect(first).toMatchObject({ status: 'scored', entries: [{ points: 10 }] });
    for (let i = 0; i < 24; i++) await score(run(u.id));
    expect(await balance(u.id, 'Automation XP')).toBe(200); // 25 × 10 capped at 200 a day
    t.clock.advance(D);
    await score(run(u.id));
    expect(await balance(u.id, 'Automation XP')).toBe(200 + 10); // a new day, a new cap
    t.clock.advance(-D);
  });

  it('manages rules through the API with JSONata filters, refusing bad filters with a stable code', async () => {
    const body = { name: 'LinkedIn posts', event: 'content.post.published.v1', filter: 'payload.channel = "linkedin"', persona: 'vCreator', metric: 'Reach Points', points: 7 };
    const denied = await t.inject({ method: 'POST', url: `/v1/workspaces/${ws}/gamification/rules`, headers: bearer(dev.token), payload: body });
    expect(problem(denied).code).toBe('forbidden');
    const created = await t.inject({ method: 'POST', url: `/v1/workspaces/${ws}/gamification/rules`, headers: bearer(owner.token), payload: body });
    expect(created.statusCode, created.body).toBe(201);
    const ruleId = created.json().rule.id as string;
    const bad = await t.inject({ method: 'POST', url: `/v1/workspaces/${ws}/gamification/rules`, headers: bearer(owner.token), payload: { ...body, filter: 'payload.channel = ' } });
    expect(problem(bad)).toMatchObject({ status: 400, code: 'validation_failed' });
    const lambda = await t.inject({ method: 'PATCH', url: `/v1/workspaces/${ws}/gamification/rules/${ruleId}`, headers: bearer(owner.token), payload: { filter: '($f := function($x){ $f($x) }; $f(1))' } });
    expect(problem(lambda).code).toBe('validation_failed');

    const u = await freshUser('Poster');
    const post = (channel: string) => envelope('content.post.published.v1', u.id, { postId: randomUUID(), channel });
    await score(post('linkedin'));
    await score(post('mastodon'));
    expect(await balance(u.id, 'Reach Points')).toBe(7);
    expect(await balance(u.id, 'Creativity Score')).toBe(20); // the default rule has no filter

    const patched = await t.inject({ method: 'PATCH', url: `/v1/workspaces/${ws}/gamification/rules/${ruleId}`, headers: bearer(owner.token), payload: { points: 3 } });
    expect(patched.json().rule.points).toBe(3);
    await score(post('linkedin'));
    expect(await balance(u.id, 'Reach Points')).toBe(10);
    expect((await t.inject({ method: 'DELETE', url: `/v1/workspaces/${ws}/gamification/rules/${ruleId}`, headers: bearer(owner.token) })).statusCode).toBe(204);
    await score(post('linkedin'));
    expect(await balance(u.id, 'Reach Points')).toBe(10);
    expect((await t.inject({ method: 'GET', url: `/v1/workspaces/${ws}/gamification/rules/${ruleId}`, headers: bearer(owner.token) })).statusCode).toBe(404);
  });
});

describe('ledger', () => {
  it('awards an event once however often it is delivered, also concurrently', async () => {
    const u = await freshUser('Redelivered');
    const e = run(u.id);
    expect((await score(e)).status).toBe('scored');
    expect((await score(e)).status).toBe('duplicate');
    const other = run(u.id);
    const both = await Promise.all([score(other), score(other)]);
    expect(both.map((o) => o.status).sort()).toEqual(['duplicate', 'scored']);
    const entries = await rows(db(), sql`SELECT 1 FROM gamification.ledger WHERE user_id = ${u.id}`);
    expect(entries.length).toBe(2);
    expect(await balance(u.id, 'Automation XP')).toBe(20);
    // The (event id, rule id) constraint stands on its own, under the processed-events guard.
    const [entry] = await rows<{ event_id: string; rule_id: string }>(db(), sql`SELECT event_id, rule_id FROM gamification.ledger WHERE user_id = ${u.id} LIMIT 1`);
    await expect(
      db().execute(sql`INSERT INTO gamification.ledger (id, workspace_id, user_id, persona, metric, points, kind, event_id, rule_id, occurred_at, recorded_at)
        VALUES (${randomUUID()}, ${ws}, ${u.id}, 'vAutomator', 'Automation XP', 10, 'award', ${entry!.event_id}, ${entry!.rule_id}, now(), now())`),
    ).rejects.toThrow();
  });

  it('consumes events from the bus and publishes badges through the outbox', async () => {
    const u = await freshUser('Bus');
    await t.platform.startServices();
    const e = run(u.id);
    await t.platform.events.publish({ id: e.id, name: 'workflow.run.succeeded.v1', workspaceId: ws, actorId: u.id, payload: e.payload as EventEnvelope<'workflow.run.succeeded.v1'>['payload'] });
    const deadline = Date.now() + 15_000;
    while ((await balance(u.id, 'Automation XP')) === 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 25));
    expect(await balance(u.id, 'Automation XP')).toBe(10);
    expect((await outbox('gamification.badge.awarded.v1', u.id)).map((r) => r.payload.badgeKey)).toEqual(['first-automation']);
    // Handing the same envelope to the consumer again (a redelivery) changes nothing.
    expect((await score(e)).status).toBe('duplicate');
    expect(await balance(u.id, 'Automation XP')).toBe(10);
  });

  it('records admin adjustments and reversals in the audit log; the ledger itself is never updated', async () => {
    const u = await freshUser('Adjusted');
    const adj = await t.inject({
      method: 'POST',
      url: `/v1/workspaces/${ws}/gamification/adjustments`,
      headers: bearer(owner.token),
      payload: { userId: u.id, persona: 'vAnalyst', metric: 'Insight Points', points: 40, reason: 'Quarterly review bonus' },
    });
    expect(adj.statusCode, adj.body).toBe(201);
    const entryId = adj.json().entryId as string;
    expect(await balance(u.id, 'Insight Points')).toBe(40);
    const rev = await t.inject({ method: 'POST', url: `/v1/workspaces/${ws}/gamification/ledger/${entryId}/reversal`, headers: bearer(owner.token), payload: { reason: 'Granted twice' } });
    expect(rev.statusCode, rev.body).toBe(201);
    expect(await balance(u.id, 'Insight Points')).toBe(0);
    const again = await t.inject({ method: 'POST', url: `/v1/workspaces/${ws}/gamification/ledger/${entryId}/reversal`, headers: bearer(owner.token), payload: { reason: 'Granted twice' } });
    expect(problem(again).code).toBe('conflict');
    const audit = await t.platform.ctx.audit.list({ workspaceId: ws, action: 'gamification.*', limit: 50 });
    expect(audit.map((a) => [a.action, a.data.reason])).toEqual(
      expect.arrayContaining([
        ['gamification.points.adjusted', 'Quarterly review bonus'],
        ['gamification.points.reversed', 'Granted twice'],
      ]),
    );
    const refusal = (q: Promise<unknown>) => q.then(() => 'accepted', (err: Error & { cause?: Error }) => String(err.cause?.message ?? err.message));
    expect(await refusal(db().execute(sql`UPDATE gamification.ledger SET points = 1 WHERE id = ${entryId}`))).toMatch(/append-only/);
    expect(await refusal(db().execute(sql`DELETE FROM gamification.ledger WHERE id = ${entryId}`))).toMatch(/append-only/);
    const outsider = await signup(t, 'Outsider');
    const refused = await t.inject({
      method: 'POST',
      url: `/v1/workspaces/${ws}/gamification/adjustments`,
      headers: bearer(owner.token),
      payload: { userId: outsider.id, persona: 'vAnalyst', metric: 'Insight Points', points: 5, reason: 'not a member' },
    });
    expect(problem(refused).code).toBe('not_found');
  });

  it('lists ledger entries newest first with filters and pages, to managers of the workspace only', async () => {
    const u = await freshUser('Listed');
    const ledger = (query: string, who: TestUser = owner, workspace = ws) => t.inject({ method: 'GET', url: `/v1/workspaces/${workspace}/gamification/ledger?${query}`, headers: bearer(who.token) });
    const adjust = async (points: number, reason: string) => {
      const res = await t.inject({ method: 'POST', url: `/v1/workspaces/${ws}/gamification/adjustments`, headers: bearer(owner.token), payload: { userId: u.id, persona: 'vAnalyst', metric: 'Insight Points', points, reason } });
      expect(res.statusCode, res.body).toBe(201);
      t.clock.advance(1000);
      return res.json().entryId as string;
    };
    const first = await adjust(10, 'First bonus');
    const second = await adjust(20, 'Second bonus');
    await score(run(u.id));
    t.clock.advance(1000);
    const rev = await t.inject({ method: 'POST', url: `/v1/workspaces/${ws}/gamification/ledger/${first}/reversal`, headers: bearer(owner.token), payload: { reason: 'Too early' } });
    const reversal = rev.json().entryId as string;

    const all = await ledger(`userId=${u.id}`);
    expect(all.statusCode, all.body).toBe(200);
    const entries = all.json().entries as { id: string; kind: string; points: number; reverses: string | null; reversedBy: string | null; reason: string | null; actorId: string | null }[];
    expect(entries.map((e) => e.kind)).toEqual(['reversal', 'award', 'adjustment', 'adjustment']);
    expect(entries[0]).toMatchObject({ id: reversal, points: -10, reverses: first, reason: 'Too early', actorId: owner.id });
    expect(entries.find((e) => e.id === first)).toMatchObject({ reversedBy: reversal, points: 10 });
    expect(entries.find((e) => e.id === second)).toMatchObject({ reversedBy: null, reason: 'Second bonus' });

    const adjustments = await ledger(`userId=${u.id}&kind=adjustment`);
    expect(adjustments.json().entries.map((e: { id: string }) => e.id)).toEqual([second, first]);

    const pageOne = await ledger(`userId=${u.id}&limit=3`);
    expect(pageOne.json().entries).toHaveLength(3);
    const pageTwo = await ledger(`userId=${u.id}&limit=3&cursor=${pageOne.json().nextCursor}`);
    expect(pageTwo.json()).toEqual({ entries: [expect.objectContaining({ id: first })], nextCursor: null });
    expect(problem(await ledger('cursor=nonsense')).code).toBe('validation_failed');

    // A developer may not correct points, so may not list the ledger; another workspace sees nothing of it.
    expect(problem(await ledger(`userId=${u.id}`, dev)).code).toBe('forbidden');
    const other = await createWorkspace(t, owner, 'Other');
    expect((await ledger(`userId=${u.id}`, owner, other)).json().entries).toEqual([]);
    t.clock.advance(-3000);
  });
});

describe('streaks in the user time zone', () => {
  it('counts local days across the spring DST change and keeps a late-evening activity on its local day', async () => {
    const u = await freshUser('NewYorker');
    const put = await t.inject({ method: 'PUT', url: `/v1/workspaces/${ws}/gamification/me/settings`, headers: bearer(u.token), payload: { timezone: 'America/New_York' } });
    expect(put.statusCode).toBe(200);
    const badTz = await t.inject({ method: 'PUT', url: `/v1/workspaces/${ws}/gamification/me/settings`, headers: bearer(u.token), payload: { timezone: 'Mars/Olympus' } });
    expect(problem(badTz).code).toBe('validation_failed');
    // New York days 03-07 (EST), 03-08 (the 23-hour day) and 03-09 (EDT); in UTC these instants fall on 03-08, 03-08 and 03-10.
    for (const at of ['2026-03-08T04:30:00Z', '2026-03-08T23:30:00Z', '2026-03-10T03:30:00Z']) {
      t.clock.set(at);
      await score(run(u.id));
    }
    const automate = async () => (await g.profiles.profile(ws, u.id)).streaks.find((x) => x.activity === 'automate');
    t.clock.set('2026-03-10T12:00:00Z');
    expect(await automate()).toMatchObject({ current: 3, alive: true });
    // 23:50 on 03-09 in New York is still the same local day: the streak does not grow.
    t.clock.set('2026-03-10T03:50:00Z');
    await score(run(u.id));
    expect(await automate()).toMatchObject({ current: 3 });
    // The same instants for a user in UTC: 03-08 twice, then 03-10: the streak broke.
    const utc = await freshUser('Londoner');
    for (const at of ['2026-03-08T04:30:00Z', '2026-03-08T23:30:00Z', '2026-03-10T03:30:00Z']) {
      t.clock.set(at);
      await score(run(utc.id));
    }
    expect((await g.profiles.profile(ws, utc.id)).streaks[0]).toMatchObject({ current: 1, longest: 1 });
    t.clock.set('2026-11-23T12:00:00Z');
  });

  it('earns freezes by activity and spends them automatically on a missed day', async () => {
    const u = await freshUser('Freezer');
    const start = Date.parse('2026-06-01T10:00:00Z');
    for (let d = 0; d < 7; d++) {
      t.clock.set(new Date(start + d * D));
      await score(run(u.id));
    }
    t.clock.set(new Date(start + 6 * D + H));
    expect((await g.profiles.profile(ws, u.id)).streaks[0]).toMatchObject({ activity: 'automate', current: 7, freezes: 1 });
    // Day 8 missed: still alive on day 9, the freeze shown as spent.
    t.clock.set(new Date(start + 8 * D));
    expect((await g.profiles.profile(ws, u.id)).streaks[0]).toMatchObject({ current: 7, alive: true, freezes: 0, freezesUsed: 1 });
    await score(run(u.id));
    expect((await g.profiles.profile(ws, u.id)).streaks[0]).toMatchObject({ current: 8, freezes: 0, freezesUsed: 1 });
    // The 7-day streak bonus (×2) applied on day 7 and on day 9.
    const day7 = await rows<{ points: number }>(db(), sql`SELECT points FROM gamification.ledger WHERE user_id = ${u.id} ORDER BY occurred_at`);
    expect(day7.map((r) => r.points)).toEqual([10, 10, 10, 10, 10, 10, 20, 20]);
    // Two missed days without freezes: the streak is over.
    t.clock.set(new Date(start + 11 * D + H));
    expect((await g.profiles.profile(ws, u.id)).streaks[0]).toMatchObject({ current: 0, alive: false, longest: 8 });
    await score(run(u.id));
    expect((await g.profiles.profile(ws, u.id)).streaks[0]).toMatchObject({ current: 1, longest: 8 });
    t.clock.set('2026-11-23T12:00:00Z');
  });
});

describe('badges, levels and rewards', () => {
  it('awards a count badge exactly at the threshold, once, and grants its reward as an entitlement', async () => {
    const u = await freshUser('Builder');
    for (let i = 0; i < 4; i++) await score(deploy(u.id));
    expect((await outbox('gamification.badge.awarded.v1', u.id)).length).toBe(0);
    await score(deploy(u.id));
    await score(deploy(u.id));
    expect((await outbox('gamification.badge.awarded.v1', u.id)).map((r) => r.payload.badgeKey)).toEqual(['rapid-builder']);
    expect((await profile(owner, u.id)).badges.map((b: { key: string }) => b.key)).toEqual(['rapid-builder']);
    const contract = t.platform.ctx.contracts.get<import('../../src/services/gamification/contract.js').GamificationContract>('gamification');
    expect(await contract.hasEntitlement(ws, u.id, 'builder-template-pack')).toBe(true);
    expect(await contract.hasEntitlement(ws, u.id, 'trendsetter-flair')).toBe(false);
    expect((await outbox('gamification.reward.granted.v1', u.id)).map((r) => r.payload.rewardKey)).toEqual(['builder-template-pack']);
  });

  it('awards a points-within-a-window badge only when the points fall inside the window', async () => {
    const u = await freshUser('Analyst');
    const insight = () => envelope('analytics.insight.created.v1', u.id, { insightId: randomUUID(), title: 'x' });
    const base = Date.parse('2026-07-01T09:00:00Z');
    t.clock.set(new Date(base));
    for (let i = 0; i < 10; i++) await score(insight()); // 250 (daily cap)
    t.clock.set(new Date(base + 40 * D)); // the first 250 leave the 30-day window
    for (let i = 0; i < 10; i++) await score(insight());
    expect((await outbox('gamification.badge.awarded.v1', u.id)).length).toBe(0);
    t.clock.set(new Date(base + 41 * D));
    for (let i = 0; i < 9; i++) await score(insight());
    expect((await outbox('gamification.badge.awarded.v1', u.id)).length).toBe(0); // 475
    await score(insight());
    expect((await outbox('gamification.badge.awarded.v1', u.id)).map((r) => r.payload.badgeKey)).toEqual(['insight-machine']);
    t.clock.set('2026-11-23T12:00:00Z');
  });

  it('levels up along the persona curve with one event per level', async () => {
    const u = await freshUser('Leveller');
    const adj = (points: number) =>
      t.inject({ method: 'POST', url: `/v1/workspaces/${ws}/gamification/adjustments`, headers: bearer(owner.token), payload: { userId: u.id, persona: 'vAutomator', metric: 'Automation XP', points, reason: 'level test' } });
    expect((await adj(90)).statusCode).toBe(201);
    expect((await outbox('gamification.level.up.v1', u.id)).length).toBe(0);
    await adj(200); // 290 XP: levels 2 (100) and 3 (283)
    expect((await outbox('gamification.level.up.v1', u.id)).map((r) => r.payload.level)).toEqual([2, 3]);
    const lv = (await profile(u)).levels.find((l: { persona: string }) => l.persona === 'vAutomator');
    expect(lv).toMatchObject({ level: 3, xp: 290, levelXp: 283, nextLevelXp: 520 });
    await adj(600); // level 5 unlocks the automation shortcuts
    expect(await t.platform.ctx.contracts.get<import('../../src/services/gamification/contract.js').GamificationContract>('gamification').hasEntitlement(ws, u.id, 'automation-shortcuts')).toBe(true);
  });
});

describe('leaderboards', () => {
  it('gives the same answers on PostgreSQL and on Redis for the same input, ties included', async () => {
    await withTestRedis(async (redis, prefix) => {
      const boards = new LeaderboardRepository(db());
      const pg = new PostgresLeaderboard(boards);
      const rd = new RedisLeaderboard(redis, boards, prefix);
      const workspaceId = randomUUID();
      const ref = { workspaceId, board: 'workspace', period: 'all' };
      const users = Array.from({ length: 60 }, () => randomUUID());
      // Deterministic scores with many ties; several rounds of changes, some negative.
      let seed = 7;
      const rnd = () => (seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31;
      for (let round = 0; round < 4; round++) {
        await db().transaction(async (tx) => {
          const entries = users.filter(() => rnd() < 0.7).map((userId) => ({ workspaceId, board: 'workspace', period: 'all', userId, delta: Math.floor(rnd() * 8) * 5 - 5 }));
          await new ScoringRepository(db()).addScores(entries, true, tx);
        });
        while ((await rd.drain(17)) > 0);
      }
      const top = await pg.top(ref, 10);
      expect(top.length).toBe(10);
      expect(await rd.top(ref, 10)).toEqual(top);
      expect(await rd.top(ref, 100)).toEqual(await pg.top(ref, 100));
      expect(await rd.size(ref)).toBe(await pg.size(ref));
      const scores = (await pg.top(ref, 100)).map((s) => s.score);
      expect(new Set(scores).size).toBeLessThan(scores.length); // ties exist
      for (const u of users) expect(await rd.around(ref, u, 3), u).toEqual(await pg.around(ref, u, 3));
      expect(await rd.around(ref, randomUUID(), 3)).toBeNull();
      // Redis lost its data: the board is rebuilt from PostgreSQL on the next read.
      await redis.del(rd.key(ref), `${rd.key(ref)}:ready`);
      expect(await new RedisLeaderboard(redis, boards, prefix).top(ref, 10)).toEqual(top);
    });
  });

  it('marks a member once per set of changed entries and copies every entry to Redis, archived boards left out (ADR 0088)', async () => {
    await withTestRedis(async (redis, prefix) => {
      const boards = new LeaderboardRepository(db());
      // The platform's own projection when it has one (its drain timer runs too), else one of this test's.
      const rd = g.redis ?? new RedisLeaderboard(redis, boards, prefix);
      const workspaceId = randomUUID();
      const [a, b, c] = [randomUUID(), randomUUID(), randomUUID()];
      const award = (userId: string, persona: string, week: string, delta: number) =>
        ['workspace', persona].flatMap((board) => ['all', week, 'month:2026-11'].map((period) => ({ workspaceId, board, period, userId, delta })));
      // a: two awards in one week (two personas); b: the same plus a late award in the week before; c: one entry (per-event path).
      const scores = [
        ...award(a, 'vAutomator', 'week:2026-W48', 5),
        ...award(a, 'vCreator', 'week:2026-W48', 7),
        ...award(b, 'vAutomator', 'week:2026-W48', 3),
        ...award(b, 'vCreator', 'week:2026-W47', 2),
      ].sort((x, y) => `${x.userId}|${x.board}|${x.period}`.localeCompare(`${y.userId}|${y.board}|${y.period}`));
      const merged = [...new Map(scores.map((s) => [`${s.userId}|${s.board}|${s.period}`, s])).values()].map((s) => ({
        ...s,
        delta: scores.filter((x) => x.userId === s.userId && x.board === s.board && x.period === s.period).reduce((n, x) => n + x.delta, 0),
      }));
      // A board name an array literal must quote (marks carry their boards as text[]).
      const odd = 'Odd "board", {x} \\ null';
      merged.push({ workspaceId, board: odd, period: 'all', userId: c, delta: 2 });
      // The marks are read before commit: a drain timer of the platform may take them right after.
      const marks = await db().transaction(async (tx) => {
        await new BatchScoringRepository().write({ streaks: [], caps: [], awards: [], balances: [], scores: merged, levels: [], badges: [], entitlements: [] }, true, t.clock.now().toISOString(), tx);
        await new ScoringRepository(db()).addScores([{ workspaceId, board: 'vAnalyst', period: 'all', userId: c, delta: 4 }], true, tx);
        return rows<{ user_id: string; boards: string[]; periods: string[] }>(tx, sql`SELECT user_id, boards, periods FROM gamification.board_sync WHERE workspace_id = ${workspaceId} ORDER BY user_id, boards, periods`);
      });
      const of = (u: string) => marks.filter((m) => m.user_id === u).map((m) => [m.boards, m.periods]);
      expect(of(a)).toEqual([[['vAutomator', 'vCreator', 'workspace'], ['all', 'month:2026-11', 'week:2026-W48']]]);
      expect(of(b).sort((x, y) => JSON.stringify(x).localeCompare(JSON.stringify(y)))).toEqual([
        [['vAutomator', 'vCreator', 'workspace'], ['all', 'month:2026-11']],
        [['vAutomator', 'workspace'], ['week:2026-W48']],
        [['vCreator', 'workspace'], ['week:2026-W47']],
      ]);
      expect(of(c)).toEqual([
        [[odd], ['all']],
        [['vAnalyst'], ['all']],
      ]);

      // The closed week W47 is archived while its marks are pending: its entries are not copied.
      await new ProfileRepository(db()).archiveBoard({ workspace_id: workspaceId, board: 'vCreator', period: 'week:2026-W47' }, t.clock.now().toISOString());
      await rd.remove({ workspaceId, board: 'vCreator', period: 'week:2026-W47' }); // as archiveClosedPeriods does
      while ((await rd.drain(2)) > 0);
      const live = await expectRedisMatchesPostgres(redis, rd, boards, workspaceId);
      expect(live.length).toBe(12);
      // Only the live boards have keys (no ready markers yet: nothing was read).
      expect((await redis.keys(rd.key({ workspaceId, board: '*', period: '*' }))).sort()).toEqual(live.map((r) => rd.key({ workspaceId, ...r })).sort());
      for (const key of await redis.keys(rd.key({ workspaceId, board: '*', period: '*' }))) await redis.del(key);
    });
  });

  it('projects a scoring batch to Redis through its marks: one per member and set of periods (ADR 0088)', async () => {
    await withTestRedis(async (redis, prefix) => {
      const boards = new LeaderboardRepository(db());
      const rd = g.redis ?? new RedisLeaderboard(redis, boards, prefix);
      const scoring = new ScoringService(db(), new ScoringRepository(db()), g.configs, t.platform.ctx.events, t.platform.ctx.audit, t.clock, { redis: true });
      const workspaceId = randomUUID();
      const [a, b] = [randomUUID(), randomUUID()];
      const at = (iso: string) => ({ workspaceId, occurredAt: new Date(iso).toISOString() });
      const batch = [
        envelope('workflow.run.succeeded.v1', a, { runId: 'r', workflowId: 'wf', workflowVersion: 1, durationMs: 5 }, at('2026-11-23T09:00:00Z')),
        envelope('content.post.published.v1', a, { postId: 'p', channel: 'x' }, at('2026-11-23T10:00:00Z')),
        envelope('workflow.run.succeeded.v1', b, { runId: 'r', workflowId: 'wf', workflowVersion: 1, durationMs: 5 }, at('2026-11-23T11:00:00Z')),
        envelope('content.post.published.v1', b, { postId: 'p', channel: 'x' }, at('2026-11-18T10:00:00Z')), // late: the week before
      ];
      const marks = await db().transaction(async (tx) => {
        await scoring.handleBatch(batch, tx);
        return rows<{ user_id: string; boards: string[]; periods: string[] }>(tx, sql`SELECT user_id, boards, periods FROM gamification.board_sync WHERE workspace_id = ${workspaceId} ORDER BY user_id, periods`);
      });
      expect(marks.filter((m) => m.user_id === a).map((m) => [m.boards, m.periods])).toEqual([[['vAutomator', 'vCreator', 'workspace'], ['all', 'month:2026-11', 'week:2026-W48']]]);
      expect(marks.filter((m) => m.user_id === b).map((m) => [m.boards, m.periods])).toEqual([
        [['vCreator', 'workspace'], ['all', 'month:2026-11', 'week:2026-W47']],
        [['vAutomator', 'workspace'], ['all', 'month:2026-11', 'week:2026-W48']],
      ]);
      while ((await rd.drain(1)) > 0);
      const live = await expectRedisMatchesPostgres(redis, rd, boards, workspaceId);
      expect(live.length).toBe(11);
      const keys = await redis.keys(rd.key({ workspaceId, board: '*', period: '*' }));
      expect(keys.length).toBe(live.length);
      for (const key of keys) await redis.del(key);
    });
  });

  it('answers around-me on Redis while a drain moves the member (rank and range read as one)', async () => {
    const writer = new Redis(TEST_REDIS_URL, { maxRetriesPerRequest: 2 });
    await withTestRedis(async (redis, prefix) => {
      const rd = new RedisLeaderboard(redis, new LeaderboardRepository(db()), prefix);
      const ref = { workspaceId: randomUUID(), board: 'workspace', period: 'all' };
      const key = rd.key(ref);
      const me = randomUUID();
      const others = Array.from({ length: 40 }, () => randomUUID());
      await writer.zadd(key, 50, me, ...others.flatMap((u, i) => [i * 2.5, u]));
      await writer.set(`${key}:ready`, '1');
      // Other members' scores jump across the member's while around-me is asked, as a drain does.
      let stop = false;
      const churn = (async () => {
        for (let i = 0; !stop; i++) await writer.zadd(key, i % 2 ? 0 : 100, others[i % others.length]!, (i + 7) % 2 ? 100 : 0, others[(i + 7) % others.length]!);
      })();
      for (let i = 0; i < 300; i++) {
        const found = (await rd.around(ref, me, i % 3))!;
        expect(found.me).toMatchObject({ userId: me, score: 50 });
        expect(found.neighbours.map((n) => n.rank)).toEqual(found.neighbours.map((_, j) => found.neighbours[0]!.rank + j));
      }
      stop = true;
      await churn;
    }).finally(() => writer.disconnect());
  });

  it('serves top N and around-me per workspace and persona, per period, and archives closed periods', async () => {
    const other = randomUUID();
    const lbWs = await createWorkspace(t, owner, 'Leagues');
    const players: TestUser[] = [];
    for (let i = 0; i < 4; i++) {
      const p = await signup(t, `Player ${i}`);
      await addMember(t, lbWs, owner, p, 'viewer');
      players.push(p);
    }
    t.clock.set('2026-11-25T12:00:00Z'); // Wednesday of 2026-W48
    const e = (p: TestUser) => envelope('workflow.run.succeeded.v1', p.id, { runId: randomUUID(), workflowId: other, workflowVersion: 1, durationMs: 1 }, { workspaceId: lbWs });
    for (const [i, p] of players.entries()) for (let k = 0; k <= i; k++) await score(e(p));
    // vCreator 50 + founder 20: first on the workspace board, last on the vAutomator board.
    await score(envelope('content.campaign.launched.v1', players[0]!.id, { campaignId: 'c', name: 'Launch', channels: ['x'] }, { workspaceId: lbWs }));
    const get = async (url: string, user = players[0]!) => {
      const r = await t.inject({ method: 'GET', url: `/v1/workspaces/${lbWs}/gamification/${url}`, headers: bearer(user.token) });
      expect(r.statusCode, r.body).toBe(200);
      return r.json();
    };
    const top = await get('leaderboards?board=workspace&period=week&limit=3');
    expect(top.period).toBe('week:2026-W48');
    expect(top.standings.map((s: { userId: string; score: number }) => [s.userId, s.score])).toEqual([
      [players[0]!.id, 80],
      [players[3]!.id, 40],
      [players[2]!.id, 30],
    ]);
    const persona = await get('leaderboards?board=vAutomator&period=all');
    expect(persona.standings.map((s: { score: number }) => s.score)).toEqual([40, 30, 20, 10]);
    const around = await get('leaderboards/around-me?board=vAutomator&radius=1');
    expect(around.me).toMatchObject({ rank: 4, userId: players[0]!.id, score: 10 });
    expect(around.neighbours.map((s: { rank: number }) => s.rank)).toEqual([3, 4]);
    expect((await get('me', players[3]!)).profile.rank).toEqual({ all: 2, week: 2, month: 2 });

    // The next week: W48 closes (after a day of grace) and is archived; the new week starts empty.
    t.clock.set('2026-12-02T12:00:00Z');
    expect(await g.profiles.archiveClosedPeriods()).toBeGreaterThan(0);
    expect((await get('leaderboards?board=workspace&period=week')).standings).toEqual([]);
    const archived = await get('leaderboards?board=workspace&period=week:2026-W48&limit=2');
    expect(archived.standings.map((s: { rank: number; score: number }) => [s.rank, s.score])).toEqual([
      [1, 80],
      [2, 40],
    ]);
    expect((await get('leaderboards?board=workspace&period=all')).standings.length).toBe(4);
    const bad = await t.inject({ method: 'GET', url: `/v1/workspaces/${lbWs}/gamification/leaderboards?board=nobody`, headers: bearer(owner.token) });
    expect(problem(bad).code).toBe('validation_failed');
    t.clock.set('2026-11-23T12:00:00Z');
  });
});

describe('personal data', () => {
  it('exports and erases a user’s ledger, balances, streaks and badges', async () => {
    const u = await freshUser('Leaving');
    for (let i = 0; i < 5; i++) await score(deploy(u.id));
    const handler = t.platform.personalData.get('gamification')!;
    const exported = await handler.exportUser(u.id);
    expect((exported.ledger as unknown[]).length).toBe(10); // vBuilder + founder rules
    expect((exported.badges as unknown[]).length).toBe(1);
    const erased = await handler.eraseUser(u.id);
    expect(erased).toMatchObject({ ledger: 10, user_badges: 1 });
    const after = await handler.exportUser(u.id);
    expect(Object.values(after).every((v) => (v as unknown[]).length === 0)).toBe(true);
  });

  it('purges ledger entries past the retention window but keeps the balances', async () => {
    const u = await freshUser('Old');
    t.clock.set('2026-01-10T12:00:00Z');
    await score(run(u.id));
    t.clock.set('2026-11-23T12:00:00Z');
    const rule = t.platform.instances.get('gamification')!.retention!.find((r) => r.name.startsWith('gamification ledger'))!;
    expect(await rule.purge(t.clock.now())).toBeGreaterThan(0);
    expect((await rows(db(), sql`SELECT 1 FROM gamification.ledger WHERE user_id = ${u.id}`)).length).toBe(0);
    expect(await balance(u.id, 'Automation XP')).toBe(10);
  });
});
