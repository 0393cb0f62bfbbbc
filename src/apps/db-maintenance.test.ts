import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ManualClock } from '../kernel/clock.js';
import { openDatabase, type Database } from '../kernel/db/database.js';
import { CoreMetrics } from '../kernel/telemetry/metrics.js';
import { AUTOVACUUM_DEFAULTS, DatabaseMaintenance, tableDue, tablesDue, type MaintenanceStep } from './db-maintenance.js';

const silent = { debug: () => {}, info: () => {}, warn: () => {} };

interface Stats {
  relname: string;
  dead: number;
  live: number;
  last_vacuum: Date | null;
  last_analyze: Date | null;
}

async function stats(db: Database): Promise<Map<string, Stats>> {
  await db.query('SELECT pg_stat_force_next_flush()');
  const rows = await db.query<Stats>(
    `SELECT relname, n_dead_tup::int AS dead, n_live_tup::int AS live, last_vacuum, last_analyze FROM pg_stat_user_tables WHERE schemaname = 'maint'`,
  );
  return new Map(rows.map((r) => [r.relname, r]));
}

describe('tableDue: autovacuum.c formulas', () => {
  const t = { schema: 's', table: 't', reltuples: 1000, dead: 0, changes: 0, inserts: 0, xidAge: 10 };
  it('vacuums past 50 + 20 % dead, analyses past 50 + 10 % changed, vacuums past 1000 + 20 % inserted', () => {
    expect(tableDue({ ...t, dead: 250, changes: 150 }, AUTOVACUUM_DEFAULTS)).toBeUndefined();
    expect(tableDue({ ...t, dead: 251, changes: 251 }, AUTOVACUUM_DEFAULTS)).toMatchObject({ action: 'vacuum', reason: 'dead tuples' });
    expect(tableDue({ ...t, changes: 151 }, AUTOVACUUM_DEFAULTS)).toMatchObject({ action: 'analyze', reason: 'changes' });
    expect(tableDue({ ...t, changes: 150 }, AUTOVACUUM_DEFAULTS)).toBeUndefined();
    expect(tableDue({ ...t, inserts: 1201 }, AUTOVACUUM_DEFAULTS)).toMatchObject({ action: 'vacuum', reason: 'inserts' });
    // Never vacuumed nor analysed (reltuples -1): counted as empty, as autovacuum does.
    expect(tableDue({ ...t, reltuples: -1, dead: 51 }, AUTOVACUUM_DEFAULTS)).toMatchObject({ action: 'vacuum' });
    // Transaction-ID age past autovacuum_freeze_max_age: vacuumed whatever its counters.
    expect(tableDue({ ...t, xidAge: 200_000_001 }, AUTOVACUUM_DEFAULTS)).toMatchObject({ action: 'vacuum', reason: 'xid age' });
    // The server's settings are the ones used.
    expect(tableDue({ ...t, dead: 251 }, { ...AUTOVACUUM_DEFAULTS, vacuumScaleFactor: 0.5 })).toBeUndefined();
    expect(tableDue({ ...t, reltuples: 10_000_000, dead: 1001 }, { ...AUTOVACUUM_DEFAULTS, vacuumMaxThreshold: 1000 })).toMatchObject({ action: 'vacuum' });
    // pg_statistic is never analysed (ANALYZE writes it).
    expect(tableDue({ ...t, schema: 'pg_catalog', table: 'pg_statistic', changes: 1000 }, AUTOVACUUM_DEFAULTS)).toBeUndefined();
  });
});

describe('DatabaseMaintenance on a PGlite data folder (ADR 0094)', () => {
  let dir: string;
  let db: Database;

  beforeAll(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'v01t-maintenance-'));
    db = await openDatabase({ dataDir: path.join(dir, 'pg') });
    await db.query('CREATE SCHEMA maint');
    for (const t of ['bloated', 'calm', 'grown']) {
      await db.query(`CREATE TABLE maint.${t} (id int PRIMARY KEY, v int NOT NULL)`);
      await db.query(`INSERT INTO maint.${t} SELECT g, 0 FROM generate_series(1, 1000) g`);
    }
    // Pending statistics flushed first: else the inserts' counts reach the shared statistics after
    // the ANALYZE below has reset them (single-user PostgreSQL flushes them at most once a second).
    await db.query('SELECT pg_stat_force_next_flush()');
    // A starting point autovacuum would have left: each table vacuumed and analysed once (reltuples 1,000).
    for (const t of ['bloated', 'calm', 'grown']) await db.query(`VACUUM (ANALYZE) maint.${t}`);
    // Every row of one table rewritten three times: ~3,000 dead tuples, past 50 + 0.2 × 1,000.
    for (let i = 0; i < 3; i++) await db.query('UPDATE maint.bloated SET v = v + 1');
    // 20 rows changed: under both thresholds.
    await db.query('UPDATE maint.calm SET v = v + 1 WHERE id <= 20');
    // 200 rows added: past the analyze threshold (50 + 0.1 × 1,000), under the insert vacuum one.
    await db.query('INSERT INTO maint.grown SELECT g, 0 FROM generate_series(1001, 1200) g');
  });

  afterAll(async () => {
    await db?.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('vacuums the bloated table, analyses the grown one, leaves the calm one, one statement a tick', async () => {
    const before = await stats(db);
    expect(before.get('bloated')!.dead).toBeGreaterThan(250);
    expect(before.get('calm')!.dead).toBeGreaterThan(0);
    const due = (await tablesDue(db)).filter((t) => t.schema === 'maint');
    expect(due.map((t) => [t.table, t.action])).toEqual([
      ['bloated', 'vacuum'],
      ['grown', 'analyze'],
    ]);

    const clock = new ManualClock('2026-12-04T10:00:00Z');
    const metrics = new CoreMetrics({ collectDefaults: false });
    const maintenance = new DatabaseMaintenance({ database: db, logger: silent, clock, metrics, busy: () => 0, intervalMs: 10 * 60_000 });
    expect(await maintenance.tick()).toBe('listed');
    const steps: MaintenanceStep[] = [];
    for (let i = 0; i < 100; i++) {
      const step = await maintenance.tick();
      if (!step) break;
      if (step !== 'listed') steps.push(step);
    }
    // The pass ran every table due (the catalogs' too, as autovacuum), each once, then stopped.
    const ours = steps.filter((s) => s.schema === 'maint');
    expect(ours.map((s) => [s.table, s.action, s.error])).toEqual([
      ['bloated', 'vacuum', undefined],
      ['grown', 'analyze', undefined],
    ]);
    expect(steps.every((s) => !s.error)).toBe(true);

    const after = await stats(db);
    expect(after.get('bloated')!.dead).toBe(0);
    expect(after.get('bloated')!.last_vacuum!.getTime()).toBeGreaterThan(before.get('bloated')!.last_vacuum!.getTime());
    expect(after.get('bloated')!.last_analyze!.getTime()).toBeGreaterThan(before.get('bloated')!.last_analyze!.getTime());
    expect(after.get('grown')!.last_analyze!.getTime()).toBeGreaterThan(before.get('grown')!.last_analyze!.getTime());
    expect(after.get('grown')!.last_vacuum).toEqual(before.get('grown')!.last_vacuum);
    expect(after.get('calm')!.last_vacuum).toEqual(before.get('calm')!.last_vacuum);
    expect(after.get('calm')!.last_analyze).toEqual(before.get('calm')!.last_analyze);
    expect(after.get('calm')!.dead).toBe(before.get('calm')!.dead);
    // The planner now knows the grown table's 1,200 rows.
    const [grown] = await db.query<{ reltuples: number }>(`SELECT reltuples::int AS reltuples FROM pg_class WHERE oid = 'maint.grown'::regclass`);
    expect(grown!.reltuples).toBe(1200);

    const text = await metrics.registry.metrics();
    expect(text).toMatch(/v01t_db_maintenance_seconds_count\{action="vacuum"\} [1-9]/);
    expect(text).toMatch(/v01t_db_maintenance_seconds_count\{action="analyze"\} [1-9]/);
    expect(text).toMatch(/v01t_db_maintenance_dead_tuples_total [1-9]\d{3}/);

    // Nothing more until the interval has passed, however idle.
    await db.query('UPDATE maint.bloated SET v = v + 1');
    clock.advance(9 * 60_000);
    expect(await maintenance.tick()).toBeUndefined();
    clock.advance(60_000);
    expect(await maintenance.tick()).toBe('listed');
    const next = await maintenance.tick();
    expect(next).toMatchObject({ schema: 'maint', table: 'bloated', action: 'vacuum' });
    await maintenance.stop();
  });

  it('waits for an idle tick, runs anyway once the pass has waited maxDeferMs, and stop() awaits the statement in flight', async () => {
    await db.query('UPDATE maint.calm SET v = v + 1');
    await db.query('UPDATE maint.calm SET v = v + 1');
    const clock = new ManualClock('2026-12-04T11:00:00Z');
    let busy = 0.9;
    const maintenance = new DatabaseMaintenance({ database: db, logger: silent, clock, busy: () => busy, intervalMs: 10 * 60_000, maxDeferMs: 5 * 60_000 });
    // Busy: the pass is due but waits.
    expect(await maintenance.tick()).toBeUndefined();
    clock.advance(4 * 60_000);
    expect(await maintenance.tick()).toBeUndefined();
    // An idle tick: it lists the tables.
    busy = 0.1;
    expect(await maintenance.tick()).toBe('listed');
    // Busy again: the pass waits, until it has been due for 5 minutes.
    busy = 0.9;
    clock.advance(30_000);
    expect(await maintenance.tick()).toBeUndefined();
    clock.advance(31_000);
    const first = await maintenance.tick();
    expect(first).toMatchObject({ schema: 'maint', table: 'calm', action: 'vacuum' });
    expect((await stats(db)).get('calm')!.dead).toBe(0);
    await maintenance.stop();
    expect(await maintenance.tick()).toBeUndefined();
  });

  it('stop() returns only once the VACUUM in flight has finished', async () => {
    await db.query('UPDATE maint.calm SET v = v + 1');
    let release!: () => void;
    const gate = new Promise<void>((resolve) => (release = resolve));
    let vacuumDone = false;
    const slow = {
      async query<T>(sql: string, params?: unknown[]): Promise<T[]> {
        if (!sql.startsWith('VACUUM')) return db.query<T>(sql, params);
        await gate;
        const rows = await db.query<T>(sql, params);
        vacuumDone = true;
        return rows;
      },
    };
    const maintenance = new DatabaseMaintenance({ database: slow, logger: silent, clock: new ManualClock(), busy: () => 0 });
    expect(await maintenance.tick()).toBe('listed');
    const inFlight = maintenance.tick();
    let stopped = false;
    const stopping = maintenance.stop().then(() => (stopped = true));
    for (let i = 0; i < 5; i++) await new Promise((resolve) => setImmediate(resolve));
    expect(stopped).toBe(false);
    release();
    await stopping;
    expect(vacuumDone).toBe(true);
    expect(await inFlight).toMatchObject({ table: 'calm', action: 'vacuum' });
    // Nothing after stop: the rest of the pass is left for the next start.
    expect(await maintenance.tick()).toBeUndefined();
  });
});
