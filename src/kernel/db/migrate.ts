import { createHash } from 'node:crypto';
import type { Database } from './database.js';

export interface Migration {
  /** Sortable, unique within its service: "0001_init". */
  id: string;
  sql: string;
}

export interface MigrationSet {
  service: string;
  migrations: Migration[];
}

const LOCK_KEY = 7_310_001; // pg_advisory_lock key held while migrating (one migrator at a time across replicas)

const BOOTSTRAP = `
CREATE SCHEMA IF NOT EXISTS kernel;
CREATE TABLE IF NOT EXISTS kernel.migrations (
  service text NOT NULL,
  id text NOT NULL,
  checksum text NOT NULL,
  applied_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (service, id)
);`;

/** The checksum recorded with an applied migration (a changed migration is refused). */
export const migrationChecksum = (sql: string): string => createHash('sha256').update(sql).digest('hex').slice(0, 16);

export class MigrationError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'MigrationError';
  }
}

/** Applies every pending migration, each in its own transaction, under an advisory lock. */
export async function migrate(
  db: Database,
  sets: MigrationSet[],
  log: (msg: string) => void = () => {},
): Promise<{ applied: string[] }> {
  const applied: string[] = [];
  await db.withClient(async (lockClient) => {
    await lockClient.query('SELECT pg_advisory_lock($1)', [LOCK_KEY]);
    try {
      await lockClient.exec(BOOTSTRAP);
      const done = new Map(
        (await lockClient.query<{ service: string; id: string; checksum: string }>('SELECT service, id, checksum FROM kernel.migrations')).map(
          (r) => [`${r.service}/${r.id}`, r.checksum],
        ),
      );
      for (const set of sets) {
        for (const m of [...set.migrations].sort((a, b) => a.id.localeCompare(b.id))) {
          const key = `${set.service}/${m.id}`;
          const sum = migrationChecksum(m.sql);
          const existing = done.get(key);
          if (existing) {
            if (existing !== sum) {
              throw new MigrationError(`migration ${key} was changed after it was applied (checksum ${existing} → ${sum}); add a new migration instead`);
            }
            continue;
          }
          const run = async (c: { exec(sql: string): Promise<void>; query(sql: string, p?: unknown[]): Promise<unknown> }) => {
            await c.exec(m.sql);
            await c.query('INSERT INTO kernel.migrations (service, id, checksum) VALUES ($1, $2, $3)', [set.service, m.id, sum]);
          };
          if (db.kind === 'pglite') {
            await db.withTransaction(run);
          } else {
            // Same connection that holds the lock, so the lock and the migration cannot deadlock a small pool.
            await lockClient.exec('BEGIN');
            try {
              await run(lockClient);
              await lockClient.exec('COMMIT');
            } catch (err) {
              await lockClient.exec('ROLLBACK').catch(() => {});
              throw new MigrationError(`migration ${key} failed: ${(err as Error).message}`);
            }
          }
          applied.push(key);
          log(`applied migration ${key}`);
        }
      }
    } finally {
      await lockClient.query('SELECT pg_advisory_unlock($1)', [LOCK_KEY]).catch(() => {});
    }
  });
  return { applied };
}

/** Lists migrations not yet applied (for /ready and `v01t migrate --status`). */
export async function pendingMigrations(db: Database, sets: MigrationSet[]): Promise<string[]> {
  const rows = await db
    .query<{ service: string; id: string }>('SELECT service, id FROM kernel.migrations')
    // No migrations table yet (a fresh database: every migration pending); any other failure (the
    // server unreachable, TLS refused) is the caller's to report, not a list of pending migrations.
    .catch((err: { code?: string }) => {
      if (err?.code === '42P01' || err?.code === '3F000') return [] as { service: string; id: string }[];
      throw err;
    });
  const done = new Set(rows.map((r) => `${r.service}/${r.id}`));
  return sets.flatMap((s) => s.migrations.map((m) => `${s.service}/${m.id}`)).filter((k) => !done.has(k));
}
