// Preloaded by idle-rss.mjs --trace (NODE_OPTIONS=--import): every 500 ms, one JSON line to
// $V01T_SIZING_TRACE with V8's heap spaces (resident MB), malloced and external memory, RSS, and the
// count and milliseconds of the collections so far by kind (scavenge, mark-compact, ...).
import fs from 'node:fs';
import { PerformanceObserver } from 'node:perf_hooks';
import v8 from 'node:v8';

const file = process.env.V01T_SIZING_TRACE;
if (file) {
  const gc = {};
  new PerformanceObserver((list) => {
    for (const e of list.getEntries()) {
      const kind = { 1: 'scavenge', 2: 'minor_ms', 4: 'mark_compact', 8: 'incremental', 16: 'weak' }[e.detail?.kind] ?? String(e.detail?.kind);
      const g = (gc[kind] ??= { n: 0, ms: 0 });
      g.n++;
      g.ms += e.duration;
    }
  }).observe({ entryTypes: ['gc'] });
  const mb = (b) => Math.round((b / 1048576) * 10) / 10;
  const fd = fs.openSync(file, 'a');
  setInterval(() => {
    const spaces = Object.fromEntries(v8.getHeapSpaceStatistics().map((s) => [s.space_name.replace('_space', ''), mb(s.physical_space_size)]));
    const h = v8.getHeapStatistics();
    const m = process.memoryUsage();
    const line = { t: Date.now(), rss: mb(m.rss), heap: mb(h.total_physical_size), malloced: mb(h.malloced_memory), external: mb(m.external), arrayBuffers: mb(m.arrayBuffers), spaces, gc: Object.fromEntries(Object.entries(gc).map(([k, v]) => [k, `${v.n}/${Math.round(v.ms)}ms`])) };
    fs.writeSync(fd, `${JSON.stringify(line)}\n`);
  }, 500).unref();
}
