/**
 * `npm run bench -- analytics [httpEvents] [storeEvents] [postgresEvents]` (defaults 1,000,000,
 * 10,000,000 and 200,000).
 * 1. Ingests `httpEvents` through the HTTP API of an embedded platform (PGlite + file buffer +
 *    DuckDB file) on a real port, in batches of 500 with a write key, 8 requests in flight from a
 *    worker thread (the client does not share the server's event loop), the flush loop running:
 *    events/s acknowledged (202), then how long the buffer takes to drain into DuckDB. Every
 *    event is checked to be in the store exactly once.
 * 2. The same with the distributed shape's buffer: a fresh database on the local PostgreSQL
 *    (V01T_BENCH_DATABASE_URL, default postgres://postgres@127.0.0.1:5432/test), `postgresEvents`.
 * 3. The ceiling: rows/s of the store's own insert path (EventStore.insert into DuckDB) for
 *    ready-made rows, and the HTTP ingest rate as a ratio of it.
 * 4. Generates `storeEvents` straight into each OLAP store (DuckDB in a file; ClickHouse when
 *    V01T_BENCH_CLICKHOUSE_URL or V01T_TEST_CLICKHOUSE_URL is set, or one answers on
 *    127.0.0.1:8123) with the store's own INSERT … SELECT, then times a 90-day daily trend, a
 *    weekly unique-users trend, a 3-step funnel and 8-week retention (median of 3 runs).
 */
import { randomBytes, randomUUID } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Worker } from 'node:worker_threads';
import { createClient } from '@clickhouse/client';
import { loadPlatformConfig } from '../src/apps/config.js';
import { createLogger } from '../src/kernel/telemetry/logger.js';
import { createPlatform } from '../src/apps/platform.js';
import { openOlapStore, type OlapStore } from '../src/kernel/olap/index.js';
import { EventStore, EVENTS_TABLE, type StoredEvent } from '../src/services/analytics-engine/event-store.js';
import { QueryService } from '../src/services/analytics-engine/query.service.js';
import type { AnalyticsInstance } from '../src/services/analytics-engine/index.js';
import { freshDatabase } from './support/postgres.js';

const DAY = 86_400_000;
const PERSONS = 100_000;
const SPAN_DAYS = 90;
const WS = '77777777-7777-4777-8777-777777777777';

const label = (n: number) => (n >= 1_000_000 && n % 1_000_000 === 0 ? `${n / 1_000_000}m` : n >= 1000 && n % 1000 === 0 ? `${n / 1000}k` : String(n));

async function post(url: string, headers: Record<string, string>, body: unknown): Promise<{ status: number; json: () => Promise<unknown> }> {
  const res = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: JSON.stringify(body) });
  return { status: res.status, json: () => res.json() };
}

function runClient(job: { url: string; key: string; total: number; batchSize: number; concurrency: number; persons: number }): Promise<{ accepted: number; retries: number; seconds: number }> {
  return new Promise((resolve, reject) => {
    const worker = new Worker(new URL('./support/analytics-client.js', import.meta.url), { workerData: job });
    worker.once('message', resolve);
    worker.once('error', reject);
    worker.once('exit', (code) => code !== 0 && reject(new Error(`client worker exited with ${code}`)));
  });
}

async function httpIngest(total: number, databaseUrl?: string): Promise<Record<string, number>> {
  const shape = databaseUrl ? 'postgres' : 'embedded';
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'v01t-bench-analytics-'));
  const config = loadPlatformConfig({
    NODE_ENV: 'production',
    V01T_DATA_DIR: dataDir,
    V01T_EPHEMERAL: 'true',
    ANALYTICS_DUCKDB_PATH: path.join(dataDir, 'analytics.duckdb'),
    ANALYTICS_BUFFER_DIR: path.join(dataDir, 'analytics-buffer'),
    V01T_MASTER_KEY: randomBytes(32).toString('hex'),
    ARGON2_MEMORY_KIB: '1024',
    ARGON2_TIME_COST: '1',
    LOG_LEVEL: 'warn',
    PORT: '0',
    HOST: '127.0.0.1',
    ANALYTICS_BUFFER_MAX_EVENTS: String(Math.max(total * 2, 500_000)),
    ANALYTICS_FLUSH_INTERVAL_MS: '200',
    ANALYTICS_FLUSH_BATCH: '50000',
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

    const analytics = platform.instances.get('analytics-engine') as AnalyticsInstance;
    const cpuStart = process.cpuUsage();
    const client = await runClient({ url: `${base}/v1/workspaces/${ws}/events`, key, total, batchSize: 500, concurrency: 8, persons: PERSONS });
    const cpu = process.cpuUsage(cpuStart);
    const drainStart = performance.now();
    await analytics.services.flusher.stop();
    await analytics.services.flusher.drain();
    const drainSeconds = (performance.now() - drainStart) / 1000;
    const [row] = await analytics.services.store.olap.query(`SELECT count(*) AS n, count(DISTINCT message_id) AS d FROM ${EVENTS_TABLE.name} WHERE workspace_id = '${ws}' AND event IN ('view', 'signup', 'purchase', 'share')`);
    if (Number(row?.n) !== total || Number(row?.d) !== total || client.accepted !== total) throw new Error(`expected ${total} events, accepted ${client.accepted}, stored ${String(row?.n)} (${String(row?.d)} distinct)`);
    const n = label(total);
    return {
      [`ingest_http_${shape}_${n}_events_per_s`]: total / client.seconds,
      [`ingest_http_${shape}_${n}_seconds`]: client.seconds,
      [`ingest_http_${shape}_${n}_retries_after_429`]: client.retries,
      [`ingest_http_${shape}_${n}_server_cpu_ratio`]: (cpu.user + cpu.system) / 1e6 / client.seconds,
      [`flush_remaining_after_ingest_${shape}_${n}_seconds`]: drainSeconds,
      [`ingest_to_store_${shape}_${n}_events_per_s`]: total / (client.seconds + drainSeconds),
    };
  } finally {
    await platform.close();
    fs.rmSync(dataDir, { recursive: true, force: true });
  }
}

/** The store's own insert path for ready-made rows in flush-sized batches: the ceiling for ingestion into DuckDB. */
async function rawStoreInsert(n: number): Promise<Record<string, number>> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'v01t-bench-raw-'));
  const olap = await openOlapStore({ duckdbPath: path.join(dir, 'raw.duckdb') });
  try {
    const store = new EventStore(olap);
    await store.init();
    const now = Date.now();
    const batch = 50_000;
    let seconds = 0;
    for (let off = 0; off < n; off += batch) {
      const rows: StoredEvent[] = Array.from({ length: Math.min(batch, n - off) }, (_, i) => ({
        workspaceId: WS,
        event: ['view', 'signup', 'purchase', 'share'][i % 4]!,
        personId: `u${(off + i) % PERSONS}`,
        userId: `u${(off + i) % PERSONS}`,
        anonymousId: '',
        ts: now - (i % 1000) * 1000,
        messageId: `b${off}-${i}`,
        properties: { plan: i % 3 === 0 ? 'pro' : 'free', amount: i % 50 },
        receivedAt: now,
        batchId: `raw-${off}`,
      }));
      const s = performance.now();
      await store.insert(rows);
      seconds += (performance.now() - s) / 1000;
    }
    return { [`raw_store_insert_duckdb_${label(n)}_rows_per_s`]: n / seconds };
  } finally {
    await olap.close();
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

/**
 * INSERT … SELECT in the store's own SQL, the same rows on both stores: 100k persons, 90 days,
 * 20 event kinds (5% signup, 40% view, 10% purchase), each person with every kind spread over the
 * range (so funnels convert: about 66% reach step 3 of signup → view → purchase).
 */
function generatorSql(kind: 'duckdb' | 'clickhouse', offset: number, n: number, start: number): string {
  const span = SPAN_DAYS * DAY;
  if (kind === 'duckdb') {
    return `INSERT INTO ${EVENTS_TABLE.name}
      SELECT '${WS}',
        CASE WHEN k = 0 THEN 'signup' WHEN k < 9 THEN 'view' WHEN k < 11 THEN 'purchase' ELSE 'event_' || CAST(k AS VARCHAR) END,
        'u' || CAST((i * 7919) % ${PERSONS} AS VARCHAR), 'u' || CAST((i * 7919) % ${PERSONS} AS VARCHAR), '',
        ts, CAST(to_timestamp(ts / 1000) AS DATE), 'm' || CAST(i AS VARCHAR),
        CASE WHEN i % 3 = 0 THEN '{"plan":"pro","amount":5}' ELSE '{"plan":"free","amount":1}' END, ts, 'bench'
      FROM (SELECT range AS i, (range // ${PERSONS} + range) % 20 AS k, ${start} + (range * 104729) % ${span} AS ts FROM range(${offset}, ${offset + n}))`;
  }
  return `INSERT INTO ${EVENTS_TABLE.name}
    SELECT '${WS}',
      multiIf(k = 0, 'signup', k < 9, 'view', k < 11, 'purchase', concat('event_', toString(k))),
      concat('u', toString((i * 7919) % ${PERSONS})), concat('u', toString((i * 7919) % ${PERSONS})), '',
      ts, toDate(toDateTime(intDiv(ts, 1000))), concat('m', toString(i)),
      if(i % 3 = 0, '{"plan":"pro","amount":5}', '{"plan":"free","amount":1}'), ts, 'bench'
    FROM (SELECT number AS i, (intDiv(number, ${PERSONS}) + number) % 20 AS k, toInt64(${start} + (number * 104729) % ${span}) AS ts FROM system.numbers LIMIT ${offset}, ${n})`;
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

/** Each store's funnel answer on the same generated rows: the two must agree. */
const answers = new Map<string, string>();

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
  const figures: Record<string, number> = { [`generate_rows_per_s_${kind}_${size}`]: n / loadSeconds };
  figures[`trend_ms_${kind}_${size}`] = await timed(() => q.run(WS, { kind: 'trends', event: 'view', measure: 'count', interval: 'day', filters: [], from, to }));
  figures[`trend_unique_users_weekly_ms_${kind}_${size}`] = await timed(() => q.run(WS, { kind: 'trends', event: 'view', measure: 'unique_users', interval: 'week', filters: [], from, to }));
  const funnel = await q.run(WS, { kind: 'funnel', steps: ['signup', 'view', 'purchase'], windowSeconds: 14 * 86_400, filters: [], from, to });
  figures[`funnel3_ms_${kind}_${size}`] = await timed(() => q.run(WS, { kind: 'funnel', steps: ['signup', 'view', 'purchase'], windowSeconds: 14 * 86_400, filters: [], from, to }));
  figures[`funnel3_conversion_ratio_${kind}_${size}`] = Number(funnel.summary?.overallConversionRate ?? 0);
  answers.set(kind, JSON.stringify(funnel.rows));
  figures[`retention_ms_${kind}_${size}`] = await timed(() => q.run(WS, { kind: 'retention', startEvent: 'signup', returnEvent: 'purchase', weeks: 8, from, to }));
  return figures;
}

async function clickHouseUrl(): Promise<string | undefined> {
  const given = process.env.V01T_BENCH_CLICKHOUSE_URL ?? process.env.V01T_TEST_CLICKHOUSE_URL;
  if (given) return given;
  const local = 'http://127.0.0.1:8123';
  try {
    return (await fetch(`${local}/ping`)).ok ? local : undefined;
  } catch {
    return undefined;
  }
}

export default async function bench(args: string[]): Promise<Record<string, number>> {
  const httpEvents = Number(args[0] ?? 1_000_000);
  const storeEvents = Number(args[1] ?? 10_000_000);
  const postgresEvents = Number(args[2] ?? 200_000);
  const figures: Record<string, number> = {};
  const loadavg = () => Math.round(os.loadavg()[0]! * 100) / 100;
  figures.loadavg_1m_at_start_ratio = loadavg();
  Object.assign(figures, await httpIngest(httpEvents));
  figures.ingest_events_per_s_embedded = figures[`ingest_http_embedded_${label(httpEvents)}_events_per_s`]!;
  Object.assign(figures, await rawStoreInsert(Math.min(httpEvents, 1_000_000)));
  figures.ingest_vs_raw_ratio = figures.ingest_events_per_s_embedded / figures[`raw_store_insert_duckdb_${label(Math.min(httpEvents, 1_000_000))}_rows_per_s`]!;

  // The same ingestion with the buffer on PostgreSQL (the distributed shape's), on a throwaway database.
  const pgAdmin = process.env.V01T_BENCH_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
  if (postgresEvents > 0) {
    try {
      const db = await freshDatabase(pgAdmin);
      try {
        Object.assign(figures, await httpIngest(postgresEvents, db.url));
        figures.ingest_events_per_s_postgres = figures[`ingest_http_postgres_${label(postgresEvents)}_events_per_s`]!;
      } finally {
        await db.drop();
      }
    } catch (err) {
      console.error(`postgres part failed: ${(err as Error).message}`);
      figures.ingest_postgres_failed = 1;
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

  const chUrl = await clickHouseUrl();
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
  if (answers.has('duckdb') && answers.has('clickhouse')) figures.funnel3_same_answer_duckdb_clickhouse_ratio = answers.get('duckdb') === answers.get('clickhouse') ? 1 : 0;
  figures.loadavg_1m_at_end_ratio = loadavg();
  return figures;
}
