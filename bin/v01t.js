#!/usr/bin/env node
// Thin launcher: the CLI is compiled TypeScript under dist/, bundled into one file (dist/v01t.js,
// scripts/transpile.mjs); an older build without the bundle runs the file-by-file output.
import { existsSync } from 'node:fs';
import module from 'node:module';
import { fileURLToPath } from 'node:url';

// V8 sizes the young generation from the machine's memory (128 MB on a 24 GB machine), and a
// server that allocates keeps all of it resident: 32 MB semi-spaces halve that at no measurable CPU
// cost (ADR 0065). Each young-generation collection (scavenge) also pauses every request in flight,
// for a time that grows with the semi-space: on PostgreSQL under load, 32 MB meant a scavenge every
// ~300 ms of 10–60 ms, 13–30 ms of the p99 webhook answer; 8 MB scavenges four times as often for
// a quarter of the pause and halves the GC inside the p99 answer (ADR 0082). So the distributed
// shape (DATABASE_URL set) gets 8 MB. The embedded shape keeps 32 MB: there PGlite's synchronous
// work on the main thread makes the tail, GC is a small part of it, and 8 MB cost 16–34 % more CPU
// per run (ADR 0082). NODE_OPTIONS or a flag of the command line choose otherwise.
//
// glibc's malloc raises its trim threshold each time a large block is freed (to twice the block,
// up to 64 MB), after which each of its arenas keeps that much freed memory at its top resident.
// V8's optimising compiler takes ~600 MB in small blocks for PGlite's SQL parser (one 105 KB WASM
// function) shortly after a start, and with the raised threshold ~60 MB of it stayed resident for
// good. Fixed thresholds keep it at 1 MB; the mmap threshold is fixed at the 32 MB the dynamic one
// reaches anyway (a fixed 128 kB one, glibc's initial value, cost ~30 % more CPU to start: every
// larger block mapped and faulted in afresh). ADR 0078. GLIBC_TUNABLES already set is left as it
// is; other C libraries ignore the variable.
//
// The embedded shape runs PostgreSQL compiled to WebAssembly (PGlite). V8 runs its functions in
// Liftoff code first and recompiles a hot one with TurboFan on background threads, by default as
// many at once as its worker pool has threads (four). A restart's own statements make ~30 of PGlite's
// largest functions hot (the executor's and planner's, 40–100 KB each); compiling them in parallel
// took 1.5–2.0 s of CPU before /ready, beside the main thread's 1.4–1.7 s, so on two cores the start
// competed with its own compiler. One compilation at a time leaves the main thread its core: the
// same functions are compiled, in turn, and finish after ready instead (ADR 0089). Not for the
// distributed shape (no WebAssembly there). A value given on the command line is left as it is.
//
// The embedded shape also runs V8's background work (the compiles above, GC helper tasks) on one
// worker thread instead of Node's default four. glibc gives each thread that allocates its own
// malloc arena, and a compile's hundreds of MB of short-lived zone memory, freed, stay resident in
// the arena that held them wherever a longer-lived block sits above them (the trim threshold returns
// only an arena's top). With four workers an idle restart kept 88-113 MB of memory outside V8's heap,
// varying with which threads had compiled what; with one, 83-87 MB, and 191 MB resident at 3 s
// instead of 195-214 (ADR 0095), at no CPU to ready nor per run measured on two cores (which the main
// thread and one worker fill). Not for the distributed shape; a pool size given to Node is left as is.
//
// All need a new process image (same PID, same signals), replaced before anything is loaded.
const SEMI_SPACE = '--max-semi-space-size';
const WASM_TASKS = '--wasm-num-compilation-tasks';
const POOL_SIZE = '--v8-pool-size';
const MALLOC_TUNABLES = 'glibc.malloc.trim_threshold=1048576:glibc.malloc.mmap_threshold=33554432';
const flags = !process.execArgv.some((a) => a.startsWith(SEMI_SPACE)) && !(process.env.NODE_OPTIONS ?? '').includes(SEMI_SPACE) ? [`${SEMI_SPACE}=${process.env.DATABASE_URL ? 8 : 32}`] : [];
const env = process.platform === 'linux' && process.env.GLIBC_TUNABLES === undefined ? { GLIBC_TUNABLES: MALLOC_TUNABLES } : {};
if (!process.env.DATABASE_URL && !process.execArgv.some((a) => a.startsWith(WASM_TASKS))) {
  flags.push(`${WASM_TASKS}=1`);
  env.V01T_WASM_TASKS_UNTIL_READY = '1';
  if (!process.execArgv.some((a) => a.startsWith(POOL_SIZE)) && !(process.env.NODE_OPTIONS ?? '').includes(POOL_SIZE)) flags.push(`${POOL_SIZE}=1`);
}
if (typeof process.execve === 'function' && (flags.length > 0 || Object.keys(env).length > 0)) {
  try {
    process.execve(process.execPath, [process.execPath, ...flags, ...process.execArgv, ...process.argv.slice(1)], { ...process.env, ...env });
  } catch {
    // Not on this platform (Windows): V8's and the C library's defaults.
  }
}

// Node's compile cache (V8 code cache on disk) for everything loaded from here on: a start then
// skips compiling the bundle and the packages it loads (ADR 0073: about 10 % of the CPU to ready).
// Entries are keyed by the source's hash and Node's version, so a rebuilt file is compiled again.
// Kept with the package (node_modules/.cache, as other tools do); where that is not writable (a
// read-only image) Node leaves it off. NODE_COMPILE_CACHE chooses another folder and
// NODE_DISABLE_COMPILE_CACHE=1 turns it off (Node's own variables).
if (typeof module.enableCompileCache === 'function' && !process.env.NODE_COMPILE_CACHE) {
  try {
    module.enableCompileCache(fileURLToPath(new URL('../node_modules/.cache/v01t-compile-cache', import.meta.url)));
  } catch {
    // No cache: every start compiles, as before.
  }
}

const bundle = new URL('../dist/v01t.js', import.meta.url);
import(existsSync(bundle) ? bundle.href : '../dist/src/apps/cli.js').catch((err) => {
  if (err && err.code === 'ERR_MODULE_NOT_FOUND' && String(err.message).includes('dist/src/apps/cli.js')) {
    console.error('v01t is not built yet: run `npm run build` (npm start builds automatically).');
    process.exit(1);
  }
  throw err;
});
