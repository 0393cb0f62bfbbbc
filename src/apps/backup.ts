import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import fsp from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { PassThrough, Writable } from 'node:stream';
import pg from 'pg';
import type { Config } from '../kernel/config/index.js';
import type { Clock } from '../kernel/clock.js';
import { openDatabase } from '../kernel/db/database.js';
import { postgresConnection } from '../kernel/db/ssl.js';
import { AppError } from '../kernel/errors.js';
import type { BackupSink } from '../kernel/module.js';
import { openObjectStorage } from '../kernel/storage/index.js';
import { openOlapStore } from '../kernel/olap/index.js';
import { parseMasterKey } from '../kernel/crypto/secret-box.js';
import { ensurePrivateDir, PRIVATE_FILE_MODE } from '../kernel/private-fs.js';
import { BackupCorruptError, BackupNotFoundError, BackupWriter, extract, openManifest, readIndex, readMasterKeyWrap, type BackupIndex, type Manifest, type ManifestFile, type Progress } from '../kernel/backup/archive.js';
import { BackupKeyError, deriveBackupKey, parseKey, unwrapMasterKey, wrapMasterKey } from '../kernel/backup/crypto.js';
import { describeDatabase, pgDumpConsistent, pgRestore, userTableCount } from '../kernel/backup/database.js';
import { gfsSelect } from '../kernel/backup/gfs.js';
import { LocalBackupTarget, S3BackupTarget, type BackupTarget } from '../kernel/backup/target.js';
import { OPS_CONFIG, type OpsSettings } from '../services/ops/config.js';
import { ANALYTICS_CONFIG, type AnalyticsSettings } from '../services/analytics-engine/config.js';
import { BackupRunsRepository, type BackupRun } from '../services/ops/backup-runs.repository.js';
import { createPlatform, VERSION, type Platform } from './platform.js';
import { configReference } from './config.js';

/**
 * `v01t backup create | list | verify | restore | prune | drill` (ADR 0050): one consistent,
 * encrypted, self-describing backup of everything a deployment stores, on both shapes.
 */
export type BackupSettings = OpsSettings['backup'];

export function backupSettings(config: Config): BackupSettings {
  if (!Object.hasOwn(config.settings, OPS_CONFIG.key)) throw new AppError('bad_request', 'backups run in the process of the orchestrator (which hosts ops): its settings are not loaded here');
  return OPS_CONFIG.read(config).backup;
}

function analyticsSettings(config: Config): AnalyticsSettings | undefined {
  return Object.hasOwn(config.settings, ANALYTICS_CONFIG.key) ? ANALYTICS_CONFIG.read(config) : undefined;
}

export function openBackupTarget(config: Config): BackupTarget {
  const { target: t, s3: own } = backupSettings(config);
  if (t?.kind === 's3') {
    const media = config.storage.s3;
    const endpoint = own.endpoint ?? media?.endpoint;
    return new S3BackupTarget({
      bucket: t.bucket,
      prefix: t.prefix,
      endpoint,
      region: own.region ?? media?.region ?? 'us-east-1',
      accessKeyId: own.accessKeyId ?? media?.accessKeyId,
      secretAccessKey: own.secretAccessKey ?? media?.secretAccessKey,
      forcePathStyle: media?.forcePathStyle ?? Boolean(endpoint),
      stagingDir: path.join(config.dataDir, 'backup-staging'),
      sse: config.storage.sse,
    });
  }
  return new LocalBackupTarget(t?.dir ?? path.join(config.dataDir, 'backups'));
}

/** The master key's bytes as the platform loads them (V01T_MASTER_KEY, else the data folder's master.key); never created here. */
export function masterKeyBytes(config: Config): Buffer | undefined {
  if (config.secrets.masterKey) return parseMasterKey(config.secrets.masterKey);
  const file = path.join(config.dataDir, 'master.key');
  return fs.existsSync(file) ? parseMasterKey(fs.readFileSync(file, 'utf8')) : undefined;
}

function backupKey(config: Config, master?: Buffer): Buffer {
  const s = backupSettings(config);
  if (s.key) return parseKey(s.key, 'BACKUP_KEY');
  const m = master ?? masterKeyBytes(config);
  if (!m) {
    throw new BackupKeyError(
      'no backup key: BACKUP_KEY is unset and there is no master key (V01T_MASTER_KEY or V01T_DATA_DIR/master.key) to derive it from; restore with --passphrase-stdin from a backup made with --include-master-key',
    );
  }
  return deriveBackupKey(m);
}

const stamp = (d: Date) => d.toISOString().replace(/[-:]/g, '').replace(/\.\d{3}/, '');
export const newBackupId = (now: Date) => `${stamp(now)}-${randomBytes(3).toString('hex')}`;

async function tempDir(prefix: string): Promise<string> {
  return fsp.mkdtemp(path.join(os.tmpdir(), prefix));
}

export interface CreateOptions {
  /** Wraps the master key under this passphrase into the backup (`--include-master-key`). */
  masterKeyPassphrase?: string;
  progress?: Progress;
}

/** Records a run in ops.backup_runs when this process has the ops tables; never fails the run itself. */
async function record(p: Platform, run: BackupRun): Promise<void> {
  if (!p.ops) return;
  await new BackupRunsRepository(p.database.orm).record(run).catch((err: unknown) => p.logger.warn({ err }, 'could not record the backup run'));
}

/**
 * One backup of the running platform: the database snapshot (PGlite's data directory, or pg_dump
 * sharing a REPEATABLE READ snapshot with the row counts), every service's other stores (DuckDB or
 * ClickHouse, the analytics file buffer) with the services held still, then the media objects.
 */
export async function createBackup(p: Platform, opts: CreateOptions = {}): Promise<BackupIndex> {
  const config = p.config;
  const clock: Clock = p.ctx.clock;
  const started = clock.now();
  const id = newBackupId(started);
  const target = openBackupTarget(config);
  const master = masterKeyBytes(config);
  const key = backupKey(config, master);
  const kind = p.database.kind === 'pglite' ? 'embedded' : 'distributed';
  const staging = await target.staging(id);
  const scratch = await tempDir('v01t-backup-');
  const notes: string[] = [];
  try {
    const writer = new BackupWriter(staging, id, key, opts.progress);
    const sink: BackupSink = { scratch, add: (f, src, meta) => writer.add(f, src, meta), addFile: (f, file, meta) => writer.addFile(f, file, meta) };
    const participants = [...p.instances.entries()].filter(([, i]) => i.backup).map(([name, i]) => ({ name, backup: i.backup! }));
    // Services hold still (outermost first), then the database snapshot, then their own stores.
    const held = participants.reduceRight<() => Promise<{ migrations: string[]; rowCounts: Record<string, number> }>>(
      (inner, part) => () => (part.backup.quiesce ? part.backup.quiesce(inner) : inner()),
      async () => {
        let described: { migrations: string[]; rowCounts: Record<string, number> };
        if (p.database.backupSnapshot) {
          const { tar, result } = await p.database.backupSnapshot(describeDatabase);
          described = result;
          await writer.add('database/pglite.tar.gz', Buffer.from(await tar.arrayBuffer()));
        } else {
          const file = path.join(scratch, 'postgres.dump');
          described = await p.database.withClient((c) => pgDumpConsistent(c, config.db.url!, file, describeDatabase, config.db.ssl));
          await writer.addFile('database/postgres.dump', file, { format: 'pg_dump custom' });
        }
        for (const part of participants) await part.backup.dump(sink);
        return described;
      },
    );
    const described = await held();
    const storage = openObjectStorage({ dataDir: config.dataDir, s3: config.storage.s3 });
    try {
      for await (const k of storage.list()) {
        const obj = await storage.get(k);
        if (obj) await writer.add(`media/${k}`, obj.body, { contentType: obj.contentType });
      }
    } finally {
      await storage.close();
    }
    await writer.add('config/environment.json', Buffer.from(JSON.stringify(environmentRecord(), null, 2)));
    if (kind === 'distributed') {
      notes.push('Redis holds caches, counters, rate limits and leaderboards rebuilt from the database: not backed up');
      notes.push('config/environment.json holds the settings (secrets by name only); keep the Helm values file in version control');
    }
    let wrapped: Record<string, unknown> | undefined;
    if (opts.masterKeyPassphrase !== undefined) {
      if (!master) throw new BackupKeyError('--include-master-key: this process has no master key to include');
      wrapped = await wrapMasterKey(master, opts.masterKeyPassphrase, id);
    }
    const index = await writer.finish({ version: VERSION, kind, startedAt: started.toISOString(), finishedAt: clock.now().toISOString(), ...described, notes }, { masterKey: wrapped });
    await target.publish(id, staging);
    await record(p, { kind: 'backup', startedAt: started, finishedAt: clock.now(), ok: true, backupId: id, bytes: index.bytes, details: { files: index.files, target: target.description } });
    return index;
  } catch (err) {
    await fsp.rm(staging, { recursive: true, force: true });
    await record(p, { kind: 'backup', startedAt: started, finishedAt: clock.now(), ok: false, error: (err as Error).message.slice(0, 1000) });
    throw err;
  } finally {
    await fsp.rm(scratch, { recursive: true, force: true });
    await target.close();
  }
}

/**
 * The settings this process runs with (the ConfigMap of the Helm chart, runbook "Configuration
 * backups"): every v01t variable set in the environment, URLs without their credentials; secrets
 * only by name. A restore does not apply it: it tells the operator what to set again.
 */
function environmentRecord(): { variables: Record<string, string>; secretsSet: string[] } {
  const variables: Record<string, string> = {};
  const secretsSet: string[] = [];
  for (const slice of configReference().slices) {
    for (const [name, meta] of Object.entries(slice.variables)) {
      const value = process.env[name];
      if (value === undefined) continue;
      if (meta.secret) secretsSet.push(name);
      else variables[name] = /^[a-z]+:\/\/[^/]*@/i.test(value) ? value.replace(/\/\/[^/]*@/, '//') : value;
    }
  }
  return { variables, secretsSet: secretsSet.sort() };
}

export interface BackupSummary {
  id: string;
  createdAt: string;
  bytes: number;
  kind: 'embedded' | 'distributed';
  files: number;
  masterKeyIncluded: boolean;
}

export async function listBackups(config: Config): Promise<BackupSummary[]> {
  const target = openBackupTarget(config);
  try {
    const out: BackupSummary[] = [];
    for (const id of await target.list()) {
      const i = await readIndex(target, id);
      out.push({ id, createdAt: i.createdAt, bytes: i.bytes, kind: i.kind, files: i.files, masterKeyIncluded: i.masterKeyIncluded });
    }
    return out.sort((a, b) => a.createdAt.localeCompare(b.createdAt) || a.id.localeCompare(b.id));
  } finally {
    await target.close();
  }
}

/** Operator-facing errors of backups: shown as `v01t: <message>`, exit 1. */
export function asOperatorError(err: unknown): unknown {
  if (err instanceof BackupKeyError || err instanceof BackupCorruptError) return new AppError('bad_request', err.message);
  if (err instanceof BackupNotFoundError) return new AppError('not_found', err.message);
  return err;
}

async function openBackup(config: Config, target: BackupTarget, id: string, master?: Buffer): Promise<{ index: BackupIndex; manifest: Manifest; key: Buffer }> {
  const index = await readIndex(target, id);
  const key = backupKey(config, master);
  return { index, manifest: openManifest(index, key), key };
}

export async function resolveId(target: BackupTarget, id: string | undefined): Promise<string> {
  if (id && id !== 'latest') return id;
  const ids = await target.list();
  if (!ids.length) throw new BackupNotFoundError(`no backups in ${target.description}`);
  return ids[ids.length - 1]!;
}

/** Decrypts every file and checks its size and SHA-256 against the manifest. */
export async function verifyBackup(config: Config, id: string | undefined, progress?: Progress, master?: Buffer): Promise<{ id: string; files: number; bytes: number; manifest: Manifest }> {
  const target = openBackupTarget(config);
  try {
    const resolved = await resolveId(target, id);
    const { manifest, key } = await openBackup(config, target, resolved, master);
    const total = manifest.files.reduce((n, f) => n + f.bytes, 0);
    let done = 0;
    for (const f of manifest.files) {
      await extract(target, resolved, key, f, undefined, (n) => progress?.(done + n, total, f.path));
      done += f.bytes;
    }
    return { id: resolved, files: manifest.files.length, bytes: done, manifest };
  } finally {
    await target.close();
  }
}

export interface RestoreOptions {
  force: boolean;
  /** Unwraps the master key kept in the backup (made with --include-master-key). */
  passphrase?: string;
  progress?: Progress;
  log?: (line: string) => void;
}

export interface RestoreResult {
  id: string;
  kind: 'embedded' | 'distributed';
  files: number;
  bytes: number;
  rowCounts: Record<string, number>;
  createdAt: string;
  masterKeyRestored: boolean;
  movedAside?: string;
}

async function fileTo(target: BackupTarget, id: string, key: Buffer, f: ManifestFile, file: string): Promise<void> {
  await fsp.mkdir(path.dirname(file), { recursive: true, mode: 0o700 });
  await extract(target, id, key, f, fs.createWriteStream(file, { mode: PRIVATE_FILE_MODE }));
}

async function bufferOf(target: BackupTarget, id: string, key: Buffer, f: ManifestFile): Promise<Buffer> {
  const chunks: Buffer[] = [];
  await extract(target, id, key, f, new Writable({ write: (c: Buffer, _e, cb) => (chunks.push(c), cb()) }));
  return Buffer.concat(chunks);
}

const nonEmptyDir = (dir: string | undefined) => Boolean(dir && fs.existsSync(dir) && fs.readdirSync(dir).length > 0);

/**
 * Restores backup `id` into the stores `config` names: the embedded data folder (database,
 * DuckDB, buffer, media, and the master key when unwrapped), or the distributed shape's empty
 * PostgreSQL database, ClickHouse and media bucket. Every file is verified before anything is
 * written; a target holding data is refused unless `force` (embedded: moved aside, not deleted).
 */
export async function restoreBackup(config: Config, idArg: string | undefined, opts: RestoreOptions): Promise<RestoreResult> {
  const target = openBackupTarget(config);
  const log = opts.log ?? (() => {});
  try {
    const id = await resolveId(target, idArg);
    const index = await readIndex(target, id);
    let master: Buffer | undefined;
    if (opts.passphrase !== undefined) {
      if (!index.masterKeyIncluded) throw new BackupKeyError(`backup ${id} holds no master key (it was made without --include-master-key)`);
      master = await unwrapMasterKey(await readMasterKeyWrap(target, id), opts.passphrase, id);
      const configured = masterKeyBytes(config);
      if (configured && !configured.equals(master)) throw new BackupKeyError('the master key in the backup differs from the configured one (V01T_MASTER_KEY or master.key): unset it or restore without --passphrase-stdin');
    }
    const { manifest, key } = await openBackup(config, target, id, master);
    const shape = config.db.url ? 'distributed' : 'embedded';
    if (manifest.kind !== shape) throw new AppError('bad_request', `backup ${id} is of the ${manifest.kind} shape; this configuration is ${shape} (${shape === 'embedded' ? 'DATABASE_URL is unset' : 'DATABASE_URL is set'})`);
    log(`verifying ${manifest.files.length} files of backup ${id}\n`);
    const total = manifest.files.reduce((n, f) => n + f.bytes, 0);
    let done = 0;
    for (const f of manifest.files) {
      await extract(target, id, key, f, undefined, (n) => opts.progress?.(done + n, total, f.path));
      done += f.bytes;
    }
    const analytics = analyticsSettings(config);
    const files = (prefix: string) => manifest.files.filter((f) => f.path.startsWith(prefix));
    const olapFiles = files('analytics/olap/');
    const duck = analytics && analytics.store !== 'clickhouse' && analytics.duckdbPath !== ':memory:' ? analytics.duckdbPath : undefined;
    const pgDir = shape === 'embedded' ? path.join(config.dataDir, 'pg') : undefined;
    const objects = config.storage.s3 ? undefined : path.join(config.dataDir, 'objects');

    // What the target holds already: nothing is overwritten without --force.
    let movedAside: string | undefined;
    const local = [pgDir, objects, analytics?.bufferDir].filter((d): d is string => nonEmptyDir(d));
    if (duck && fs.existsSync(duck)) local.push(duck);
    const held = local.map((p) => path.relative(config.dataDir, p) || p);
    let tables = 0;
    if (shape === 'distributed') {
      const client = new pg.Client(postgresConnection(config.db.url!, config.db.ssl));
      await client.connect();
      try {
        tables = await userTableCount({ query: async (sql) => (await client.query(sql)).rows, exec: async (sql) => void (await client.query(sql)) });
      } finally {
        await client.end();
      }
      if (tables > 0) held.push(`${tables} tables in the database`);
    }
    if (config.storage.s3 && files('media/').length) {
      const storage = openObjectStorage({ dataDir: config.dataDir, s3: config.storage.s3 });
      try {
        for await (const k of storage.list()) {
          held.push(`objects in the media bucket (${k}, ...)`);
          break;
        }
      } finally {
        await storage.close();
      }
    }
    const chTables: string[] = [];
    const clickhouse = analytics?.store === 'clickhouse' && olapFiles.some((f) => f.path.endsWith('.native')) ? await openOlapStore({ clickhouseUrl: analytics.clickhouseUrl, duckdbPath: analytics.duckdbPath }) : undefined;
    try {
      if (clickhouse) {
        for (const f of olapFiles.filter((x) => x.path.endsWith('.sql'))) {
          const name = path.basename(f.path, '.sql');
          const [row] = await clickhouse.query<{ n: string | number }>(`SELECT count() AS n FROM system.tables WHERE database = currentDatabase() AND name = ${clickhouse.dialect.str(name)}`);
          if (Number(row?.n ?? 0) > 0) chTables.push(name);
        }
        if (chTables.length) held.push(`ClickHouse tables ${chTables.join(', ')}`);
      }
      if (held.length && !opts.force) throw new AppError('conflict', `the restore target holds data (${held.join('; ')}): restore refuses to overwrite it without --force`);
      if (local.length) {
        movedAside = path.join(config.dataDir, `pre-restore-${stamp(new Date())}`);
        ensurePrivateDir(movedAside);
        for (const p of local) await fsp.rename(p, path.join(movedAside, path.basename(p)));
        if (duck && fs.existsSync(`${duck}.wal`)) await fsp.rename(`${duck}.wal`, path.join(movedAside, `${path.basename(duck)}.wal`));
        log(`existing data moved to ${movedAside}\n`);
      }
      ensurePrivateDir(config.dataDir);

      if (pgDir) {
        const tarFile = manifest.files.find((f) => f.path === 'database/pglite.tar.gz');
        if (!tarFile) throw new BackupCorruptError(`backup ${id} has no embedded database`);
        log('restoring the database\n');
        const db = await openDatabase({ dataDir: pgDir, pgliteLoadDataDir: new Blob([new Uint8Array(await bufferOf(target, id, key, tarFile))]) });
        await db.close();
      } else {
        const dump = manifest.files.find((f) => f.path === 'database/postgres.dump');
        if (!dump) throw new BackupCorruptError(`backup ${id} has no PostgreSQL dump`);
        const scratch = await tempDir('v01t-restore-');
        try {
          log('restoring the database (pg_restore)\n');
          await fileTo(target, id, key, dump, path.join(scratch, 'postgres.dump'));
          await pgRestore(config.db.url!, path.join(scratch, 'postgres.dump'), { clean: tables > 0, ssl: config.db.ssl });
        } finally {
          await fsp.rm(scratch, { recursive: true, force: true });
        }
      }

      const duckFile = olapFiles.find((f) => f.path.endsWith('.duckdb'));
      if (duck && duckFile) {
        log('restoring the analytics store (DuckDB)\n');
        await fileTo(target, id, key, duckFile, duck);
      } else if (clickhouse) {
        log('restoring the analytics store (ClickHouse)\n');
        const scratch = await tempDir('v01t-restore-');
        try {
          for (const f of olapFiles) await fileTo(target, id, key, f, path.join(scratch, path.basename(f.path)));
          for (const name of chTables) await clickhouse.command(`DROP TABLE IF EXISTS ${name.replace(/[^A-Za-z0-9_]/g, '')}`);
          await clickhouse.restore(scratch, olapFiles.map((f) => path.basename(f.path)));
        } finally {
          await fsp.rm(scratch, { recursive: true, force: true });
        }
      } else if (olapFiles.length) {
        log(`the analytics store of the backup (${olapFiles[0]!.meta?.store ?? 'olap'}) does not match this configuration's (${analytics?.store ?? 'none'}): not loaded\n`);
      }
      if (analytics?.bufferDir) for (const f of files('analytics/buffer/')) await fileTo(target, id, key, f, path.join(analytics.bufferDir, path.basename(f.path)));
    } finally {
      await clickhouse?.close();
    }
    const media = files('media/');
    if (media.length) {
      log(`restoring ${media.length} media objects\n`);
      const storage = openObjectStorage({ dataDir: config.dataDir, s3: config.storage.s3 });
      try {
        for (const f of media) {
          const body = new PassThrough();
          const put = storage.put(f.path.slice('media/'.length), body, { contentType: f.meta?.contentType ?? 'application/octet-stream', contentLength: f.bytes });
          await Promise.all([extract(target, id, key, f, body), put]);
        }
      } finally {
        await storage.close();
      }
    }
    let masterKeyRestored = false;
    if (master && !config.secrets.masterKey) {
      const file = path.join(config.dataDir, 'master.key');
      if (!fs.existsSync(file)) {
        await fsp.writeFile(file, `${master.toString('hex')}\n`, { mode: 0o600, flag: 'wx' });
        masterKeyRestored = true;
      }
    }
    return { id, kind: manifest.kind, files: manifest.files.length, bytes: total, rowCounts: manifest.rowCounts, createdAt: index.createdAt, masterKeyRestored, ...(movedAside ? { movedAside } : {}) };
  } finally {
    await target.close();
  }
}

/** Grandfather-father-son prune of BACKUP_TARGET (BACKUP_KEEP_DAILY/WEEKLY/MONTHLY). */
export async function pruneBackups(config: Config, opts: { dryRun: boolean }): Promise<{ kept: { id: string; why: string[] }[]; pruned: string[]; dryRun: boolean }> {
  const s = backupSettings(config);
  const all = await listBackups(config);
  const { keep, prune, reasons } = gfsSelect(all, s.keep);
  if (!opts.dryRun) {
    const target = openBackupTarget(config);
    try {
      for (const b of prune) await target.remove(b.id);
    } finally {
      await target.close();
    }
  }
  return { kept: keep.map((b) => ({ id: b.id, why: reasons.get(b.id) ?? [] })), pruned: prune.map((b) => b.id), dryRun: opts.dryRun };
}

export interface DrillResult {
  backupId: string;
  ok: boolean;
  rtoSeconds: number;
  rpoSeconds: number;
  restoreSeconds: number;
  bootSeconds: number;
  tablesChecked: number;
  mismatches: { table: string; manifest: number; restored: number }[];
  checks: Record<string, string>;
}

/** A scratch database on the same PostgreSQL server (the drill needs CREATEDB). */
async function scratchDatabase(url: string, ssl: Config['db']['ssl']): Promise<{ url: string; drop: () => Promise<void> }> {
  const name = `v01t_drill_${randomBytes(5).toString('hex')}`;
  const admin = new pg.Client(postgresConnection(url, ssl));
  await admin.connect();
  try {
    await admin.query(`CREATE DATABASE ${name}`);
  } finally {
    await admin.end();
  }
  const u = new URL(url);
  u.pathname = `/${name}`;
  return {
    url: u.toString(),
    drop: async () => {
      const c = new pg.Client(postgresConnection(url, ssl));
      await c.connect();
      await c.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`).finally(() => c.end());
    },
  };
}

/**
 * The restore drill (runbook: monthly backup restoration test): the newest backup restored into a
 * scratch folder (embedded) or a scratch database (distributed), the platform booted on it and
 * asked whether it is ready, every table's rows compared with the manifest. RTO is the time from
 * the start to a ready restored platform; RPO the age of the backup.
 */
export async function runDrill(p: Platform, idArg?: string): Promise<DrillResult> {
  const config = p.config;
  const clock = p.ctx.clock;
  const started = clock.now();
  const t0 = performance.now();
  const s = backupSettings(config);
  const scratch = s.drillDir ? path.join(s.drillDir, `drill-${randomBytes(4).toString('hex')}`) : await tempDir('v01t-drill-');
  ensurePrivateDir(scratch);
  let scratchDb: { url: string; drop: () => Promise<void> } | undefined;
  let backupId = idArg ?? '';
  try {
    if (config.db.url) scratchDb = await scratchDatabase(config.db.url, config.db.ssl);
    const analytics = analyticsSettings(config);
    const drillConfig: Config = {
      ...config,
      dataDir: scratch,
      db: { ...config.db, url: scratchDb?.url, ephemeral: false, migrateOnStart: true },
      http: { ...config.http, port: 0 },
      // The drill never writes into the production bucket or ClickHouse: media and DuckDB go to the scratch folder.
      storage: { s3: undefined, sse: config.storage.sse },
      settings: {
        ...config.settings,
        [OPS_CONFIG.key]: { ...(config.settings[OPS_CONFIG.key] as OpsSettings), backup: { ...s, schedulesEnabled: false } },
        ...(analytics ? { [ANALYTICS_CONFIG.key]: { ...analytics, store: 'duckdb', duckdbPath: path.join(scratch, 'analytics.duckdb'), bufferDir: path.join(scratch, 'analytics-buffer') } } : {}),
      },
    };
    // Backups are read where the live configuration says; the restore writes into the scratch stores.
    const liveOps = config.settings[OPS_CONFIG.key] as OpsSettings;
    const liveTarget = s.target ?? { kind: 'folder' as const, dir: path.join(config.dataDir, 'backups') };
    const readFrom: Config = { ...drillConfig, settings: { ...drillConfig.settings, [OPS_CONFIG.key]: { ...liveOps, backup: { ...s, target: liveTarget } } } };
    const master = masterKeyBytes(config);
    const restored = await restoreBackup({ ...readFrom, secrets: { ...config.secrets, masterKey: master?.toString('hex') } }, idArg, { force: false });
    backupId = restored.id;
    const restoreSeconds = (performance.now() - t0) / 1000;
    const bootStart = performance.now();
    const drill = await createPlatform({ config: { ...drillConfig, secrets: { ...config.secrets, masterKey: master?.toString('hex') } }, clock, logger: p.logger.child({ drill: backupId }), command: 'v01t backup drill' });
    const checks: Record<string, string> = {};
    let mismatches: DrillResult['mismatches'] = [];
    let tablesChecked = 0;
    let rtoSeconds: number;
    try {
      const ready = await drill.app.inject({ method: 'GET', url: '/ready' });
      checks.ready = ready.statusCode === 200 ? 'ok' : `HTTP ${ready.statusCode}`;
      rtoSeconds = (performance.now() - t0) / 1000;
      const now = await drill.database.withClient(describeDatabase);
      for (const [table, n] of Object.entries(restored.rowCounts)) {
        tablesChecked++;
        if (now.rowCounts[table] !== n) mismatches.push({ table, manifest: n, restored: now.rowCounts[table] ?? -1 });
      }
      mismatches = mismatches.filter((m) => m.table !== 'ops.backup_runs' && m.table !== 'ops.schedule_slots');
      checks.rowCounts = mismatches.length ? `${mismatches.length} tables differ` : `${tablesChecked} tables match`;
      const health = await drill.app.inject({ method: 'GET', url: '/health' });
      checks.health = health.statusCode === 200 ? 'ok' : `HTTP ${health.statusCode}`;
    } finally {
      await drill.close();
    }
    const bootSeconds = (performance.now() - bootStart) / 1000;
    const rpoSeconds = Math.max(0, (started.getTime() - Date.parse(restored.createdAt)) / 1000);
    const ok = Object.values(checks).every((c) => c === 'ok' || c.endsWith('match'));
    const result: DrillResult = { backupId, ok, rtoSeconds, rpoSeconds, restoreSeconds, bootSeconds, tablesChecked, mismatches, checks };
    await record(p, { kind: 'drill', startedAt: started, finishedAt: clock.now(), ok, backupId, bytes: restored.bytes, rtoSeconds, rpoSeconds, details: { ...result } });
    return result;
  } catch (err) {
    await record(p, { kind: 'drill', startedAt: started, finishedAt: clock.now(), ok: false, backupId: backupId || null, error: (err as Error).message.slice(0, 1000) });
    throw err;
  } finally {
    await fsp.rm(scratch, { recursive: true, force: true });
    await scratchDb?.drop().catch(() => {});
  }
}

