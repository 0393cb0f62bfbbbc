/**
 * `npm run bench -- workflow-inprocess [N] [CONCURRENCY]` (the engine alone; `workflow` measures the whole platform): a 3-step workflow (transform, condition, emit)
 * started N times through the HTTP API (in-process inject, CONCURRENCY requests in flight, default
 * 64, as concurrent clients would) on PGlite and on the local PostgreSQL; runs/s from the first
 * start until every run finished, start-to-finish p50/p99 (finished_at - created_at), and the
 * database statements per run by table (from database_query_duration_seconds; pg-boss's own pool
 * on PostgreSQL is not in it). Beside it, in the same process and database, raw pg-boss: N empty
 * jobs sent by CONCURRENCY concurrent senders (one send each, as each API start sends one job)
 * and worked with the same batch size and wake-ups; jobs/s and the runs/raw ratio. The engine
 * batches (one transaction for the starts that arrive together, one for a fetch's fresh runs), so
 * the ratio can exceed 1. Also how long after the last run finished the event-trigger consumer
 * group had consumed every run event (statements are counted until then).
 */
import { randomBytes } from 'node:crypto';
import os from 'node:os';
import path from 'node:path';
import fs from 'node:fs';
import { loadPlatformConfig } from '../src/apps/config.js';
import { WORKFLOW_CONFIG } from '../src/services/workflow-engine/config.js';
import { createLogger } from '../src/kernel/telemetry/logger.js';
import { createPlatform, type Platform } from '../src/apps/platform.js';
import { TRIGGER_CONSUMER_GROUP, type WorkflowEngineInstance } from '../src/services/workflow-engine/index.js';
import { freshDatabase } from './support/postgres.js';
import type { Figures } from './run.js';

const pct = (xs: number[], p: number) => xs.sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor((p / 100) * xs.length))] ?? 0;

/** Statements counted per table by the platform's query observer. */
async function statementCounts(p: Platform): Promise<Map<string, { n: number; s: number }>> {
  const m = await p.metrics.registry.getSingleMetric('database_query_duration_seconds')?.get();
  const out = new Map<string, { n: number; s: number }>();
  for (const v of m?.values ?? []) {
    const name = (v as { metricName?: string }).metricName ?? '';
    const table = String(v.labels.table ?? '?');
    const cur = out.get(table) ?? { n: 0, s: 0 };
    if (name.endsWith('_count')) cur.n += v.value;
    else if (name.endsWith('_sum')) cur.s += v.value;
    else continue;
    out.set(table, cur);
  }
  return out;
}

/** Runs `total` tasks with at most `limit` in flight. */
async function bounded(total: number, limit: number, task: (i: number) => Promise<void>): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(limit, total) }, async () => {
      while (next < total) await task(next++);
    }),
  );
}

async function one(kind: 'pglite' | 'postgres', n: number, concurrency: number): Promise<Figures> {
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'v01t-bench-wf-'));
  const pg = kind === 'postgres' ? await freshDatabase(process.env.V01T_TEST_PG_URL ?? 'postgres://postgres@127.0.0.1:5432/test') : undefined;
  // The shipped default (WORKFLOW_QUEUE_BATCH) unless the environment sets another.
  const batch = Number(process.env.WORKFLOW_QUEUE_BATCH ?? WORKFLOW_CONFIG.read(loadPlatformConfig({})).queueBatch);
  const config = loadPlatformConfig({
    NODE_ENV: 'production',
    V01T_DATA_DIR: dataDir,
    V01T_EPHEMERAL: 'true',
    V01T_MASTER_KEY: randomBytes(32).toString('hex'),
    LOG_LEVEL: 'silent',
    ARGON2_MEMORY_KIB: '1024',
    ARGON2_TIME_COST: '1',
    V01T_SERVICES: 'orchestrator,workflow-engine',
    WORKFLOW_QUEUE_BATCH: String(batch),
    // Default: the per-workspace limit applies (100 runs at once), so every start is decided under its lock.
    ...(process.env.WORKFLOW_WORKSPACE_CONCURRENCY ? { WORKFLOW_WORKSPACE_CONCURRENCY: process.env.WORKFLOW_WORKSPACE_CONCURRENCY } : {}),
    ...(pg ? { DATABASE_URL: pg.url, DATABASE_POOL_MAX: '10' } : {}),
  });
  const p = await createPlatform({ config, logger: createLogger('silent') });
  try {
    await p.startServices();
    const signup = await p.app.inject({ method: 'POST', url: '/v1/auth/signup', payload: { email: `b${Date.now()}@example.test`, password: 'bench-password-123', name: 'Bench' } });
    const token = signup.json().token as string;
    const auth = { authorization: `Bearer ${token}` };
    const ws = (await p.app.inject({ method: 'POST', url: '/v1/workspaces', headers: auth, payload: { name: 'bench' } })).json().workspace.id as string;
    const wf = (
      await p.app.inject({
        method: 'POST',
        url: `/v1/workspaces/${ws}/workflows`,
        headers: auth,
        payload: {
          name: 'bench',
          steps: [
            { id: 't', type: 'transform', with: { expression: 'input.n * 2' } },
            { id: 'c', type: 'condition', with: { expression: 'steps.t.output >= 0' } },
            { id: 'e', type: 'emit', with: { signal: 'bench.done', data: '=steps.t.output' } },
          ],
        },
      })
    ).json().workflow.id as string;
    // Warm-up: one run through every path (JIT, caches) before measuring.
    await p.app.inject({ method: 'POST', url: `/v1/workspaces/${ws}/workflows/${wf}/runs`, headers: auth, payload: { input: { n: -1 } } });
    const deadline = Date.now() + 600_000;
    const finished = async () => Number((await p.database.query<{ n: string }>("SELECT count(*) AS n FROM workflow.runs WHERE status IN ('succeeded','failed')"))[0]?.n);
    while ((await finished()) < 1) await new Promise((r) => setTimeout(r, 20));

    const before = await statementCounts(p);
    const t0 = performance.now();
    await bounded(n, concurrency, async (i) => {
      const r = await p.app.inject({ method: 'POST', url: `/v1/workspaces/${ws}/workflows/${wf}/runs`, headers: auth, payload: { input: { n: i } } });
      if (r.statusCode !== 202) throw new Error(`start failed: ${r.statusCode} ${r.body}`);
    });
    const startedS = (performance.now() - t0) / 1000;
    for (;;) {
      if ((await finished()) >= n + 1) break;
      if (Date.now() > deadline) throw new Error('runs did not finish within 600 s');
      await new Promise((r) => setTimeout(r, 10));
    }
    const seconds = (performance.now() - t0) / 1000;
    // The run events (3 per run) are delivered to the trigger consumer group asynchronously: how long
    // after the last run finished every event was relayed and that group's offset reached the head.
    const caughtUp0 = performance.now();
    for (;;) {
      const [lag] = await p.database.query<{ unrelayed: string; behind: string }>(
        `SELECT (SELECT count(*) FROM kernel.outbox WHERE published_at IS NULL) AS unrelayed,
                (SELECT coalesce(max(position), 0) FROM kernel.outbox) - (SELECT position FROM kernel.event_consumers WHERE group_name = $1) AS behind`,
        [TRIGGER_CONSUMER_GROUP],
      );
      if (Number(lag?.unrelayed) === 0 && Number(lag?.behind) <= 0) break;
      if (Date.now() > deadline) throw new Error('the trigger consumer group did not catch up within 600 s');
      await new Promise((r) => setTimeout(r, 10));
    }
    const caughtUpMs = performance.now() - caughtUp0;
    const after = await statementCounts(p);
    const lat = (await p.database.query<{ ms: string }>("SELECT extract(epoch FROM finished_at - created_at) * 1000 AS ms FROM workflow.runs WHERE input->>'n' <> '-1'")).map((r) => Number(r.ms));
    const failed = await p.database.query("SELECT 1 FROM workflow.runs WHERE status <> 'succeeded'");
    let statements = 0;
    let dbSeconds = 0;
    const byTable: [string, number][] = [];
    for (const [table, a] of after) {
      const b = before.get(table) ?? { n: 0, s: 0 };
      statements += a.n - b.n;
      dbSeconds += a.s - b.s;
      byTable.push([table, (a.n - b.n) / n]);
    }
    byTable.sort((x, y) => y[1] - x[1]);
    console.error(`[workflow bench ${kind}] ${n} runs in ${seconds.toFixed(2)} s (all started after ${startedS.toFixed(2)} s); statements per run ${(statements / n).toFixed(1)}: ${byTable.filter(([, v]) => v >= 0.05).map(([t, v]) => `${t}=${v.toFixed(2)}`).join(' ')}; db time per run ${((dbSeconds / n) * 1000).toFixed(2)} ms`);

    // Raw pg-boss on the same database and instance: same batch size, same wake-ups, same sender concurrency.
    const queue = (p.instances.get('workflow-engine') as WorkflowEngineInstance).queue;
    const boss = await queue.raw();
    await boss.createQueue('bench-raw', { notify: true }).catch(() => {});
    let done = 0;
    const workerId = await boss.work('bench-raw', { batchSize: batch, pollingIntervalSeconds: WORKFLOW_CONFIG.read(config).pollSeconds, burstWhenBatchFull: true }, async (jobs) => {
      done += jobs.length;
    });
    const r0 = performance.now();
    await bounded(n, concurrency, async (i) => {
      await boss.send('bench-raw', { i });
      boss.notifyWorker(workerId);
    });
    while (done < n && Date.now() < deadline) await new Promise((r) => setTimeout(r, 5));
    const rawPerS = n / ((performance.now() - r0) / 1000);
    const runsPerS = n / seconds;
    return {
      [`runs_per_s_${kind}`]: runsPerS,
      [`p50_ms_${kind}`]: pct(lat, 50),
      [`p99_ms_${kind}`]: pct(lat, 99),
      [`failed_runs_${kind}`]: failed.length,
      [`trigger_group_caught_up_after_ms_${kind}`]: caughtUpMs,
      [`statements_per_run_${kind}`]: statements / n,
      [`db_ms_per_run_${kind}`]: (dbSeconds / n) * 1000,
      [`pgboss_raw_jobs_per_s_${kind}`]: rawPerS,
      [`runs_vs_raw_ratio_${kind}`]: runsPerS / rawPerS,
    };
  } finally {
    await p.close();
    await pg?.drop();
    fs.rmSync(dataDir, { recursive: true, force: true });
  }
}

export default async function workflowBench(args: string[]): Promise<Figures> {
  const n = Number(args[0] ?? 2000);
  const concurrency = Number(args[1] ?? 64);
  const only = process.env.WORKFLOW_BENCH_ONLY;
  return {
    runs: n,
    concurrency,
    ...(only === 'postgres' ? {} : await one('pglite', n, concurrency)),
    ...(only === 'pglite' ? {} : await one('postgres', n, concurrency)),
  };
}
