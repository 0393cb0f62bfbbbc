import { execFileSync, spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TEST_DB, freshPostgresDatabase } from './helpers/platform.js';
import { freePort } from './helpers/ports.js';

/**
 * `npm start` as on a fresh clone (ADR 0065): the build step says what it does, prepares the
 * embedded database template, and a start on an empty data folder copies it instead of running
 * initdb and the migrations; a restart on that folder applies no migration.
 */
const repo = path.resolve(path.dirname(new URL(import.meta.url).pathname), '..');
let clone: string;
let buildOutput = '';
const cleanups: (() => Promise<void> | void)[] = [];

beforeAll(() => {
  clone = fs.mkdtempSync(path.join(os.tmpdir(), 'v01t-clone-'));
  cleanups.push(() => fs.rmSync(clone, { recursive: true, force: true }));
  // The committed sources, as `git clone` gives them, with this checkout's installed packages.
  execFileSync('git', ['clone', '--quiet', '--no-hardlinks', repo, clone]);
  fs.symlinkSync(path.join(repo, 'node_modules'), path.join(clone, 'node_modules'));
  const build = spawnSync(process.execPath, ['scripts/ensure-build.mjs'], { cwd: clone, encoding: 'utf8' });
  if (build.status !== 0) throw new Error(`the build failed (${build.status}):\n${build.stderr}`);
  buildOutput = build.stderr;
}, 300_000);

afterAll(async () => {
  for (const c of cleanups.reverse()) await c();
}, 60_000);

/**
 * Runs `v01t start` from the clone until /ready, then stops it; returns its log. With `countModules`
 * the start bench's module counter is preloaded and read right after ready (the packages loaded).
 */
async function startAndStop(
  env: Record<string, string>,
  opts: { countModules?: boolean; preload?: string } = {},
): Promise<{ log: string; listening: { startupPhasesMs: Record<string, number> }; packagesAtReady?: string[] }> {
  const port = await freePort();
  const countFile = path.join(clone, `modules-${port}.json`);
  if (opts.countModules) {
    env = { ...env, NODE_OPTIONS: `--import=${path.join(clone, 'dist', 'bench', 'support', 'count-modules.js')}`, V01T_BENCH_MODULE_COUNT_FILE: countFile };
  }
  if (opts.preload) env = { ...env, NODE_OPTIONS: `--import=${path.join(clone, opts.preload)}` };
  let packagesAtReady: string[] | undefined;
  const server = spawn(process.execPath, ['bin/v01t.js', 'start'], { cwd: clone, env: { ...process.env, ...env, PORT: String(port), HOST: '127.0.0.1', LOG_LEVEL: 'info' }, stdio: ['ignore', 'pipe', 'pipe'] });
  let log = '';
  server.stdout!.on('data', (d: Buffer) => (log += d.toString()));
  server.stderr!.on('data', (d: Buffer) => (log += d.toString()));
  try {
    const deadline = Date.now() + 120_000;
    for (;;) {
      if (server.exitCode !== null) throw new Error(`the server exited with ${server.exitCode}:\n${log}`);
      if (Date.now() > deadline) throw new Error(`not ready in 120 s:\n${log}`);
      const ok = await fetch(`http://127.0.0.1:${port}/ready`).then((r) => r.status === 200, () => false);
      if (ok) break;
      await new Promise((r) => setTimeout(r, 100));
    }
    if (opts.countModules) {
      server.kill('SIGUSR2');
      for (let i = 0; i < 500 && !fs.existsSync(countFile); i++) await new Promise((r) => setTimeout(r, 10));
      packagesAtReady = (JSON.parse(fs.readFileSync(countFile, 'utf8')) as { packageNames: string[] }).packageNames;
    }
  } finally {
    if (server.exitCode === null) {
      server.kill('SIGTERM');
      await new Promise((r) => server.once('exit', r));
    }
  }
  const line = log.split('\n').find((l) => l.includes('"v01t listening on'));
  expect(line, log).toBeDefined();
  return { log, listening: JSON.parse(line!), packagesAtReady };
}

/** An empty data folder (and, on PostgreSQL, a new database) for one start, removed afterwards. */
async function freshStartEnv(): Promise<Record<string, string>> {
  const dataDir = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'v01t-start-')), 'data');
  cleanups.push(() => fs.rmSync(path.dirname(dataDir), { recursive: true, force: true }));
  const env: Record<string, string> = { V01T_DATA_DIR: dataDir, V01T_MASTER_KEY: randomBytes(32).toString('hex') };
  if (TEST_DB === 'postgres') {
    const db = await freshPostgresDatabase();
    cleanups.push(db.drop);
    env.DATABASE_URL = db.url;
  }
  return env;
}

describe('npm start on a fresh clone', { timeout: 300_000 }, () => {
  it('prints a progress line for each build step, with its duration, and builds nothing the second time', () => {
    // On standard error; the template and the web app are built side by side, so their lines interleave.
    for (const line of [
      /^v01t: building the server \(esbuild\)…$/m,
      /^v01t: built the server \(esbuild\) in \d+\.\d s$/m,
      /^v01t: preparing the embedded database template \(initdb \+ migrations\)…$/m,
      /^v01t: preparing the embedded database template \(initdb \+ migrations\): done in \d+\.\d s$/m,
      /^v01t: building the web app \(vite\)…$/m,
      /^v01t: building the web app \(vite\): done in \d+\.\d s$/m,
    ]) {
      expect(buildOutput).toMatch(line);
    }
    expect(fs.readdirSync(path.join(clone, 'dist', 'pglite-template'))).toHaveLength(1);
    const again = spawnSync(process.execPath, ['scripts/ensure-build.mjs'], { cwd: clone, encoding: 'utf8' });
    expect(again.status).toBe(0);
    expect(again.stderr).toBe('');
  });

  it('builds a bundle of Latin-1 text only, which V8 keeps as one byte per character (ADR 0085)', () => {
    const files = [path.join(clone, 'dist', 'v01t.js'), ...fs.readdirSync(path.join(clone, 'dist', 'v01t-chunks')).filter((f) => f.endsWith('.js')).map((f) => path.join(clone, 'dist', 'v01t-chunks', f))];
    for (const file of files) expect(/[^\u0000-\u00ff]/.exec(fs.readFileSync(file, 'utf8'))?.[0], file).toBeUndefined();
  });

  it('starts on an empty data folder from the template, and restarts without applying a migration', async () => {
    const env = await freshStartEnv();
    const first = await startAndStop(env);
    const phases = Object.keys(first.listening.startupPhasesMs);
    expect(phases).toEqual(expect.arrayContaining(['imports', 'database', 'create analytics-engine', 'routes', 'events']));
    if (TEST_DB === 'pglite') {
      expect(first.log).toContain("embedded database copied from the build's template");
      expect(first.log).not.toContain('running initdb');
      // Every migration came with the template, whose key is their checksums: not even checked again (ADR 0097).
      expect(first.log).not.toContain('applied migration');
      expect(phases).toContain('seed');
      expect(phases).not.toContain('migrations');
    } else {
      expect(first.log).toContain('applied migration');
      expect(phases).not.toContain('seed');
      expect(phases).toContain('migrations');
    }

    const second = await startAndStop(env);
    expect(second.log).not.toContain('applied migration');
    expect(second.log).not.toContain('new data folder');
    expect(Object.keys(second.listening.startupPhasesMs)).not.toContain('seed');
    // A restart checks the migrations (the folder may be of an older build).
    expect(Object.keys(second.listening.startupPhasesMs)).toContain('migrations');
  });

  it('loads no adapter package the configuration does not use, in the built bundle (ADR 0073)', async () => {
    const env = await freshStartEnv();
    const { packagesAtReady } = await startAndStop(env, { countModules: true });
    // What serving needs is there (the counter works), and the database engine configured.
    expect(packagesAtReady).toEqual(expect.arrayContaining(['fastify', 'pg-boss', TEST_DB === 'postgres' ? 'pg' : '@electric-sql/pglite']));
    // No Kafka, Redis, S3, KMS, ClickHouse, SMTP, DuckDB until used; no outbound HTTP client, SSO
    // or gateway proxy until used; not the other database engine.
    for (const lazy of ['kafkajs', 'ioredis', '@aws-sdk/client-s3', '@aws-sdk/client-kms', '@clickhouse/client', 'nodemailer', '@duckdb/node-api', 'undici', 'openid-client', '@fastify/reply-from']) {
      expect(packagesAtReady).not.toContain(lazy);
    }
    if (TEST_DB === 'postgres') expect(packagesAtReady).not.toContain('@electric-sql/pglite');
  });

  it("publishes its start phases on the diagnostics channel v01t:server, which the scheduler bench's probe reads (ADR 0080)", async () => {
    const env = await freshStartEnv();
    // The probe the scheduler bench preloads into each publisher: a line at ready, one more on SIGTERM.
    const { log, listening } = await startAndStop(env, { preload: 'dist/bench/support/scheduler-worker.js' });
    const lines = log.split('\n').filter((l) => l.startsWith('{"phase"')).map((l) => JSON.parse(l) as Record<string, unknown>);
    const ready = lines.find((l) => l.phase === 'ready') as { pid: number; address: string; importedAt: number; createdAt: number; readyAt: number; cpuToReadyMs: number } | undefined;
    expect(ready, log).toBeDefined();
    // What the probe saw is the server itself: the address it listens on, as its own log says.
    expect(ready!.address).toBe((listening as unknown as { address: string }).address);
    expect(ready!.importedAt).toBeGreaterThan(0);
    expect(ready!.createdAt).toBeGreaterThanOrEqual(ready!.importedAt);
    expect(ready!.readyAt).toBeGreaterThanOrEqual(ready!.createdAt);
    expect(ready!.cpuToReadyMs).toBeGreaterThan(0);
    const stopped = lines.find((l) => l.phase === 'stopped') as { pid: number; cpuMs: number; statementsAfterReady: Record<string, number> } | undefined;
    expect(stopped, log).toBeDefined();
    expect(stopped!.pid).toBe(ready!.pid);
    expect(stopped!.cpuMs).toBeGreaterThanOrEqual(ready!.cpuToReadyMs);
  });

  it('without the template (PGLITE_TEMPLATE=false), runs initdb and the migrations itself', async () => {
    if (TEST_DB !== 'pglite') return;
    const dataDir = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'v01t-start-')), 'data');
    cleanups.push(() => fs.rmSync(path.dirname(dataDir), { recursive: true, force: true }));
    const run = await startAndStop({ V01T_DATA_DIR: dataDir, V01T_MASTER_KEY: randomBytes(32).toString('hex'), PGLITE_TEMPLATE: 'false' });
    expect(run.log).toContain('initialising the embedded database');
    expect(run.log).toContain('applied migration');
  });
});
