/**
 * Preloaded into a benchmarked server (`NODE_OPTIONS=--import <this file>`, with GC_PROBE_OUT set):
 * records each V8 garbage collection's start (epoch ms), pause (ms) and kind, and each event-loop
 * stall (a 2 ms timer late by more than 3 ms: its start in epoch ms, how late, the main thread's
 * CPU ms during it and, on Linux, the ms it was runnable but waiting for a core), and writes them as JSON to GC_PROBE_OUT when the process gets SIGUSR2. The
 * workflow bench lays the pauses over each answer's own interval: how much of an answer's latency was
 * spent paused for GC (ADR 0082). A stall's main-thread CPU is the synchronous stretch the loop ran
 * (or GC'd) without answering anything; the part of a stall without CPU is the thread waiting for a
 * core (or blocked), which depends on the machine's load (ADR 0087).
 */
import diagnostics from 'node:diagnostics_channel';
import fs from 'node:fs';
import { PerformanceObserver, performance, type PerformanceEntry } from 'node:perf_hooks';
import v8 from 'node:v8';

/** The probe's timer period (ms); a tick later than this plus STALL_MIN_MS is a stall. */
const TICK_MS = 2;
const STALL_MIN_MS = 3;

const out = process.env.GC_PROBE_OUT;
if (out) {
  const origin = performance.timeOrigin;
  const pauses: [number, number, number][] = [];
  new PerformanceObserver((list) => {
    for (const e of list.getEntries()) pauses.push([origin + e.startTime, e.duration, (e as PerformanceEntry & { detail?: { kind?: number } }).detail?.kind ?? 0]);
  }).observe({ entryTypes: ['gc'] });
  // [start epoch ms, late ms, main-thread CPU ms, ms runnable but waiting for a core] per stall.
  const stalls: [number, number, number, number][] = [];
  // Linux: the main thread's CPU and run-queue wait (ns) from schedstat; elsewhere CPU only.
  const sched = (() => {
    try {
      const fd = fs.openSync('/proc/thread-self/schedstat', 'r');
      const buf = Buffer.alloc(128);
      return (): [number, number] => {
        const n = fs.readSync(fd, buf, 0, buf.length, 0);
        const [cpu, wait] = buf.toString('latin1', 0, n).split(' ');
        return [Number(cpu) / 1e6, Number(wait) / 1e6];
      };
    } catch {
      return (): [number, number] => {
        const u = process.threadCpuUsage();
        return [(u.user + u.system) / 1000, 0];
      };
    }
  })();
  // The stall timer starts once the server is ready (the `ready` phase of its `v01t:server`
  // channel, ADR 0080): the stalls are laid over the answers, which all come later, and a 2 ms timer
  // running through the start made the workflow bench's start figure slower than the start bench's
  // for the same start (ADR 0097).
  const startStallTimer = () => {
    let last = performance.now();
    let [lastCpu, lastWait] = sched();
    setInterval(() => {
      const now = performance.now();
      const [cpu, wait] = sched();
      const late = now - last - TICK_MS;
      if (late > STALL_MIN_MS) stalls.push([origin + last, late, cpu - lastCpu, wait - lastWait]);
      last = now;
      lastCpu = cpu;
      lastWait = wait;
    }, TICK_MS).unref();
  };
  const onServer = (message: unknown) => {
    if ((message as { phase?: string }).phase !== 'ready') return;
    diagnostics.unsubscribe('v01t:server', onServer);
    startStallTimer();
  };
  diagnostics.subscribe('v01t:server', onServer);
  // Bytes allocated on the JS heap (ADR 0096), per half second: [end epoch ms, bytes]. V8 has no running
  // total, so a GC profiler restarted every 500 ms gives each collection's used heap before and after it;
  // what was allocated is the growth of the used heap between collections (and since the last one).
  const allocations: [number, number][] = [];
  let gcs = new v8.GCProfiler();
  gcs.start();
  let usedAtStart = v8.getHeapStatistics().used_heap_size;
  setInterval(() => {
    const r = gcs.stop();
    const usedNow = v8.getHeapStatistics().used_heap_size;
    gcs = new v8.GCProfiler();
    gcs.start();
    let bytes = 0;
    let prev = usedAtStart;
    for (const s of r?.statistics ?? []) {
      bytes += Math.max(0, s.beforeGC.heapStatistics.usedHeapSize - prev);
      prev = s.afterGC.heapStatistics.usedHeapSize;
    }
    bytes += Math.max(0, usedNow - prev);
    allocations.push([Date.now(), bytes]);
    usedAtStart = usedNow;
  }, 500).unref();
  // The monotonic clock (µs) at timeOrigin: a --cpu-prof profile's sample times are on that clock, so stalls can be laid over samples.
  const monotonicOriginUs = Number(process.hrtime.bigint() / 1000n) - performance.now() * 1000;
  process.on('SIGUSR2', () => fs.writeFileSync(out, JSON.stringify({ pauses, stalls, allocations, timeOrigin: origin, monotonicOriginUs })));
}

/** V8's GC kinds as perf_hooks reports them (NODE_PERFORMANCE_GC_*). */
export const GC_MINOR = 1;
export const GC_MAJOR = 4;

/**
 * Per answer (its end in epoch ms and its latency), the ms of GC pause inside its interval. Both
 * lists are sorted by time here.
 */
export function gcInAnswers(answers: [number, number][], pauses: [number, number, number][]): number[] {
  const ps = [...pauses].sort((a, b) => a[0] - b[0]);
  return answers.map(([end, ms]) => {
    const start = end - ms;
    let paused = 0;
    for (const [at, d] of ps) {
      if (at > end) break;
      paused += Math.max(0, Math.min(end, at + d) - Math.max(start, at));
    }
    return paused;
  });
}
