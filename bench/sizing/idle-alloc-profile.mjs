// ADR 0095: who allocates while the process idles. Preloaded (NODE_OPTIONS=--import=this file)
// into `v01t start`; from V01T_SIZING_ALLOC_FROM_S (10) to V01T_SIZING_ALLOC_TO_S (40) seconds
// after the process started, V8's sampling heap profiler records every sampled allocation,
// collected or not (includeObjectsCollectedByMajorGC/MinorGC), then the bytes by allocating function
// (self) and by the nearest application frame (a frame under dist/ or src/, not node_modules) are
// written as JSON to $V01T_SIZING_ALLOC_PROFILE.
import fs from 'node:fs';
import { Session } from 'node:inspector/promises';

const out = process.env.V01T_SIZING_ALLOC_PROFILE;
if (out) {
  // The launcher execve's itself (same PID): the timers of the first image go with it.
  const from = Number(process.env.V01T_SIZING_ALLOC_FROM_S ?? 10) * 1000;
  const to = Number(process.env.V01T_SIZING_ALLOC_TO_S ?? 40) * 1000;
  setTimeout(async () => {
    const session = new Session();
    session.connect();
    await session.post('HeapProfiler.enable');
    await session.post('HeapProfiler.startSampling', { samplingInterval: 4096, includeObjectsCollectedByMajorGC: true, includeObjectsCollectedByMinorGC: true });
    setTimeout(async () => {
      const { profile } = await session.post('HeapProfiler.stopSampling');
      const bySelf = new Map();
      const byApp = new Map();
      const byStack = new Map();
      const walk = (node, stack) => {
        const f = node.callFrame;
        const here = `${f.functionName || '(anon)'} ${f.url.replace(/^.*?\/(node_modules\/|dist\/)/, '$1')}:${f.lineNumber + 1}:${f.columnNumber + 1}`;
        const next = [...stack, { here, app: /\/dist\/|\/src\//.test(f.url) && !f.url.includes('node_modules') }];
        if (node.selfSize > 0) {
          bySelf.set(here, (bySelf.get(here) ?? 0) + node.selfSize);
          const app = [...next].reverse().find((s) => s.app)?.here ?? '(none)';
          byApp.set(app, (byApp.get(app) ?? 0) + node.selfSize);
          const key = next.slice(-8).map((s) => s.here).join(' < ');
          byStack.set(key, (byStack.get(key) ?? 0) + node.selfSize);
        }
        for (const c of node.children) walk(c, next);
      };
      walk(profile.head, []);
      const top = (m, n) => [...m.entries()].sort((a, b) => b[1] - a[1]).slice(0, n).map(([k, v]) => [Math.round(v / 1024), k]);
      const total = [...bySelf.values()].reduce((a, b) => a + b, 0);
      fs.writeFileSync(out, JSON.stringify({ seconds: (to - from) / 1000, totalKb: Math.round(total / 1024), bySelf: top(bySelf, 40), byApp: top(byApp, 40), byStack: top(byStack, 30) }, null, 1));
      session.disconnect();
    }, to - from).unref();
  }, from).unref();
}
