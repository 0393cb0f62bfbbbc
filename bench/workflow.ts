/**
 * `npm run bench -- workflow [N]`: a 3-step workflow (transform, condition, emit) started N times
 * through the API on PGlite and on the local PostgreSQL; runs/s and start-to-finish p50/p99, and
 * the raw pg-boss jobs/s (send + work of empty jobs) in the same process for the ratio.
 */
import { randomBytes } from 'node:crypto';
import os from 'node:os';
import path from 'node:path';
import fs from 'node:fs';
import { loadConfig } from '../src/kernel/config/index.js';
import { createLogger } from '../src/kernel/telemetry/logger.js';
import { createPlatform } from '../src/apps/platform.js';
import type { WorkflowEngineInstance } from '../src/services/workflow-engine/index.js';
import { freshDatabase } from './support/postgres.js';
import type { Figures } from './run.js';

const pct = (xs: number[], p: number) => xs.sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor((p / 100) * xs.length))] ?? 0;

async function one(kind: 'pglite' | 'postgres', n: number): Promise<Figures> {
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'v01t-bench-wf-'));
  const pg = kind === 'postgres' ? await freshDatabase(process.env.V01T_TEST_PG_URL ?? 'postgres://postgres@127.0.0.1:5432/test') : undefined;
  const config = loadConfig({
    NODE_ENV: 'production',
    V01T_DATA_DIR: dataDir,
    V01T_EPHEMERAL: 'true',
    V01T_MASTER_KEY: randomBytes(32).toString('hex'),
    LOG_LEVEL: 'silent',
    ARGON2_MEMORY_KIB: '1024',
    ARGON2_TIME_COST: '1',
    V01T_SERVICES: 'orchestrator,workflow-engine',
    WORKFLOW_QUEUE_BATCH: '50',
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
    const t0 = performance.now();
    for (let i = 0; i < n; i++) {
      const r = await p.app.inject({ method: 'POST', url: `/v1/workspaces/${ws}/workflows/${wf}/runs`, headers: auth, payload: { input: { n: i } } });
      if (r.statusCode !== 202) throw new Error(`start failed: ${r.statusCode} ${r.body}`);
    }
    const deadline = Date.now() + 300_000;
    for (;;) {
      const [row] = await p.database.query<{ n: string }>("SELECT count(*) AS n FROM workflow.runs WHERE status IN ('succeeded','failed')");
      if (Number(row?.n) >= n) break;
      if (Date.now() > deadline) throw new Error('runs did not finish within 300 s');
      await new Promise((r) => setTimeout(r, 20));
    }
    const seconds = (performance.now() - t0) / 1000;
    const lat = (await p.database.query<{ ms: string }>('SELECT extract(epoch FROM finished_at - created_at) * 1000 AS ms FROM workflow.runs')).map((r) => Number(r.ms));
    const failed = await p.database.query("SELECT 1 FROM workflow.runs WHERE status <> 'succeeded'");

    // Raw pg-boss on the same database: n empty jobs sent one by one and worked in batches.
    const boss = await (p.instances.get('workflow-engine') as WorkflowEngineInstance).queue.raw();
    await boss.createQueue('bench-raw').catch(() => {});
    let done = 0;
    const r0 = performance.now();
    await boss.work('bench-raw', { batchSize: 50, pollingIntervalSeconds: 0.5 }, async (jobs) => {
      done += jobs.length;
    });
    for (let i = 0; i < n; i++) await boss.send('bench-raw', { i });
    while (done < n && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    const rawPerS = n / ((performance.now() - r0) / 1000);
    const runsPerS = n / seconds;
    return {
      [`${kind}_runs_per_s`]: runsPerS,
      [`${kind}_p50_ms`]: pct(lat, 50),
      [`${kind}_p99_ms`]: pct(lat, 99),
      [`${kind}_failed_runs`]: failed.length,
      [`${kind}_pgboss_raw_jobs_per_s`]: rawPerS,
      [`${kind}_runs_to_raw_jobs_ratio`]: runsPerS / rawPerS,
    };
  } finally {
    await p.close();
    await pg?.drop();
    fs.rmSync(dataDir, { recursive: true, force: true });
  }
}

export default async function workflowBench(args: string[]): Promise<Figures> {
  const n = Number(args[0] ?? 500);
  return { runs: n, ...(await one('pglite', n)), ...(await one('postgres', n)) };
}
