import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { chmodSync, chownSync, closeSync, existsSync, mkdirSync, openSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { freePort } from '../helpers/ports.js';

/**
 * Servers the chaos suite owns and may kill: its own PostgreSQL cluster, Redis and librdkafka mock
 * Kafka cluster, each on a free port in a temporary folder (never the machine's shared ones), and
 * the six services as separate `node bin/v01t.js serve <service>` processes.
 */

export const ROOT = path.resolve(import.meta.dirname, '../..');
const asRoot = process.getuid?.() === 0;

export async function until<T>(what: string, timeoutMs: number, probe: () => Promise<T | undefined | false> | T | undefined | false, everyMs = 100): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const v = await probe();
      if (v !== undefined && v !== false) return v;
    } catch (err) {
      last = err;
    }
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${last ? `: ${String(last)}` : ''}`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}

/** The postgres user's uid (-u) or gid (-g), for files the server must own. */
export function postgresId(flag: '-u' | '-g'): number {
  return Number(execFileSync('id', [flag, 'postgres'], { encoding: 'utf8' }).trim());
}

export function pgBin(): string {
  const base = '/usr/lib/postgresql';
  for (const v of ['18', '17', '16', '15', '14']) if (existsSync(`${base}/${v}/bin/pg_ctl`)) return `${base}/${v}/bin`;
  throw new Error('no PostgreSQL server binaries under /usr/lib/postgresql (apt-get install postgresql)');
}

/** Runs a PostgreSQL tool as the postgres user when we are root (initdb refuses root). */
export function pgRun(tool: string, args: string[]): string {
  const bin = path.join(pgBin(), tool);
  return asRoot ? execFileSync('runuser', ['-u', 'postgres', '--', bin, ...args], { encoding: 'utf8' }) : execFileSync(bin, args, { encoding: 'utf8' });
}

export class ThrowawayPostgres {
  readonly dataDir: string;
  port = 0;
  /**
   * `extraOptions`: more server settings, e.g. `-c shared_preload_libraries=pg_stat_statements`;
   * `hba`: the whole pg_hba.conf (the suite still reaches the server over its Unix socket, which
   * needs a `local` line).
   */
  constructor(
    private readonly dir: string,
    private readonly extraOptions = '',
    private readonly hba?: string,
  ) {
    this.dataDir = path.join(dir, 'pgdata');
  }

  get url(): string {
    return `postgres://postgres@127.0.0.1:${this.port}/v01t`;
  }

  async init(): Promise<void> {
    mkdirSync(this.dir, { recursive: true });
    if (asRoot) {
      const id = (flag: string) => Number(execFileSync('id', [flag, 'postgres'], { encoding: 'utf8' }).trim());
      chownSync(this.dir, id('-u'), id('-g'));
    }
    pgRun('initdb', ['-D', this.dataDir, '-U', 'postgres', '--auth=trust', '-E', 'UTF8', '--no-sync']);
    if (this.hba !== undefined) {
      writeFileSync(path.join(this.dataDir, 'pg_hba.conf'), this.hba);
      if (asRoot) chownSync(path.join(this.dataDir, 'pg_hba.conf'), postgresId('-u'), postgresId('-g'));
    }
    this.port = await freePort();
    this.start();
    execFileSync(path.join(pgBin(), 'psql'), ['-h', this.dir, '-p', String(this.port), '-U', 'postgres', '-c', 'CREATE DATABASE v01t'], { stdio: 'ignore' });
  }

  start(): void {
    // fsync off: the suite kills processes, not the machine, so the page cache keeps what was written.
    const opts = `-p ${this.port} -c listen_addresses=127.0.0.1 -c unix_socket_directories=${this.dir} -c fsync=off -c max_connections=200 ${this.extraOptions}`.trim();
    pgRun('pg_ctl', ['-D', this.dataDir, '-o', opts, '-l', path.join(this.dir, 'postgres.log'), '-w', 'start']);
  }

  /** An immediate stop: like a crash, connections are cut and the next start replays the WAL. */
  stop(): void {
    pgRun('pg_ctl', ['-D', this.dataDir, '-m', 'immediate', '-w', 'stop']);
  }

  destroy(): void {
    try {
      this.stop();
    } catch {
      /* already stopped */
    }
  }
}

export class ThrowawayRedis {
  port = 0;
  private child?: ChildProcess;
  constructor(private readonly dir: string) {}
  get url(): string {
    return `redis://127.0.0.1:${this.port}`;
  }
  async start(): Promise<void> {
    if (!this.port) this.port = await freePort();
    mkdirSync(this.dir, { recursive: true });
    const log = openSync(path.join(this.dir, 'redis.log'), 'a');
    this.child = spawn('redis-server', ['--port', String(this.port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', this.dir], { stdio: ['ignore', log, log] });
    closeSync(log);
    await until('redis to listen', 10_000, () => execFileSync('redis-cli', ['-p', String(this.port), 'ping'], { encoding: 'utf8' }).trim() === 'PONG');
  }
  async stop(): Promise<void> {
    await killAndWait(this.child, 'SIGKILL');
    this.child = undefined;
  }
}

export class MockKafka {
  brokers = '';
  private child?: ChildProcess;
  constructor(private readonly dir: string) {}
  async start(): Promise<void> {
    mkdirSync(this.dir, { recursive: true });
    const bin = path.join(this.dir, 'mock-cluster');
    // Built from this checkout's source every time: the SIGUSR1/SIGUSR2 switch is what the suite needs.
    execFileSync('gcc', ['-O2', '-o', bin, path.join(ROOT, 'test/kafka-mock/mock-cluster.c'), '-lrdkafka']);
    const err = openSync(path.join(this.dir, 'kafka.log'), 'a');
    this.child = spawn(bin, ['1'], { stdio: ['ignore', 'pipe', err] });
    closeSync(err);
    this.brokers = await new Promise<string>((resolve, reject) => {
      this.child!.stdout!.once('data', (d: Buffer) => resolve(d.toString('utf8').trim()));
      this.child!.once('exit', (code) => reject(new Error(`mock kafka exited with ${code}`)));
    });
  }
  /** Every broker down: connections closed, new ones refused; topics and offsets are kept. */
  down(): void {
    this.child?.kill('SIGUSR1');
  }
  up(): void {
    this.child?.kill('SIGUSR2');
  }
  async stop(): Promise<void> {
    await killAndWait(this.child, 'SIGKILL');
  }
}

/** A small tmpfs for the analytics buffer, so the suite can fill the disk; undefined where mount is refused. */
export function mountTmpfs(dir: string, size: string): (() => void) | undefined {
  mkdirSync(dir, { recursive: true });
  try {
    execFileSync('mount', ['-t', 'tmpfs', '-o', `size=${size},mode=0700`, 'tmpfs', dir], { stdio: 'ignore' });
  } catch {
    return undefined;
  }
  chmodSync(dir, 0o700);
  return () => {
    try {
      execFileSync('umount', ['-l', dir], { stdio: 'ignore' });
    } catch {
      /* already gone */
    }
  };
}

export function killAndWait(child: ChildProcess | undefined, signal: NodeJS.Signals): Promise<void> {
  return new Promise((resolve) => {
    if (!child || child.exitCode !== null || child.signalCode !== null) return resolve();
    child.once('exit', () => resolve());
    child.kill(signal);
  });
}

export interface ServiceProcess {
  name: string;
  port: number;
  base: string;
  child?: ChildProcess;
  starts: number;
}

/** Starts `node bin/v01t.js serve <name>` and waits for /ready 200. */
export async function startService(s: ServiceProcess, env: Record<string, string>, logDir: string): Promise<void> {
  const log = openSync(path.join(logDir, `${s.name}.log`), 'a');
  s.child = spawn(process.execPath, [path.join(ROOT, 'bin/v01t.js'), 'serve', s.name], {
    cwd: ROOT,
    env: { PATH: process.env.PATH ?? '', ...env, PORT: String(s.port), HOST: '127.0.0.1' },
    stdio: ['ignore', log, log],
  });
  closeSync(log);
  s.starts++;
  const child = s.child;
  await until(`${s.name} to be ready`, 240_000, async () => {
    if (child.exitCode !== null) throw new Error(`${s.name} exited with ${child.exitCode}; see ${logDir}/${s.name}.log`);
    return (await fetch(`${s.base}/ready`, { signal: AbortSignal.timeout(3000) })).status === 200;
  });
}
