import fs from 'node:fs';
import path from 'node:path';
import { pipeline } from 'node:stream/promises';
import type { Readable } from 'node:stream';
import type * as ClickHouseJs from '@clickhouse/client';
import type { ClickHouseClient } from '@clickhouse/client';
import { lazyPackage } from '../lazy-package.js';
import { dateLiteralText, ident, intLiteral, type OlapDialect, type OlapRow, type OlapStore, type OlapTableSpec } from './port.js';

// ClickHouse string literals treat the backslash as an escape character, so it is escaped too.
/** Loaded only with CLICKHOUSE_URL; the bundle would otherwise import it at start (ADR 0073). */
const clickhouse = lazyPackage<typeof ClickHouseJs>('@clickhouse/client');

const chStr = (value: string) => `'${value.replace(/\\/g, '\\\\').replace(/'/g, "\\'").replace(/\0/g, '')}'`;

export const clickHouseDialect: OlapDialect = {
  str: chStr,
  int: intLiteral,
  idiv: (a, b) => `intDiv(${a}, ${b})`,
  countDistinctIf: (expr, cond) => `uniqExactIf(${expr}, ${cond})`,
  // visitParam* exist on 18.16 (JSONExtract* need 19.x); they read top-level scalar fields.
  jsonString: (col, key) => `visitParamExtractString(${col}, ${chStr(key)})`,
  jsonNumber: (col, key) => `visitParamExtractFloat(${col}, ${chStr(key)})`,
  dateString: (expr) => `toString(${expr})`,
  date: (value) => `toDate('${dateLiteralText(value)}')`,
  monthStart: (expr) => `toStartOfMonth(${expr})`,
  weekStart: (expr) => `toMonday(${expr})`,
  expand: (n, name) => ({ select: `arrayJoin(range(${intLiteral(n)})) AS ${ident(name)}`, from: '' }),
};

const SQL_TYPE = { string: 'String', int64: 'Int64', float64: 'Float64', date: 'Date' } as const;

/**
 * ClickHouse over HTTP with the official client. Kept to what Debian's 18.16 understands: no
 * query parameters (values are quoted by the dialect), no DateTime64 (times are Int64 ms), no
 * TTL (retention drops monthly partitions), no window functions, no async_insert.
 */
export class ClickHouseStore implements OlapStore {
  readonly kind = 'clickhouse' as const;
  readonly dialect = clickHouseDialect;

  private constructor(private readonly client: ClickHouseClient) {}

  static async open(url: string): Promise<ClickHouseStore> {
    const client = clickhouse().createClient({ url, request_timeout: 60_000, compression: { request: false, response: false } });
    return new ClickHouseStore(client);
  }

  async ensureTable(spec: OlapTableSpec): Promise<void> {
    const cols = spec.columns.map((c) => `${ident(c.name)} ${SQL_TYPE[c.type]}`).join(', ');
    await this.command(
      `CREATE TABLE IF NOT EXISTS ${ident(spec.name)} (${cols}) ENGINE = MergeTree() PARTITION BY toYYYYMM(${ident(spec.partitionDate)}) ORDER BY (${spec.orderBy.map(ident).join(', ')})`,
    );
  }

  async insert(spec: OlapTableSpec, rows: OlapRow[]): Promise<void> {
    if (rows.length === 0) return;
    await this.client.insert({ table: ident(spec.name), values: rows, format: 'JSONEachRow' });
  }

  async query<T extends Record<string, unknown>>(sql: string): Promise<T[]> {
    const rs = await this.client.query({ query: sql, format: 'JSONEachRow' });
    const rows = await rs.json<Record<string, unknown>>();
    return rows as T[];
  }

  async command(sql: string): Promise<void> {
    await this.client.command({ query: sql });
  }

  async deleteWhere(table: string, condition: string): Promise<void> {
    await this.command(`ALTER TABLE ${ident(table)} DELETE WHERE ${condition}`);
    await this.awaitMutations(table);
  }

  /** Mutations run in the background; 18.16 has no mutations_sync, so wait for them here. */
  private async awaitMutations(table: string, timeoutMs = 60_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const [row] = await this.query<{ n: string | number }>(
        `SELECT count() AS n FROM system.mutations WHERE database = currentDatabase() AND table = ${chStr(table)} AND is_done = 0`,
      );
      if (Number(row?.n ?? 0) === 0) return;
      if (Date.now() > deadline) throw new Error(`ClickHouse mutation on ${table} did not finish within ${timeoutMs} ms`);
      await new Promise((r) => setTimeout(r, 100));
    }
  }

  async removeBefore(spec: OlapTableSpec, day: string): Promise<number> {
    // Only whole months older than the cut-off are dropped: data leaves up to a month late, never early.
    const cutoffMonth = Number(dateLiteralText(day).slice(0, 7).replace('-', ''));
    const parts = await this.query<{ partition: string; rows: string | number }>(
      `SELECT partition, sum(rows) AS rows FROM system.parts WHERE database = currentDatabase() AND table = ${chStr(spec.name)} AND active GROUP BY partition`,
    );
    let removed = 0;
    for (const p of parts) {
      const month = Number(String(p.partition).replace(/'/g, ''));
      if (!Number.isSafeInteger(month) || month >= cutoffMonth) continue;
      await this.command(`ALTER TABLE ${ident(spec.name)} DROP PARTITION ${intLiteral(month)}`);
      removed += Number(p.rows);
    }
    return removed;
  }

  /**
   * Each table of the database: its DDL and its rows in the Native format (18.16 has no BACKUP;
   * current servers: `BACKUP DATABASE ... TO Disk(...)`, docs/backup-and-recovery.md). Tables are
   * read one after the other; the analytics engine holds its flusher still meanwhile.
   */
  async backup(dir: string): Promise<string[]> {
    const tables = await this.query<{ name: string }>(`SELECT name FROM system.tables WHERE database = currentDatabase() AND engine LIKE '%MergeTree%' ORDER BY name`);
    const files: string[] = [];
    for (const { name } of tables) {
      const [ddl] = await this.query<{ statement: string }>(`SHOW CREATE TABLE ${ident(name)}`);
      await fs.promises.writeFile(path.join(dir, `${name}.sql`), String(ddl?.statement ?? ''), { mode: 0o600 });
      const r = await this.client.exec({ query: `SELECT * FROM ${ident(name)} FORMAT Native` });
      await pipeline(r.stream as Readable, fs.createWriteStream(path.join(dir, `${name}.native`), { mode: 0o600 }));
      files.push(`${name}.sql`, `${name}.native`);
    }
    return files;
  }

  async restore(dir: string, files: string[]): Promise<void> {
    for (const f of files.filter((x) => x.endsWith('.sql'))) {
      const name = ident(f.slice(0, -4));
      // SHOW CREATE names the source database: create the table in this one instead.
      const ddl = (await fs.promises.readFile(path.join(dir, f), 'utf8')).replace(/^CREATE TABLE\s+(?:\S+\.)?\S+/, `CREATE TABLE IF NOT EXISTS ${name}`);
      await this.command(ddl);
      if (files.includes(`${name}.native`)) {
        const r = await this.client.exec({ query: `INSERT INTO ${name} FORMAT Native`, values: fs.createReadStream(path.join(dir, `${name}.native`)) });
        (r.stream as Readable).resume();
      }
    }
  }

  async ping(): Promise<void> {
    const r = await this.client.ping();
    if (!r.success) throw r.error;
  }

  async close(): Promise<void> {
    await this.client.close();
  }
}
