import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BackupScheduler } from '../../src/apps/backup-schedule.js';
import { listBackups, restoreBackup, verifyBackup } from '../../src/apps/backup.js';
import { runOperatorCommand, type CommandIo } from '../../src/apps/operator-commands.js';
import { ManualClock } from '../../src/kernel/clock.js';
import { loadPlatformConfig } from '../../src/apps/config.js';
import { createTestPlatform, freshPostgresDatabase, TEST_DB, type TestPlatform } from '../helpers/platform.js';
import { bearer, createWorkspace, signup } from '../helpers/api.js';
import { startS3rver, type RunningS3rver } from '../helpers/s3rver.js';

/**
 * The in-platform schedules on an injected clock (ADR 0050): the daily backup and prune, the
 * weekly retention cleanup, the monthly restore drill with its RTO/RPO metrics; one runner across
 * replicas. And the S3 target against s3rver, the S3-compatible server of the content tests.
 */
const HOUR = 3_600_000;
let t: TestPlatform;
let root: string;
const clock = new ManualClock('2026-01-30T12:00:00Z'); // a Friday

beforeAll(async () => {
  root = fs.mkdtempSync(path.join(os.tmpdir(), 'v01t-schedule-test-'));
  t = await createTestPlatform({ V01T_EPHEMERAL: 'false', BACKUP_TARGET: path.join(root, 'backups'), BACKUP_SCHEDULES_ENABLED: 'false', BACKUP_DRILL_DIR: path.join(root, 'drills') }, { clock });
  const u = await signup(t, 'Scheduled');
  const ws = await createWorkspace(t, u, 'Scheduled');
  expect((await t.inject({ method: 'GET', url: `/v1/workspaces/${ws}/members`, headers: bearer(u.token) })).statusCode).toBe(200);
}, 120_000);

afterAll(async () => {
  await t?.close();
  fs.rmSync(root, { recursive: true, force: true });
});

describe(`backup schedules (${TEST_DB})`, () => {
  it('runs the daily backup at 02:00 UTC once across two replicas, the weekly cleanup on Sunday, the drill on the 1st, and reports them', async () => {
    const a = new BackupScheduler(t.platform);
    const b = new BackupScheduler(t.platform);
    // A new install counts from its first tick: nothing runs for slots before it.
    expect(await a.runDue()).toEqual([]);
    clock.set('2026-01-31T01:59:00Z');
    expect(await a.runDue()).toEqual([]);
    clock.set('2026-01-31T02:00:30Z');
    const [ra, rb] = await Promise.all([a.runDue(), b.runDue()]);
    expect([...ra, ...rb]).toEqual(['backup']);
    expect(await a.runDue()).toEqual([]);
    expect(await listBackups(t.platform.config)).toHaveLength(1);

    // Sunday 1 February 2026, 02:00: the backup and the retention cleanup (0 2 * * 0).
    clock.set('2026-02-01T02:00:00Z');
    expect((await b.runDue()).sort()).toEqual(['backup', 'retention']);
    // 04:00 on the 1st: the restore drill of the newest backup (two hours old).
    clock.set('2026-02-01T04:00:00Z');
    expect(await a.runDue()).toEqual(['drill']);
    const backups = await listBackups(t.platform.config);
    expect(backups).toHaveLength(2);

    const metrics = (await t.inject({ method: 'GET', url: '/metrics' })).body;
    const shape = TEST_DB === 'postgres' ? 'distributed' : 'embedded';
    const value = (name: string) => Number(new RegExp(`^${name}\\{shape="${shape}",service="all"\\} (\\S+)$`, 'm').exec(metrics)?.[1]);
    expect(value('v01t_backup_last_success_timestamp_seconds')).toBe(Date.parse('2026-02-01T02:00:00Z') / 1000);
    expect(value('v01t_backup_size_bytes')).toBe(backups[1]!.bytes);
    expect(value('v01t_restore_drill_last_success_timestamp_seconds')).toBe(Date.parse('2026-02-01T04:00:00Z') / 1000);
    expect(value('v01t_restore_drill_rto_seconds')).toBeGreaterThan(0);
    expect(value('v01t_restore_drill_rto_seconds')).toBeLessThan(300);
    expect(value('v01t_restore_drill_rpo_seconds')).toBe(2 * 3600);
    expect(value('v01t_retention_last_run_timestamp_seconds')).toBe(Date.parse('2026-02-01T02:00:00Z') / 1000);
    expect(metrics).toMatch(new RegExp(`^v01t_retention_rows_deleted\\{class="financial_records",shape="${shape}",service="all"\\} 0$`, 'm'));
    // The drill's scratch folder is gone.
    expect(fs.existsSync(path.join(root, 'drills')) ? fs.readdirSync(path.join(root, 'drills')) : []).toEqual([]);
  }, 240_000);

  it('prunes by GFS after each scheduled backup, and `backup prune --dry-run` lists without deleting', async () => {
    const s = new BackupScheduler(t.platform);
    // Ten more days of backups at 02:00.
    for (let d = 2; d <= 11; d++) {
      clock.set(`2026-02-${String(d).padStart(2, '0')}T02:00:00Z`);
      expect(await s.runDue()).toContain('backup');
    }
    const ids = (await listBackups(t.platform.config)).map((b) => b.createdAt.slice(0, 10));
    // 7 daily (5-11 Feb), the Sundays 8 and 1 Feb (also the 1st), January 31 is neither: pruned.
    expect(ids).toEqual(['2026-02-01', '2026-02-05', '2026-02-06', '2026-02-07', '2026-02-08', '2026-02-09', '2026-02-10', '2026-02-11']);
    const io: CommandIo & { stdout: string } = { stdout: '', out: async (x) => void (io.stdout += x), err: () => {}, setExitCode: () => {} };
    await runOperatorCommand({ command: 'backup.prune', args: { dryRun: true, json: true } }, io, { database: (fn) => fn(t.platform.database, t.platform.migrationSets), platform: (fn) => fn(t.platform) });
    expect(JSON.parse(io.stdout)).toMatchObject({ pruned: [], dryRun: true });
  }, 240_000);
});

describe('S3 target (s3rver)', () => {
  let s3: RunningS3rver;
  beforeAll(async () => {
    s3 = await startS3rver(['v01t-backups']);
  });
  afterAll(async () => {
    await s3?.close();
  });

  it('creates, lists, verifies and restores a backup kept in a bucket under a prefix', async () => {
    const s3env = { BACKUP_TARGET: 's3://v01t-backups/nightly/', BACKUP_S3_ENDPOINT: s3.endpoint, BACKUP_S3_ACCESS_KEY_ID: 'S3RVER', BACKUP_S3_SECRET_ACCESS_KEY: 'S3RVER', V01T_MASTER_KEY: randomBytes(32).toString('hex') };
    const p = await createTestPlatform({ ...s3env, V01T_EPHEMERAL: 'false', BACKUP_SCHEDULES_ENABLED: 'false' });
    const pgDb = TEST_DB === 'postgres' ? await freshPostgresDatabase() : undefined;
    try {
      const u = await signup(p, 'S3 user');
      const io: CommandIo & { stdout: string } = { stdout: '', out: async (x) => void (io.stdout += x), err: () => {}, setExitCode: () => {} };
      await runOperatorCommand({ command: 'backup.create', args: { json: true } }, io, { database: (fn) => fn(p.platform.database, p.platform.migrationSets), platform: (fn) => fn(p.platform) });
      const { id } = JSON.parse(io.stdout) as { id: string };
      expect((await listBackups(p.platform.config)).map((b) => b.id)).toEqual([id]);
      // Nothing was left in the local staging folder.
      expect(fs.readdirSync(path.join(p.dataDir, 'backup-staging'))).toEqual([]);
      expect((await verifyBackup(p.platform.config, id)).files).toBeGreaterThan(0);
      const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'v01t-s3-restore-'));
      try {
        const cfg = loadPlatformConfig({ ...s3env, V01T_DATA_DIR: dataDir, ...(pgDb ? { DATABASE_URL: pgDb.url } : {}) });
        const r = await restoreBackup(cfg, 'latest', { force: false });
        expect(r.id).toBe(id);
        expect(r.rowCounts['orchestrator.users']).toBeGreaterThanOrEqual(1);
        void u;
      } finally {
        fs.rmSync(dataDir, { recursive: true, force: true });
      }
    } finally {
      await p.close();
      await pgDb?.drop();
    }
  }, 120_000);
});

void HOUR;
