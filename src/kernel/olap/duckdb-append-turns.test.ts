import type { DuckDBAppender, DuckDBConnection } from '@duckdb/node-api';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { APPEND_ROWS_PER_TURN, DuckDbStore } from './duckdb.js';
import type { OlapRow, OlapTableSpec } from './port.js';

const spec: OlapTableSpec = {
  name: 'turns',
  columns: [
    { name: 'k', type: 'string' },
    { name: 'n', type: 'int64' },
    { name: 'day', type: 'date' },
  ],
  partitionDate: 'day',
  orderBy: ['k', 'day'],
};
const rowsOf = (n: number, from = 0) => Array.from({ length: n }, (_, i) => ({ k: `k${from + i}`, n: from + i, day: '2026-01-05' }));

/**
 * A large batch is appended a slice at a time with the event loop free in between (ADR 0084), and
 * stays one transaction: all of it lands, or none of it.
 */
describe('DuckDB appends a large batch in turns of the event loop', () => {
  let store: DuckDbStore;
  /** Rows the appender has ended so far (the connection's appender, watched). */
  let appended = 0;
  beforeAll(async () => {
    store = await DuckDbStore.open(':memory:');
    await store.ensureTable(spec);
    const conn = (store as unknown as { conn: DuckDBConnection }).conn;
    const create = conn.createAppender.bind(conn);
    vi.spyOn(conn, 'createAppender').mockImplementation(async (...args: Parameters<DuckDBConnection['createAppender']>) => {
      const appender: DuckDBAppender = await create(...args);
      const endRow = appender.endRow.bind(appender);
      appender.endRow = () => {
        appended++;
        endRow();
      };
      return appender;
    });
  });
  afterAll(() => store?.close());

  it('lets other work run between slices of a batch, and the batch lands whole', async () => {
    const total = 3 * APPEND_ROWS_PER_TURN + 7;
    appended = 0;
    const seen: number[] = [];
    let done = false;
    const watch = () => {
      seen.push(appended);
      if (!done) setImmediate(watch);
    };
    setImmediate(watch);
    await store.insert(spec, rowsOf(total));
    done = true;
    // Some turn of the loop came while the batch was part-way appended (before: none, the loop was held for all of it).
    expect(seen.some((n) => n > 0 && n < total)).toBe(true);
    const [row] = await store.query<{ c: unknown }>('SELECT count(*) AS c FROM turns');
    expect(Number(row!.c)).toBe(total);
  });

  it('writes none of a batch whose row fails after a turn', async () => {
    const rows: OlapRow[] = rowsOf(2 * APPEND_ROWS_PER_TURN, 10_000);
    rows[APPEND_ROWS_PER_TURN + 3] = { k: 'bad', n: 1, day: 'not a date' };
    await expect(store.insert(spec, rows)).rejects.toThrow();
    const [row] = await store.query<{ c: unknown }>('SELECT count(*) AS c FROM turns WHERE n >= 10000');
    expect(Number(row!.c)).toBe(0);
  });
});
