import { randomBytes, randomUUID } from 'node:crypto';
import { chmodSync, closeSync, mkdirSync, mkdtempSync, openSync, readdirSync, rmSync, statfsSync, unlinkSync, writeSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { DuckDBInstance } from '@duckdb/node-api';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startFakeChannel, type FakeChannel } from '../../bench/support/fake-receiver.js';
import { WEBHOOK_SECRET } from '../content-scheduler/fake-channel.js';
import { freePort } from '../helpers/ports.js';
import { killAndWait, MockKafka, mountTmpfs, startService, ThrowawayPostgres, ThrowawayRedis, until, type ServiceProcess } from './harness.js';

/**
 * Chaos in the split shape: the six services each in its own process on PostgreSQL, Redis and a
 * Kafka (librdkafka's mock cluster), all owned by this suite. Under steady writes to every service
 * it kills each service with SIGKILL (and starts it again, as Kubernetes would), crashes and
 * restarts PostgreSQL, stops and starts Redis, takes Kafka away and back, and fills the disk of the
 * analytics buffer. Then it checks that every acknowledged write is still there once, every
 * accepted workflow run finished exactly once, every scheduled post reached the channel once, that
 * /ready said 503 during each outage and 200 after, and that no service needed a restart to recover.
 */

/**
 * How long recovery may take before the suite fails. Generous: on a loaded 2-core machine a Node
 * service takes 10-40 s to start; the figures printed show what it really took.
 */
const LONG = 240_000;

const SERVICES = ['orchestrator', 'integration-hub', 'workflow-engine', 'content-scheduler', 'analytics-engine', 'gamification'] as const;
type Svc = (typeof SERVICES)[number];

const work = mkdtempSync(path.join(os.tmpdir(), 'v01t-chaos-'));
// PostgreSQL runs as its own user when the suite runs as root: it must traverse the folder.
chmodSync(work, 0o711);
const logs = path.join(work, 'logs');
const bufferDir = path.join(work, 'analytics-buffer');
const postgres = new ThrowawayPostgres(path.join(work, 'pg'));
const redis = new ThrowawayRedis(path.join(work, 'redis'));
const kafka = new MockKafka(path.join(work, 'kafka'));
const procs = new Map<Svc, ServiceProcess>();
const internalToken = randomBytes(24).toString('hex');
const masterKey = randomBytes(32).toString('hex');
let unmount: (() => void) | undefined;
let env: Record<Svc, Record<string, string>>;

const figures = {
  faultsInjected: 0,
  faults: [] as { fault: string; secondsToReady: number; secondsToWrite: number; readyWas503: boolean }[],
  writesAcknowledged: 0,
  refusedDuringFaults: 0,
  /** Answers to writes that were not acknowledged, by status: 503 is the honest answer during an outage. */
  refusals: {} as Record<string, number>,
  lost: 0,
  doubled: 0,
  runsAccepted: 0,
  runsFinishedOnce: 0,
  postsScheduled: 0,
  postsPublishedOnce: 0,
  effectRequests: 0,
  diskFull: 'not run' as string,
};

// ---------------------------------------------------------------- receivers of side effects
/** Receives the workflow's http step: one request per attempt, keyed by the executor's Idempotency-Key. */
const effects = new Map<string, { keys: Set<string>; requests: number }>();
let effectServer: http.Server;
let effectUrl = '';
let channel: FakeChannel;

// ---------------------------------------------------------------- the load
interface Acked {
  workspaces: string[];
  connections: string[];
  runs: string[];
  posts: Map<string, string>; // post id -> unique text
  events: string[]; // message ids
  ledger: string[];
}
const acked: Acked = { workspaces: [], connections: [], runs: [], posts: new Map(), events: [], ledger: [] };
const lastAck = new Map<Svc, number>();
let loadRunning = false;
const loops: Promise<void>[] = [];
let owner: { id: string; token: string };
let ws = '';
let writeKey = '';
let channelId = '';
let workflowId = '';

const url = (s: Svc, p: string) => `${procs.get(s)!.base}${p}`;
// eslint-disable-next-line @typescript-eslint/no-explicit-any -- a load client: the fields it reads are the API's documented ones
async function call(s: Svc, method: string, p: string, body?: unknown, headers: Record<string, string> = {}): Promise<{ status: number; json: any }> {
  const res = await fetch(url(s, p), {
    method,
    headers: { ...(body !== undefined ? { 'content-type': 'application/json' } : {}), authorization: `Bearer ${owner?.token}`, ...headers },
    body: body === undefined ? undefined : JSON.stringify(body),
    signal: AbortSignal.timeout(8000),
  });
  const text = await res.text();
  return { status: res.status, json: text ? JSON.parse(text) : undefined };
}

/** One write per service, repeated until the load stops; only a 2xx answer counts as acknowledged. */
const writers: Record<Svc, (i: number) => Promise<void>> = {
  orchestrator: async (i) => {
    const r = await call('orchestrator', 'POST', '/v1/workspaces', { name: `chaos ${i}` });
    if (r.status === 201) acked.workspaces.push(r.json.workspace.id);
    else throw new Error(String(r.status));
  },
  'integration-hub': async (i) => {
    const r = await call('integration-hub', 'POST', `/v1/workspaces/${ws}/connections`, { connector: 'webhook', name: `chaos ${i}`, credentials: { secret: WEBHOOK_SECRET }, config: { url: channel.url } });
    if (r.status === 201) acked.connections.push(r.json.connection.id);
    else throw new Error(String(r.status));
  },
  'workflow-engine': async () => {
    const r = await call('workflow-engine', 'POST', `/v1/workspaces/${ws}/workflows/${workflowId}/runs`, { input: { tag: randomUUID() } });
    if (r.status === 202) acked.runs.push(r.json.run.id);
    else throw new Error(String(r.status));
  },
  'content-scheduler': async () => {
    const text = `chaos post ${randomUUID()}`;
    const p = await call('content-scheduler', 'POST', `/v1/workspaces/${ws}/posts`, { body: text, channels: [{ channelId }] });
    if (p.status !== 201) throw new Error(String(p.status));
    const s = await call('content-scheduler', 'POST', `/v1/workspaces/${ws}/posts/${p.json.post.id}/schedule`, { mode: 'now' });
    if (s.status === 200) acked.posts.set(p.json.post.id, text);
    else throw new Error(String(s.status));
  },
  'analytics-engine': async () => {
    const batch = Array.from({ length: 5 }, () => ({ type: 'track', event: 'chaos', userId: 'u1', messageId: randomUUID() }));
    const r = await call('analytics-engine', 'POST', `/v1/workspaces/${ws}/events`, { batch }, { 'x-write-key': writeKey, authorization: '' });
    if (r.status === 202) acked.events.push(...batch.map((e) => e.messageId));
    else throw new Error(String(r.status));
  },
  gamification: async (i) => {
    const r = await call('gamification', 'POST', `/v1/workspaces/${ws}/gamification/adjustments`, { userId: owner.id, persona: 'vAnalyst', metric: 'Insight Points', points: 1, reason: `chaos ${i}` });
    if (r.status === 201) acked.ledger.push(r.json.entryId);
    else throw new Error(String(r.status));
  },
};

function startLoad(): void {
  loadRunning = true;
  for (const s of SERVICES) {
    loops.push(
      (async () => {
        for (let i = 0; loadRunning; i++) {
          try {
            await writers[s](i);
            lastAck.set(s, Date.now());
          } catch (err) {
            const status = /^\d+$/.test((err as Error).message) ? (err as Error).message : 'no answer';
            figures.refusals[status] = (figures.refusals[status] ?? 0) + 1;
            figures.refusedDuringFaults++;
            await new Promise((r) => setTimeout(r, 100));
          }
        }
      })(),
    );
  }
}

// ---------------------------------------------------------------- probes
async function readyStatus(s: Svc): Promise<number> {
  try {
    return (await fetch(url(s, '/ready'), { signal: AbortSignal.timeout(4000) })).status;
  } catch {
    return 0;
  }
}
async function allReady(which: readonly Svc[] = SERVICES): Promise<boolean> {
  return (await Promise.all(which.map(readyStatus))).every((st) => st === 200);
}

/**
 * Injects a fault, checks /ready answers 503 on `affected` while it lasts, clears it and measures
 * the seconds until every service is ready again and every service acknowledged a new write.
 */
async function fault(name: string, affected: readonly Svc[], inject: () => Promise<void> | void, clear: () => Promise<void> | void): Promise<void> {
  figures.faultsInjected++;
  await inject();
  let readyWas503 = true;
  if (affected.length) {
    const seen = await until(`/ready 503 during "${name}"`, 15_000, async () => {
      const st = await Promise.all(affected.map(readyStatus));
      return st.every((x) => x === 503) ? st : undefined;
    }).catch(() => undefined);
    readyWas503 = seen !== undefined;
  }
  // The outage lasts a moment under load, so requests and background work meet it.
  await new Promise((r) => setTimeout(r, 1500));
  const cleared = Date.now();
  await clear();
  await until(`every service ready after "${name}"`, LONG, () => allReady(), 200);
  const secondsToReady = (Date.now() - cleared) / 1000;
  await until(`a new acknowledged write on every service after "${name}"`, LONG, () => SERVICES.every((s) => (lastAck.get(s) ?? 0) > cleared), 100);
  figures.faults.push({ fault: name, secondsToReady, secondsToWrite: (Date.now() - cleared) / 1000, readyWas503 });
  expect(readyWas503, `/ready answered 503 on ${affected.join(', ')} during "${name}"`).toBe(true);
}

// ---------------------------------------------------------------- set-up
beforeAll(async () => {
  effectServer = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = JSON.parse(Buffer.concat(chunks).toString('utf8') || '{}') as { run?: string };
      const run = String(body.run);
      const e = effects.get(run) ?? { keys: new Set<string>(), requests: 0 };
      e.keys.add(String(req.headers['idempotency-key']));
      e.requests++;
      effects.set(run, e);
      figures.effectRequests++;
      res.writeHead(200, { 'content-type': 'application/json' }).end('{"ok":true}');
    });
  });
  await new Promise<void>((r) => effectServer.listen(0, '127.0.0.1', r));
  effectUrl = `http://127.0.0.1:${(effectServer.address() as AddressInfo).port}/effect`;
  channel = await startFakeChannel();

  await postgres.init();
  await redis.start();
  await kafka.start();
  unmount = mountTmpfs(bufferDir, '8m');

  for (const s of SERVICES) {
    const port = await freePort();
    procs.set(s, { name: s, port, base: `http://127.0.0.1:${port}`, starts: 0 });
  }
  const common = {
    DATABASE_URL: postgres.url,
    DATABASE_POOL_MAX: '5',
    REDIS_URL: redis.url,
    KAFKA_BROKERS: kafka.brokers,
    KAFKA_TOPIC_PARTITIONS: '1',
    V01T_INTERNAL_TOKEN: internalToken,
    V01T_MASTER_KEY: masterKey,
    V01T_ORCHESTRATOR_URL: procs.get('orchestrator')!.base,
    V01T_INTEGRATION_HUB_URL: procs.get('integration-hub')!.base,
    V01T_EGRESS_ALLOW: '127.0.0.1',
    EGRESS_RATE_PER_S: '10000',
    EGRESS_RATE_BURST: '10000',
    ARGON2_MEMORY_KIB: '1024',
    ARGON2_TIME_COST: '1',
    LOG_LEVEL: process.env.V01T_CHAOS_LOG_LEVEL ?? 'warn',
    WORKFLOW_LEASE_MS: '3000',
    CONTENT_PUBLISHER_INTERVAL_MS: '200',
    CONTENT_PUBLISH_LEASE_SECONDS: '5',
    ANALYTICS_FLUSH_INTERVAL_MS: '200',
    SHUTDOWN_TIMEOUT_MS: '5000',
  };
  env = Object.fromEntries(
    SERVICES.map((s) => [
      s,
      {
        ...common,
        V01T_DATA_DIR: path.join(work, 'data', s),
        // The analytics buffer in segment files on a small tmpfs (one process owns the folder).
        ...(s === 'analytics-engine' ? { ANALYTICS_BUFFER: 'file', ANALYTICS_BUFFER_DIR: bufferDir } : {}),
      },
    ]),
  ) as unknown as Record<Svc, Record<string, string>>;
  mkdirSync(logs, { recursive: true });
  // The orchestrator first (it applies the shared kernel migrations), then the others together.
  await startService(procs.get('orchestrator')!, env.orchestrator, logs);
  await Promise.all(SERVICES.filter((s) => s !== 'orchestrator').map((s) => startService(procs.get(s)!, env[s], logs)));

  // A user, a workspace and what each writer needs, through the services' own ports.
  const email = `chaos.${randomUUID().slice(0, 8)}@example.test`;
  const su = await fetch(url('orchestrator', '/v1/auth/signup'), { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ email, password: `pw-${randomUUID()}`, name: 'Chaos' }) });
  expect(su.status).toBe(201);
  const sj = (await su.json()) as { user: { id: string }; token: string };
  owner = { id: sj.user.id, token: sj.token };
  ws = (await call('orchestrator', 'POST', '/v1/workspaces', { name: 'chaos' })).json.workspace.id;
  writeKey = (await call('analytics-engine', 'POST', `/v1/workspaces/${ws}/analytics/write-keys`, { name: 'chaos' })).json.key;
  const conn = await call('integration-hub', 'POST', `/v1/workspaces/${ws}/connections`, { connector: 'webhook', name: 'channel', credentials: { secret: WEBHOOK_SECRET }, config: { url: channel.url } });
  expect(conn.status, JSON.stringify(conn.json)).toBe(201);
  const ch = await call('content-scheduler', 'POST', `/v1/workspaces/${ws}/channels`, { connectionId: conn.json.connection.id, name: 'chaos', timezone: 'UTC' });
  expect(ch.status, JSON.stringify(ch.json)).toBe(201);
  channelId = ch.json.channel.id;
  const wf = await call('workflow-engine', 'POST', `/v1/workspaces/${ws}/workflows`, {
    name: 'chaos effect',
    steps: [
      { id: 'shape', type: 'transform', with: { expression: '{"tag": input.tag}' } },
      { id: 'effect', type: 'http', with: { url: effectUrl, method: 'POST', body: { run: '=run.id' } }, retry: { maxAttempts: 10, backoffMs: 200, maxBackoffMs: 2000 } },
    ],
  });
  expect(wf.status, JSON.stringify(wf.json)).toBe(201);
  workflowId = wf.json.workflow.id;
  startLoad();
  await until('every service to acknowledge a write', 30_000, () => SERVICES.every((s) => lastAck.has(s)));
}, 10 * 60_000);

afterAll(async () => {
  loadRunning = false;
  await Promise.allSettled(loops);
  await Promise.all([...procs.values()].map((p) => killAndWait(p.child, 'SIGKILL')));
  await kafka.stop();
  await redis.stop();
  postgres.destroy();
  unmount?.();
  await channel?.close();
  await new Promise<void>((r) => (effectServer ? effectServer.close(() => r()) : r()));
  console.log(`chaos figures ${JSON.stringify(figures)}`);
  if (process.env.V01T_CHAOS_KEEP) console.log(`chaos work folder kept: ${work}`);
  else rmSync(work, { recursive: true, force: true });
}, 60_000);

// ---------------------------------------------------------------- the faults
describe('chaos in the split shape', { timeout: 15 * 60_000 }, () => {
  it('survives SIGKILL of each service under load', async () => {
    for (const s of SERVICES) {
      const p = procs.get(s)!;
      await fault(
        `kill -9 ${s}`,
        [],
        () => killAndWait(p.child, 'SIGKILL'),
        () => startService(p, env[s], logs),
      );
    }
  });

  it('says 503 while PostgreSQL is down and recovers after its restart without a service restart', async () => {
    const starts = [...procs.values()].map((p) => p.starts);
    await fault('PostgreSQL crash and restart', SERVICES, () => postgres.stop(), () => postgres.start());
    expect([...procs.values()].map((p) => p.starts)).toEqual(starts);
  });

  it('says 503 while Redis is down and recovers after its start without a service restart', async () => {
    const starts = [...procs.values()].map((p) => p.starts);
    await fault('Redis stop and start', SERVICES, () => redis.stop(), () => redis.start());
    expect([...procs.values()].map((p) => p.starts)).toEqual(starts);
  });

  it('says 503 while Kafka is away and delivers the events held in the outbox after it is back', async () => {
    const starts = [...procs.values()].map((p) => p.starts);
    await fault('Kafka away and back', SERVICES, () => kafka.down(), () => kafka.up());
    expect([...procs.values()].map((p) => p.starts)).toEqual(starts);
  });

  it('refuses ingestion (not 5xx-and-keep) while the analytics buffer disk is full, and takes events again once space is back', async (ctx) => {
    if (!unmount) {
      figures.diskFull = 'skipped: mount -t tmpfs refused (needs root)';
      ctx.skip();
    }
    const filler = path.join(bufferDir, 'filler');
    let refusal: { status: number; code?: string } | undefined;
    await fault(
      'analytics buffer disk full',
      ['analytics-engine'],
      () => {
        // Fill to the last byte: the service keeps writing meanwhile, so what statfs reported may
        // already be gone; ENOSPC is the point of the exercise, not a failure of it.
        const fd = openSync(filler, 'w');
        try {
          const { bavail, bsize } = statfsSync(bufferDir);
          const chunk = Buffer.alloc(Math.max(4096, Number(bsize)) * 64);
          for (let left = Number(bavail) * Number(bsize) + chunk.length; left > 0; left -= chunk.length) writeSync(fd, chunk);
        } catch (err) {
          if ((err as NodeJS.ErrnoException).code !== 'ENOSPC') throw err;
        } finally {
          closeSync(fd);
        }
      },
      async () => {
        // Larger than the slack left in the last page of the open segment, which a small line may still fit.
        const batch = Array.from({ length: 200 }, () => ({ type: 'track', event: 'chaos', userId: 'u1', messageId: randomUUID(), properties: { pad: 'x'.repeat(300) } }));
        const r = await call('analytics-engine', 'POST', `/v1/workspaces/${ws}/events`, { batch }, { 'x-write-key': writeKey, authorization: '' });
        refusal = { status: r.status, code: r.json?.code };
        if (r.status === 202) acked.events.push(...batch.map((e) => e.messageId));
        unlinkSync(filler);
      },
    );
    figures.diskFull = `refused with ${refusal?.status} ${refusal?.code ?? ''}`.trim();
    expect(refusal).toEqual({ status: 503, code: 'analytics_buffer_unavailable' });
  });

  it('kept every acknowledged write once, finished every accepted run once and published every scheduled post once', async () => {
    loadRunning = false;
    await Promise.allSettled(loops);
    const db = new pg.Client({ connectionString: postgres.url });
    await db.connect();
    try {
      const count = async (sql: string, ids: string[]) => Number((await db.query(sql, [ids])).rows[0].n);
      const kept = async (label: string, sql: string, ids: string[]) => {
        const n = await count(sql, ids);
        figures.writesAcknowledged += ids.length;
        figures.lost += Math.max(0, ids.length - n);
        expect(n, `${label}: acknowledged ${ids.length}, found ${n}`).toBe(ids.length);
      };
      await kept('workspaces', 'SELECT count(*) AS n FROM orchestrator.workspaces WHERE id = ANY($1::uuid[])', acked.workspaces);
      await kept('connections', 'SELECT count(*) AS n FROM integration_hub.connections WHERE id = ANY($1::uuid[])', acked.connections);
      await kept('ledger entries', 'SELECT count(*) AS n FROM gamification.ledger WHERE id = ANY($1::uuid[])', acked.ledger);
      await kept('runs', 'SELECT count(*) AS n FROM workflow.runs WHERE id = ANY($1::uuid[])', acked.runs);
      await kept('posts', 'SELECT count(*) AS n FROM content.posts WHERE id = ANY($1::uuid[])', [...acked.posts.keys()]);

      // Every accepted run ends, succeeded, with one outcome event and one applied effect.
      figures.runsAccepted = acked.runs.length;
      await until('every accepted run to finish', LONG, async () => (await count("SELECT count(*) AS n FROM workflow.runs WHERE id = ANY($1::uuid[]) AND status IN ('succeeded','failed','cancelled','timed_out')", acked.runs)) === acked.runs.length, 500);
      const statuses = (await db.query('SELECT status, count(*)::int AS n FROM workflow.runs WHERE id = ANY($1::uuid[]) GROUP BY status', [acked.runs])).rows;
      expect(statuses).toEqual([{ status: 'succeeded', n: acked.runs.length }]);
      const outcomes = (await db.query("SELECT payload->>'runId' AS run, count(*)::int AS n FROM kernel.outbox WHERE name = 'workflow.run.succeeded.v1' AND payload->>'runId' = ANY($1) GROUP BY 1", [acked.runs])).rows as { run: string; n: number }[];
      const effectKeys = acked.runs.map((r) => effects.get(r)?.keys.size ?? 0);
      figures.runsFinishedOnce = outcomes.filter((o) => o.n === 1).length;
      figures.doubled += outcomes.filter((o) => o.n > 1).length + effectKeys.filter((k) => k > 1).length;
      expect(outcomes.length).toBe(acked.runs.length);
      expect(outcomes.every((o) => o.n === 1)).toBe(true);
      expect(effectKeys.filter((k) => k !== 1)).toEqual([]);

      // Every scheduled post reaches the channel once (the fake counts 2xx deliveries per text).
      figures.postsScheduled = acked.posts.size;
      const delivered = () => {
        const byText = new Map<string, number>();
        for (const d of channel.deliveries) byText.set(d.text, (byText.get(d.text) ?? 0) + 1);
        return byText;
      };
      await until('every scheduled post to be published', LONG, () => [...acked.posts.values()].every((t) => delivered().has(t)), 500);
      const perPost = [...acked.posts.values()].map((t) => delivered().get(t) ?? 0);
      figures.postsPublishedOnce = perPost.filter((n) => n === 1).length;
      figures.doubled += perPost.filter((n) => n > 1).length;
      expect(perPost.filter((n) => n !== 1)).toEqual([]);
    } finally {
      await db.end();
    }

    // Analytics: wait until the buffer is drained into DuckDB, stop the service, count per message id.
    await until('the analytics buffer to drain', LONG, () => readdirSync(bufferDir).filter((f) => f !== 'lost+found').length === 0, 300);
    const a = procs.get('analytics-engine')!;
    await killAndWait(a.child, 'SIGTERM');
    const duck = await DuckDBInstance.create(path.join(work, 'data', 'analytics-engine', 'analytics.duckdb'), { access_mode: 'READ_ONLY' });
    const conn = await duck.connect();
    try {
      const rows = (await conn.runAndReadAll(`SELECT message_id, count(*)::INTEGER AS n FROM analytics_events WHERE workspace_id = '${ws}' GROUP BY 1`)).getRowObjects() as { message_id: string; n: number }[];
      const stored = new Map(rows.map((r) => [r.message_id, r.n]));
      const missing = acked.events.filter((id) => !stored.has(id));
      const twice = acked.events.filter((id) => (stored.get(id) ?? 0) > 1);
      figures.writesAcknowledged += acked.events.length;
      figures.lost += missing.length;
      figures.doubled += twice.length;
      expect({ missing: missing.length, twice: twice.length }).toEqual({ missing: 0, twice: 0 });
    } finally {
      conn.closeSync();
      duck.closeSync();
    }
    expect(figures.lost).toBe(0);
    expect(figures.doubled).toBe(0);
  });
});
