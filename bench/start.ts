/**
 * `npm run bench -- start [--runs=N] [--no-clone]`: how fast `v01t start` is ready and how much
 * memory it keeps (ADR 0065). A real process (`node bin/v01t.js start`, every service) is timed
 * from spawn to the first 200 of /ready:
 *   - embedded, cold: an empty data folder (the database copied from the build's template);
 *   - embedded, cold without the template (PGLITE_TEMPLATE=false: initdb + migrations at start);
 *   - embedded, warm: a restart on that data folder;
 *   - PostgreSQL, cold (a new database) and warm (a restart on it).
 * Each start reports its milliseconds to ready, the CPU milliseconds the process spent until then
 * (user + system, from /proc: the load-independent measure), and its resident memory 3 s after
 * ready (idle); one more embedded restart is left idle for a minute and its memory read 3, 30 and 60 s
 * after ready (`embedded_warm_rss_mb_*s_after_ready`, the settled figure). The best of N runs is kept for times, the median for memory;
 * the medians of the times are beside (`_median`): one start alone, as the workflow bench takes, compares with those (ADR 0097). One more cold start
 * of each shape counts the modules (files) and packages loaded at ready (ADR 0073). Baselines in the same
 * run: a bare Node process (its RSS) and a bare Fastify (spawn to listening, RSS). With the clone
 * part, a fresh `git clone` of this checkout (node_modules linked) runs `npm start` until /ready,
 * build included.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import { spawn, execFileSync, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import type { Figures } from './run.js';
import { cpuMs, forkServer, rssMb, stop } from './support/child.js';
import { freshDatabase } from './support/postgres.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const repo = path.resolve(here, '..', '..');
const log = (msg: string) => process.stderr.write(`[start bench] ${msg}\n`);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? 0;

async function waitReady(child: ChildProcess, port: number, started: number, timeoutMs = 120_000): Promise<number> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) throw new Error(`the process exited with ${child.exitCode}`);
    try {
      if ((await fetch(`http://127.0.0.1:${port}/ready`)).status === 200) return performance.now() - started;
    } catch {
      /* not listening yet */
    }
    await sleep(10);
  }
  throw new Error(`not ready within ${timeoutMs / 1000} s`);
}

interface StartFigures { readyMs: number; cpuMs: number; idleRssMb: number }
/** The best start of a series (times) and its medians: one start alone, as the workflow bench takes, compares with the median (ADR 0097). */
interface SeriesFigures extends StartFigures { medianReadyMs: number; medianCpuMs: number }

/** One start with the module counter preloaded (bench/support/count-modules.ts): files and packages loaded at ready. */
async function modulesAtReady(env: Record<string, string>): Promise<{ modules: number; packages: number }> {
  const port = 19_000 + Math.floor(Math.random() * 1000);
  const out = path.join(os.tmpdir(), `v01t-bench-modules-${process.pid}-${port}.json`);
  const hook = path.join(here, 'support', 'count-modules.js');
  const nodeOptions = `${process.env.NODE_OPTIONS ?? ''} --import=${hook}`.trim();
  const child = spawn(process.execPath, ['bin/v01t.js', 'start'], {
    cwd: repo,
    env: { ...process.env, ...env, PORT: String(port), HOST: '127.0.0.1', NODE_OPTIONS: nodeOptions, V01T_BENCH_MODULE_COUNT_FILE: out },
    stdio: ['ignore', 'ignore', 'inherit'],
  });
  try {
    await waitReady(child, port, performance.now());
    child.kill('SIGUSR2');
    for (let i = 0; i < 200 && !fs.existsSync(out); i++) await sleep(10);
    return JSON.parse(fs.readFileSync(out, 'utf8')) as { modules: number; packages: number };
  } finally {
    await stop(child);
    fs.rmSync(out, { force: true });
  }
}

async function startOnce(env: Record<string, string>): Promise<StartFigures> {
  const port = 19_000 + Math.floor(Math.random() * 1000);
  const started = performance.now();
  const child = spawn(process.execPath, ['bin/v01t.js', 'start'], { cwd: repo, env: { ...process.env, ...env, PORT: String(port), HOST: '127.0.0.1' }, stdio: ['ignore', 'ignore', 'inherit'] });
  try {
    const readyMs = await waitReady(child, port, started);
    const cpu = cpuMs(child.pid!);
    await sleep(3000);
    return { readyMs, cpuMs: cpu, idleRssMb: rssMb(child.pid!) };
  } finally {
    await stop(child);
  }
}

/**
 * An embedded restart left idle: resident memory 3, 30 and 60 s after ready. The idle figures above
 * are read 3 s after ready; the process's pollers then regrow the heap by some MB and compiles left
 * queued at ready run (ADR 0092), so the settled figure is the one an idle install shows.
 */
async function settledRss(env: Record<string, string>, at: number[]): Promise<number[]> {
  const port = 19_000 + Math.floor(Math.random() * 1000);
  const child = spawn(process.execPath, ['bin/v01t.js', 'start'], { cwd: repo, env: { ...process.env, ...env, PORT: String(port), HOST: '127.0.0.1' }, stdio: ['ignore', 'ignore', 'inherit'] });
  try {
    await waitReady(child, port, performance.now());
    const ready = performance.now();
    const out: number[] = [];
    for (const s of at) {
      await sleep(Math.max(0, s * 1000 - (performance.now() - ready)));
      out.push(rssMb(child.pid!));
    }
    return out;
  } finally {
    await stop(child);
  }
}

/** N starts; cold ones each on a new data folder / database (made by `fresh`), warm ones on the same after a first start. */
async function series(label: string, runs: number, fresh: () => Promise<{ env: Record<string, string>; drop: () => Promise<void> }>, warm: boolean): Promise<SeriesFigures> {
  const all: StartFigures[] = [];
  const shared = warm ? await fresh() : undefined;
  try {
    if (shared) await startOnce(shared.env); // the first start makes the data the restarts find
    for (let i = 0; i < runs; i++) {
      const one = shared ?? (await fresh());
      try {
        const f = await startOnce(one.env);
        log(`${label} #${i + 1}: ready ${Math.round(f.readyMs)} ms, ${Math.round(f.cpuMs)} CPU ms, idle ${Math.round(f.idleRssMb)} MB (load ${os.loadavg()[0]!.toFixed(2)})`);
        all.push(f);
      } finally {
        if (!shared) await one.drop();
      }
    }
  } finally {
    await shared?.drop();
  }
  return {
    readyMs: Math.min(...all.map((f) => f.readyMs)),
    cpuMs: Math.min(...all.map((f) => f.cpuMs)),
    idleRssMb: median(all.map((f) => f.idleRssMb)),
    medianReadyMs: median(all.map((f) => f.readyMs)),
    medianCpuMs: median(all.map((f) => f.cpuMs)),
  };
}

const baseEnv = () => ({ LOG_LEVEL: 'warn', V01T_MASTER_KEY: randomBytes(32).toString('hex'), NODE_ENV: 'production' });
function embedded(extra: Record<string, string> = {}) {
  return async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'v01t-bench-start-'));
    return { env: { ...baseEnv(), V01T_DATA_DIR: dir, ...extra }, drop: async () => fs.rmSync(dir, { recursive: true, force: true }) };
  };
}
function postgres() {
  return async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'v01t-bench-start-'));
    const db = await freshDatabase(process.env.BENCH_PG_URL ?? 'postgres://postgres@127.0.0.1:5432/test');
    return {
      env: { ...baseEnv(), V01T_DATA_DIR: dir, DATABASE_URL: db.url },
      drop: async () => {
        await db.drop();
        fs.rmSync(dir, { recursive: true, force: true });
      },
    };
  };
}

/** `git clone` of this checkout, node_modules linked, then `npm start` to /ready: the build included. */
async function freshClone(): Promise<{ seconds: number; progressLines: number }> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'v01t-bench-clone-'));
  const data = fs.mkdtempSync(path.join(os.tmpdir(), 'v01t-bench-start-'));
  try {
    execFileSync('git', ['clone', '--quiet', '--no-hardlinks', repo, dir]);
    fs.symlinkSync(path.join(repo, 'node_modules'), path.join(dir, 'node_modules'));
    const port = 19_000 + Math.floor(Math.random() * 1000);
    const started = performance.now();
    // Its own process group, so the stop reaches the server npm started.
    const child = spawn('npm', ['start'], { cwd: dir, detached: true, env: { ...process.env, ...baseEnv(), V01T_DATA_DIR: data, PORT: String(port), HOST: '127.0.0.1' }, stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
    try {
      const ms = await waitReady(child, port, started, 180_000);
      return { seconds: ms / 1000, progressLines: stderr.split('\n').filter((l) => l.startsWith('v01t: ')).length };
    } finally {
      await new Promise<void>((resolve) => {
        if (child.exitCode !== null) return resolve();
        child.once('exit', () => resolve());
        process.kill(-child.pid!, 'SIGTERM');
      });
    }
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
    fs.rmSync(data, { recursive: true, force: true });
  }
}

export default async function run(args: string[]): Promise<Figures> {
  const runs = Number(args.find((a) => a.startsWith('--runs='))?.slice(7) ?? 3);
  const figures: Figures = { loadavg_1m_at_start_ratio: os.loadavg()[0]! };

  // Baselines: a bare Node process, a bare Fastify (spawn to listening).
  const bare = spawn(process.execPath, ['-e', 'setInterval(() => {}, 1000)'], { stdio: 'ignore' });
  await sleep(1000);
  figures.baseline_bare_node_idle_rss_mb = rssMb(bare.pid!);
  bare.kill();
  const fastifyStarted = performance.now();
  const { child: fastify } = await forkServer(path.join(here, 'support', 'bare-webhook.js'));
  figures.baseline_bare_fastify_start_ms = performance.now() - fastifyStarted;
  await sleep(3000);
  figures.baseline_bare_fastify_idle_rss_mb = rssMb(fastify.pid!);
  await stop(fastify);

  const shapes: [string, () => Promise<{ env: Record<string, string>; drop: () => Promise<void> }>, boolean][] = [
    ['embedded_cold', embedded(), false],
    ['embedded_cold_no_template', embedded({ PGLITE_TEMPLATE: 'false' }), false],
    ['embedded_warm', embedded(), true],
    ['postgres_cold', postgres(), false],
    ['postgres_warm', postgres(), true],
  ];
  for (const [name, fresh, warm] of shapes) {
    const f = await series(name, name === 'embedded_cold_no_template' ? 1 : runs, fresh, warm);
    figures[`${name}_to_ready_ms`] = f.readyMs;
    figures[`${name}_cpu_to_ready_ms`] = f.cpuMs;
    figures[`${name}_idle_rss_mb`] = f.idleRssMb;
    if (name !== 'embedded_cold_no_template') {
      figures[`${name}_to_ready_ms_median`] = f.medianReadyMs;
      figures[`${name}_cpu_to_ready_ms_median`] = f.medianCpuMs;
    }
  }
  // Settled: the same embedded restart left idle for a minute.
  {
    const one = await embedded()();
    try {
      await startOnce(one.env); // the first start makes the data the restart finds
      const at = [3, 30, 60];
      const rss = await settledRss(one.env, at);
      log(`embedded restart left idle: RSS ${rss.map((r, i) => `${Math.round(r)} MB at ${at[i]} s`).join(', ')} after ready`);
      at.forEach((s, i) => (figures[`embedded_warm_rss_mb_${s}s_after_ready`] = rss[i]!));
    } finally {
      await one.drop();
    }
  }
  // Modules loaded at ready (load-independent): one more cold start of each shape, with the counter.
  for (const [name, fresh] of [['embedded', embedded()], ['postgres', postgres()]] as const) {
    const one = await fresh();
    try {
      const m = await modulesAtReady(one.env);
      log(`${name}: ${m.modules} modules from ${m.packages} packages loaded at ready`);
      figures[`${name}_modules_at_ready_count`] = m.modules;
      figures[`${name}_packages_at_ready_count`] = m.packages;
    } finally {
      await one.drop();
    }
  }
  figures.embedded_template_cold_speedup_ratio = figures.embedded_cold_no_template_to_ready_ms! / figures.embedded_cold_to_ready_ms!;

  if (!args.includes('--no-clone')) {
    log('fresh clone: git clone, then npm start (build included) to /ready');
    const clone = await freshClone();
    log(`fresh clone: ready after ${clone.seconds.toFixed(1)} s, ${clone.progressLines} progress lines`);
    figures.fresh_clone_npm_start_to_ready_ms = clone.seconds * 1000;
  }
  figures.loadavg_1m_at_end_ratio = os.loadavg()[0]!;
  return figures;
}
