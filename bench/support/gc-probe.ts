/**
 * Preloaded into a benchmarked server (`NODE_OPTIONS=--import <this file>`, with GC_PROBE_OUT set):
 * records each V8 garbage collection's start (epoch ms), pause (ms) and kind, and writes them as
 * JSON to GC_PROBE_OUT when the process gets SIGUSR2. The workflow bench lays the pauses over each
 * answer's own interval: how much of an answer's latency was spent paused for GC (ADR 0082).
 */
import fs from 'node:fs';
import { PerformanceObserver, performance, type PerformanceEntry } from 'node:perf_hooks';

const out = process.env.GC_PROBE_OUT;
if (out) {
  const origin = performance.timeOrigin;
  const pauses: [number, number, number][] = [];
  new PerformanceObserver((list) => {
    for (const e of list.getEntries()) pauses.push([origin + e.startTime, e.duration, (e as PerformanceEntry & { detail?: { kind?: number } }).detail?.kind ?? 0]);
  }).observe({ entryTypes: ['gc'] });
  process.on('SIGUSR2', () => fs.writeFileSync(out, JSON.stringify(pauses)));
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
