import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { randomBytes, randomUUID } from 'node:crypto';
import { chmodSync, closeSync, mkdtempSync, openSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { killAndWait, pgBin, ROOT, until } from '../chaos/harness.js';
import { freePort } from '../helpers/ports.js';
import { createPrimary, createStandby, ReplicationLink, setSynchronous, StableAddress, type PgNode } from './failover/cluster.js';
import { requireBinary } from './tools.js';

/**
 * The runbook's failover, rehearsed and timed (ADR 0057, docs/failover.md): v01t (`v01t start`, a
 * separate process) serves from a primary through HAProxy; a client writes through the public
 * API the whole time and records every acknowledged write; the primary is killed (SIGKILL, every
 * process), the standby promoted (`pg_ctl promote`), the address switched. Measured: RTO (kill →
 * `/ready` 200 and a write acknowledged again) and RPO (acknowledged writes missing on the new
 * primary). v01t is never restarted; a workflow run waiting in a delay step across the failover
 * must finish. Done twice on the same v01t process: synchronous replication, then asynchronous
 * (the old standby, now primary, gets a new standby of its own).
 */
const work = mkdtempSync(path.join(os.tmpdir(), 'v01t-failover-'));
chmodSync(work, 0o711);
const figures: Record<string, Record<string, number | string>> = {};
let nodes: PgNode[] = [];
let link: ReplicationLink | undefined;
let address: StableAddress;
let v01t: ChildProcess | undefined;
let base = '';
let token = '';
let ws = '';
const ports: number[] = [];

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- response bodies of several endpoints, read field by field
type Json = any;

async function call(method: string, url: string, body?: unknown): Promise<{ status: number; json: Json }> {
  const res = await fetch(`${base}${url}`, {
    method,
    headers: { ...(body !== undefined ? { 'content-type': 'application/json' } : {}), ...(token ? { authorization: `Bearer ${token}` } : {}) },
    body: body === undefined ? undefined : JSON.stringify(body),
    signal: AbortSignal.timeout(5000),
  });
  const text = await res.text();
  return { status: res.status, json: text ? JSON.parse(text) : undefined };
}

beforeAll(async () => {
  requireBinary('haproxy');
  pgBin();
  for (let i = 0; i < 4; i++) ports.push(await freePort());
  const primary = await createPrimary(work, 'node0', ports[0]!);
  nodes = [primary];
  const standby = await createStandby(work, 'node1', ports[1]!, primary);
  nodes.push(standby);
  address = new StableAddress(path.join(work, 'haproxy'), ports.map((port, i) => ({ name: `node${i}`, port })));
  await address.start('node0');
  execFileSync(process.execPath, ['scripts/ensure-build.mjs'], { cwd: ROOT, stdio: 'ignore' });
  const port = await freePort();
  base = `http://127.0.0.1:${port}`;
  const dataDir = path.join(work, 'v01t-data');
  const log = openSync(path.join(work, 'v01t.log'), 'a');
  v01t = spawn(process.execPath, [path.join(ROOT, 'bin/v01t.js'), 'start'], {
    cwd: ROOT,
    env: {
      PATH: process.env.PATH ?? '',
      DATABASE_URL: `postgres://postgres@127.0.0.1:${address.port}/v01t`,
      DATABASE_POOL_MAX: '5',
      V01T_DATA_DIR: dataDir,
      V01T_MASTER_KEY: randomBytes(32).toString('hex'),
      HOST: '127.0.0.1',
      PORT: String(port),
      LOG_LEVEL: process.env.V01T_FAILOVER_LOG_LEVEL ?? 'warn',
      ARGON2_MEMORY_KIB: '1024',
      ARGON2_TIME_COST: '1',
      BACKUP_SCHEDULES_ENABLED: 'false',
    },
    stdio: ['ignore', log, log],
  });
  closeSync(log);
  const child = v01t;
  await until('v01t to be ready', 120_000, async () => {
    if (child.exitCode !== null) throw new Error(`v01t exited with ${child.exitCode}; see ${work}/v01t.log`);
    return (await fetch(`${base}/ready`, { signal: AbortSignal.timeout(2000) })).status === 200;
  });
  const su = await call('POST', '/v1/auth/signup', { email: `failover.${randomUUID().slice(0, 8)}@example.test`, password: `pw-${randomUUID()}`, name: 'Failover' });
  expect(su.status).toBe(201);
  token = su.json.token;
  const created = await call('POST', '/v1/workspaces', { name: 'Failover drill' });
  expect(created.status).toBe(201);
  ws = created.json.workspace.id;
}, 180_000);

afterAll(async () => {
  await killAndWait(v01t, 'SIGKILL');
  await address?.stop();
  await link?.close();
  for (const n of nodes) n.stop();
  writeFileSync(path.join(work, 'figures.json'), JSON.stringify(figures, null, 2));
  console.log(`failover figures: ${JSON.stringify(figures)}`);
  if (!process.env.V01T_FAILOVER_KEEP) rmSync(work, { recursive: true, force: true });
});

interface Drill {
  rtoSeconds: number;
  acked: number;
  lost: number;
  /** Acknowledged writes lost, and when the link was held (performance.now()). */
  lostAt: number[];
}

/** Writes continuously, kills `primary`, promotes `standby`, switches the address; measures. */
async function failOver(primary: PgNode, standby: PgNode, label: string, lag?: { link: ReplicationLink; ms: number }): Promise<Drill & { heldAt: number }> {
  // A job in flight: a run sleeping in a delay step across the failover, then a transform.
  const wf = await call('POST', `/v1/workspaces/${ws}/workflows`, { name: `in flight ${label}`, steps: [{ id: 'd', type: 'delay', with: { ms: 4000 } }, { id: 't', type: 'transform', with: { expression: 'input.n * 2' } }] });
  expect(wf.status).toBe(201);
  const run = await call('POST', `/v1/workspaces/${ws}/workflows/${wf.json.workflow.id}/runs`, { input: { n: 21 } });
  expect(run.status).toBe(202);

  const acked: { id: string; sentAt: number; at: number }[] = [];
  let killedAt = Infinity;
  let firstWriteAfter = 0;
  let failedWrites = 0;
  let writing = true;
  const writer = async (w: number) => {
    for (let i = 0; writing; i++) {
      const sentAt = performance.now();
      try {
        const r = await call('POST', `/v1/workspaces/${ws}/workflows`, { name: `${label}-w${w}-${i}`, steps: [{ id: 't', type: 'transform', with: { expression: '1' } }] });
        if (r.status === 201) {
          const now = performance.now();
          acked.push({ id: r.json.workflow.id, sentAt, at: now });
          // Only a write sent after the kill proves the new primary takes writes (one sent before may have committed on the old).
          if (sentAt > killedAt && !firstWriteAfter) firstWriteAfter = now;
        } else failedWrites++;
      } catch {
        failedWrites++;
      }
      if (performance.now() > killedAt && !firstWriteAfter) await new Promise((r) => setTimeout(r, 50));
    }
  };
  const writers = [writer(1), writer(2)];
  await until('writes to flow', 20_000, () => acked.length >= 40);
  // A lagging standby: WAL stops reaching it while writes go on being acknowledged by the primary.
  const heldAt = performance.now();
  if (lag) {
    lag.link.hold();
    await new Promise((r) => setTimeout(r, lag.ms));
  }

  // How far the standby's flushed WAL trails the primary's at the moment of the kill (async: the exposure).
  const lagBytes = Number(primary.sql(`SELECT coalesce(pg_current_wal_lsn() - flush_lsn, 0) FROM pg_stat_replication WHERE application_name = '${standby.name}'`, 'postgres'));
  killedAt = performance.now();
  primary.kill();
  const ackedBeforeKill = acked.filter((a) => a.at < killedAt);
  standby.promote();
  const promotedAt = performance.now();
  expect(standby.isInRecovery()).toBe(false);
  await address.switchTo(standby.name);
  const switchedAt = performance.now();
  expect(await address.active()).toEqual([standby.name]);
  // v01t is not told anything: its pools find the new primary behind the same address.
  const readyAt = await until('/ready after the failover', 60_000, async () => ((await fetch(`${base}/ready`, { signal: AbortSignal.timeout(2000) })).status === 200 ? performance.now() : false), 50);
  await until('a write acknowledged after the failover', 60_000, () => firstWriteAfter > 0, 50);
  const backAt = Math.max(readyAt, firstWriteAfter);
  await new Promise((r) => setTimeout(r, 500));
  writing = false;
  await Promise.all(writers);

  const present = new Set(standby.sql(`SELECT id FROM workflow.workflows WHERE workspace_id = '${ws}'`).split('\n'));
  // RPO: every acknowledged write missing on the new primary (one sent before the kill and answered just after counts too).
  const lost = acked.filter((a) => !present.has(a.id));
  // Every write sent after the failover began and acknowledged is there.
  expect(acked.filter((a) => a.sentAt > killedAt).every((a) => present.has(a.id))).toBe(true);

  // The run that was waiting when the primary died resumes on the new one and finishes.
  const finished = await until(
    'the in-flight run to finish',
    60_000,
    async () => {
      const r = await call('GET', `/v1/workspaces/${ws}/runs/${run.json.run.id}`);
      return r.status === 200 && ['succeeded', 'failed'].includes(r.json.run.status) ? r.json.run : false;
    },
    200,
  );
  expect(finished.status).toBe('succeeded');
  expect(finished.outputs?.t ?? finished.output).toEqual(42);

  const s = (t: number) => Math.round(((t - killedAt) / 1000) * 100) / 100;
  figures[label] = {
    promotedAfterSeconds: s(promotedAt),
    switchedAfterSeconds: s(switchedAt),
    readyAfterSeconds: s(readyAt),
    firstWriteAfterSeconds: s(firstWriteAfter),
    rtoSeconds: s(backAt),
    ackedBeforeKill: ackedBeforeKill.length,
    lostAcknowledgedWrites: lost.length,
    rpoSeconds: lost.length ? Math.round((killedAt - Math.min(...lost.map((l) => l.at))) / 10) / 100 : 0,
    failedWritesDuringFailover: failedWrites,
    standbyFlushLagBytesAtKill: lagBytes,
  };
  return { rtoSeconds: s(backAt), acked: ackedBeforeKill.length, lost: lost.length, lostAt: lost.map((l) => l.at), heldAt };
}

describe('failover: primary killed, standby promoted, address switched, v01t not restarted', () => {
  it('synchronous replication: no acknowledged write lost, service back within seconds', async () => {
    await setSynchronous(nodes[0]!, nodes[1]!, true);
    const d = await failOver(nodes[0]!, nodes[1]!, 'synchronous');
    expect(d.acked).toBeGreaterThanOrEqual(40);
    expect(d.lost).toBe(0);
    expect(d.rtoSeconds).toBeLessThan(30);
  }, 120_000);

  it('asynchronous replication: the loss is measured and reported, service back within seconds', async () => {
    // The promoted node gets a standby of its own (the old primary's replacement), asynchronous.
    const primary = nodes[1]!;
    const standby = await createStandby(work, 'node2', ports[2]!, primary);
    nodes.push(standby);
    await setSynchronous(primary, standby, false);
    const d = await failOver(primary, standby, 'asynchronous');
    expect(d.acked).toBeGreaterThanOrEqual(40);
    expect(d.lost).toBeLessThanOrEqual(d.acked);
    expect(d.rtoSeconds).toBeLessThan(30);
  }, 120_000);

  it('asynchronous replication with the standby 1 s behind: the writes of that second are lost, and only they', async () => {
    const primary = nodes[2]!;
    link = new ReplicationLink(primary.port);
    await link.start();
    const standby = await createStandby(work, 'node3', ports[3]!, primary, link.port);
    nodes.push(standby);
    await setSynchronous(primary, standby, false);
    const d = await failOver(primary, standby, 'asynchronous, standby 1 s behind', { link, ms: 1000 });
    // Acknowledged by the primary while its WAL could not reach the standby: gone with the primary.
    expect(d.lost).toBeGreaterThan(0);
    // What the standby had received before the link was held survived (slack for WAL still in flight on a busy machine).
    expect(d.lostAt.every((at) => at > d.heldAt - 250)).toBe(true);
    expect(d.rtoSeconds).toBeLessThan(30);
  }, 120_000);
});
