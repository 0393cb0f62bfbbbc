import { execFileSync, spawn } from 'node:child_process';
import { randomBytes, randomUUID } from 'node:crypto';
import { chmodSync, closeSync, mkdirSync, mkdtempSync, openSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startFakeChannel, type FakeChannel } from '../../bench/support/fake-receiver.js';
import { WEBHOOK_SECRET } from '../content-scheduler/fake-channel.js';
import { freePort } from '../helpers/ports.js';
import { startS3rver, type RunningS3rver } from '../helpers/s3rver.js';
import { killAndWait, MockKafka, ROOT, startService, ThrowawayPostgres, ThrowawayRedis, until, type ServiceProcess } from './harness.js';

/**
 * One client journey, black-box through the public entry only, held to the same answers on both
 * shapes (ADR 0055):
 * - embedded: `v01t start`, every service in one process on PGlite in a data folder;
 * - split: each service its own `v01t serve <service>` process (two workflow-engines, two
 *   content-schedulers) on PostgreSQL, Redis, Kafka (librdkafka's mock cluster), S3 (s3rver) and
 *   ClickHouse when `.ci/run` started one (V01T_TEST_CLICKHOUSE_URL), the orchestrator's process
 *   the only address the client knows.
 * Sign-up, workspace, personas, a webhook connection to a loopback receiver, a webhook-triggered
 * workflow with an integration step (delivered once), a post with an image published once,
 * analytics through a write key and a funnel with hand-computed numbers, gamification points on
 * the leaderboard, an incident from an Alertmanager payload; then, mid-work, kill -9 (the embedded
 * process, restarted on its data folder; one replica of each multi-replica service) and nothing
 * is lost or doubled.
 */
const LONG = 240_000;
const AM_TOKEN = randomBytes(24).toString('hex');
const INTERNAL_TOKEN = randomBytes(24).toString('hex');
const MASTER_KEY = randomBytes(32).toString('hex');
const figures: Record<string, unknown> = {};

interface Shape {
  name: 'embedded' | 'split';
  entry: string;
  /** Runs `v01t <args>` as an operator would against this installation. */
  cli(args: string[], stdin?: string): string;
  /** kill -9 mid-work: the embedded process (then restarted) or one replica of each multi-replica service. */
  crash(): Promise<void>;
  close(): Promise<void>;
}

const common = {
  V01T_EGRESS_ALLOW: '127.0.0.1',
  EGRESS_RATE_PER_S: '10000',
  EGRESS_RATE_BURST: '10000',
  ARGON2_MEMORY_KIB: '1024',
  ARGON2_TIME_COST: '1',
  LOG_LEVEL: process.env.V01T_CHAOS_LOG_LEVEL ?? 'warn',
  V01T_ALERTMANAGER_TOKEN: AM_TOKEN,
  V01T_MASTER_KEY: MASTER_KEY,
  WORKFLOW_LEASE_MS: '3000',
  CONTENT_PUBLISHER_INTERVAL_MS: '200',
  CONTENT_PUBLISH_LEASE_SECONDS: '5',
  ANALYTICS_FLUSH_INTERVAL_MS: '200',
  SHUTDOWN_TIMEOUT_MS: '5000',
};

function runCli(env: Record<string, string>, args: string[], stdin?: string): string {
  return execFileSync(process.execPath, [path.join(ROOT, 'bin/v01t.js'), ...args], { cwd: ROOT, env: { PATH: process.env.PATH ?? '', ...env }, input: stdin, encoding: 'utf8', timeout: 120_000 });
}

async function startEmbedded(work: string): Promise<Shape> {
  const proc: ServiceProcess = { name: 'embedded', port: await freePort(), base: '', starts: 0 };
  proc.base = `http://127.0.0.1:${proc.port}`;
  const env = { ...common, V01T_DATA_DIR: path.join(work, 'data') };
  const logs = path.join(work, 'logs');
  mkdirSync(logs, { recursive: true });
  const start = async () => {
    const log = openSync(path.join(logs, 'embedded.log'), 'a');
    proc.child = spawn(process.execPath, [path.join(ROOT, 'bin/v01t.js'), 'start'], { cwd: ROOT, env: { PATH: process.env.PATH ?? '', ...env, PORT: String(proc.port), HOST: '127.0.0.1' }, stdio: ['ignore', log, log] });
    closeSync(log);
    proc.starts++;
    const child = proc.child;
    await until('v01t start to be ready', LONG, async () => {
      if (child.exitCode !== null) throw new Error(`v01t start exited with ${child.exitCode}; see ${logs}/embedded.log`);
      return (await fetch(`${proc.base}/ready`, { signal: AbortSignal.timeout(3000) })).status === 200;
    });
  };
  await start();
  return {
    name: 'embedded',
    entry: proc.base,
    cli: (args, stdin) => runCli(env, args, stdin),
    async crash() {
      await killAndWait(proc.child, 'SIGKILL');
      await start();
    },
    close: () => killAndWait(proc.child, 'SIGKILL'),
  };
}

const SPLIT = ['orchestrator', 'integration-hub', 'workflow-engine', 'workflow-engine#2', 'content-scheduler', 'content-scheduler#2', 'analytics-engine', 'gamification'] as const;

async function startSplit(work: string): Promise<Shape> {
  chmodSync(work, 0o711);
  const postgres = new ThrowawayPostgres(path.join(work, 'pg'));
  const redis = new ThrowawayRedis(path.join(work, 'redis'));
  const kafka = new MockKafka(path.join(work, 'kafka'));
  await postgres.init();
  await redis.start();
  await kafka.start();
  const s3: RunningS3rver = await startS3rver(['v01t-media']);
  const clickhouse = process.env.V01T_TEST_CLICKHOUSE_URL;
  let clickhouseDb: string | undefined;
  if (clickhouse) {
    clickhouseDb = `v01t_journey_${randomBytes(4).toString('hex')}`;
    await fetch(clickhouse, { method: 'POST', body: `CREATE DATABASE ${clickhouseDb}` });
  }
  const procs = new Map<string, ServiceProcess>();
  for (const s of SPLIT) {
    const port = await freePort();
    procs.set(s, { name: s.split('#')[0]!, port, base: `http://127.0.0.1:${port}`, starts: 0 });
  }
  const base = (s: string) => procs.get(s)!.base;
  const env: Record<string, string> = {
    ...common,
    DATABASE_URL: postgres.url,
    DATABASE_POOL_MAX: '5',
    REDIS_URL: redis.url,
    KAFKA_BROKERS: kafka.brokers,
    KAFKA_TOPIC_PARTITIONS: '1',
    S3_BUCKET: 'v01t-media',
    S3_ENDPOINT: s3.endpoint,
    S3_ACCESS_KEY_ID: 'S3RVER',
    S3_SECRET_ACCESS_KEY: 'S3RVER',
    S3_FORCE_PATH_STYLE: 'true',
    ...(clickhouse ? { CLICKHOUSE_URL: `${clickhouse.replace(/\/$/, '')}/${clickhouseDb}` } : {}),
    V01T_INTERNAL_TOKEN: INTERNAL_TOKEN,
    // Where each service lives, as the chart's ConfigMap says it (the public entry forwards there).
    V01T_ORCHESTRATOR_URL: base('orchestrator'),
    V01T_INTEGRATION_HUB_URL: base('integration-hub'),
    V01T_WORKFLOW_ENGINE_URL: base('workflow-engine'),
    V01T_CONTENT_SCHEDULER_URL: base('content-scheduler'),
    V01T_ANALYTICS_ENGINE_URL: base('analytics-engine'),
    V01T_GAMIFICATION_URL: base('gamification'),
  };
  const logs = path.join(work, 'logs');
  mkdirSync(logs, { recursive: true });
  const envOf = (s: string) => ({ ...env, V01T_DATA_DIR: path.join(work, 'data', s.replace('#', '-')) });
  const started = Date.now();
  await startService(procs.get('orchestrator')!, envOf('orchestrator'), logs);
  for (const s of SPLIT.filter((x) => x !== 'orchestrator')) await startService(procs.get(s)!, envOf(s), logs);
  figures.splitStartSeconds = (Date.now() - started) / 1000;
  return {
    name: 'split',
    entry: base('orchestrator'),
    cli: (args, stdin) => runCli(envOf('cli'), args, stdin),
    async crash() {
      await Promise.all(['workflow-engine#2', 'content-scheduler#2'].map((s) => killAndWait(procs.get(s)!.child, 'SIGKILL')));
    },
    async close() {
      await Promise.all([...procs.values()].map((p) => killAndWait(p.child, 'SIGKILL')));
      await kafka.stop();
      await redis.stop();
      postgres.destroy();
      await s3.close();
      if (clickhouse && clickhouseDb) await fetch(clickhouse, { method: 'POST', body: `DROP DATABASE IF EXISTS ${clickhouseDb}` }).catch(() => {});
    },
  };
}

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- a black-box client: it reads the API's documented fields
type Json = any;

describe.each([['embedded'], ['split']] as const)('the client journey through the public entry, %s shape', (shapeName) => {
  const work = mkdtempSync(path.join(os.tmpdir(), `v01t-journey-${shapeName}-`));
  let shape: Shape;
  let channel: FakeChannel;
  let token = '';
  let userId = '';
  let ws = '';
  let connectionId = '';
  let channelId = '';
  let hookUrl = '';

  async function call(method: string, p: string, body?: unknown, headers: Record<string, string> = {}): Promise<{ status: number; json: Json; text: string }> {
    const res = await fetch(`${shape.entry}${p}`, {
      method,
      headers: { ...(body !== undefined ? { 'content-type': 'application/json' } : {}), ...(token ? { authorization: `Bearer ${token}` } : {}), ...headers },
      body: body === undefined ? undefined : JSON.stringify(body),
      signal: AbortSignal.timeout(20_000),
    });
    const text = await res.text();
    let json: Json;
    try {
      json = JSON.parse(text);
    } catch {
      json = undefined;
    }
    return { status: res.status, json, text };
  }
  const delivered = (text: string) => channel.deliveries.filter((d) => d.text === text);

  beforeAll(async () => {
    channel = await startFakeChannel();
    shape = shapeName === 'embedded' ? await startEmbedded(work) : await startSplit(work);
  }, 10 * 60_000);

  afterAll(async () => {
    await shape?.close();
    await channel?.close();
    console.log(`journey figures (${shapeName}) ${JSON.stringify(figures)}`);
    if (!process.env.V01T_CHAOS_KEEP) rmSync(work, { recursive: true, force: true });
  }, 120_000);

  it('signs up, opens a workspace and picks personas', async () => {
    const email = `journey.${randomUUID().slice(0, 8)}@example.test`;
    const su = await call('POST', '/v1/auth/signup', { email, password: `pw-${randomUUID()}`, name: 'Journey' });
    expect(su.status, su.text).toBe(201);
    token = su.json.token;
    userId = su.json.user.id;
    const created = await call('POST', '/v1/workspaces', { name: `Journey ${shapeName}` });
    expect(created.status, created.text).toBe(201);
    ws = created.json.workspace.id;
    const personas = await call('PUT', `/v1/workspaces/${ws}/members/me/personas`, { personas: ['founder', 'vCreator', 'vAnalyst', 'vAutomator'] });
    expect(personas.status, personas.text).toBe(200);
    expect(personas.json.personas).toEqual(['founder', 'vCreator', 'vAnalyst', 'vAutomator']);
  });

  it('connects a webhook to a loopback receiver and runs a webhook-triggered workflow whose integration step delivers once', async () => {
    const conn = await call('POST', `/v1/workspaces/${ws}/connections`, { connector: 'webhook', name: 'receiver', credentials: { secret: WEBHOOK_SECRET }, config: { url: channel.url } });
    expect(conn.status, conn.text).toBe(201);
    connectionId = conn.json.connection.id;
    const wf = await call('POST', `/v1/workspaces/${ws}/workflows`, {
      name: 'order notifier',
      trigger: { type: 'webhook' },
      steps: [{ id: 'notify', type: 'integration', with: { connectionId, action: 'send', input: { type: 'journey.order', data: { text: "='order ' & input.order" } } } }],
    });
    expect(wf.status, wf.text).toBe(201);
    hookUrl = wf.json.webhook?.url ?? wf.json.workflow?.webhook?.url;
    expect(hookUrl).toMatch(/^\/hooks\/workflows\//);
    const fired = await fetch(`${shape.entry}${hookUrl}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ order: 'A-1' }) });
    expect(fired.status).toBe(202);
    await until('the order to reach the receiver', 60_000, () => delivered('order A-1').length > 0);
    expect(delivered('order A-1')).toHaveLength(1);
  });

  it('uploads an image with alt text and publishes a post with it once', async () => {
    const form = new FormData();
    form.append('altText', 'A one-pixel logo');
    form.append('file', new Blob([Buffer.from('89504e470d0a1a0a0000000d4948445200000001000000010806000000' + '1f15c4890000000d49444154789c63f8cfc0f01f0005000201a5d6e0d40000000049454e44ae426082', 'hex')], { type: 'image/png' }), 'logo.png');
    const up = await fetch(`${shape.entry}/v1/workspaces/${ws}/media`, { method: 'POST', headers: { authorization: `Bearer ${token}` }, body: form });
    const media = (await up.json()) as Json;
    expect(up.status, JSON.stringify(media)).toBe(201);
    expect(media.media.altText).toBe('A one-pixel logo');
    const ch = await call('POST', `/v1/workspaces/${ws}/channels`, { connectionId, name: 'Journey channel', timezone: 'UTC' });
    expect(ch.status, ch.text).toBe(201);
    channelId = ch.json.channel.id;
    const post = await call('POST', `/v1/workspaces/${ws}/posts`, { body: 'Launch day', mediaIds: [media.media.id], channels: [{ channelId }] });
    expect(post.status, post.text).toBe(201);
    const scheduled = await call('POST', `/v1/workspaces/${ws}/posts/${post.json.post.id}/schedule`, { mode: 'now' });
    expect(scheduled.status, scheduled.text).toBe(200);
    await until('the post to be published', 60_000, async () => (await call('GET', `/v1/workspaces/${ws}/posts/${post.json.post.id}`)).json.post.status === 'published');
    expect(delivered('Launch day')).toHaveLength(1);
  });

  it('ingests events through a write key and answers a 3-step funnel with the hand-computed numbers', async () => {
    const key = await call('POST', `/v1/workspaces/${ws}/analytics/write-keys`, { name: 'journey' });
    expect(key.status, key.text).toBe(201);
    // Five people sign up; u1, u2, u3 activate; u1, u2 purchase (u4 purchases without activating: not in the funnel).
    const t0 = Date.now() - 30 * 60_000;
    const at = (min: number) => new Date(t0 + min * 60_000).toISOString();
    const batch = [
      ...['u1', 'u2', 'u3', 'u4', 'u5'].map((u, i) => ({ type: 'track', event: 'signup', userId: u, timestamp: at(i), messageId: randomUUID() })),
      ...['u1', 'u2', 'u3'].map((u, i) => ({ type: 'track', event: 'activate', userId: u, timestamp: at(10 + i), messageId: randomUUID() })),
      ...['u1', 'u2', 'u4'].map((u, i) => ({ type: 'track', event: 'purchase', userId: u, timestamp: at(20 + i), messageId: randomUUID() })),
    ];
    const ingest = await fetch(`${shape.entry}/v1/workspaces/${ws}/events`, { method: 'POST', headers: { 'content-type': 'application/json', 'x-write-key': key.json.key }, body: JSON.stringify({ batch }) });
    expect(ingest.status).toBe(202);
    const spec = { kind: 'funnel', steps: ['signup', 'activate', 'purchase'], from: new Date(t0 - 60_000).toISOString(), to: new Date().toISOString() };
    const users = await until('the funnel to count every event', 60_000, async () => {
      const q = await call('POST', `/v1/workspaces/${ws}/analytics/query`, { spec });
      const counts = (q.json?.rows as unknown[][] | undefined)?.map((r) => r[2]);
      return counts && counts[0] === 5 && counts[2] !== 0 ? counts : undefined;
    });
    expect(users).toEqual([5, 3, 2]);
  });

  it('awards gamification points that show on the leaderboard', async () => {
    const adj = await call('POST', `/v1/workspaces/${ws}/gamification/adjustments`, { userId, persona: 'vAnalyst', metric: 'Insight Points', points: 7, reason: 'journey' });
    expect(adj.status, adj.text).toBe(201);
    const board = await until('the leaderboard to show the points', 30_000, async () => {
      const b = await call('GET', `/v1/workspaces/${ws}/gamification/leaderboards?board=workspace&period=all`);
      const me = (b.json?.standings as { userId: string; score: number; rank: number }[] | undefined)?.find((e) => e.userId === userId);
      return me && me.score >= 7 ? me : undefined;
    });
    expect(board.rank).toBe(1);
    expect(board.score).toBeGreaterThanOrEqual(7);
  });

  it('opens an incident from an Alertmanager payload that a platform admin sees', async () => {
    const fingerprint = randomBytes(8).toString('hex');
    const alert = {
      version: '4',
      groupKey: `{}:{alertname="JourneyDown-${fingerprint}"}`,
      truncatedAlerts: 0,
      status: 'firing',
      receiver: 'v01t-incidents',
      groupLabels: { alertname: `JourneyDown-${fingerprint}` },
      commonLabels: { alertname: `JourneyDown-${fingerprint}`, severity: 'critical', service: 'orchestrator' },
      commonAnnotations: { summary: 'Journey check' },
      externalURL: 'http://alertmanager.example:9093',
      alerts: [{ status: 'firing', labels: { alertname: `JourneyDown-${fingerprint}`, severity: 'critical', service: 'orchestrator' }, annotations: { summary: 'Journey check' }, startsAt: new Date().toISOString(), endsAt: '0001-01-01T00:00:00Z', generatorURL: 'http://prometheus.example:9090/graph', fingerprint }],
    };
    const am = await call('POST', '/v1/ops/alertmanager', alert, { authorization: `Bearer ${AM_TOKEN}` });
    expect(am.status, am.text).toBeLessThan(300);
    const email = `admin.${randomUUID().slice(0, 8)}@example.test`;
    const password = `admin-${randomUUID()}`;
    shape.cli(['user', 'create', '--admin', '--email', email, '--name', 'Journey Admin', '--password-stdin'], password);
    const login = await call('POST', '/v1/auth/login', { email, password }, { authorization: '' });
    expect(login.status, login.text).toBe(200);
    const incidents = await call('GET', '/v1/ops/incidents', undefined, { authorization: `Bearer ${login.json.token}` });
    expect(incidents.status, incidents.text).toBe(200);
    expect((incidents.json.incidents as { title: string }[]).some((i) => i.title.includes(`JourneyDown-${fingerprint}`) || i.title.includes('Journey check'))).toBe(true);
  });

  it('loses and doubles nothing when killed with -9 mid-work', async () => {
    const orders = Array.from({ length: 20 }, (_, i) => `K-${i}`);
    const posts = Array.from({ length: 10 }, (_, i) => `Crash post ${i} ${randomUUID().slice(0, 6)}`);
    for (const order of orders) {
      const r = await fetch(`${shape.entry}${hookUrl}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ order }) });
      expect(r.status).toBe(202);
    }
    for (const text of posts) {
      const p = await call('POST', `/v1/workspaces/${ws}/posts`, { body: text, channels: [{ channelId }] });
      expect(p.status, p.text).toBe(201);
      expect((await call('POST', `/v1/workspaces/${ws}/posts/${p.json.post.id}/schedule`, { mode: 'now' })).status).toBe(200);
    }
    const before = channel.deliveries.length;
    await shape.crash();
    figures[`${shapeName}DeliveredBeforeCrash`] = channel.deliveries.length - before;
    await until('every accepted order and post to arrive', LONG, () => orders.every((o) => delivered(`order ${o}`).length > 0) && posts.every((t) => delivered(t).length > 0), 200);
    // Settle: leases of the killed work expire and any second delivery would arrive now.
    await new Promise((r) => setTimeout(r, 6000));
    const ids = (text: string) => new Set(delivered(text).map((d) => d.webhookId)).size;
    expect(orders.map((o) => ids(`order ${o}`))).toEqual(orders.map(() => 1));
    expect(posts.map((t) => ids(t))).toEqual(posts.map(() => 1));
    figures[`${shapeName}Redeliveries`] = channel.duplicates();
  });
});
