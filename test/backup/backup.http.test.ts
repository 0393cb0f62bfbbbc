import { randomBytes, randomUUID } from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadPlatformConfig } from '../../src/apps/config.js';
import { createPlatform, type Platform } from '../../src/apps/platform.js';
import { restoreBackup, verifyBackup } from '../../src/apps/backup.js';
import { runOperatorCommand, type CommandIo, type DataAccess, type OperatorRequest } from '../../src/apps/operator-commands.js';
import { ManualClock } from '../../src/kernel/clock.js';
import { describeDatabase } from '../../src/kernel/backup/database.js';
import { AppError } from '../../src/kernel/errors.js';
import { createLogger } from '../../src/kernel/telemetry/logger.js';
import { verifyStandard } from '../../src/services/integration-hub/signatures.js';
import type { AnalyticsInstance } from '../../src/services/analytics-engine/index.js';
import { createTestPlatform, freshPostgresDatabase, TEST_DB, type TestPlatform } from '../helpers/platform.js';
import { bearer, createWorkspace, signup, type TestUser } from '../helpers/api.js';
import { freshClickHouseDatabase, TEST_CLICKHOUSE_URL } from '../helpers/olap.js';

/** The distributed shape with ClickHouse when the suite has one (V01T_TEST_CLICKHOUSE_URL). */
const WITH_CLICKHOUSE = TEST_DB === 'postgres' && Boolean(TEST_CLICKHOUSE_URL);
const clickhouse: { drop: () => Promise<void> }[] = [];
async function clickhouseEnv(): Promise<Record<string, string>> {
  if (!WITH_CLICKHOUSE) return {};
  const db = await freshClickHouseDatabase();
  clickhouse.push(db);
  return { CLICKHOUSE_URL: db.url };
}

/**
 * Backups end to end (issue 18, ADR 0050) on the shape the suite runs on (PGlite, or PostgreSQL
 * with V01T_TEST_DATABASE=postgres): a populated instance is backed up, destroyed, restored into a
 * new data folder or an empty database, and a platform started on it answers through the HTTP API
 * with every record, the media bytes and credentials that still decrypt.
 */
const MASTER = randomBytes(32).toString('hex');
const SECRET = `whsec_${randomBytes(32).toString('base64')}`;
const root = fs.mkdtempSync(path.join(os.tmpdir(), 'v01t-backup-test-'));
const backupsDir = path.join(root, 'backups');

let t: TestPlatform;
let owner: TestUser;
let ws: string;
let connectionId: string;
let mediaId: string;
let postId: string;
let workflowId: string;
const media = Buffer.concat([Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]), randomBytes(200_000)]);
const received: { headers: http.IncomingHttpHeaders; body: Buffer }[] = [];
let receiver: http.Server;
let receiverUrl: string;

const env = (extra: Record<string, string> = {}) => ({
  V01T_MASTER_KEY: MASTER,
  V01T_EGRESS_ALLOW: '127.0.0.1',
  BACKUP_TARGET: backupsDir,
  BACKUP_SCHEDULES_ENABLED: 'false',
  ...extra,
});

function capture(): CommandIo & { stdout: string; stderr: string; code: number } {
  const io = {
    stdout: '',
    stderr: '',
    code: 0,
    out: async (s: string) => void (io.stdout += s),
    err: (s: string) => void (io.stderr += s),
    setExitCode: (c: number) => void (io.code = c),
  };
  return io;
}

const live = (p: Platform): DataAccess => ({ database: (fn) => fn(p.database, p.migrationSets), platform: (fn) => fn(p) });

async function command(p: Platform, request: OperatorRequest) {
  const io = capture();
  await runOperatorCommand(request, io, live(p));
  return io;
}

const analytics = (p: Platform) => p.instances.get('analytics-engine') as AnalyticsInstance;
async function flushAll(p: Platform) {
  // Segments found on disk at start are reconciled with the store first (as the flusher's start does).
  await analytics(p).services.flusher.recover(0);
  while ((await analytics(p).services.flusher.flushOnce()) > 0);
}

async function eventTotal(inject: Platform['app']['inject'], token: string, now: number): Promise<number> {
  const res = await inject({ method: 'POST', url: `/v1/workspaces/${ws}/analytics/query`, headers: bearer(token), payload: { spec: { kind: 'trends', event: 'backup.tested', interval: 'day', from: new Date(now - 86_400_000).toISOString(), to: new Date(now + 3_600_000).toISOString() } } });
  expect(res.statusCode, res.body).toBe(200);
  return (res.json().rows as unknown[][]).reduce((s, r) => s + Number(r[1]), 0);
}

beforeAll(async () => {
  receiver = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      received.push({ headers: req.headers, body: Buffer.concat(chunks) });
      res.writeHead(200).end('{}');
    });
  });
  await new Promise<void>((r) => receiver.listen(0, '127.0.0.1', r));
  receiverUrl = `http://127.0.0.1:${(receiver.address() as AddressInfo).port}/hook`;

  t = await createTestPlatform(env({ V01T_EPHEMERAL: 'false', ...(await clickhouseEnv()) }));
  owner = await signup(t, 'Backup Owner');
  ws = await createWorkspace(t, owner, 'Backed up');
  const conn = await t.inject({ method: 'POST', url: `/v1/workspaces/${ws}/connections`, headers: bearer(owner.token), payload: { connector: 'webhook', name: 'hook', credentials: { secret: SECRET }, config: { url: receiverUrl } } });
  expect(conn.statusCode, conn.body).toBe(201);
  connectionId = conn.json().connection.id;
  const boundary = '----v01tbackup';
  const upload = await t.inject({
    method: 'POST',
    url: `/v1/workspaces/${ws}/media`,
    headers: { ...bearer(owner.token), 'content-type': `multipart/form-data; boundary=${boundary}` },
    payload: Buffer.concat([Buffer.from(`--${boundary}\r\nContent-Disposition: form-data; name="file"; filename="a.png"\r\nContent-Type: image/png\r\n\r\n`), media, Buffer.from(`\r\n--${boundary}--\r\n`)]),
  });
  expect(upload.statusCode, upload.body).toBe(201);
  mediaId = upload.json().media.id;
  const ch = await t.inject({ method: 'POST', url: `/v1/workspaces/${ws}/channels`, headers: bearer(owner.token), payload: { connectionId, name: 'hook', timezone: 'UTC' } });
  expect(ch.statusCode, ch.body).toBe(201);
  const post = await t.inject({ method: 'POST', url: `/v1/workspaces/${ws}/posts`, headers: bearer(owner.token), payload: { body: 'A post that must survive', channels: [{ channelId: ch.json().channel.id }], mediaIds: [mediaId] } });
  expect(post.statusCode, post.body).toBe(201);
  postId = post.json().post.id;
  const wf = await t.inject({ method: 'POST', url: `/v1/workspaces/${ws}/workflows`, headers: bearer(owner.token), payload: { name: 'kept', steps: [{ id: 'a', type: 'transform', with: { expression: '"ok"' } }] } });
  expect(wf.statusCode, wf.body).toBe(201);
  workflowId = wf.json().workflow.id;
  const key = await t.inject({ method: 'POST', url: `/v1/workspaces/${ws}/analytics/write-keys`, headers: bearer(owner.token), payload: { name: 'web' } });
  const track = () => ({ type: 'track', event: 'backup.tested', messageId: randomUUID(), userId: 'u-1' });
  // 30 events reach the OLAP store, 12 more stay in the ingestion buffer: both are backed up.
  expect((await t.inject({ method: 'POST', url: `/v1/workspaces/${ws}/events`, headers: { 'x-write-key': key.json().key }, payload: { batch: Array.from({ length: 30 }, track) } })).statusCode).toBe(202);
  await flushAll(t.platform);
  expect((await t.inject({ method: 'POST', url: `/v1/workspaces/${ws}/events`, headers: { 'x-write-key': key.json().key }, payload: { batch: Array.from({ length: 12 }, track) } })).statusCode).toBe(202);
}, 120_000);

afterAll(async () => {
  await t?.close();
  await new Promise((r) => receiver?.close(r));
  fs.rmSync(root, { recursive: true, force: true });
  for (const db of clickhouse) await db.drop();
});

describe(`backup and restore (${TEST_DB}${WITH_CLICKHOUSE ? ', ClickHouse' : ''})`, () => {
  let backupId: string;
  let manifestCounts: Record<string, number>;

  it('backs up while requests keep writing: the dump and the manifest row counts are one snapshot', async () => {
    let writing = true;
    const writer = (async () => {
      let n = 0;
      while (writing) {
        const u = await signup(t, `Writer ${n++}`);
        await createWorkspace(t, u, `w${n}`);
      }
      return n;
    })();
    const io = await command(t.platform, { command: 'backup.create', args: { json: true } });
    writing = false;
    expect(await writer).toBeGreaterThan(0);
    expect(io.code).toBe(0);
    const created = JSON.parse(io.stdout) as { id: string; bytes: number; kind: string; files: number };
    expect(created.kind).toBe(TEST_DB === 'postgres' ? 'distributed' : 'embedded');
    expect(created.bytes).toBeGreaterThan(media.length);
    backupId = created.id;
    const list = await command(t.platform, { command: 'backup.list', args: { json: true } });
    expect(JSON.parse(list.stdout)).toEqual([{ id: backupId, createdAt: expect.any(String), bytes: created.bytes, kind: created.kind }]);
    const verified = await verifyBackup(t.platform.config, backupId);
    const files = verified.manifest.files.map((f) => f.path);
    expect(files).toContain(TEST_DB === 'postgres' ? 'database/postgres.dump' : 'database/pglite.tar.gz');
    expect(files.some((f) => f.startsWith('media/'))).toBe(true);
    expect(files.some((f) => f.startsWith(WITH_CLICKHOUSE ? 'analytics/olap/analytics_events.native' : 'analytics/olap/analytics.duckdb'))).toBe(true);
    expect(files).toContain('config/environment.json');
    expect(verified.manifest.migrations.length).toBeGreaterThan(10);
    for (const f of verified.manifest.files) expect(f.sha256).toMatch(/^[0-9a-f]{64}$/);
    // Requests went on during the backup; the manifest counts one moment of them (checked against
    // the restored database in the next test).
    const [live] = await t.platform.database.query<{ n: number }>('SELECT count(*)::int AS n FROM orchestrator.workspaces');
    expect(verified.manifest.rowCounts['orchestrator.workspaces']).toBeGreaterThanOrEqual(1);
    expect(live!.n).toBeGreaterThan(verified.manifest.rowCounts['orchestrator.workspaces']!);
    manifestCounts = verified.manifest.rowCounts;
    // The backup never holds the master key in the clear (nor, without --include-master-key, at all).
    const everything = Buffer.concat(readTree(path.join(backupsDir, backupId)));
    expect(everything.includes(Buffer.from(MASTER))).toBe(false);
    expect(everything.includes(Buffer.from(MASTER, 'hex'))).toBe(false);
    expect(everything.includes(media.subarray(0, 64))).toBe(false);
  }, 120_000);

  it('restores into an empty target, and the platform started on it serves every record, media and decryptable secrets', async () => {
    const now = t.clock.now().getTime();
    // The instance is lost.
    const dataDir = fs.mkdtempSync(path.join(root, 'restored-'));
    const pgDb = TEST_DB === 'postgres' ? await freshPostgresDatabase() : undefined;
    const restoredEnv = env({ V01T_DATA_DIR: dataDir, ...(await clickhouseEnv()), ...(pgDb ? { DATABASE_URL: pgDb.url, DATABASE_POOL_MAX: '5' } : {}), LOG_LEVEL: 'silent', ARGON2_MEMORY_KIB: '1024', ARGON2_TIME_COST: '1', NODE_ENV: 'test' });
    const config = loadPlatformConfig(restoredEnv);
    const result = await restoreBackup(config, backupId, { force: false });
    expect(result.id).toBe(backupId);
    // A second restore meets data and refuses without --force.
    await expect(restoreBackup(config, backupId, { force: false })).rejects.toMatchObject({ code: 'conflict' });

    const p = await createPlatform({ config, clock: new ManualClock(new Date(now)), logger: createLogger('silent') });
    try {
      // Every table holds exactly the rows of the snapshot: no torn state between the services' schemas.
      expect((await p.database.withClient(describeDatabase)).rowCounts).toEqual(manifestCounts);
      const inject = p.app.inject.bind(p.app);
      const login = await inject({ method: 'POST', url: '/v1/auth/login', payload: { email: owner.email, password: owner.password } });
      expect(login.statusCode, login.body).toBe(200);
      const token = login.json().token as string;
      const members = await inject({ method: 'GET', url: `/v1/workspaces/${ws}/members`, headers: bearer(token) });
      expect(members.statusCode).toBe(200);
      const content = await inject({ method: 'GET', url: `/v1/workspaces/${ws}/media/${mediaId}/content`, headers: bearer(token) });
      expect(content.statusCode).toBe(200);
      expect(Buffer.compare(content.rawPayload, media)).toBe(0);
      const post = await inject({ method: 'GET', url: `/v1/workspaces/${ws}/posts`, headers: bearer(token) });
      expect(JSON.stringify(post.json())).toContain(postId);
      const wf = await inject({ method: 'GET', url: `/v1/workspaces/${ws}/workflows/${workflowId}`, headers: bearer(token) });
      expect(wf.statusCode, wf.body).toBe(200);
      // Analytics: the stored events and those that were still buffered.
      await flushAll(p);
      expect(await eventTotal(inject, token, now)).toBe(42);
      // The credential decrypts: the restored instance signs a delivery with the same secret.
      const before = received.length;
      const send = await inject({ method: 'POST', url: `/v1/workspaces/${ws}/connections/${connectionId}/actions/send`, headers: bearer(token), payload: { input: { type: 'restore.check', data: { ok: true } } } });
      expect(send.statusCode, send.body).toBe(200);
      const delivery = received[before]!;
      const h = Object.fromEntries(Object.entries(delivery.headers).map(([k, v]) => [k, String(v)]));
      expect(verifyStandard(h, delivery.body, SECRET, new Date(now), 3600)).toMatchObject({ ok: true });
    } finally {
      await p.close();
      await pgDb?.drop();
    }
  }, 120_000);

  it('fails verify on one corrupted byte, naming the file, and exits non-zero', async () => {
    const copy = path.join(backupsDir, backupId);
    const victim = fs.readdirSync(path.join(copy, 'files')).sort()[0]!;
    const file = path.join(copy, 'files', victim);
    const original = fs.readFileSync(file);
    const bad = Buffer.from(original);
    bad[Math.floor(bad.length / 2)]! ^= 0x01;
    fs.writeFileSync(file, bad);
    try {
      const err = await runOperatorCommand({ command: 'backup.verify', args: { id: backupId, json: true } }, capture(), live(t.platform)).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(AppError);
      expect((err as Error).message).toMatch(/authentication failed|SHA-256/);
    } finally {
      fs.writeFileSync(file, original);
    }
    const ok = await command(t.platform, { command: 'backup.verify', args: { id: backupId, json: true } });
    expect(JSON.parse(ok.stdout)).toMatchObject({ id: backupId, ok: true });
  });

  it('fails cleanly with a wrong key, naming both key fingerprints', async () => {
    const wrong = loadPlatformConfig(env({ V01T_DATA_DIR: root, V01T_EPHEMERAL: 'true', BACKUP_KEY: randomBytes(32).toString('hex') }));
    await expect(verifyBackup(wrong, backupId)).rejects.toThrow(/was encrypted with the key [0-9a-f]{16}, but the configured backup key is [0-9a-f]{16}/);
    await expect(restoreBackup(wrong, backupId, { force: false })).rejects.toThrow(/encrypted with the key/);
  });

  it('wraps the master key under a passphrase: a machine without it restores and decrypts', async () => {
    const io = capture();
    await runOperatorCommand({ command: 'backup.create', args: { json: true, masterKeyPassphrase: 'correct horse battery staple' } }, io, live(t.platform));
    const id = JSON.parse(io.stdout).id as string;
    const wrapped = fs.readFileSync(path.join(backupsDir, id, 'master-key.json'), 'utf8');
    expect(wrapped).not.toContain(MASTER);
    const dataDir = fs.mkdtempSync(path.join(root, 'bare-'));
    const pgDb = TEST_DB === 'postgres' ? await freshPostgresDatabase() : undefined;
    try {
      // No V01T_MASTER_KEY and no master.key: only the passphrase opens the backup.
      const bare = loadPlatformConfig({ V01T_DATA_DIR: dataDir, BACKUP_TARGET: backupsDir, ...(pgDb ? { DATABASE_URL: pgDb.url } : {}) });
      await expect(restoreBackup(bare, id, { force: false })).rejects.toThrow(/no backup key/);
      await expect(restoreBackup(bare, id, { force: false, passphrase: 'wrong passphrase!!' })).rejects.toThrow(/passphrase does not open/);
      const r = await restoreBackup(bare, id, { force: false, passphrase: 'correct horse battery staple' });
      expect(r.masterKeyRestored).toBe(true);
      expect(fs.readFileSync(path.join(dataDir, 'master.key'), 'utf8').trim()).toBe(MASTER);
      expect(fs.statSync(path.join(dataDir, 'master.key')).mode & 0o777).toBe(0o600);
    } finally {
      await pgDb?.drop();
    }
  }, 120_000);
});

function readTree(dir: string): Buffer[] {
  return fs.readdirSync(dir, { withFileTypes: true }).flatMap((e) => (e.isDirectory() ? readTree(path.join(dir, e.name)) : [fs.readFileSync(path.join(dir, e.name))]));
}
