/**
 * The OLAP port (see port.ts) and the factory that picks its adapter: ClickHouse when a URL is
 * given, DuckDB otherwise. Adapters are loaded lazily so a process only loads the driver it uses.
 */
import type { OlapStore } from './port.js';

export * from './port.js';

export interface OlapOptions {
  /** ClickHouse HTTP URL (http://user:pass@host:8123/database); when set ClickHouse is used. */
  clickhouseUrl?: string;
  /** DuckDB database file, or ':memory:'. */
  duckdbPath: string;
}

export async function openOlapStore(opts: OlapOptions): Promise<OlapStore> {
  if (opts.clickhouseUrl) {
    const { ClickHouseStore } = await import('./clickhouse.js');
    return ClickHouseStore.open(opts.clickhouseUrl);
  }
  const { DuckDbStore } = await import('./duckdb.js');
  return DuckDbStore.open(opts.duckdbPath);
}

