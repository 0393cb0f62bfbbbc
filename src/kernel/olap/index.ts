/**
 * The OLAP port (see port.ts) and the factory that picks its adapter: ClickHouse when a URL is
 * given, DuckDB otherwise. Adapters are loaded lazily so a process only loads the driver it uses.
 */
import fs from 'node:fs';
import path from 'node:path';
import type { OlapRow, OlapStore, OlapTableSpec } from './port.js';
import { duckDbDialect } from './duckdb-dialect.js';

export * from './port.js';

export interface OlapOptions {
  /** ClickHouse HTTP URL (http://user:pass@host:8123/database); when set ClickHouse is used. */
  clickhouseUrl?: string;
  /** DuckDB database file, or ':memory:'. */
  duckdbPath: string;
  /**
   * DuckDB only: open the database on first use instead of now (ADR 0065). DuckDB costs about
   * 50 MB resident and 0.1–0.2 s to load, which a server whose analytics is idle need not pay.
   */
  lazy?: boolean;
  /** Run once on the store right after it opens (creating its tables), before any other use. */
  prepare?: (store: OlapStore) => Promise<void>;
}

export async function openOlapStore(opts: OlapOptions): Promise<OlapStore> {
  if (opts.clickhouseUrl) {
    const { ClickHouseStore } = await import('./clickhouse.js');
    const store = await ClickHouseStore.open(opts.clickhouseUrl);
    await opts.prepare?.(store);
    return store;
  }
  const open = async () => {
    const { DuckDbStore } = await import('./duckdb.js');
    const store = await DuckDbStore.open(opts.duckdbPath);
    try {
      await opts.prepare?.(store);
    } catch (err) {
      await store.close().catch(() => {});
      throw err;
    }
    return store;
  };
  return opts.lazy ? new LazyOlapStore(open, opts.duckdbPath) : open();
}

/**
 * A DuckDB store opened by its first use: every method waits for the one opening (a failed
 * opening is tried again by the next use). Before that, `ping` checks that the database file (or
 * the folder it will be created in) can be written, without loading DuckDB; `close` closes it only
 * if it was opened.
 */
export class LazyOlapStore implements OlapStore {
  readonly kind = 'duckdb' as const;
  readonly dialect = duckDbDialect;
  private opening?: Promise<OlapStore>;
  private closed = false;

  constructor(
    private readonly open: () => Promise<OlapStore>,
    private readonly file: string,
  ) {}

  /** Whether the database was opened (or is opening). */
  get opened(): boolean {
    return this.opening !== undefined;
  }

  private store(): Promise<OlapStore> {
    if (this.closed) return Promise.reject(new Error('the analytics store is closed'));
    this.opening ??= this.open().catch((err: unknown) => {
      this.opening = undefined;
      throw err;
    });
    return this.opening;
  }

  async ensureTable(spec: OlapTableSpec): Promise<void> {
    await (await this.store()).ensureTable(spec);
  }
  async insert(spec: OlapTableSpec, rows: OlapRow[]): Promise<void> {
    await (await this.store()).insert(spec, rows);
  }
  async query<T extends Record<string, unknown> = Record<string, unknown>>(sql: string): Promise<T[]> {
    return (await this.store()).query<T>(sql);
  }
  async command(sql: string): Promise<void> {
    await (await this.store()).command(sql);
  }
  async deleteWhere(table: string, condition: string): Promise<void> {
    await (await this.store()).deleteWhere(table, condition);
  }
  async removeBefore(spec: OlapTableSpec, day: string): Promise<number> {
    return (await this.store()).removeBefore(spec, day);
  }
  async backup(dir: string): Promise<string[]> {
    return (await this.store()).backup(dir);
  }
  async restore(dir: string, files: string[]): Promise<void> {
    await (await this.store()).restore(dir, files);
  }
  async ping(): Promise<void> {
    if (this.opening) return (await this.opening).ping();
    if (this.closed) throw new Error('the analytics store is closed');
    if (this.file === ':memory:') return;
    // The file, or the nearest folder that exists on its way (the opening creates the missing
    // ones), must be writable for the first use to open it.
    let target = path.resolve(this.file);
    while (!fs.existsSync(target) && path.dirname(target) !== target) target = path.dirname(target);
    await fs.promises.access(target, fs.constants.R_OK | fs.constants.W_OK);
    if (target !== path.resolve(this.file) && !(await fs.promises.stat(target)).isDirectory()) throw new Error(`${target} is not a folder: the analytics database cannot be created under it`);
  }
  async close(): Promise<void> {
    this.closed = true;
    const opening = this.opening;
    if (!opening) return;
    const store = await opening.catch(() => undefined);
    await store?.close();
  }
}
