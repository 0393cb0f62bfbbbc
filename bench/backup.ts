/**
 * `npm run bench -- backup [EVENTS] [RUNS]`: an embedded instance (PGlite, DuckDB) and, with
 * BENCH_BACKUP_POSTGRES=1, a distributed one on the local PostgreSQL, holding EVENTS analytics
 * events (default 1,000,000) and RUNS finished workflow runs (default 100,000); then
 * `backup create` (MB/s of plaintext captured and encrypted), `backup restore` into an empty data
 * folder or database (MB/s, verification included) and the restore drill's RTO (start of the
 * restore to a ready restored platform). Sizes scale down for CI through the arguments or
 * BENCH_BACKUP_EVENTS / BENCH_BACKUP_RUNS.
 */
import { randomBytes, randomUUID } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { loadPlatformConfig } from '../src/apps/config.js';
import { createPlatform } from '../src/apps/platform.js';
import { createBackup, restoreBackup, runDrill } from '../src/apps/backup.js';
import { createLogger } from '../src/kernel/telemetry/logger.js';
import type { AnalyticsInstance } from '../src/services/analytics-engine/index.js';
import type { StoredEvent } from '../src/services/analytics-engine/event-store.js';
import { freshDatabase } from './support/postgres.js';
import type { Figures } from './run.js';

const MB = 1024 * 1024;

async function one(kind: 'pglite' | 'postgres', events: number, runs: number): Promise<Figures> {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'v01t-bench-backup-'));
  const pgUrl = process.env.V01T_TEST_PG_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
  const source = kind === 'postgres' ? await freshDatabase(pgUrl) : undefined;
  const target = kind === 'postgres' ? await freshDatabase(pgUrl) : undefined;
  const master = randomBytes(32).toString('hex');
  const base = {
    NODE_ENV: 'production',
    V01T_MASTER_KEY: master,
    LOG_LEVEL: 'silent',
    ARGON2_MEMORY_KIB: '1024',
    ARGON2_TIME_COST: '1',
    BACKUP_TARGET: path.join(root, 'backups'),
    BACKUP_SCHEDULES_ENABLED: 'false',
  };
  const config = loadPlatformConfig({ ...base, V01T_DATA_DIR: path.join(root, 'live'), ...(source ? { DATABASE_URL: source.url } : {}) });
  const p = await createPlatform({ config, logger: createLogger('silent') });
  try {
    const signup = await p.app.inject({ method: 'POST', url: '/v1/auth/signup', payload: { email: `b${Date.now()}@example.test`, password: 'bench-password-123', name: 'Bench' } });
    const auth = { authorization: `Bearer ${signup.json().token as string}` };
    const ws = (await p.app.inject({ method: 'POST', url: '/v1/workspaces', headers: auth, payload: { name: 'bench' } })).json().workspace.id as string;
    const wf = (await p.app.inject({ method: 'POST', url: `/v1/workspaces/${ws}/workflows`, headers: auth, payload: { name: 'bench', steps: [{ id: 'a', type: 'transform', with: { expression: '"ok"' } }] } })).json().workflow.id as string;
    // Finished runs as the engine leaves them (inserted in bulk: the bench measures backups, not the engine).
    for (let done = 0; done < runs; done += 50_000) {
      await p.database.query(
        `INSERT INTO workflow.runs (id, workspace_id, workflow_id, version, status, trigger, input, outputs, output, created_at, started_at, finished_at, updated_at)
         SELECT gen_random_uuid(), $1, $2, 1, 'succeeded', 'manual', jsonb_build_object('order', g, 'customer', md5(g::text)), jsonb_build_object('a', jsonb_build_object('value', 'ok')), '"ok"'::jsonb, now(), now(), now(), now()
           FROM generate_series(1, $3::int) g`,
        [ws, wf, Math.min(50_000, runs - done)],
      );
    }
    const store = (p.instances.get('analytics-engine') as AnalyticsInstance).services.store;
    const day0 = Date.now() - 365 * 86_400_000;
    for (let done = 0; done < events; done += 50_000) {
      const batch: StoredEvent[] = Array.from({ length: Math.min(50_000, events - done) }, (_, i) => {
        const ts = day0 + (done + i) * Math.floor((365 * 86_400_000) / Math.max(events, 1));
        return { workspaceId: ws, event: (done + i) % 7 === 0 ? 'signup' : 'page.viewed', personId: `p${(done + i) % 5000}`, userId: `u${(done + i) % 5000}`, anonymousId: '', ts, messageId: randomUUID(), properties: { path: `/p/${(done + i) % 300}`, plan: 'pro' }, receivedAt: ts, batchId: 'bench' };
      });
      await store.insert(batch);
    }

    let t = performance.now();
    const index = await createBackup(p);
    const backupS = (performance.now() - t) / 1000;

    const restoreConfig = loadPlatformConfig({ ...base, V01T_DATA_DIR: path.join(root, 'restored'), ...(target ? { DATABASE_URL: target.url } : {}) });
    t = performance.now();
    const restored = await restoreBackup(restoreConfig, index.id, { force: false });
    const restoreS = (performance.now() - t) / 1000;

    const drill = await runDrill(p, index.id);
    return {
      [`${kind}_backup_mb`]: index.bytes / MB,
      [`${kind}_backup_s`]: backupS,
      [`${kind}_backup_mb_per_s`]: index.bytes / MB / backupS,
      [`${kind}_restore_s`]: restoreS,
      [`${kind}_restore_mb_per_s`]: restored.bytes / MB / restoreS,
      [`${kind}_drill_rto_s`]: drill.rtoSeconds,
      [`${kind}_drill_boot_s`]: drill.bootSeconds,
      [`${kind}_drill_tables_match`]: drill.mismatches.length === 0 ? 1 : 0,
    };
  } finally {
    await p.close();
    await source?.drop();
    await target?.drop();
    fs.rmSync(root, { recursive: true, force: true });
  }
}

export default async function backup(args: string[]): Promise<Figures> {
  const events = Number(args[0] ?? process.env.BENCH_BACKUP_EVENTS ?? 1_000_000);
  const runs = Number(args[1] ?? process.env.BENCH_BACKUP_RUNS ?? 100_000);
  const figures: Figures = { events, workflow_runs: runs, ...(await one('pglite', events, runs)) };
  if (process.env.BENCH_BACKUP_POSTGRES === '1') Object.assign(figures, await one('postgres', events, runs));
  return figures;
}
