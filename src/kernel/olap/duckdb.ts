import path from 'node:path';
import { setImmediate as nextTurn } from 'node:timers/promises';
import { ensurePrivateDir, makeFilePrivate } from '../private-fs.js';
import type * as DuckDbApi from '@duckdb/node-api';
import type { DuckDBConnection, DuckDBInstance } from '@duckdb/node-api';
import { lazyPackage } from '../lazy-package.js';
import { ident, normaliseValue, type OlapRow, type OlapStore, type OlapTableSpec } from './port.js';
import { duckDbDialect, duckStr } from './duckdb-dialect.js';

export { duckDbDialect };

/** Loaded by the first use of the store (ADR 0065); the bundle would otherwise import it at start (ADR 0073). */
const duckdb = lazyPackage<typeof DuckDbApi>('@duckdb/node-api');

const SQL_TYPE = { string: 'VARCHAR', int64: 'BIGINT', float64: 'DOUBLE', date: 'DATE' } as const;
const DAY_MS = 86_400_000;
/**
 * Rows appended between two turns of the event loop (ADR 0084). Appending is synchronous: the
 * analytics flusher's batch of a few thousand events held the loop for 15-35 ms, and every
 * request in flight waited for it. The batch stays one transaction (the appender and BEGIN are
 * held across the turns; the connection serves one statement at a time anyway).
 */
export const APPEND_ROWS_PER_TURN = 500;
const dayNumbers = new Map<string, number>();
/** Days since 1970-01-01 of a 'YYYY-MM-DD' value, cached (appends ask once per row). */
function daysOf(value: string): number {
  let days = dayNumbers.get(value);
  if (days === undefined) {
    days = Math.floor(Date.parse(`${value}T00:00:00Z`) / DAY_MS);
    if (dayNumbers.size >= 10_000) dayNumbers.clear();
    dayNumbers.set(value, days);
  }
  return days;
}

/**
 * DuckDB in process: the embedded default (a file in the data folder; ':memory:' in tests).
 * One connection, used by one statement at a time: DuckDB parallelises each query itself, and
 * serialising keeps appends and reads from interleaving on the connection.
 */
export class DuckDbStore implements OlapStore {
  readonly kind = 'duckdb' as const;
  readonly dialect = duckDbDialect;
  private queue: Promise<unknown> = Promise.resolve();

  private constructor(
    private readonly instance: DuckDBInstance,
    private readonly conn: DuckDBConnection,
  ) {}

  static async open(file: string): Promise<DuckDbStore> {
    if (file !== ':memory:') ensurePrivateDir(path.dirname(path.resolve(file)));
    const instance = await duckdb().DuckDBInstance.create(file);
    if (file !== ':memory:') makeFilePrivate(path.resolve(file));
    const conn = await instance.connect();
    return new DuckDbStore(instance, conn);
  }

  private serial<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.queue.then(fn, fn);
    this.queue = run.catch(() => undefined);
    return run;
  }

  async ensureTable(spec: OlapTableSpec): Promise<void> {
    const cols = spec.columns.map((c) => `${ident(c.name)} ${SQL_TYPE[c.type]} NOT NULL`).join(', ');
    await this.command(`CREATE TABLE IF NOT EXISTS ${ident(spec.name)} (${cols})`);
  }

  insert(spec: OlapTableSpec, rows: OlapRow[]): Promise<void> {
    if (rows.length === 0) return Promise.resolve();
    return this.serial(async () => {
      // One transaction per batch: a crash leaves the whole batch in or out, never half of it.
      await this.conn.run('BEGIN TRANSACTION');
      try {
        const appender = await this.conn.createAppender(ident(spec.name));
        try {
          for (let i = 0; i < rows.length; i++) {
            if (i > 0 && i % APPEND_ROWS_PER_TURN === 0) await nextTurn();
            const row = rows[i]!;
            for (const col of spec.columns) {
              const v = row[col.name];
              switch (col.type) {
                case 'string':
                  appender.appendVarchar(String(v ?? ''));
                  break;
                case 'int64':
                  appender.appendBigInt(BigInt(Math.trunc(Number(v ?? 0))));
                  break;
                case 'float64':
                  appender.appendDouble(Number(v ?? 0));
                  break;
                case 'date':
                  appender.appendDate(duckdb().dateValue(daysOf(String(v))));
                  break;
              }
            }
            appender.endRow();
          }
          appender.flushSync();
        } finally {
          appender.closeSync();
        }
        await this.conn.run('COMMIT');
      } catch (err) {
        await this.conn.run('ROLLBACK').catch(() => undefined);
        throw err;
      }
    });
  }

  query<T extends Record<string, unknown>>(sql: string): Promise<T[]> {
    return this.serial(async () => {
      const reader = await this.conn.runAndReadAll(sql);
      return reader.getRowObjectsJS().map((row) => {
        const out: Record<string, unknown> = {};
        for (const [k, v] of Object.entries(row)) out[k] = normaliseValue(v);
        return out as T;
      });
    });
  }

  command(sql: string): Promise<void> {
    return this.serial(async () => {
      await this.conn.run(sql);
    });
  }

  async deleteWhere(table: string, condition: string): Promise<void> {
    await this.command(`DELETE FROM ${ident(table)} WHERE ${condition}`);
  }

  async removeBefore(spec: OlapTableSpec, day: string): Promise<number> {
    const where = `${ident(spec.partitionDate)} < ${this.dialect.date(day)}`;
    const [row] = await this.query<{ n: number }>(`SELECT count(*) AS n FROM ${ident(spec.name)} WHERE ${where}`);
    const n = Number(row?.n ?? 0);
    if (n > 0) await this.command(`DELETE FROM ${ident(spec.name)} WHERE ${where}`);
    return n;
  }

  async ping(): Promise<void> {
    await this.query('SELECT 1 AS ok');
  }

  /** One statement on the store's only connection: a copy as of one point, appends wait meanwhile. */
  async backup(dir: string): Promise<string[]> {
    const file = path.join(dir, 'analytics.duckdb');
    await this.serial(async () => {
      const reader = await this.conn.runAndReadAll('SELECT current_database() AS db');
      const db = String(reader.getRowObjectsJS()[0]?.db ?? 'memory');
      await this.conn.run(`ATTACH ${duckStr(file)} AS v01t_backup`);
      try {
        await this.conn.run(`COPY FROM DATABASE "${db.replace(/"/g, '""')}" TO v01t_backup`);
      } finally {
        await this.conn.run('DETACH v01t_backup');
      }
    });
    return ['analytics.duckdb'];
  }

  async restore(dir: string, files: string[]): Promise<void> {
    if (!files.includes('analytics.duckdb')) return;
    await this.serial(async () => {
      await this.conn.run(`ATTACH ${duckStr(path.join(dir, 'analytics.duckdb'))} AS v01t_restore (READ_ONLY)`);
      try {
        const reader = await this.conn.runAndReadAll('SELECT current_database() AS db');
        const db = String(reader.getRowObjectsJS()[0]?.db ?? 'memory');
        await this.conn.run(`COPY FROM DATABASE v01t_restore TO "${db.replace(/"/g, '""')}"`);
      } finally {
        await this.conn.run('DETACH v01t_restore');
      }
    });
  }

  async close(): Promise<void> {
    await this.queue.catch(() => undefined);
    this.conn.closeSync();
    this.instance.closeSync();
  }
}
