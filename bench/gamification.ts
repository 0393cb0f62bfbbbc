/**
 * `npm run bench -- gamification [events] [members] [scored]`: rule evaluation throughput (`events`,
 * default 1M, through the default rules plus a JSONata-filtered one), leaderboard top-10 and
 * around-me latency with `members` (default 1M, seeded with generate_series) on Redis and on
 * PostgreSQL (same rows in both; PostgreSQL also with the pre-ADR-0062 count of the rows above as
 * the baseline), and end-to-end scoring (ledger, caps, streaks, balances, leaderboards, levels,
 * badges) of `scored` events (default 20,000) on PostgreSQL and on PGlite: through the postgres bus
 * with the batch handler (what the platform runs) beside the per-event path (one transaction per
 * event, the baseline, measured for at most ~10 s). With V01T_BENCH_GAMIFICATION_DRAIN=1 the Redis
 * projection drains every 250 ms while PostgreSQL scores, as the service runs it.
 *
 * PGlite scores twice: in memory (`_pglite` figures, the bench's figure since ADR 0083) and in a
 * data folder on disk (`_pglite_data_folder`, what `npm start` runs; ADR 0093: PGlite's in-memory
 * file system costs about a quarter of the in-memory figure's CPU), the latter without the
 * per-event baseline. V01T_BENCH_GAMIFICATION_ONLY=pglite runs only these two PGlite scoring phases
 * (no rule evaluation, leaderboards or PostgreSQL; ~30 s) for quick A/B runs; to run one build's
 * PGlite phase against another's dist, see bench/sizing/pglite-scoring.mjs.
 */
import { randomUUID } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { sql } from 'drizzle-orm';
import { Redis } from 'ioredis';
import { AuditLog, AUDIT_MIGRATIONS } from '../src/kernel/audit/index.js';
import { systemClock } from '../src/kernel/clock.js';
import { openDatabase } from '../src/kernel/db/database.js';
import { migrate } from '../src/kernel/db/migrate.js';
import { EventBackbone, EVENTS_MIGRATION_SET } from '../src/kernel/events/index.js';
import { createLogger } from '../src/kernel/telemetry/logger.js';
import { ConfigRepository } from '../src/services/gamification/config.repository.js';
import { DEFAULT_RULES } from '../src/services/gamification/defaults.js';
import { PostgresLeaderboard, RedisLeaderboard } from '../src/services/gamification/leaderboard.js';
import { LeaderboardRepository } from '../src/services/gamification/leaderboard.repository.js';
import { ScoringRepository } from '../src/services/gamification/scoring.repository.js';
import { GAMIFICATION_MIGRATIONS } from '../src/services/gamification/migrations.js';
import { RuleSet, pointsWithBonus } from '../src/services/gamification/rules.js';
import { ruleSchema } from '../src/services/gamification/schemas.js';
import { ScoringService } from '../src/services/gamification/scoring.service.js';
import { setImmediate as nextTurn } from 'node:timers/promises';
import { PostgresBus } from '../src/kernel/events/postgres-bus.js';
import type { Db } from '../src/kernel/db/database.js';
import type { EventName, NewEvent } from '../src/kernel/events/index.js';
// The event catalog: what the scored events and the events scoring publishes are validated against.
import '../src/services/gamification/events.js';
import '../src/services/workflow-engine/events.js';
import '../src/services/content-scheduler/events.js';
import '../src/services/analytics-engine/events.js';
import { freshDatabase } from './support/postgres.js';

const PG_URL = process.env.V01T_BENCH_PG_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
const REDIS_URL = process.env.V01T_BENCH_REDIS_URL ?? 'redis://127.0.0.1:6379';

/**
 * Statement counts and client-side time per statement kind while `on` (the load-independent
 * measures: statements per event, and which statements the time goes to).
 */
export const statements = {
  on: false,
  byKind: new Map<string, { n: number; s: number }>(),
  observe(queryType: string, table: string, seconds: number) {
    if (!statements.on) return;
    const key = `${queryType} ${table}`;
    const e = statements.byKind.get(key) ?? { n: 0, s: 0 };
    e.n++;
    e.s += seconds;
    statements.byKind.set(key, e);
  },
  start() {
    statements.byKind.clear();
    statements.on = true;
  },
  stop(): { n: number; s: number } {
    statements.on = false;
    let n = 0;
    let s = 0;
    for (const e of statements.byKind.values()) {
      n += e.n;
      s += e.s;
    }
    return { n, s };
  },
};

/**
 * CPU time (user + system, ms) per PostgreSQL server process serving `db`'s database (Linux /proc;
 * null elsewhere). Compare two readings per process: a pooled connection that closed in between
 * (idle timeout) is simply absent from the second.
 */
async function serverCpuMs(db: Db): Promise<Map<number, number> | null> {
  const pids = rowsOf<{ pid: number }>(await db.execute(sql`SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND backend_type = 'client backend'`)).map((r) => r.pid);
  const out = new Map<number, number>();
  try {
    for (const pid of pids) {
      const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
      const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      out.set(pid, (Number(f[11]) + Number(f[12])) * 10); // USER_HZ = 100 on Linux
    }
  } catch {
    return null;
  }
  return out;
}

/** CPU ms the server processes spent between two readings (processes that started in between count from 0). */
const cpuBetween = (a: Map<number, number>, b: Map<number, number>) => [...b].reduce((sum, [pid, ms]) => sum + ms - (a.get(pid) ?? 0), 0);

const quantile = (q: number) => (samples: number[]) => {
  const s = [...samples].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor(s.length * q))]!;
};
const p99 = quantile(0.99);
const p50 = quantile(0.5);
async function timed(n: number, fn: (i: number) => Promise<unknown>): Promise<number[]> {
  const out: number[] = [];
  for (let i = 0; i < n; i++) {
    const t0 = performance.now();
    await fn(i);
    out.push(performance.now() - t0);
  }
  return out;
}

async function ruleEvaluation(events: number): Promise<number> {
  const now = new Date().toISOString();
  const rules = [
    ...DEFAULT_RULES,
    { ...DEFAULT_RULES[0]!, name: 'LinkedIn posts', filter: 'payload.channel = "linkedin" and $exists(payload.campaignId)', metric: 'Reach Points', points: 7 },
  ].map((r) => ruleSchema.parse({ ...r, id: randomUUID(), createdAt: now, updatedAt: now }));
  const set = new RuleSet(rules);
  const names = [
    'workflow.run.succeeded.v1',
    'content.post.published.v1',
    'content.campaign.launched.v1',
    'workflow.deployment.succeeded.v1',
    'analytics.report.run.v1',
    'analytics.insight.created.v1',
    'workflow.run.failed.v1',
  ];
  const payloads = names.map((name, i) => ({ name, payload: { runId: 'r', channel: i % 2 ? 'linkedin' : 'x', campaignId: 'c', durationMs: 10 }, actorId: 'u', occurredAt: now }));
  let points = 0;
  const t0 = performance.now();
  for (let i = 0; i < events; i++) {
    for (const rule of await set.match(payloads[i % payloads.length]!)) points += pointsWithBonus(rule, () => 3).points;
  }
  const seconds = (performance.now() - t0) / 1000;
  if (points <= 0) throw new Error('no points: the rules did not match');
  return events / seconds;
}

export default async function bench(args: string[]): Promise<Record<string, number>> {
  const events = Number(args[0] ?? 1_000_000);
  const members = Number(args[1] ?? 1_000_000);
  const scored = Number(args[2] ?? 20_000);
  const figures: Record<string, number> = {};
  if (process.env.V01T_BENCH_GAMIFICATION_ONLY === 'pglite') return Object.assign(figures, await pgliteScoring(scored));
  figures.rule_eval_events_per_s = await ruleEvaluation(events);
  figures.rule_eval_events = events;

  const fresh = await freshDatabase(PG_URL);
  const database = await openDatabase({ url: fresh.url, poolMax: 4, statementTimeoutMs: 600_000, observe: statements.observe });
  const redis = new Redis(REDIS_URL, { maxRetriesPerRequest: 2 });
  const prefix = `v01t-bench:${randomUUID()}:`;
  try {
    await migrate(database, [
      { service: 'kernel', migrations: AUDIT_MIGRATIONS },
      EVENTS_MIGRATION_SET,
      { service: 'gamification', migrations: GAMIFICATION_MIGRATIONS },
    ]);
    const db = database.orm;
    const workspaceId = randomUUID();
    const ref = { workspaceId, board: 'workspace', period: 'all' };

    // The same members and scores in both stores; scores in 0..99,999 so ties are common.
    const t0 = performance.now();
    for (let loaded = 0; loaded < members; loaded += 100_000) {
      await database.query(
        `INSERT INTO gamification.scores (workspace_id, board, period, user_id, score)
         SELECT $1::uuid, 'workspace', 'all', gen_random_uuid(), floor(random() * 100000)::bigint FROM generate_series(1, $2::int)`,
        [workspaceId, Math.min(100_000, members - loaded)],
      );
    }
    // Steady state: autovacuum would have set the visibility map, which index-only rank counts need.
    await database.query('VACUUM ANALYZE gamification.scores');
    await database.query('VACUUM ANALYZE gamification.score_counts');
    figures.load_s_postgres = (performance.now() - t0) / 1000;
    const rd = new RedisLeaderboard(redis, new LeaderboardRepository(db), prefix);
    const t1 = performance.now();
    await rd.rebuild(ref);
    figures.load_s_redis = (performance.now() - t1) / 1000;
    const pg = new PostgresLeaderboard(new LeaderboardRepository(db, database));
    figures.members_postgres = await pg.size(ref);
    figures.members_redis = await rd.size(ref);

    const sample = (await database.query<{ user_id: string }>(`SELECT user_id FROM gamification.scores TABLESAMPLE SYSTEM (1) LIMIT 1000`)).map((r) => r.user_id);
    const pick = (i: number) => sample[i % sample.length]!;
    const [top] = await Promise.all([pg.top(ref, 10)]);
    if (JSON.stringify(top) !== JSON.stringify(await rd.top(ref, 10))) throw new Error('the stores disagree on the top 10');

    // Each figure with its p50, and the round trip of a no-op on the same connection as a floor:
    // on a shared, loaded 2-core box the p99 is mostly scheduling delay.
    const put = (what: string, store: string, samples: number[]) => {
      figures[`${what}_p99_ms_${store}`] = p99(samples);
      figures[`${what}_p50_ms_${store}`] = p50(samples);
    };
    put('noop_roundtrip', 'redis', await timed(2000, () => redis.ping()));
    put('top10', 'redis', await timed(2000, () => rd.top(ref, 10)));
    put('around_me', 'redis', await timed(2000, (i) => rd.around(ref, pick(i), 5)));
    put('noop_roundtrip', 'postgres', await timed(1000, () => database.query('SELECT 1')));
    put('top10', 'postgres', await timed(500, () => pg.top(ref, 10)));
    put('around_me', 'postgres', await timed(1000, (i) => pg.around(ref, pick(i), 5)));
    figures[`around_me_p99_ms_postgres_${label(members)}`] = figures.around_me_p99_ms_postgres!;
    // Baseline: the same answer with the rank counted over every row above (the query before ADR 0062).
    const repo = new LeaderboardRepository(db);
    const scan = await timed(30, async (i) => {
      const me = pick(i);
      const mine = (await repo.score(ref, me))!;
      const [byScan, byCounts] = [await repo.countAboveByScan(ref, mine, me), await repo.countAbove(ref, mine, me)];
      if (byScan !== byCounts) throw new Error(`ranks disagree for ${me}: ${byScan} by scan, ${byCounts} from bucket counts`);
    });
    figures[`around_me_by_scan_p99_ms_postgres_${label(members)}`] = p99(scan);
    figures[`around_me_by_scan_p50_ms_postgres_${label(members)}`] = p50(scan);

    // V01T_BENCH_GAMIFICATION_DRAIN=1: the Redis projection drains every 250 ms while scoring, as the
    // service runs it (its marks' inserts, deletes and lookups then count in the server CPU; ADR 0088).
    let draining = process.env.V01T_BENCH_GAMIFICATION_DRAIN === '1';
    let drainedDuring = 0;
    const drainLoop = (async () => {
      while (draining) {
        for (let n; (n = await rd.drain()) > 0; ) drainedDuring += n;
        await new Promise((r) => setTimeout(r, 250));
      }
    })();
    Object.assign(figures, await scoringThroughput(db, 'postgres', scored, async () => {
      draining = false;
      await drainLoop;
      if (drainedDuring) figures.redis_entries_drained_while_scoring = drainedDuring;
      const t3 = performance.now();
      let drained = 0;
      for (let n; (n = await rd.drain(1000)) > 0; ) drained += n;
      if (drained) figures.redis_projection_entries_per_s = drained / ((performance.now() - t3) / 1000);
    }));
  } finally {
    const keys = await redis.keys(`${prefix}*`);
    if (keys.length) await redis.del(...keys);
    redis.disconnect();
    await database.close();
    await fresh.drop();
  }
  return Object.assign(figures, await pgliteScoring(scored));
}

/**
 * PGlite's scoring figures: `scored / 4` events in memory (with the per-event baseline), then the
 * same in a fresh data folder under the OS temp directory (removed after), as `npm start` runs it.
 */
async function pgliteScoring(scored: number): Promise<Record<string, number>> {
  const n = Math.max(1000, Math.round(scored / 4));
  const out: Record<string, number> = {};
  const dir = mkdtempSync(path.join(tmpdir(), 'v01t-bench-gamification-'));
  try {
    for (const dataDir of [undefined, path.join(dir, 'db')]) await pgliteOnce(dataDir, n, out);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  return out;
}

async function pgliteOnce(dataDir: string | undefined, n: number, out: Record<string, number>): Promise<void> {
  const embedded = await openDatabase({ observe: statements.observe, ...(dataDir ? { dataDir } : {}) });
  try {
    await migrate(embedded, [{ service: 'kernel', migrations: AUDIT_MIGRATIONS }, EVENTS_MIGRATION_SET, { service: 'gamification', migrations: GAMIFICATION_MIGRATIONS }]);
    const figures = await scoringThroughput(embedded.orm, 'pglite', n, undefined, dataDir ? 0 : undefined);
    for (const [key, value] of Object.entries(figures)) {
      if (!dataDir) out[key] = value;
      else if (!key.endsWith('_per_event')) out[`${key}_data_folder`] = value;
    }
  } finally {
    await embedded.close();
  }
}

const label = (n: number) => (n >= 1_000_000 && n % 1_000_000 === 0 ? `${n / 1_000_000}m` : n >= 1000 && n % 1000 === 0 ? `${n / 1000}k` : String(n));

/** A realistic mix: workflow runs and deployments, posts, campaigns, reports and insights from 2,000 members. */
function eventMix(workspaceId: string, n: number): NewEvent<EventName>[] {
  const users = Array.from({ length: 2000 }, () => randomUUID());
  const kinds: Pick<NewEvent<EventName>, 'name' | 'payload'>[] = [
    { name: 'workflow.run.succeeded.v1', payload: { runId: 'r', workflowId: 'wf', workflowVersion: 1, durationMs: 5 } },
    { name: 'workflow.run.succeeded.v1', payload: { runId: 'r', workflowId: 'wf', workflowVersion: 1, durationMs: 5 } },
    { name: 'workflow.deployment.succeeded.v1', payload: { deploymentId: 'd', workflowId: 'wf', environment: 'prod' } },
    { name: 'content.post.published.v1', payload: { postId: 'p', channel: 'linkedin' } },
    { name: 'content.campaign.launched.v1', payload: { campaignId: 'c', name: 'C', channels: ['x'] } },
    { name: 'analytics.report.run.v1', payload: { reportId: null, kind: 'funnel' } },
  ] as never;
  const start = Date.now() - 20 * 86_400_000;
  return Array.from({ length: n }, (_, i) => ({ ...kinds[i % kinds.length]!, workspaceId, actorId: users[(i * 7919) % users.length]!, occurredAt: new Date(start + Math.floor((i / n) * 20 * 86_400_000)) }));
}

/**
 * Scored events per second on one engine: the per-event path (a transaction per event, four at a
 * time on PostgreSQL, as the old consumer ran) for at most ~10 s, then the bus with the batch
 * handler draining `n` published events. Each in its own workspace; the answers are checked.
 */
export async function scoringThroughput(db: Db, engine: 'postgres' | 'pglite', n: number, afterBus?: () => Promise<void>, baselineMs = 10_000): Promise<Record<string, number>> {
  // The service's default GAMIFICATION_SCORING_BATCH (500 on PostgreSQL, 200 on PGlite) unless V01T_BENCH_GAMIFICATION_BATCH says otherwise.
  const batchMax = Number(process.env.V01T_BENCH_GAMIFICATION_BATCH ?? (engine === 'pglite' ? 200 : 500));
  const out: Record<string, number> = {};
  const logger = createLogger('silent');
  const events = new EventBackbone({ db, clock: systemClock, logger, config: { bus: 'postgres', pollMs: 1000, maxAttempts: 3, kafka: { brokers: [], clientId: 'b', topicPrefix: 'b.', partitions: 1 } } });
  const scoring = new ScoringService(db, new ScoringRepository(db), new ConfigRepository(db, systemClock), events, new AuditLog(db, systemClock), systemClock, { redis: engine === 'postgres' });

  // Baseline: the per-event path.
  const old = eventMix(randomUUID(), n).map((e, i) => ({ ...e, id: randomUUID(), occurredAt: e.occurredAt!.toISOString(), actorId: e.actorId!, workspaceId: e.workspaceId!, i }));
  await db.transaction((tx) => scoring.handle(old[0] as never, tx)); // seeds the workspace
  let next = 1;
  const t0 = performance.now();
  await Promise.all(
    Array.from({ length: engine === 'postgres' ? 4 : 1 }, async () => {
      while (next < old.length && performance.now() - t0 < baselineMs) {
        const e = old[next++]!;
        await db.transaction((tx) => scoring.handle(e as never, tx));
      }
    }),
  );
  out[`scored_events_per_s_${engine}_per_event`] = (next - 1) / ((performance.now() - t0) / 1000);

  // The platform's path: published, relayed, consumed by the gamification group in batch transactions.
  const workspaceId = randomUUID();
  const mix = eventMix(workspaceId, n);
  for (let i = 0; i < mix.length; i += 1000) await events.publishMany(mix.slice(i, i + 1000));
  while ((await events.bus.relayOnce()) > 0);
  const bus = events.bus as PostgresBus;
  const group = 'gamification.scoring';
  await bus.ensureGroup(group);
  const names = [...new Set(mix.map((e) => e.name))];
  // Seeding the workspace's rules is part of the first batch either way; start at the group's head.
  const cpu0 = process.cpuUsage();
  const server0 = engine === 'postgres' ? await serverCpuMs(db) : null;
  statements.start();
  const t1 = performance.now();
  let handled = 0;
  for (;;) {
    const r = await bus.pollOnce(
      group,
      names,
      async (e, { tx }) => void (await scoring.handle(e, tx)),
      async (batch, { tx }) => void (await scoring.handleBatch(batch, tx)),
      batchMax,
    );
    handled += r.handled;
    if (!r.more && r.handled === 0) break;
    // As the consumer loop does between polls (ADR 0083): timers and requests run between batches.
    await nextTurn();
  }
  out[`scored_events_per_s_${engine}`] = handled / ((performance.now() - t1) / 1000);
  const total = statements.stop();
  const cpu = process.cpuUsage(cpu0);
  out[`scored_events_${engine}`] = handled;
  out[`statements_per_event_${engine}`] = total.n / handled;
  // Node's CPU (for PGlite this includes the database itself, which runs in this process).
  out[`node_cpu_ms_per_1k_events_${engine}`] = ((cpu.user + cpu.system) / 1000 / handled) * 1000;
  const server1 = engine === 'postgres' ? await serverCpuMs(db) : null;
  if (server0 && server1) out[`server_cpu_ms_per_1k_events_${engine}`] = (cpuBetween(server0, server1) / handled) * 1000;
  const breakdown = [...statements.byKind.entries()].sort(([, a], [, b]) => b.s - a.s);
  console.error(`${engine}: ${handled} events, ${total.n} statements, ${(total.s * 1000).toFixed(0)} ms in statements (client-side, incl. round trips)`);
  for (const [kind, e] of breakdown) console.error(`  ${kind.padEnd(44)} ${String(e.n).padStart(6)} × ${((e.s / e.n) * 1000).toFixed(2).padStart(7)} ms = ${(e.s * 1000).toFixed(0).padStart(6)} ms`);
  const [check] = rowsOfQuery(await db.execute(sql`SELECT count(*)::int AS n FROM gamification.processed_events WHERE workspace_id = ${workspaceId}`));
  if (handled !== n || Number(check!.n) !== n) throw new Error(`${engine}: expected ${n} scored events, handled ${handled}, recorded ${check!.n}`);
  await afterBus?.();
  return out;
}

const rowsOfQuery = (r: unknown) => (r as { rows: { n: number }[] }).rows;
const rowsOf = <T>(r: unknown) => (r as { rows: T[] }).rows;
