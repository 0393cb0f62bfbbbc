/**
 * `npm run bench -- scheduler [targets] [publishers]`: 10,000 targets (default) due evenly over one
 * minute on 50 webhook channels (real integration-hub connections to a local fake receiver),
 * published by one and then by three publisher processes (default "1,3") on the local PostgreSQL.
 * Each publisher is the production process, `node bin/v01t.js start` with V01T_SERVICES (the
 * launcher, the one-file bundle and Node's compile cache; its own data folder and port, as a pod
 * has), with the bench's probe preloaded (bench/support/scheduler-worker.ts, ADR 0080), which
 * reports its timeline and CPU. The publishers of a run are spawned at once and the first target is due 3 s after their spawn
 * (V01T_BENCH_LEAD_MS), so their start-up counts in the lateness (V01T_BENCH_SPAWN=sequential: each
 * spawned once the previous one is ready, the targets inserted after all are, as before ADR 0071).
 * Each process: CONTENT_PUBLISHER_BATCH 200, _CONCURRENCY 64, DATABASE_POOL_MAX 20, the publisher's
 * default period and look-ahead (V01T_BENCH_BATCH / _CONCURRENCY / _POOL_MAX / _INTERVAL_MS and
 * CONTENT_PUBLISHER_LOOKAHEAD_MS override; V01T_BENCH_PUBLISHER_SERVICES runs the publishers
 * without the orchestrator, which the bench's own process then serves). Figures per run: published
 * per second (first due time to last confirmation), lateness p50/p99/max (published_at − due_at,
 * from the database), deliveries the receiver got twice (duplicates), targets not published
 * before the deadline, the slowest process's timeline (spawn → ready, first claim and first
 * publish after the first due time, CPU to ready) and the load-independent CPU ms and statements
 * per published post; plus the receiver's own requests/s as a baseline. It also prints each
 * process's timeline, the lateness per second of due time and the statements by kind (stderr).
 * V01T_BENCH_WORKER_NODE_ARGS (e.g. --cpu-prof) and V01T_BENCH_WORKER_LOG=<file> help profiling.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import pg from 'pg';
import { Agent, request } from 'undici';
import { loadPlatformConfig } from '../src/apps/config.js';
import { createPlatform } from '../src/apps/platform.js';
import { createLogger } from '../src/kernel/telemetry/logger.js';
import { startFakeChannel } from './support/fake-receiver.js';
import type { Figures } from './run.js';

const ADMIN_URL = process.env.V01T_BENCH_PG_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
const CHANNELS = 50;
const SPREAD_MS = 60_000;
const here = path.dirname(fileURLToPath(import.meta.url));
/** Extra node flags for the publisher processes, e.g. `--cpu-prof --cpu-prof-dir=/tmp/prof` to profile them. */
const WORKER_NODE_ARGS = (process.env.V01T_BENCH_WORKER_NODE_ARGS ?? '').split(/\s+/).filter(Boolean);

/** V01T_BENCH_PUBLISHER_SERVICES=integration-hub,content-scheduler: publisher processes without the orchestrator (the bench's own process serves it). */
const PUBLISHER_SERVICES = process.env.V01T_BENCH_PUBLISHER_SERVICES;
/** How long after the publishers' spawn the first target is due (V01T_BENCH_LEAD_MS). */
const LEAD_MS = Number(process.env.V01T_BENCH_LEAD_MS ?? 3_000);
/** V01T_BENCH_SPAWN=sequential: each publisher is started once the previous one is ready (the bench before ADR 0071). */
const SEQUENTIAL = process.env.V01T_BENCH_SPAWN === 'sequential';

/** The CLI as installed (`v01t`, bin/v01t.js) and the probe each publisher preloads (bench/support/scheduler-worker.ts). */
const CLI = path.resolve(here, '..', '..', 'bin', 'v01t.js');
const PROBE = pathToFileURL(path.join(here, 'support', 'scheduler-worker.js')).href;

/** What a publisher process prints (its probe, bench/support/scheduler-worker.ts; spawnedAt is the bench's); times are epoch ms. */
interface WorkerLine {
  phase: 'ready' | 'stopped';
  pid: number;
  spawnedAt: number;
  importedAt: number;
  createdAt: number;
  readyAt: number;
  cpuToReadyMs: number;
  firstClaimAt?: number | null;
  cpuMs?: number;
  cpuAfterReadyMs?: number;
  statementsAfterReady?: Record<string, number>;
}

const quantile = (sorted: number[], q: number) => (sorted.length ? sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]! : NaN);

async function run(targets: number, workers: number): Promise<Figures> {
  const dbName = `v01t_bench_sched_${randomBytes(4).toString('hex')}`;
  const admin = new pg.Client({ connectionString: ADMIN_URL });
  await admin.connect();
  await admin.query(`CREATE DATABASE ${dbName}`);
  const url = new URL(ADMIN_URL);
  url.pathname = `/${dbName}`;
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'v01t-bench-sched-'));
  const fake = await startFakeChannel();
  const env: Record<string, string> = {
    NODE_ENV: 'production',
    DATABASE_URL: url.toString(),
    DATABASE_POOL_MAX: process.env.V01T_BENCH_POOL_MAX ?? '20',
    V01T_DATA_DIR: dataDir,
    V01T_SERVICES: 'orchestrator,integration-hub,content-scheduler',
    V01T_MASTER_KEY: randomBytes(32).toString('hex'),
    V01T_EGRESS_ALLOW: '127.0.0.1',
    ARGON2_MEMORY_KIB: '1024',
    ARGON2_TIME_COST: '1',
    LOG_LEVEL: 'warn',
    // The publisher's own defaults for its period (1 s) and look-ahead (2 s): claiming ahead, a short period buys no punctuality.
    ...(process.env.V01T_BENCH_INTERVAL_MS ? { CONTENT_PUBLISHER_INTERVAL_MS: process.env.V01T_BENCH_INTERVAL_MS } : {}),
    CONTENT_PUBLISHER_BATCH: process.env.V01T_BENCH_BATCH ?? '200',
    CONTENT_PUBLISHER_CONCURRENCY: process.env.V01T_BENCH_CONCURRENCY ?? '64',
  };
  const children: ChildProcess[] = [];
  const timelines = new Map<number, WorkerLine>();
  const internalToken = randomBytes(24).toString('hex');
  const setupConfig = loadPlatformConfig({ ...env, MIGRATE_ON_START: 'true', PORT: '0', HOST: '127.0.0.1', V01T_INTERNAL_TOKEN: internalToken });
  const setup = await createPlatform({ config: setupConfig, logger: createLogger('warn') });
  let setupClosed = false;
  try {
    const inject = setup.app.inject.bind(setup.app);
    const su = await inject({ method: 'POST', url: '/v1/auth/signup', payload: { email: 'bench@example.test', password: `pw-${randomBytes(8).toString('hex')}`, name: 'Bench' } });
    const token = su.json().token as string;
    const userId = su.json().user.id as string;
    const auth = { authorization: `Bearer ${token}` };
    const ws = (await inject({ method: 'POST', url: '/v1/workspaces', headers: auth, payload: { name: 'bench' } })).json().workspace.id as string;
    const channelIds: string[] = [];
    for (let i = 0; i < CHANNELS; i++) {
      const c = await inject({ method: 'POST', url: `/v1/workspaces/${ws}/connections`, headers: auth, payload: { connector: 'webhook', name: `fake ${i}`, credentials: { secret: `whsec_${Buffer.from('0123456789abcdef0123456789abcdef').toString('base64')}` }, config: { url: fake.url } } });
      const ch = await inject({ method: 'POST', url: `/v1/workspaces/${ws}/channels`, headers: auth, payload: { connectionId: c.json().connection.id, name: `ch ${i}`, timezone: 'UTC' } });
      if (ch.statusCode !== 201) throw new Error(`channel: ${ch.statusCode} ${ch.body}`);
      channelIds.push(ch.json().channel.id);
    }
    // Publishers without the orchestrator (V01T_BENCH_PUBLISHER_SERVICES) reach this process's for identity, as in the split shape.
    const publisherEnv: Record<string, string> = { MIGRATE_ON_START: 'false' };
    if (PUBLISHER_SERVICES) {
      Object.assign(publisherEnv, { V01T_SERVICES: PUBLISHER_SERVICES, V01T_INTERNAL_TOKEN: internalToken, V01T_ORCHESTRATOR_URL: await setup.listen() });
    } else {
      await setup.close();
      setupClosed = true;
    }

    // The publishers start at once (cold processes on a shared machine), and the first targets are
    // due LEAD_MS after their spawn: their start-up is part of the lateness measured.
    const db = new pg.Client({ connectionString: url.toString() });
    await db.connect();
    const spawnedAt = Date.now();
    let start = spawnedAt + LEAD_MS;
    const ready: Promise<void>[] = [];
    for (let i = 0; i < workers; i++) {
      // The production process (`v01t start`: the launcher, the bundle, the compile cache) with the
      // bench's probe preloaded; each with its own data folder and port, as each pod has.
      const ownDir = path.join(dataDir, `publisher-${i}`);
      fs.mkdirSync(ownDir);
      const childSpawnedAt = Date.now();
      const child = spawn(process.execPath, [...WORKER_NODE_ARGS, `--import=${PROBE}`, CLI, 'start'], {
        env: { ...process.env, ...env, ...publisherEnv, V01T_DATA_DIR: ownDir, PORT: '0', HOST: '127.0.0.1' },
        stdio: ['ignore', 'pipe', 'inherit'],
      });
      children.push(child);
      // V01T_BENCH_WORKER_LOG=<file>: keep the publishers' logs (stdout) for a look afterwards.
      if (process.env.V01T_BENCH_WORKER_LOG) child.stdout!.pipe(fs.createWriteStream(`${process.env.V01T_BENCH_WORKER_LOG}.${i}`, { flags: 'a' }));
      const p = new Promise<void>((resolve, reject) => {
        let buffered = '';
        child.stdout!.on('data', (d: Buffer) => {
          buffered += d.toString();
          let nl: number;
          while ((nl = buffered.indexOf('\n')) >= 0) {
            const line = buffered.slice(0, nl);
            buffered = buffered.slice(nl + 1);
            if (!line.startsWith('{"phase"')) continue;
            const msg = JSON.parse(line) as WorkerLine;
            timelines.set(msg.pid, { ...timelines.get(msg.pid), ...msg, spawnedAt: childSpawnedAt });
            if (msg.phase === 'ready') resolve();
          }
        });
        child.once('exit', (code) => reject(new Error(`worker exited with ${code}`)));
      });
      ready.push(p);
      if (SEQUENTIAL) await p;
    }
    if (SEQUENTIAL) start = Date.now() + LEAD_MS;
    // All targets due within one minute starting LEAD_MS after the spawn, spread evenly over the channels.
    await db.query(
      `WITH p AS (
         INSERT INTO content.posts (id, workspace_id, author_id, body, status, timezone, created_at, updated_at)
         SELECT gen_random_uuid(), $1, $2, 'bench post ' || g, 'scheduled', 'UTC', now(), now() FROM generate_series(1, $3) g
         RETURNING id
       ), n AS (SELECT id, row_number() OVER () AS g FROM p),
       pc AS (
         INSERT INTO content.post_channels (post_id, channel_id)
         SELECT n.id, ($4::uuid[])[1 + (n.g % array_length($4::uuid[], 1))] FROM n RETURNING post_id, channel_id
       )
       INSERT INTO content.targets (id, workspace_id, post_id, channel_id, due_at, status, updated_at)
       SELECT gen_random_uuid(), $1, pc.post_id, pc.channel_id,
              to_timestamp(($5::bigint + (n.g * $6::bigint) / $3) / 1000.0), 'scheduled', now()
       FROM pc JOIN n ON n.id = pc.post_id`,
      [ws, userId, targets, channelIds, start, SPREAD_MS],
    );
    const insertedAt = Date.now();
    await Promise.all(ready);
    if (insertedAt > start) throw new Error(`the targets were inserted ${insertedAt - start} ms after the first was due: raise V01T_BENCH_LEAD_MS`);

    const deadline = start + SPREAD_MS + 180_000;
    let published = 0;
    while (Date.now() < deadline) {
      const r = await db.query<{ n: string }>(`SELECT count(*) AS n FROM content.targets WHERE status IN ('published', 'failed', 'skipped')`);
      published = Number(r.rows[0]!.n);
      if (published >= targets) break;
      await new Promise((r) => setTimeout(r, 500));
    }
    const rows = await db.query<{ late_ms: string; status: string; attempts: number; published_ms: string; due_ms: string; claimed_by: string | null }>(
      `SELECT status, attempts, claimed_by, EXTRACT(EPOCH FROM (published_at - due_at)) * 1000 AS late_ms,
              EXTRACT(EPOCH FROM published_at) * 1000 AS published_ms, EXTRACT(EPOCH FROM due_at) * 1000 AS due_ms
       FROM content.targets`,
    );
    await db.end();
    // The publishers' CPU time: asked for on SIGTERM, answered before they stop.
    await Promise.all(
      children.map(
        (c) =>
          new Promise<void>((resolve) => {
            const t = setTimeout(resolve, 10_000);
            c.stdout!.on('data', (d: Buffer) => d.toString().includes('"phase":"stopped"') && (clearTimeout(t), setTimeout(resolve, 50)));
            c.once('exit', () => (clearTimeout(t), resolve()));
            c.kill('SIGTERM');
          }),
      ),
    );
    const ok = rows.rows.filter((r) => r.status === 'published');
    const lateness = ok.map((r) => Number(r.late_ms)).sort((a, b) => a - b);
    const firstDue = Math.min(...rows.rows.map((r) => Number(r.due_ms)));
    const lastPublished = Math.max(...ok.map((r) => Number(r.published_ms)));
    const suffix = `${workers}_publisher${workers > 1 ? 's' : ''}`;

    // Per process: spawn → modules imported → platform created → ready → first claim → first publish.
    const perProcess = [...timelines.values()].map((t) => {
      const mine = ok.filter((r) => r.claimed_by?.split(':')[1] === String(t.pid));
      const firstPublish = mine.length ? Math.min(...mine.map((r) => Number(r.published_ms))) : NaN;
      return { ...t, published: mine.length, firstPublishAt: firstPublish };
    });
    for (const t of perProcess) {
      console.error(
        `[scheduler ${suffix}] pid ${t.pid}: spawn→imported ${t.importedAt - t.spawnedAt} ms, →created ${t.createdAt - t.spawnedAt} ms, →ready ${t.readyAt - t.spawnedAt} ms (CPU ${Math.round(t.cpuToReadyMs)} ms); ` +
          `first claim ${t.firstClaimAt ? t.firstClaimAt - firstDue : '-'} ms after the first due time, first publish ${Math.round(t.firstPublishAt - firstDue)} ms after; ` +
          `published ${t.published}, CPU after ready ${Math.round(t.cpuAfterReadyMs ?? NaN)} ms (${((t.cpuAfterReadyMs ?? NaN) / t.published).toFixed(2)} ms/post)`,
      );
    }
    // Lateness per second of due time: where the tail lies.
    const buckets = new Map<number, number[]>();
    for (const r of ok) {
      const b = Math.floor((Number(r.due_ms) - firstDue) / 1000);
      if (!buckets.has(b)) buckets.set(b, []);
      buckets.get(b)!.push(Number(r.late_ms));
    }
    const bucketLines = [...buckets.entries()].sort((a, b) => a[0] - b[0]).map(([b, l]) => {
      l.sort((x, y) => x - y);
      return `${b}s:${quantile(l, 0.5).toFixed(0)}/${quantile(l, 0.99).toFixed(0)}/${l[l.length - 1]!.toFixed(0)}`;
    });
    console.error(`[scheduler ${suffix}] lateness p50/p99/max ms per second of due time: ${bucketLines.join(' ')}`);
    const statementsByKind: Record<string, number> = {};
    for (const t of perProcess) for (const [k, n] of Object.entries(t.statementsAfterReady ?? {})) statementsByKind[k] = (statementsByKind[k] ?? 0) + n;
    const statementsTotal = Object.values(statementsByKind).reduce((a, b) => a + b, 0);
    console.error(`[scheduler ${suffix}] statements after ready, all processes: ${Object.entries(statementsByKind).sort((a, b) => b[1] - a[1]).map(([k, n]) => `${k} ${n}`).join(', ')}`);
    console.error(`[scheduler ${suffix}] load average ${os.loadavg().map((x) => x.toFixed(2)).join(' ')}`);

    const max = (xs: number[]) => Math.max(...xs.filter((x) => Number.isFinite(x)));
    const cpuAfterReady = perProcess.reduce((a, t) => a + (t.cpuAfterReadyMs ?? 0), 0);
    return {
      [`published_${suffix}`]: ok.length,
      [`not_published_${suffix}`]: targets - ok.length,
      // From the first due time to the last confirmation: with targets due over one minute, this
      // equals the due rate when the publishers keep up.
      [`published_per_s_${suffix}`]: ok.length / ((lastPublished - firstDue) / 1000),
      [`lateness_p50_ms_${suffix}`]: quantile(lateness, 0.5),
      // Where the tail lies: the same p99 without the targets due in the first 5 s (cold processes).
      [`lateness_p99_ms_after_first_5s_${suffix}`]: quantile(ok.filter((r) => Number(r.due_ms) - firstDue >= 5_000).map((r) => Number(r.late_ms)).sort((a, b) => a - b), 0.99),
      [`lateness_p99_ms_${suffix}`]: quantile(lateness, 0.99),
      [`lateness_max_ms_${suffix}`]: lateness[lateness.length - 1] ?? NaN,
      [`duplicates_${suffix}`]: fake.duplicates(),
      [`receiver_deliveries_${suffix}`]: fake.deliveries.length,
      [`retried_${suffix}`]: rows.rows.filter((r) => r.attempts > 1).length,
      // The timeline of the slowest process (ms from its spawn, or from the first due time).
      [`publisher_spawn_to_ready_ms_max_${suffix}`]: max(perProcess.map((t) => t.readyAt - t.spawnedAt)),
      [`publisher_cpu_to_ready_ms_max_${suffix}`]: max(perProcess.map((t) => t.cpuToReadyMs)),
      [`publisher_first_claim_after_due_ms_max_${suffix}`]: max(perProcess.map((t) => (t.firstClaimAt ? t.firstClaimAt - firstDue : NaN))),
      [`publisher_first_publish_after_due_ms_max_${suffix}`]: max(perProcess.map((t) => t.firstPublishAt - firstDue)),
      // Load-independent: the publishers' CPU time (all processes, after ready) per published post.
      [`publisher_cpu_ms_per_post_${suffix}`]: cpuAfterReady / ok.length,
      [`publisher_statements_per_post_${suffix}`]: statementsTotal / ok.length,
    };
  } finally {
    for (const c of children) c.kill('SIGTERM');
    await Promise.all(children.map((c) => (c.exitCode !== null || c.signalCode !== null ? Promise.resolve() : new Promise((r) => c.once('exit', r)))));
    if (!setupClosed) await setup.close();
    await fake.close();
    await admin.query(`DROP DATABASE IF EXISTS ${dbName} WITH (FORCE)`).catch(() => {});
    await admin.end();
    fs.rmSync(dataDir, { recursive: true, force: true });
  }
}

/** Baseline: what the fake receiver itself takes, POSTed straight at it by 32 concurrent clients for 3 s. */
async function receiverBaseline(): Promise<Figures> {
  const fake = await startFakeChannel();
  const agent = new Agent({ connections: 32 });
  try {
    const until = Date.now() + 3_000;
    let n = 0;
    const client = async () => {
      while (Date.now() < until) {
        const res = await request(fake.url, { method: 'POST', dispatcher: agent, headers: { 'content-type': 'application/json', 'webhook-id': `base_${n++}` }, body: JSON.stringify({ type: 'content.published', data: { text: 'baseline' } }) });
        await res.body.dump();
      }
    };
    const started = Date.now();
    await Promise.all(Array.from({ length: 32 }, client));
    return { baseline_receiver_requests_per_s: fake.requests / ((Date.now() - started) / 1000) };
  } finally {
    await agent.close();
    await fake.close();
  }
}

export default async function scheduler(args: string[]): Promise<Figures> {
  const targets = Number(args[0] ?? 10_000);
  const publishers = (args[1] ?? '1,3').split(',').map(Number);
  const figures: Figures = { targets_due_in_one_minute: targets, channels: CHANNELS, ...(await receiverBaseline()) };
  for (const n of publishers) Object.assign(figures, await run(targets, n));
  return figures;
}
