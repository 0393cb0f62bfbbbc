/**
 * `npm run bench -- analytics [httpEvents] [storeEvents]` (defaults 20000 and 2000000, sized for a shared 2-core box; the issue asks 1M and 10M).
 * 1. Ingests `httpEvents` through the HTTP API of an embedded platform (PGlite + DuckDB) in
 *    batches of 500 with a write key, 4 requests in flight, the flush loop running: events/s
 *    accepted, then how long the buffer takes to drain into DuckDB.
 *    With V01T_BENCH_DATABASE_URL (an admin PostgreSQL URL) the same again with the buffer on a
 *    fresh PostgreSQL database.
 * 2. Generates `storeEvents` straight into each OLAP store (DuckDB in a file; ClickHouse when
 *    V01T_BENCH_CLICKHOUSE_URL or V01T_TEST_CLICKHOUSE_URL is set) with the store's own
 *    INSERT … SELECT, then times a 90-day daily trend, a 3-step funnel and 8-week retention
 *    (median of 3 runs). Figure names carry the sizes.
 */
import { randomBytes, randomUUID } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createClient } from '@clickhouse/client';
import pg from 'pg';
import { loadConfig } from '../src/kernel/config/index.js';
import { createLogger } from '../src/kernel/telemetry/logger.js';
import { createPlatform } from '../src/apps/platform.js';
import { openOlapStore, type OlapStore } from '../src/kernel/olap/index.js';
import { EventStore, EVENTS_TABLE } from '../src/services/analytics-engine/event-store.js';
import { QueryService } from '../src/services/analytics-engine/query.service.js';
import type { AnalyticsInstance } from '../src/services/analytics-engine/index.js';

const DAY = 86_400_000;
const PERSONS = 100_000;
const SPAN_DAYS = 90;
const WS = '77777777-7777-4777-8777-777777777777';

const label = (n: number) => (n >= 1_000_000 && n % 1_000_000 === 0 ? `${n / 1_000_000}m` : n >= 1000 && n % 1000 === 0 ? `${n / 1000}k` : String(n));

async function post(url: string, headers: Record<string, string>, body: unknown): Promise<{ status: number; json: () => Promise<unknown> }> {
  const res = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: JSON.stringify(body) });
  return { status: res.status, json: () => res.json() };
}

async function httpIngest(total: number, databaseUrl?: string): Promise<Record<string, number>> {
  const shape = databaseUrl ? 'postgres' : 'embedded';
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'v01t-bench-analytics-'));
  const config = loadConfig({
    NODE_ENV: 'production',
    V01T_DATA_DIR: dataDir,
    V01T_EPHEMERAL: 'true',
    ANALYTICS_DUCKDB_PATH: path.join(dataDir, 'analytics.duckdb'),
    V01T_MASTER_KEY: randomBytes(32).toString('hex'),
    ARGON2_MEMORY_KIB: '1024',
    ARGON2_TIME_COST: '1',
    LOG_LEVEL: 'warn',
    PORT: '0',
    ANALYTICS_BUFFER_MAX_EVENTS: String(Math.max(total * 2, 500_000)),
    ANALYTICS_FLUSH_INTERVAL_MS: '200',
    ...(databaseUrl ? { DATABASE_URL: databaseUrl } : {}),
  });
  const platform = await createPlatform({ config, logger: createLogger('warn') });
  try {
    await platform.startServices();
    const base = await platform.listen();
    const email = `bench.${randomUUID().slice(0, 8)}@example.test`;
    const su = await post(`${base}/v1/auth/signup`, {}, { email, password: `pw-${randomUUID()}`, name: 'Bench' });
    const token = ((await su.json()) as { token: string }).token;
    const wsRes = await post(`${base}/v1/workspaces`, { authorization: `Bearer ${token}` }, { name: 'bench' });
    const ws = ((await wsRes.json()) as { workspace: { id: string } }).workspace.id;
    const keyRes = await post(`${base}/v1/workspaces/${ws}/analytics/write-keys`, { authorization: `Bearer ${token}` }, { name: 'bench' });
    const key = ((await keyRes.json()) as { key: string }).key;

    const batches = Math.ceil(total / 500);
    let next = 0;
    let accepted = 0;
    const start = performance.now();
    await Promise.all(
      Array.from({ length: 4 }, async () => {
        for (;;) {
          const b = next++;
          if (b >= batches) return;
          const now = Date.now();
          const batch = Array.from({ length: Math.min(500, total - b * 500) }, (_, i) => ({
            type: 'track',
            event: ['view', 'signup', 'purchase', 'share'][i % 4],
            userId: `u${(b * 500 + i) % PERSONS}`,
            messageId: `b${b}-${i}`,
            timestamp: new Date(now - (i % 1000) * 1000).toISOString(),
            properties: { plan: i % 3 === 0 ? 'pro' : 'free', amount: i % 50 },
          }));
          const res = await post(`${base}/v1/workspaces/${ws}/events`, { 'x-write-key': key }, { batch, sentAt: new Date(now).toISOString() });
          if (res.status !== 202) throw new Error(`ingest answered ${res.status}`);
          accepted += ((await res.json()) as { accepted: number }).accepted;
        }
      }),
    );
    const ingestSeconds = (performance.now() - start) / 1000;
    const analytics = platform.instances.get('analytics-engine') as AnalyticsInstance;
    const drainStart = performance.now();
    await analytics.services.flusher.stop();
    await analytics.services.flusher.drain();
    const drainSeconds = (performance.now() - drainStart) / 1000;
    const [row] = await analytics.services.store.olap.query(`SELECT count(*) AS n FROM ${EVENTS_TABLE.name}`);
    if (Number(row?.n) !== total || accepted !== total) throw new Error(`expected ${total} events, accepted ${accepted}, stored ${String(row?.n)}`);
    const n = label(total);
    return {
      [`ingest_http_${shape}_${n}_events_per_s`]: total / ingestSeconds,
      [`ingest_http_${shape}_${n}_seconds`]: ingestSeconds,
      [`flush_remaining_after_ingest_${shape}_${n}_seconds`]: drainSeconds,
      [`ingest_to_store_${shape}_${n}_events_per_s`]: total / (ingestSeconds + drainSeconds),
    };
  } finally {
    await platform.close();
    fs.rmSync(dataDir, { recursive: true, force: true });
  }
}

/** INSERT … SELECT in the store's own SQL: 20 event kinds, 100k persons, 90 days. */
function generatorSql(kind: 'duckdb' | 'clickhouse', offset: number, n: number, start: number): string {
  const span = SPAN_DAYS * DAY;
  if (kind === 'duckdb') {
    return `INSERT INTO ${EVENTS_TABLE.name}
      SELECT '${WS}',
        CASE WHEN i % 20 = 0 THEN 'signup' WHEN i % 20 < 9 THEN 'view' WHEN i % 20 < 11 THEN 'purchase' ELSE 'event_' || CAST(i % 20 AS VARCHAR) END,
        'u' || CAST((i * 7919) % ${PERSONS} AS VARCHAR), 'u' || CAST((i * 7919) % ${PERSONS} AS VARCHAR), '',
        ts, CAST(to_timestamp(ts / 1000) AS DATE), 'm' || CAST(i AS VARCHAR),
        CASE WHEN i % 3 = 0 THEN '{"plan":"pro","amount":5}' ELSE '{"plan":"free","amount":1}' END, ts, 'bench'
      FROM (SELECT range AS i, ${start} + (range * 104729) % ${span} AS ts FROM range(${offset}, ${offset + n}))`;
  }
  return `INSERT INTO ${EVENTS_TABLE.name}
    SELECT '${WS}',
      multiIf(i % 20 = 0, 'signup', i % 20 < 9, 'view', i % 20 < 11, 'purchase', concat('event_', toString(i % 20))),
      concat('u', toString((i * 7919) % ${PERSONS})), concat('u', toString((i * 7919) % ${PERSONS})), '',
      ts, toDate(toDateTime(intDiv(ts, 1000))), concat('m', toString(i)),
      if(i % 3 = 0, '{"plan":"pro","amount":5}', '{"plan":"free","amount":1}'), ts, 'bench'
    FROM (SELECT number AS i, toInt64(${start} + (number * 104729) % ${span}) AS ts FROM system.numbers LIMIT ${offset}, ${n})`;
}

async function timed(fn: () => Promise<unknown>, runs = 3): Promise<number> {
  const times: number[] = [];
  for (let i = 0; i < runs; i++) {
    const s = performance.now();
    await fn();
    times.push(performance.now() - s);
  }
  return times.sort((a, b) => a - b)[Math.floor(runs / 2)]!;
}

async function storeQueries(kind: 'duckdb' | 'clickhouse', olap: OlapStore, n: number): Promise<Record<string, number>> {
  const store = new EventStore(olap);
  await store.init();
  const start = Date.parse('2026-01-05T00:00:00Z');
  const t0 = performance.now();
  // In chunks of 1M rows: one statement per chunk stays well inside the client's request timeout.
  for (let offset = 0; offset < n; offset += 1_000_000) await olap.command(generatorSql(kind, offset, Math.min(1_000_000, n - offset), start));
  const loadSeconds = (performance.now() - t0) / 1000;
  const [row] = await olap.query(`SELECT count(*) AS c FROM ${EVENTS_TABLE.name}`);
  if (Number(row?.c) !== n) throw new Error(`${kind}: generated ${String(row?.c)} rows, expected ${n}`);
  const q = new QueryService(olap);
  const from = new Date(start);
  const to = new Date(start + SPAN_DAYS * DAY);
  const size = label(n);
  return {
    [`${kind}_${size}_generate_rows_per_s`]: n / loadSeconds,
    [`${kind}_${size}_trend_daily_90d_ms`]: await timed(() => q.run(WS, { kind: 'trends', event: 'view', measure: 'count', interval: 'day', filters: [], from, to })),
    [`${kind}_${size}_trend_unique_users_weekly_ms`]: await timed(() => q.run(WS, { kind: 'trends', event: 'view', measure: 'unique_users', interval: 'week', filters: [], from, to })),
    [`${kind}_${size}_funnel_3_steps_ms`]: await timed(() => q.run(WS, { kind: 'funnel', steps: ['signup', 'view', 'purchase'], windowSeconds: 14 * 86_400, filters: [], from, to })),
    [`${kind}_${size}_retention_8_weeks_ms`]: await timed(() => q.run(WS, { kind: 'retention', startEvent: 'signup', returnEvent: 'purchase', weeks: 8, from, to })),
  };
}

export default async function bench(args: string[]): Promise<Record<string, number>> {
  const httpEvents = Number(args[0] ?? 20_000);
  const storeEvents = Number(args[1] ?? 2_000_000);
  const figures: Record<string, number> = {};
  Object.assign(figures, await httpIngest(httpEvents));
  // The same ingestion with the buffer on PostgreSQL (the distributed shape's database), when given.
  const pgAdmin = process.env.V01T_BENCH_DATABASE_URL;
  if (pgAdmin) {
    const name = `v01t_bench_${randomBytes(4).toString('hex')}`;
    const admin = new pg.Client({ connectionString: pgAdmin });
    await admin.connect();
    await admin.query(`CREATE DATABASE ${name}`);
    const url = new URL(pgAdmin);
    url.pathname = `/${name}`;
    try {
      Object.assign(figures, await httpIngest(httpEvents, url.toString()));
    } finally {
      await admin.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
      await admin.end();
    }
  }

  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'v01t-bench-duckdb-'));
  const duck = await openOlapStore({ duckdbPath: path.join(dir, 'bench.duckdb') });
  try {
    Object.assign(figures, await storeQueries('duckdb', duck, storeEvents));
  } finally {
    await duck.close();
    fs.rmSync(dir, { recursive: true, force: true });
  }

  const chUrl = process.env.V01T_BENCH_CLICKHOUSE_URL ?? process.env.V01T_TEST_CLICKHOUSE_URL;
  if (chUrl) {
    const db = `v01t_bench_${randomBytes(4).toString('hex')}`;
    const admin = createClient({ url: chUrl });
    await admin.command({ query: `CREATE DATABASE ${db}` });
    const url = new URL(chUrl);
    url.pathname = `/${db}`;
    const ch = await openOlapStore({ clickhouseUrl: url.toString(), duckdbPath: ':memory:' });
    try {
      Object.assign(figures, await storeQueries('clickhouse', ch, storeEvents));
    } catch (err) {
      // Keep the figures gathered so far; the failure is reported on stderr and as a figure.
      console.error(`clickhouse part failed: ${(err as Error).message}`);
      figures[`clickhouse_${label(storeEvents)}_failed`] = 1;
    } finally {
      await ch.close();
      await admin.command({ query: `DROP DATABASE IF EXISTS ${db}` });
      await admin.close();
    }
  }
  return figures;
}
