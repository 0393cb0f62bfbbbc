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
 * an empty data folder to /ready and idle RSS. Per level, the server's CPU ms (process_cpu_seconds_total)
 * and platform statements (database_query_duration_seconds_count; pg-boss's own pool on PostgreSQL is
 * not in it) per completed run: the load-independent measures.
 *
 * `--sustained=S` (default 30, 0 skips): 50 connections for S seconds with the backlog (runs accepted,
 * not finished) sampled every second; reports accepted→finished p50/p99 from the database, the
 * backlog's maximum, its first- and last-third means and its growth (runs/s), completed runs/s, and
 * webhooks refused by backpressure (503 workflow_queue_full). `--levels=10,50` picks the short
 * levels (empty: none) and `--no-baseline` skips the bare Fastify; BENCH_SERVER_NODE_ARGS passes
 * node options to the server (e.g. `--cpu-prof --cpu-prof-dir=DIR`), WORKFLOW_BENCH_TRACE=1 logs the
 * samples, WORKFLOW_BENCH_METRICS_DIR keeps the server's /metrics at the end and WORKFLOW_BENCH_RATE=R holds the
 * sustained load at R webhooks/s (A/B of CPU and statements per run at the same rate), WORKFLOW_BENCH_RESPOND_RATE=R
 * the onCompletion phase at R requests/s. The onCompletion
 * phase (server and, on PostgreSQL, its backends' CPU per answer) also lays the server's GC pauses (support/gc-probe.ts, preloaded) over each answer: the GC
 * pause inside the p99 answer, scavenges per second and the longest, GC pause per answer (ADR 0082); and the event loop's stalls during
 * that load (a 2 ms timer late by more than 3 ms): blocks by the main thread's CPU inside them (over 5/10/20 ms, per 1,000 answers,
 * load-independent), stalls by wall time, and stall ms per answer split into main-thread CPU and run-queue wait (ADR 0087).
 * WORKFLOW_BENCH_PROBE_KEEP=FILE keeps the probe's data with each answer, to lay over a `--cpu-prof` profile.
 * WORKFLOW_BENCH_ONLY=postgres|pglite runs one shape. `--respond-only` is the quickest A/B of the onCompletion answer (about 25 s a run):
 * PostgreSQL only (unless WORKFLOW_BENCH_ONLY says otherwise), no baseline, no short levels, no sustained load, no idle-RSS wait,
 * a 2 s warm-up on the onCompletion webhook itself, then its phase. WORKFLOW_BENCH_SERVER_DIR=DIR starts DIR's build (`bin/v01t.js`
 * there, e.g. a worktree of main with its dist) instead of this checkout's, so that one bench alternates two builds:
 * `WORKFLOW_BENCH_SERVER_DIR=../main-base npm run bench -- workflow --respond-only`. Baseline in the same run: a bare Fastify accepting
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
import { cpuMs, forkServer, rssMb, startV01t, stop } from './support/child.js';
import { GC_MAJOR, GC_MINOR, gcInAnswers } from './support/gc-probe.js';
import { freshDatabase, serverSide, type ServerSide } from './support/postgres.js';

const require = createRequire(import.meta.url);
interface Result { requests: { average: number; total: number }; latency: { p50: number; p99: number }; non2xx: number; errors: number; '2xx': number }
type Run = Promise<Result> & { on(event: 'response', fn: (client: unknown, status: number, bytes: number, ms: number) => void): void };
const autocannon = require('autocannon') as (opts: Record<string, unknown>) => Run;
const here = path.dirname(fileURLToPath(import.meta.url));
const pct = (xs: number[], p: number) => [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor((p / 100) * xs.length))] ?? 0;
const body = JSON.stringify({ answer: 'yes', who: 'bench' });
const log = (msg: string) => process.stderr.write(`[workflow bench] ${msg}\n`);

function post(url: string, connections: number, seconds: number, overallRate?: number, answers?: [number, number][]): Promise<Result> {
  const run = autocannon({ url, method: 'POST', headers: { 'content-type': 'application/json' }, body, connections, duration: seconds, pipelining: 1, ...(overallRate ? { overallRate } : {}) });
  // Each answer's end (epoch ms) and latency, to lay the server's GC pauses over (gc-probe.ts).
  if (answers) run.on('response', (_client, _status, _bytes, ms) => answers.push([Date.now(), ms]));
  return run;
}

async function json<T>(res: Response): Promise<T> {
  if (!res.ok) throw new Error(`${res.url}: ${res.status} ${await res.text()}`);
  return (await res.json()) as T;
}

/** The server's counters that the figures use, from one /metrics scrape. */
interface Scrape { queued: number; succeeded: number; finished: number; cpuSeconds: number; statements: number; eventLag: number }
async function scrape(base: string): Promise<Scrape> {
  const text = await (await fetch(`${base}/metrics`)).text();
  const runs = (status: string) => Number(new RegExp(`^workflow_runs_total\\{[^}]*status="${status}"[^}]*\\} (\\d+)`, 'm').exec(text)?.[1] ?? 0);
  let statements = 0;
  for (const m of text.matchAll(/^database_query_duration_seconds_count\{[^}]*\} (\d+)/gm)) statements += Number(m[1]);
  let eventLag = 0;
  for (const m of text.matchAll(/^v01t_event_consumer_lag\{[^}]*\} (\d+)/gm)) eventLag += Number(m[1]);
  return {
    queued: runs('queued'),
    succeeded: runs('succeeded'),
    finished: runs('succeeded') + runs('failed') + runs('cancelled') + runs('timed_out'),
    cpuSeconds: Number(/^process_cpu_seconds_total(?:\{[^}]*\})? (\S+)/m.exec(text)?.[1] ?? 0),
    statements,
    eventLag,
  };
}
const succeeded = async (base: string) => (await scrape(base)).succeeded;

/** Least-squares slope of (t seconds, y) samples. */
function slope(xs: { t: number; y: number }[]): number {
  const n = xs.length;
  if (n < 2) return 0;
  const mt = xs.reduce((a, p) => a + p.t, 0) / n;
  const my = xs.reduce((a, p) => a + p.y, 0) / n;
  const num = xs.reduce((a, p) => a + (p.t - mt) * (p.y - my), 0);
  const den = xs.reduce((a, p) => a + (p.t - mt) ** 2, 0);
  return den ? num / den : 0;
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

/**
 * Sustained load: 50 connections for `seconds`, the backlog (runs accepted and not finished, from the
 * server's counters) sampled every second. A bounded queue shows as a flat backlog: its growth is the
 * slope of a least-squares line through the samples of the last two thirds (the first third is the
 * ramp-up), and the first third's mean against the last third's. Accepted→finished is the run's
 * createdAt (the webhook's insert, committed before it was answered) to its finishedAt, from the database.
 */
async function sustain(base: string, auth: Record<string, string>, ws: string, wf: { workflow: { id: string }; webhook: { url: string } }, where: string, seconds: number, dbUrl?: string): Promise<Figures> {
  await waitQuiet(base);
  log(`${where}: sustained 50 connections for ${seconds} s`);
  const from = new Date().toISOString();
  const pgStart = dbUrl ? await serverSide(dbUrl) : null;
  const start = await scrape(base);
  const t0 = performance.now();
  const samples: { t: number; y: number }[] = [];
  let sampling = true;
  const sampler = (async () => {
    while (sampling) {
      await new Promise((r) => setTimeout(r, 1000));
      if (!sampling) break;
      const s = await scrape(base);
      samples.push({ t: (performance.now() - t0) / 1000, y: s.queued - start.queued - (s.finished - start.finished) });
      if (process.env.WORKFLOW_BENCH_TRACE) log(`t=${samples.at(-1)!.t.toFixed(1)} s accepted ${s.queued - start.queued} finished ${s.finished - start.finished} backlog ${samples.at(-1)!.y} cpu ${(s.cpuSeconds - start.cpuSeconds).toFixed(2)} s statements ${s.statements - start.statements}`);
    }
  })();
  // WORKFLOW_BENCH_RATE=R: the sustained load at a fixed R webhooks/s instead of as fast as 50 connections go, so that
  // CPU and statements per run of two builds compare at the same rate whatever else the machine is doing.
  const load = await post(`${base}${wf.webhook.url}`, 50, seconds, Number(process.env.WORKFLOW_BENCH_RATE) || undefined);
  sampling = false;
  await sampler;
  const during = await scrape(base);
  const drain0 = performance.now();
  const accepted = during.queued - start.queued;
  while ((await scrape(base)).finished - start.finished < accepted) {
    if (performance.now() - drain0 > 300_000) throw new Error('the sustained backlog did not drain within 300 s');
    await new Promise((r) => setTimeout(r, 50));
  }
  const drainMs = performance.now() - drain0;
  // The event consumers (analytics, gamification, event triggers) behind at the end of the load, and how long until they caught up.
  const eventLagAtEnd = during.eventLag;
  const eventDrainMs = await waitQuiet(base);
  // CPU and statements per run include the consumers' work on the runs' events.
  const end = await scrape(base);
  const pgEnd = dbUrl ? await serverSide(dbUrl) : null;
  const lat = await runLatencies(base, auth, ws, wf.workflow.id, from);
  const third = Math.max(1, Math.floor(samples.length / 3));
  const mean = (xs: { y: number }[]) => xs.reduce((a, p) => a + p.y, 0) / Math.max(1, xs.length);
  const first = samples.slice(0, third);
  const last = samples.slice(-third);
  const span = (last.at(-1)?.t ?? 0) - (first[0]?.t ?? 0);
  const tag = `sustained_c50_${where}`;
  const done = Math.max(1, end.succeeded - start.succeeded);
  return {
    [`${tag}_seconds`]: seconds,
    [`${tag}_webhooks_accepted_per_s`]: load['2xx'] / seconds,
    [`${tag}_webhooks_refused_per_s`]: load.non2xx / seconds,
    [`${tag}_runs_completed_per_s`]: (during.finished - start.finished) / seconds,
    [`${tag}_accepted_to_finished_p50_ms`]: pct(lat, 50),
    [`${tag}_accepted_to_finished_p99_ms`]: pct(lat, 99),
    [`${tag}_backlog_max_runs`]: Math.max(0, ...samples.map((p) => p.y)),
    [`${tag}_backlog_first_third_mean_runs`]: mean(first),
    [`${tag}_backlog_last_third_mean_runs`]: mean(last),
    [`${tag}_backlog_growth_runs_per_s`]: slope(samples.slice(third)),
    [`${tag}_backlog_growth_first_to_last_third_runs_per_s`]: span > 0 ? (mean(last) - mean(first)) / (span * (2 / 3)) : 0,
    [`${tag}_drain_after_load_ms`]: drainMs,
    [`${tag}_event_consumer_lag_at_end_events`]: eventLagAtEnd,
    [`${tag}_event_consumers_caught_up_after_ms`]: drainMs + eventDrainMs,
    [`${tag}_server_cpu_ms_per_run`]: ((end.cpuSeconds - start.cpuSeconds) * 1000) / done,
    [`${tag}_statements_per_run`]: (end.statements - start.statements) / done,
    ...(pgStart && pgEnd ? pgPerRun(tag, pgStart, pgEnd, done) : {}),
    [`${tag}_errors`]: load.errors,
  };
}

/** PostgreSQL's side per completed run: its backends' CPU (local server only) and its commits, pg-boss's pool included. */
function pgPerRun(tag: string, a: ServerSide, b: ServerSide, done: number): Figures {
  return {
    [`${tag}_postgres_backend_cpu_ms_per_run`]: (b.cpuMs - a.cpuMs) / done,
    [`${tag}_postgres_commits_per_run`]: (b.commits - a.commits) / done,
  };
}

/** Until the finished-run counter stops moving and the event consumers have caught up (the previous phase's work is done). */
async function waitQuiet(base: string): Promise<number> {
  const t0 = performance.now();
  const deadline = Date.now() + 120_000;
  let last = -1;
  for (let now = await scrape(base); (now.finished !== last || now.eventLag > 0) && Date.now() < deadline; now = await scrape(base)) {
    last = now.finished;
    await new Promise((r) => setTimeout(r, 500));
  }
  return performance.now() - t0;
}

async function shape(where: 'pglite' | 'postgres', seconds: number, sustained: number, levels: number[], respondOnly = false): Promise<Figures> {
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'v01t-bench-wf-'));
  const env: Record<string, string> = { V01T_DATA_DIR: dataDir, LOG_LEVEL: 'warn', V01T_MASTER_KEY: randomBytes(32).toString('hex'), NODE_ENV: 'production' };
  let dropDb: (() => Promise<void>) | undefined;
  let dbUrl: string | undefined;
  if (where === 'postgres') {
    const db = await freshDatabase(process.env.BENCH_PG_URL ?? 'postgres://postgres@127.0.0.1:5432/test');
    env.DATABASE_URL = dbUrl = db.url;
    dropDb = db.drop;
  }
  const port = 19_000 + Math.floor(Math.random() * 1000);
  const figures: Figures = {};
  log(`${where}: starting v01t on an empty data folder`);
  // BENCH_SERVER_NODE_ARGS: node options for the server process, e.g. "--cpu-prof --cpu-prof-dir=/tmp/prof".
  if (process.env.BENCH_SERVER_NODE_ARGS) env.NODE_OPTIONS = `${process.env.NODE_OPTIONS ?? ''} ${process.env.BENCH_SERVER_NODE_ARGS}`.trim();
  // The server's GC pauses, for the onCompletion answers' share of them (written on SIGUSR2).
  const gcOut = `${dataDir}-gc-pauses.json`;
  env.GC_PROBE_OUT = gcOut;
  env.NODE_OPTIONS = `${env.NODE_OPTIONS ?? process.env.NODE_OPTIONS ?? ''} --import ${JSON.stringify(path.join(here, 'support/gc-probe.js'))}`.trim();
  const { child, readyMs } = await startV01t(env, port, ['start'], process.env.WORKFLOW_BENCH_SERVER_DIR || undefined);
  figures[`start_empty_folder_to_ready_ms_${where}`] = readyMs;
  // One start, not the best of three as in the start bench: its CPU is the figure to compare (ADR 0097).
  figures[`start_empty_folder_cpu_to_ready_ms_${where}`] = cpuMs(child.pid!);
  log(`${where}: ready after ${Math.round(readyMs)} ms, ${Math.round(figures[`start_empty_folder_cpu_to_ready_ms_${where}`]!)} CPU ms (load ${os.loadavg()[0]!.toFixed(2)})`);
  try {
    if (!respondOnly) {
      await new Promise((r) => setTimeout(r, 3000));
      figures[`idle_rss_mb_${where}`] = rssMb(child.pid!);
    }
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
    await post(`${base}${respondOnly ? answered.webhook.url : queued.webhook.url}`, respondOnly ? 10 : 4, 2); // warm-up

    for (const connections of levels) {
      // Let the warm-up's (or the previous level's) runs and their events finish first.
      await waitQuiet(base);
      const from = new Date().toISOString();
      const start = await scrape(base);
      const before = start.succeeded;
      const load = await post(`${base}${queued.webhook.url}`, connections, seconds);
      const duringLoad = (await succeeded(base)) - before;
      const accepted = load['2xx'];
      log(`${where} ${connections} connections: ${accepted} webhooks accepted in ${seconds} s, ${duringLoad} runs finished meanwhile; draining`);
      const drain0 = performance.now();
      while ((await succeeded(base)) - before < accepted) {
        if (performance.now() - drain0 > 300_000) throw new Error(`the backlog did not drain within 300 s: ${(await succeeded(base)) - before} of ${accepted} runs finished`);
        await new Promise((r) => setTimeout(r, 50));
      }
      const drainMs = performance.now() - drain0;
      await waitQuiet(base); // the consumers' work on the runs' events counts in CPU and statements per run
      const end = await scrape(base);
      const lat = await runLatencies(base, auth, ws, queued.workflow.id, from);
      const tag = `c${connections}_${where}`;
      const done = Math.max(1, end.succeeded - start.succeeded);
      figures[`server_cpu_ms_per_run_${tag}`] = ((end.cpuSeconds - start.cpuSeconds) * 1000) / done;
      figures[`statements_per_run_${tag}`] = (end.statements - start.statements) / done;
      figures[`webhooks_accepted_per_s_${tag}`] = accepted / seconds;
      figures[`runs_completed_per_s_during_load_${tag}`] = duringLoad / seconds;
      figures[`backlog_drain_after_load_ms_${tag}`] = drainMs;
      figures[`run_start_to_finish_p50_ms_${tag}`] = pct(lat, 50);
      figures[`run_start_to_finish_p99_ms_${tag}`] = pct(lat, 99);
      figures[`webhook_errors_${tag}`] = load.errors + load.non2xx;
    }

    if (sustained > 0) Object.assign(figures, await sustain(base, auth, ws, queued, where, sustained, dbUrl));

    log(`${where}: respond onCompletion at 10 connections`);
    await waitQuiet(base);
    const r0 = await scrape(base);
    const pg0 = dbUrl ? await serverSide(dbUrl) : null;
    const answers: [number, number][] = [];
    const respondFrom = Date.now();
    // WORKFLOW_BENCH_RESPOND_RATE=R: the 10 connections send R requests/s in all, so CPU and statements per answer of two builds compare at one rate.
    const respond = await post(`${base}${answered.webhook.url}`, 10, seconds, Number(process.env.WORKFLOW_BENCH_RESPOND_RATE) || undefined, answers);
    const respondTo = Date.now();
    child.kill('SIGUSR2');
    await waitQuiet(base);
    const r1 = await scrape(base);
    const pg1 = dbUrl ? await serverSide(dbUrl) : null;
    const answeredRuns = Math.max(1, respond['2xx']);
    // CPU per answer on both sides, the consumers' work on the runs' events included: the load-independent figure.
    if (pg0 && pg1) figures[`respond_on_completion_postgres_backend_cpu_ms_per_run_c10_${where}`] = (pg1.cpuMs - pg0.cpuMs) / answeredRuns;
    figures[`respond_on_completion_server_cpu_ms_per_run_c10_${where}`] = ((r1.cpuSeconds - r0.cpuSeconds) * 1000) / answeredRuns;
    figures[`respond_on_completion_statements_per_run_c10_${where}`] = (r1.statements - r0.statements) / answeredRuns;
    figures[`respond_on_completion_req_per_s_c10_${where}`] = respond.requests.average;
    figures[`respond_on_completion_p50_ms_c10_${where}`] = respond.latency.p50;
    figures[`respond_on_completion_p99_ms_c10_${where}`] = respond.latency.p99;
    figures[`respond_on_completion_errors_c10_${where}`] = respond.errors + respond.non2xx;
    // How much of the slow answers' time the server spent paused for GC (ADR 0082): the GC pause inside
    // the p99 answer's interval is what the semi-space size moves; the rest of the tail is elsewhere.
    if (fs.existsSync(gcOut)) {
      const probe = JSON.parse(fs.readFileSync(gcOut, 'utf8')) as { pauses: [number, number, number][]; stalls: [number, number, number, number][]; allocations?: [number, number][]; timeOrigin: number; monotonicOriginUs: number };
      // WORKFLOW_BENCH_PROBE_KEEP=FILE: keep the probe's pauses and stalls with the answers (for attributing them to a CPU profile).
      if (process.env.WORKFLOW_BENCH_PROBE_KEEP) fs.writeFileSync(process.env.WORKFLOW_BENCH_PROBE_KEEP, JSON.stringify({ ...probe, answers, respondFrom, respondTo }));
      const pauses = probe.pauses.filter(([at]) => at >= respondFrom - 1000 && at <= respondTo);
      // Event-loop stalls during the load (ADR 0087): counted by the main thread's CPU inside them (the
      // synchronous stretch, load-independent) and by how late the loop was (wall, load-dependent), per 1,000 answers.
      const stalls = probe.stalls.filter(([at]) => at >= respondFrom && at <= respondTo);
      const per1000 = (n: number) => (n * 1000) / answeredRuns;
      for (const ms of [5, 10, 20]) {
        figures[`respond_on_completion_loop_blocks_over_${ms}ms_cpu_per_1000_c10_${where}`] = per1000(stalls.filter((x) => x[2] > ms).length);
        figures[`respond_on_completion_loop_stalls_over_${ms}ms_wall_per_1000_c10_${where}`] = per1000(stalls.filter((x) => x[1] > ms).length);
      }
      figures[`respond_on_completion_loop_block_max_cpu_ms_c10_${where}`] = Math.max(0, ...stalls.map((x) => x[2]));
      // Where the stalls' time went, per answer: the main thread on CPU, runnable but waiting for a core, or neither (blocked, or waiting for GC helper threads).
      const stallMs = stalls.reduce((a, x) => a + x[1], 0);
      const onCpu = stalls.reduce((a, x) => a + x[2], 0);
      const runQueue = stalls.reduce((a, x) => a + x[3], 0);
      figures[`respond_on_completion_loop_stall_ms_per_answer_c10_${where}`] = stallMs / answeredRuns;
      figures[`respond_on_completion_loop_stall_cpu_ms_per_answer_c10_${where}`] = onCpu / answeredRuns;
      figures[`respond_on_completion_loop_stall_run_queue_ms_per_answer_c10_${where}`] = runQueue / answeredRuns;
      const minor = pauses.filter((p) => p[2] === GC_MINOR);
      figures[`respond_on_completion_gc_ms_in_answer_p99_c10_${where}`] = pct(gcInAnswers(answers, pauses), 99);
      figures[`respond_on_completion_scavenges_per_s_c10_${where}`] = minor.length / seconds;
      figures[`respond_on_completion_scavenge_max_ms_c10_${where}`] = Math.max(0, ...minor.map((p) => p[1]));
      figures[`respond_on_completion_gc_pause_ms_per_answer_c10_${where}`] = pauses.reduce((a, p) => a + p[1], 0) / answeredRuns;
      figures[`respond_on_completion_major_gcs_c10_${where}`] = pauses.filter((p) => p[2] === GC_MAJOR).length;
      // JS heap bytes allocated per answer (ADR 0096): the probe's half-second slices that ended during the load
      // (the consumers' work on the answers' events runs in the same slices, at most 100 ms behind).
      const slices = (probe.allocations ?? []).filter(([at]) => at > respondFrom + 500 && at <= respondTo);
      if (slices.length) {
        const inSlices = answers.filter(([end]) => end > slices[0]![0] - 500 && end <= slices[slices.length - 1]![0]).length;
        figures[`respond_on_completion_allocated_kb_per_answer_c10_${where}`] = slices.reduce((a, x) => a + x[1], 0) / 1024 / Math.max(1, inSlices);
      }
    }
    // WORKFLOW_BENCH_METRICS_DIR: keep the server's /metrics at the end (statement time by table, for profiling).
    if (process.env.WORKFLOW_BENCH_METRICS_DIR) fs.writeFileSync(path.join(process.env.WORKFLOW_BENCH_METRICS_DIR, `metrics-${where}.txt`), await (await fetch(`${base}/metrics`)).text());
  } finally {
    await stop(child);
    await dropDb?.();
    fs.rmSync(dataDir, { recursive: true, force: true });
    fs.rmSync(gcOut, { force: true });
  }
  return figures;
}

export default async function workflow(args: string[]): Promise<Figures> {
  const seconds = Number(args.find((a) => a.startsWith('--seconds='))?.split('=')[1] ?? 10);
  const sustained = Number(args.find((a) => a.startsWith('--sustained='))?.split('=')[1] ?? 30);
  const only = process.env.WORKFLOW_BENCH_ONLY;
  const figures: Figures = { seconds_per_level: seconds, sustained_seconds: sustained, load_average_1m: os.loadavg()[0]! };
  // --levels=10,50 (default) and --no-baseline shorten a run while working on one figure.
  const levels = (args.find((a) => a.startsWith('--levels='))?.split('=')[1] ?? '10,50').split(',').filter(Boolean).map(Number);
  if (args.includes('--respond-only')) {
    figures.sustained_seconds = 0;
    if (only === 'pglite') Object.assign(figures, await shape('pglite', seconds, 0, [], true));
    else Object.assign(figures, await shape('postgres', seconds, 0, [], true));
    figures.load_average_1m_after = os.loadavg()[0]!;
    return figures;
  }
  if (args.includes('--no-baseline')) {
    if (only !== 'postgres') Object.assign(figures, await shape('pglite', seconds, sustained, levels));
    if (only !== 'pglite') Object.assign(figures, await shape('postgres', seconds, sustained, levels));
    figures.load_average_1m_after = os.loadavg()[0]!;
    return figures;
  }
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
  if (only !== 'postgres') Object.assign(figures, await shape('pglite', seconds, sustained, levels));
  if (only !== 'pglite') Object.assign(figures, await shape('postgres', seconds, sustained, levels));
  figures.load_average_1m_after = os.loadavg()[0]!;
  return figures;
}
