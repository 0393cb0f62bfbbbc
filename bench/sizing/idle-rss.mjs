// ADR 0095: an embedded restart's resident memory while it idles, A/B across builds. For each build
// (a checkout with its own dist/), one data folder is made by a first start; then, `pairs` times, a
// restart of each build on its folder (`node bin/v01t.js start`, V01T_DATA_DIR, every service) is
// left idle and its VmRSS (and VmHWM) read from /proc/PID/status at `at` seconds after the first
// 200 of /ready. Builds alternate (A B, B A, A B, ...); with --concurrent the restarts of a round run
// side by side instead (the same minutes, the same load). With --trace, a preloaded hook
// (idle-rss-trace.mjs) also reports, at each mark, V8's heap spaces, malloced memory, external
// memory and the count and time of its collections. One JSON line per restart on stdout; a summary
// (medians per build and mark) on stderr, with the load average beside each restart.
// Run: node bench/sizing/idle-rss.mjs [--pairs=3] [--at=3,30,60] [--concurrent] [--trace]
//        [--env=NAME=VALUE,...] BUILD_DIR [BUILD_DIR ...]
// A build given as DIR:NAME=VALUE;NAME=VALUE runs with that environment added (a lever by variable).
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const opts = Object.fromEntries(process.argv.slice(2).filter((a) => a.startsWith('--')).map((a) => { const [k, v] = a.slice(2).split('='); return [k, v ?? 'true']; }));
const builds = process.argv.slice(2).filter((a) => !a.startsWith('--')).map((spec, i) => {
  const cut = spec.indexOf(':');
  const [dir, extra] = cut < 0 ? [spec, ''] : [spec.slice(0, cut), spec.slice(cut + 1)];
  const env = Object.fromEntries(extra.split(';').filter(Boolean).map((kv) => [kv.slice(0, kv.indexOf('=')), kv.slice(kv.indexOf('=') + 1)]));
  return { name: `${String.fromCharCode(65 + i)}:${path.basename(path.resolve(dir))}${extra ? `+${extra}` : ''}`, dir: path.resolve(dir), env };
});
const pairs = Number(opts.pairs ?? 3);
const at = (opts.at ?? '3,30,60').split(',').map(Number);
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const load = () => fs.readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ');
const status = (pid) => {
  const s = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = (k) => Number(new RegExp(`${k}:\\s+(\\d+)`).exec(s)?.[1] ?? 0) / 1024;
  return { rss: kb('VmRSS'), hwm: kb('VmHWM'), anon: kb('RssAnon') };
};
const cpuMs = (pid) => {
  const f = fs.readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
  return ((Number(f[11]) + Number(f[12])) * 1000) / 100;
};
if (builds.length === 0) {
  process.stderr.write('usage: node bench/sizing/idle-rss.mjs [--pairs=3] [--at=3,30,60] [--concurrent] [--trace] BUILD_DIR[:ENV=V;...] ...\n');
  process.exit(2);
}

function start(build, data, key, traceFile) {
  const port = 20_000 + Math.floor(Math.random() * 5000);
  const env = { ...process.env, LOG_LEVEL: 'warn', NODE_ENV: 'production', V01T_MASTER_KEY: key, V01T_DATA_DIR: data, PORT: String(port), HOST: '127.0.0.1', ...build.env };
  if (traceFile) {
    env.NODE_OPTIONS = `${env.NODE_OPTIONS ?? ''} --import=${path.join(here, 'idle-rss-trace.mjs')}`.trim();
    env.V01T_SIZING_TRACE = traceFile;
  }
  const started = performance.now();
  const child = spawn(process.execPath, ['bin/v01t.js', 'start'], { cwd: build.dir, env, stdio: ['ignore', 'ignore', 'inherit'] });
  return { child, port, started };
}

async function ready({ child, port, started }) {
  for (const deadline = Date.now() + 120_000; Date.now() < deadline; await sleep(10)) {
    if (child.exitCode !== null) throw new Error(`exited with ${child.exitCode}`);
    try {
      if ((await fetch(`http://127.0.0.1:${port}/ready`)).status === 200) return performance.now() - started;
    } catch {
      /* not listening yet */
    }
  }
  throw new Error('not ready within 120 s');
}

const stop = (child) => new Promise((resolve) => {
  if (child.exitCode !== null) return resolve();
  child.once('exit', resolve);
  child.kill('SIGTERM');
});

/** The trace line nearest to `ms` after ready (the hook writes one every 500 ms). */
function traceAt(file, readyEpoch, ms) {
  if (!fs.existsSync(file)) return undefined;
  const lines = fs.readFileSync(file, 'utf8').trim().split('\n').map((l) => JSON.parse(l));
  let best;
  for (const l of lines) if (l.t <= readyEpoch + ms + 250 && (!best || l.t > best.t)) best = l;
  return best;
}

async function restart(build, folder) {
  const traceFile = opts.trace ? path.join(os.tmpdir(), `v01t-idle-trace-${process.pid}-${Math.random().toString(36).slice(2)}.jsonl`) : undefined;
  const run = start(build, folder.dir, folder.key, traceFile);
  const loadAtStart = load();
  try {
    const readyMs = await ready(run);
    const readyAt = performance.now();
    const readyEpoch = Date.now();
    const cpu = cpuMs(run.child.pid);
    const marks = [];
    for (const s of at) {
      await sleep(Math.max(0, s * 1000 - (performance.now() - readyAt)));
      const m = { s, ...status(run.child.pid), load: load() };
      if (traceFile) m.v8 = traceAt(traceFile, readyEpoch, s * 1000);
      marks.push(m);
    }
    return { build: build.name, readyMs: Math.round(readyMs), cpuToReadyMs: Math.round(cpu), loadAtStart, marks };
  } finally {
    await stop(run.child);
    if (traceFile) fs.rmSync(traceFile, { force: true });
  }
}

const folders = new Map();
for (const b of builds) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'v01t-idle-rss-'));
  const key = randomBytes(32).toString('hex');
  const first = start(b, dir, key);
  await ready(first);
  await stop(first.child);
  folders.set(b.name, { dir, key });
}
const results = [];
try {
  for (let round = 0; round < pairs; round++) {
    const order = round % 2 === 0 ? builds : [...builds].reverse();
    const done = opts.concurrent ? await Promise.all(order.map((b) => restart(b, folders.get(b.name)))) : [];
    if (!opts.concurrent) for (const b of order) done.push(await restart(b, folders.get(b.name)));
    for (const r of done) {
      results.push(r);
      process.stdout.write(`${JSON.stringify(r)}\n`);
      process.stderr.write(`[idle-rss] ${r.build} #${round + 1}: ready ${r.readyMs} ms, CPU ${r.cpuToReadyMs} ms; ${r.marks.map((m) => `${m.s}s ${m.rss.toFixed(0)} MB (load ${m.load.split(' ')[0]})`).join(', ')}; HWM ${r.marks.at(-1).hwm.toFixed(0)} MB\n`);
    }
  }
} finally {
  for (const f of folders.values()) fs.rmSync(f.dir, { recursive: true, force: true });
}
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
for (const b of builds) {
  const mine = results.filter((r) => r.build === b.name);
  const perMark = at.map((s, i) => `${s}s ${median(mine.map((r) => r.marks[i].rss)).toFixed(1)} [${mine.map((r) => r.marks[i].rss.toFixed(0)).join(' ')}]`);
  process.stderr.write(`[idle-rss] ${b.name}: median RSS ${perMark.join(', ')} MB; ready median ${median(mine.map((r) => r.readyMs))} ms\n`);
}
