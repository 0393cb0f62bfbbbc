/**
 * `npm run bench -- workflow [--seconds=S]`: workflow execution as users run it. A real `v01t start`
 * process (every service loaded, a file-backed data folder; then the same on the local PostgreSQL)
 * driven over HTTP by autocannon through a webhook trigger, with n8n's anchor workflow
 * (webhook → set flag → if flag = "yes" → set result), at 10 and 50 connections for S seconds each.
 *
 * Figures per shape: webhooks accepted per second; runs completed per second while the load lasted
 * (the sustained rate: `workflow_runs_total{status="succeeded"}` from /metrics, read before and
 * after); how long the backlog took to drain once the load stopped; start-to-finish p50/p99 of the
 * runs (createdAt → finishedAt, read back through the runs API); the same workflow with
 * `respond: "onCompletion"` at 10 connections (request latency is then the run's). Also start on
 * an empty data folder to /ready and idle RSS. Baseline in the same run: a bare Fastify accepting
 * the same POST (support/bare-webhook.ts); n8n's webhook when N8N_BENCH_URL points at its
 * production webhook URL (the same 4-node workflow, set up by hand).
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import type { Figures } from './run.js';
import { forkServer, rssMb, startV01t, stop } from './support/child.js';
import { freshDatabase } from './support/postgres.js';

const require = createRequire(import.meta.url);
interface Result { requests: { average: number; total: number }; latency: { p50: number; p99: number }; non2xx: number; errors: number; '2xx': number }
const autocannon = require('autocannon') as (opts: Record<string, unknown>) => Promise<Result>;
const here = path.dirname(fileURLToPath(import.meta.url));
const pct = (xs: number[], p: number) => [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor((p / 100) * xs.length))] ?? 0;
const body = JSON.stringify({ answer: 'yes', who: 'bench' });
const log = (msg: string) => process.stderr.write(`[workflow bench] ${msg}\n`);

function post(url: string, connections: number, seconds: number): Promise<Result> {
  return autocannon({ url, method: 'POST', headers: { 'content-type': 'application/json' }, body, connections, duration: seconds, pipelining: 1 });
}

async function json<T>(res: Response): Promise<T> {
  if (!res.ok) throw new Error(`${res.url}: ${res.status} ${await res.text()}`);
  return (await res.json()) as T;
}

async function succeeded(base: string): Promise<number> {
  const text = await (await fetch(`${base}/metrics`)).text();
  return Number(/^workflow_runs_total\{[^}]*status="succeeded"[^}]*\} (\d+)/m.exec(text)?.[1] ?? 0);
}

/** Start-to-finish milliseconds of the workflow's runs created at or after `from`, through the runs API. */
async function runLatencies(base: string, auth: Record<string, string>, ws: string, workflowId: string, from: string): Promise<number[]> {
  const out: number[] = [];
  let cursor: string | null = null;
  do {
    const q = new URLSearchParams({ workflowId, from, limit: '200', ...(cursor ? { cursor } : {}) });
    const page: { runs: { createdAt: string; finishedAt: string | null }[]; nextCursor: string | null } = await json(await fetch(`${base}/v1/workspaces/${ws}/runs?${q}`, { headers: auth }));
    for (const r of page.runs) if (r.finishedAt) out.push(Date.parse(r.finishedAt) - Date.parse(r.createdAt));
    cursor = page.nextCursor;
  } while (cursor);
  return out;
}

async function shape(where: 'pglite' | 'postgres', seconds: number): Promise<Figures> {
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'v01t-bench-wf-'));
  const env: Record<string, string> = { V01T_DATA_DIR: dataDir, LOG_LEVEL: 'warn', V01T_MASTER_KEY: randomBytes(32).toString('hex'), NODE_ENV: 'production' };
  let dropDb: (() => Promise<void>) | undefined;
  if (where === 'postgres') {
    const db = await freshDatabase(process.env.BENCH_PG_URL ?? 'postgres://postgres@127.0.0.1:5432/test');
    env.DATABASE_URL = db.url;
    dropDb = db.drop;
  }
  const port = 19_000 + Math.floor(Math.random() * 1000);
  const figures: Figures = {};
  log(`${where}: starting v01t on an empty data folder`);
  const { child, readyMs } = await startV01t(env, port);
  figures[`start_empty_folder_to_ready_ms_${where}`] = readyMs;
  log(`${where}: ready after ${Math.round(readyMs)} ms`);
  try {
    await new Promise((r) => setTimeout(r, 3000));
    figures[`idle_rss_mb_${where}`] = rssMb(child.pid!);
    const base = `http://127.0.0.1:${port}`;
    const signup = await json<{ token: string }>(
      await fetch(`${base}/v1/auth/signup`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ email: `bench.${Date.now()}@example.test`, password: 'benchmark password', name: 'Bench' }) }),
    );
    const auth = { authorization: `Bearer ${signup.token}`, 'content-type': 'application/json' };
    const ws = (await json<{ workspace: { id: string } }>(await fetch(`${base}/v1/workspaces`, { method: 'POST', headers: auth, body: JSON.stringify({ name: 'bench' }) }))).workspace.id;
    const create = async (name: string, respond: 'immediately' | 'onCompletion') =>
      json<{ workflow: { id: string }; webhook: { url: string } }>(
        await fetch(`${base}/v1/workspaces/${ws}/workflows`, {
          method: 'POST',
          headers: auth,
          body: JSON.stringify({
            name,
            trigger: { type: 'webhook', respond },
            steps: [
              { id: 'flag', type: 'transform', with: { expression: '{"flag": input.answer}' } },
              { id: 'yes', type: 'condition', with: { expression: 'steps.flag.output.flag = "yes"' } },
              { id: 'result', type: 'transform', with: { expression: '{"result": "accepted"}' } },
            ],
          }),
        }),
      );
    const queued = await create('anchor', 'immediately');
    const answered = await create('anchor-respond', 'onCompletion');
    await post(`${base}${queued.webhook.url}`, 4, 2); // warm-up

    for (const connections of [10, 50]) {
      // Let the warm-up's (or the previous level's) runs finish first.
      const settleDeadline = Date.now() + 300_000;
      let last = -1;
      for (let now = await succeeded(base); now !== last && Date.now() < settleDeadline; now = await succeeded(base)) {
        last = now;
        await new Promise((r) => setTimeout(r, 500));
      }
      const from = new Date().toISOString();
      const before = await succeeded(base);
      const load = await post(`${base}${queued.webhook.url}`, connections, seconds);
      const duringLoad = (await succeeded(base)) - before;
      const accepted = load['2xx'];
      log(`${where} ${connections} connections: ${accepted} webhooks accepted in ${seconds} s, ${duringLoad} runs finished meanwhile; draining`);
      const drain0 = performance.now();
      while ((await succeeded(base)) - before < accepted) {
        if (performance.now() - drain0 > 300_000) throw new Error(`the backlog did not drain within 300 s: ${(await succeeded(base)) - before} of ${accepted} runs finished`);
        await new Promise((r) => setTimeout(r, 50));
      }
      const lat = await runLatencies(base, auth, ws, queued.workflow.id, from);
      const tag = `c${connections}_${where}`;
      figures[`webhooks_accepted_per_s_${tag}`] = accepted / seconds;
      figures[`runs_completed_per_s_during_load_${tag}`] = duringLoad / seconds;
      figures[`backlog_drain_after_load_ms_${tag}`] = performance.now() - drain0;
      figures[`run_start_to_finish_p50_ms_${tag}`] = pct(lat, 50);
      figures[`run_start_to_finish_p99_ms_${tag}`] = pct(lat, 99);
      figures[`webhook_errors_${tag}`] = load.errors + load.non2xx;
    }

    log(`${where}: respond onCompletion at 10 connections`);
    const respond = await post(`${base}${answered.webhook.url}`, 10, seconds);
    figures[`respond_on_completion_req_per_s_c10_${where}`] = respond.requests.average;
    figures[`respond_on_completion_p50_ms_c10_${where}`] = respond.latency.p50;
    figures[`respond_on_completion_p99_ms_c10_${where}`] = respond.latency.p99;
    figures[`respond_on_completion_errors_c10_${where}`] = respond.errors + respond.non2xx;
  } finally {
    await stop(child);
    await dropDb?.();
    fs.rmSync(dataDir, { recursive: true, force: true });
  }
  return figures;
}

export default async function workflow(args: string[]): Promise<Figures> {
  const seconds = Number(args.find((a) => a.startsWith('--seconds='))?.split('=')[1] ?? 10);
  const only = process.env.WORKFLOW_BENCH_ONLY;
  const figures: Figures = { seconds_per_level: seconds, load_average_1m: os.loadavg()[0]! };
  const bare = await forkServer(path.join(here, 'support/bare-webhook.js'));
  try {
    await post(`${bare.address}/hooks/bare`, 10, 2);
    for (const c of [10, 50]) figures[`baseline_bare_fastify_webhooks_per_s_c${c}`] = (await post(`${bare.address}/hooks/bare`, c, seconds))['2xx'] / seconds;
  } finally {
    await stop(bare.child);
  }
  if (process.env.N8N_BENCH_URL) {
    for (const c of [10, 50]) {
      const r = await post(process.env.N8N_BENCH_URL, c, seconds);
      figures[`n8n_webhooks_answered_per_s_c${c}`] = r['2xx'] / seconds;
      figures[`n8n_p99_ms_c${c}`] = r.latency.p99;
    }
  }
  if (only !== 'postgres') Object.assign(figures, await shape('pglite', seconds));
  if (only !== 'pglite') Object.assign(figures, await shape('postgres', seconds));
  figures.load_average_1m_after = os.loadavg()[0]!;
  return figures;
}
