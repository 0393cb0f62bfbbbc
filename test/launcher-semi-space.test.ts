import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { freePort } from './helpers/ports.js';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'v01t-launcher-'));
// Preloaded into both process images: the one bin/v01t.js replaces (execve runs no exit handler) and
// the one it becomes, which reports the V8 flags it was started with.
const probe = path.join(dir, 'exec-argv.mjs');
fs.writeFileSync(probe, 'process.on("exit", () => process.stderr.write("EXECARGV " + JSON.stringify(process.execArgv) + "\\n"));\n');
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

/** The node flags the process that `bin/v01t.js --version` became ran with, under `env`. */
function execArgvOf(env: Record<string, string>, args: string[] = []): string[] {
  const base = { ...process.env };
  delete base.DATABASE_URL;
  delete base.NODE_OPTIONS;
  const r = spawnSync(process.execPath, [...args, path.join(ROOT, 'bin/v01t.js'), '--version'], { cwd: ROOT, env: { ...base, NODE_OPTIONS: `--import ${probe}`, ...env }, encoding: 'utf8' });
  expect(r.status).toBe(0);
  expect(r.stdout.trim()).toMatch(/^\d+\.\d+\.\d+/);
  const line = r.stderr.split('\n').find((l) => l.startsWith('EXECARGV '));
  if (!line) throw new Error(`no EXECARGV line in: ${r.stderr}`);
  return JSON.parse(line.slice('EXECARGV '.length)) as string[];
}

describe('bin/v01t.js: the young generation per shape (ADR 0065, ADR 0082)', () => {
  it('starts the distributed shape (DATABASE_URL set) with 8 MB semi-spaces: shorter scavenge pauses in the answers', () => {
    expect(execArgvOf({ DATABASE_URL: 'postgres://v01t@127.0.0.1:1/none' })).toContain('--max-semi-space-size=8');
  });

  it('keeps 32 MB in the embedded shape, where GC is not what makes the tail and 8 MB costs CPU per run', () => {
    expect(execArgvOf({})).toContain('--max-semi-space-size=32');
  });

  it('leaves a size chosen on the command line or in NODE_OPTIONS alone', () => {
    const fromArgs = execArgvOf({ DATABASE_URL: 'postgres://v01t@127.0.0.1:1/none' }, ['--max-semi-space-size=16']);
    expect(fromArgs.filter((a) => a.startsWith('--max-semi-space-size'))).toEqual(['--max-semi-space-size=16']);
    const fromEnv = execArgvOf({ DATABASE_URL: 'postgres://v01t@127.0.0.1:1/none', NODE_OPTIONS: `--import ${probe} --max-semi-space-size=16` });
    expect(fromEnv.filter((a) => a.startsWith('--max-semi-space-size'))).toEqual([]);
  });
});

/** A launcher flag of the embedded shape only: absent in the distributed shape, and a value given on the command line kept as given. */
function expectEmbeddedOnlyAndOverridable(flag: string, value: string): void {
  expect(execArgvOf({ DATABASE_URL: 'postgres://v01t@127.0.0.1:1/none' }).filter((a) => a.startsWith(flag))).toEqual([]);
  expect(execArgvOf({}, [`${flag}=${value}`]).filter((a) => a.startsWith(flag))).toEqual([`${flag}=${value}`]);
}

describe("bin/v01t.js: PGlite's background compilation does not take both cores during a start (ADR 0089)", () => {
  it("compiles PGlite's hot functions one at a time in the embedded shape", () => {
    expect(execArgvOf({})).toContain('--wasm-num-compilation-tasks=1');
  });

  it('leaves the distributed shape (no WebAssembly) and a value chosen on the command line alone', () => {
    expectEmbeddedOnlyAndOverridable('--wasm-num-compilation-tasks', '2');
  });
});

describe("bin/v01t.js: V8's background work on one worker thread in the embedded shape (ADR 0095)", () => {
  it('starts the embedded shape with a pool of one, fewer malloc arenas kept resident', () => {
    expect(execArgvOf({})).toContain('--v8-pool-size=1');
  });

  it('leaves the distributed shape and a pool size chosen on the command line alone', () => {
    expectEmbeddedOnlyAndOverridable('--v8-pool-size', '2');
  });
});

// Preloaded into the server: reports each change of the WebAssembly compile-task flag as it is made,
// with the time since the server's `ready` phase (diagnostics channel v01t:server, ADR 0080).
const flagProbe = path.join(dir, 'wasm-flags.mjs');
fs.writeFileSync(
  flagProbe,
  [
    'import diagnostics from "node:diagnostics_channel";',
    'import v8 from "node:v8";',
    'let readyAt;',
    'diagnostics.channel("v01t:server").subscribe((m) => { if (m.phase === "ready") readyAt = performance.now(); });',
    'const set = v8.setFlagsFromString;',
    'v8.setFlagsFromString = (flags) => {',
    '  if (/wasm-num-compilation-tasks/.test(flags)) process.stderr.write("WASMFLAG " + JSON.stringify({ flags, afterReadyMs: readyAt === undefined ? null : performance.now() - readyAt, execArgv: process.execArgv, envLeft: process.env.V01T_WASM_TASKS_UNTIL_READY ?? null }) + "\\n");',
    '  return set(flags);',
    '};',
  ].join('\n'),
);

describe('the embedded server after ready (ADR 0089, ADR 0092)', () => {
  it('sets V8 back to parallel WebAssembly compilation once it serves, and drops the launcher\'s marker', { timeout: 120_000 }, async () => {
    const port = await freePort();
    const data = fs.mkdtempSync(path.join(dir, 'data-'));
    const base = { ...process.env };
    delete base.DATABASE_URL;
    const server = spawn(process.execPath, [path.join(ROOT, 'bin/v01t.js'), 'start'], {
      cwd: ROOT,
      env: { ...base, NODE_OPTIONS: `--import ${flagProbe}`, V01T_DATA_DIR: data, V01T_MASTER_KEY: 'ab'.repeat(32), PORT: String(port), HOST: '127.0.0.1', LOG_LEVEL: 'warn' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let log = '';
    server.stdout!.on('data', (d: Buffer) => (log += d.toString()));
    server.stderr!.on('data', (d: Buffer) => (log += d.toString()));
    const restores = () =>
      log
        .split('\n')
        .filter((l) => l.startsWith('WASMFLAG '))
        .map((l) => JSON.parse(l.slice('WASMFLAG '.length)) as { flags: string; afterReadyMs: number | null; execArgv: string[]; envLeft: string | null });
    try {
      // Ready within 90 s; the restore within 20 s of that.
      let deadline = Date.now() + 90_000;
      let ready = false;
      while (Date.now() < deadline && !(ready && restores().length > 0)) {
        if (server.exitCode !== null) throw new Error(`the server exited with ${server.exitCode}:\n${log}`);
        if (!ready && (await fetch(`http://127.0.0.1:${port}/ready`).then((r) => r.status === 200, () => false))) {
          ready = true;
          deadline = Date.now() + 20_000;
        }
        await new Promise((r) => setTimeout(r, 100));
      }
      expect(ready, log).toBe(true);
      const [restore, ...more] = restores();
      expect(restore, log).toBeDefined();
      // Started with one compilation at a time (the launcher), set back to V8's default once serving.
      expect(restore!.execArgv).toContain('--wasm-num-compilation-tasks=1');
      expect(restore!.flags).toBe('--wasm-num-compilation-tasks=128');
      expect(restore!.afterReadyMs).not.toBeNull();
      expect(restore!.afterReadyMs!).toBeGreaterThanOrEqual(0);
      // The marker between the launcher and the server is gone before the flag is set (children do not inherit it).
      expect(restore!.envLeft).toBeNull();
      expect(more).toEqual([]);
    } finally {
      if (server.exitCode === null) {
        server.kill('SIGTERM');
        await new Promise((r) => server.once('exit', r));
      }
    }
  });
});
