import { randomBytes } from 'node:crypto';
import { createClient } from '@clickhouse/client';
import { openOlapStore, type OlapStore } from '../../src/kernel/olap/index.js';

/** ClickHouse for the adapter tests: .ci/run starts Debian's server and sets this. */
export const TEST_CLICKHOUSE_URL = process.env.V01T_TEST_CLICKHOUSE_URL;
export const CLICKHOUSE_SKIP_REASON = 'V01T_TEST_CLICKHOUSE_URL is unset (.ci/run starts ClickHouse and sets it; locally run test/clickhouse/start.sh)';

/** A fresh ClickHouse database for one test file; dropped by the returned function. */
export async function freshClickHouseDatabase(): Promise<{ url: string; drop: () => Promise<void> }> {
  if (!TEST_CLICKHOUSE_URL) throw new Error(CLICKHOUSE_SKIP_REASON);
  const name = `v01t_t_${randomBytes(6).toString('hex')}`;
  const admin = createClient({ url: TEST_CLICKHOUSE_URL });
  await admin.command({ query: `CREATE DATABASE ${name}` });
  await admin.close();
  const url = new URL(TEST_CLICKHOUSE_URL);
  url.pathname = `/${name}`;
  return {
    url: url.toString(),
    drop: async () => {
      const c = createClient({ url: TEST_CLICKHOUSE_URL });
      await c.command({ query: `DROP DATABASE IF EXISTS ${name}` });
      await c.close();
    },
  };
}

export interface TestOlap {
  store: OlapStore;
  close(): Promise<void>;
}

export async function openTestOlap(kind: 'duckdb' | 'clickhouse'): Promise<TestOlap> {
  if (kind === 'duckdb') {
    const store = await openOlapStore({ duckdbPath: ':memory:' });
    return { store, close: () => store.close() };
  }
  const db = await freshClickHouseDatabase();
  const store = await openOlapStore({ clickhouseUrl: db.url, duckdbPath: ':memory:' });
  return {
    store,
    async close() {
      await store.close();
      await db.drop();
    },
  };
}

/** The adapters to run a suite against: DuckDB always, ClickHouse when a server is given. */
export const OLAP_KINDS: { kind: 'duckdb' | 'clickhouse'; skip: boolean }[] = [
  { kind: 'duckdb', skip: false },
  { kind: 'clickhouse', skip: !TEST_CLICKHOUSE_URL },
];
