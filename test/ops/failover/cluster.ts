import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { chownSync, closeSync, existsSync, mkdirSync, openSync, readFileSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { pgBin, pgRun, postgresId, until } from '../../chaos/harness.js';
import { freePort } from '../../helpers/ports.js';

/**
 * The runbook's failover on one machine (ADR 0057): PostgreSQL nodes from Debian's binaries, a
 * primary and streaming standbys made with `pg_basebackup -R`, and HAProxy in front as the stable
 * address the application knows — switched with its runtime API the way a DNS record or a
 * managed database's endpoint is moved after a promotion.
 */

const asRoot = process.getuid?.() === 0;
const SERVER_OPTIONS = '-c wal_level=replica -c max_wal_senders=10 -c wal_keep_size=256MB -c hot_standby=on -c max_connections=200';

export class PgNode {
  readonly dataDir: string;
  private killed = false;
  constructor(
    readonly name: string,
    readonly dir: string,
    readonly port: number,
  ) {
    this.dataDir = path.join(dir, 'pgdata');
  }

  /** psql over the node's Unix socket; returns the unaligned, tuples-only output. */
  sql(query: string, db = 'v01t'): string {
    return execFileSync(path.join(pgBin(), 'psql'), ['-h', this.dir, '-p', String(this.port), '-U', 'postgres', '-d', db, '-XAtqc', query], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] }).trim();
  }

  start(): void {
    const opts = `-p ${this.port} -c listen_addresses=127.0.0.1 -c unix_socket_directories=${this.dir} -c cluster_name=${this.name} ${SERVER_OPTIONS}`;
    pgRun('pg_ctl', ['-D', this.dataDir, '-o', opts, '-l', path.join(this.dir, 'postgres.log'), '-w', 'start']);
  }

  /**
   * The hard failure: SIGKILL to the postmaster and every one of its processes at once (no
   * shutdown checkpoint, no last WAL sent to the standby, connections cut by the kernel).
   */
  kill(): void {
    this.killed = true;
    const pid = Number(readFileSync(path.join(this.dataDir, 'postmaster.pid'), 'utf8').split('\n')[0]);
    const children = execFileSync('ps', ['-o', 'pid=', '--ppid', String(pid)], { encoding: 'utf8' }).split('\n').map(Number).filter((n) => n > 0);
    for (const p of [pid, ...children]) {
      try {
        process.kill(p, 'SIGKILL');
      } catch {
        /* already gone */
      }
    }
  }

  /** `pg_ctl promote`: the standby leaves recovery and accepts writes (on a new timeline). */
  promote(): void {
    pgRun('pg_ctl', ['-D', this.dataDir, '-w', '-t', '60', 'promote']);
  }

  isInRecovery(): boolean {
    return this.sql('SELECT pg_is_in_recovery()', 'postgres') === 't';
  }

  stop(): void {
    if (this.killed || !existsSync(path.join(this.dataDir, 'postmaster.pid'))) return;
    try {
      pgRun('pg_ctl', ['-D', this.dataDir, '-m', 'immediate', '-w', 'stop']);
    } catch {
      /* already down (killed) */
    }
  }
}

function pgRunAsync(tool: string, args: string[]): Promise<void> {
  const bin = path.join(pgBin(), tool);
  const child = asRoot ? spawn('runuser', ['-u', 'postgres', '--', bin, ...args], { stdio: ['ignore', 'ignore', 'pipe'] }) : spawn(bin, args, { stdio: ['ignore', 'ignore', 'pipe'] });
  let err = '';
  child.stderr!.on('data', (d) => (err += String(d)));
  return new Promise((resolve, reject) => {
    child.on('error', reject);
    child.on('close', (code) => (code === 0 ? resolve() : reject(new Error(`${tool} exited with ${code}: ${err.trim()}`))));
  });
}

function ownedDir(dir: string): void {
  mkdirSync(dir, { recursive: true });
  if (asRoot) chownSync(dir, postgresId('-u'), postgresId('-g'));
}

/** A new primary: initdb (trust, replication allowed from 127.0.0.1 as initdb's pg_hba.conf has it) and a `v01t` database. */
export async function createPrimary(root: string, name: string, port: number): Promise<PgNode> {
  const node = new PgNode(name, path.join(root, name), port);
  ownedDir(node.dir);
  pgRun('initdb', ['-D', node.dataDir, '-U', 'postgres', '--auth=trust', '-E', 'UTF8', '--no-sync']);
  node.start();
  node.sql('CREATE DATABASE v01t', 'postgres');
  return node;
}

/**
 * A streaming standby of `primary`: `pg_basebackup -R -X stream` (standby.signal, primary_conninfo),
 * then started. `via`: the port of a ReplicationLink to reach the primary through (its WAL stream too).
 */
export async function createStandby(root: string, name: string, port: number, primary: PgNode, via?: number): Promise<PgNode> {
  const node = new PgNode(name, path.join(root, name), port);
  ownedDir(node.dir);
  // Asynchronously: a ReplicationLink relays in this very process, which a synchronous child would block.
  await pgRunAsync('pg_basebackup', ['-h', '127.0.0.1', '-p', String(via ?? primary.port), '-U', 'postgres', '-D', node.dataDir, '-R', '-X', 'stream', '-c', 'fast', '--no-sync']);
  node.start();
  await until(`${name} to stream from ${primary.name}`, 30_000, () => primary.sql(`SELECT state FROM pg_stat_replication WHERE application_name = '${name}'`, 'postgres') === 'streaming');
  return node;
}

/**
 * synchronous_standby_names on the primary: `'*'` = a commit is acknowledged only once a standby
 * has flushed its WAL (RPO 0); `''` = asynchronous (the standby may lag).
 */
export async function setSynchronous(primary: PgNode, standby: PgNode, sync: boolean): Promise<void> {
  primary.sql(`ALTER SYSTEM SET synchronous_standby_names = '${sync ? '*' : ''}'`, 'postgres');
  primary.sql('SELECT pg_reload_conf()', 'postgres');
  const want = sync ? 'sync' : 'async';
  await until(`${standby.name} to be ${want}`, 10_000, () => primary.sql(`SELECT sync_state FROM pg_stat_replication WHERE application_name = '${standby.name}'`, 'postgres') === want);
}

/**
 * HAProxy in TCP mode: the stable address. One backend server per node, only the current primary
 * enabled; `switchTo` moves the address with the runtime API (no reload, no restart) and cuts any
 * session still attached to the old node.
 */
export class StableAddress {
  port = 0;
  private child?: ChildProcess;
  private readonly socket: string;
  constructor(
    private readonly dir: string,
    private readonly nodes: { name: string; port: number }[],
  ) {
    this.socket = path.join(dir, 'haproxy.sock');
  }

  async start(active: string): Promise<void> {
    mkdirSync(this.dir, { recursive: true });
    this.port = await freePort();
    const cfg = [
      'global',
      `  stats socket ${this.socket} mode 600 level admin`,
      '  maxconn 1000',
      'defaults',
      '  mode tcp',
      '  timeout connect 1s',
      '  timeout client 1h',
      '  timeout server 1h',
      '  retries 1',
      'frontend postgres',
      `  bind 127.0.0.1:${this.port}`,
      '  default_backend db',
      'backend db',
      ...this.nodes.map((n) => `  server ${n.name} 127.0.0.1:${n.port}${n.name === active ? '' : ' disabled'}`),
      '',
    ].join('\n');
    const file = path.join(this.dir, 'haproxy.cfg');
    writeFileSync(file, cfg);
    execFileSync('haproxy', ['-c', '-q', '-f', file]);
    const log = openSync(path.join(this.dir, 'haproxy.log'), 'a');
    this.child = spawn('haproxy', ['-db', '-f', file], { stdio: ['ignore', log, log] });
    closeSync(log);
    await until('haproxy to listen', 10_000, async () => (await this.command('show servers state db')).includes(String(this.nodes[0]!.port)));
  }

  /** One runtime API command over the admin socket. */
  command(cmd: string): Promise<string> {
    return new Promise((resolve, reject) => {
      const s = net.connect(this.socket);
      let out = '';
      s.on('connect', () => s.write(`${cmd}\n`));
      s.on('data', (d) => (out += String(d)));
      s.on('end', () => resolve(out));
      s.on('error', reject);
    });
  }

  /** Where the address points, as HAProxy reports it: the servers whose operational state is running (2). */
  async active(): Promise<string[]> {
    const lines = (await this.command('show servers state db')).split('\n').filter((l) => /^\d+ db /.test(l));
    // Fields: be_id be_name srv_id srv_name srv_addr srv_op_state srv_admin_state ...; op_state 0 stopped (maintenance), 2 running.
    return lines.map((l) => l.split(' ')).filter((f) => f[5] === '2').map((f) => f[3]!);
  }

  async switchTo(name: string): Promise<void> {
    for (const n of this.nodes) {
      const r = (await this.command(`set server db/${n.name} state ${n.name === name ? 'ready' : 'maint'}`)).trim();
      if (r) throw new Error(`haproxy: ${r}`);
    }
    for (const n of this.nodes) if (n.name !== name) await this.command(`shutdown sessions server db/${n.name}`);
  }

  stop(): Promise<void> {
    return new Promise((resolve) => {
      const c = this.child;
      if (!c || c.exitCode !== null || c.signalCode !== null) return resolve();
      c.once('exit', () => resolve());
      c.kill('SIGKILL');
    });
  }
}

/**
 * A TCP relay between a standby and its primary whose primary-to-standby direction can be held:
 * WAL the primary has sent stops reaching the standby, as over a congested or partitioned link,
 * so an asynchronous standby falls behind by as long as the hold lasts.
 */
export class ReplicationLink {
  port = 0;
  private held = false;
  private readonly upstreams = new Set<net.Socket>();
  private readonly server: net.Server;
  constructor(private readonly targetPort: number) {
    this.server = net.createServer((client) => {
      const up = net.connect(this.targetPort, '127.0.0.1');
      this.upstreams.add(up);
      if (this.held) up.pause();
      client.on('data', (d) => up.write(d));
      up.on('data', (d) => client.write(d));
      const end = () => {
        client.destroy();
        up.destroy();
        this.upstreams.delete(up);
      };
      client.on('close', end).on('error', end);
      up.on('close', end).on('error', end);
    });
  }
  async start(): Promise<void> {
    await new Promise<void>((r) => this.server.listen(0, '127.0.0.1', r));
    this.port = (this.server.address() as net.AddressInfo).port;
  }
  hold(): void {
    this.held = true;
    for (const u of this.upstreams) u.pause();
  }
  close(): Promise<void> {
    for (const u of this.upstreams) u.destroy();
    return new Promise((r) => this.server.close(() => r()));
  }
}
