import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';

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

describe("bin/v01t.js: PGlite's background compilation does not take both cores during a start (ADR 0089)", () => {
  it("compiles PGlite's hot functions one at a time in the embedded shape", () => {
    expect(execArgvOf({})).toContain('--wasm-num-compilation-tasks=1');
  });

  it('leaves the distributed shape (no WebAssembly) and a value chosen on the command line alone', () => {
    expect(execArgvOf({ DATABASE_URL: 'postgres://v01t@127.0.0.1:1/none' }).filter((a) => a.startsWith('--wasm-num-compilation-tasks'))).toEqual([]);
    expect(execArgvOf({}, ['--wasm-num-compilation-tasks=2']).filter((a) => a.startsWith('--wasm-num-compilation-tasks'))).toEqual(['--wasm-num-compilation-tasks=2']);
  });
});
