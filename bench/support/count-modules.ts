/**
 * Preloaded (`node --import`) by the start bench into one extra start of each shape: counts the
 * module files the process has loaded (ES modules and CommonJS, ours and packages', not Node's
 * built-ins) and, on SIGUSR2, writes the count to V01T_BENCH_MODULE_COUNT_FILE. Sent right after
 * /ready answers 200, it is the number of modules a start loads: a load-independent measure of
 * start-up work (ADR 0073). Only that extra start runs with it; the timed starts do not.
 * test/start-footprint.test.ts uses it too (`packageNames`: which packages a start loaded).
 */
import fs from 'node:fs';
import { registerHooks } from 'node:module';

const seen = new Set<string>();
registerHooks({
  load(url, context, next) {
    if (!url.startsWith('node:')) seen.add(url);
    return next(url, context);
  },
});
process.on('SIGUSR2', () => {
  const packages = new Set([...seen].map((u) => /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(u)?.[1]).filter((p): p is string => !!p));
  // Written whole, then renamed: the reader waits for the file to exist.
  const file = process.env.V01T_BENCH_MODULE_COUNT_FILE!;
  fs.writeFileSync(`${file}.tmp`, JSON.stringify({ modules: seen.size, packages: packages.size, packageNames: [...packages].sort() }));
  fs.renameSync(`${file}.tmp`, file);
});
