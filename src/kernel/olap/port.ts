/**
 * The OLAP port: one small interface over an embedded column store (DuckDB) and a server one
 * (ClickHouse). Callers write SQL from the common subset both engines understand and use the
 * dialect helpers for the few spots where they differ. Neither engine is driven with query
 * parameters here: ClickHouse 18.16 (Debian's) has none, so every value goes through
 * `dialect.str()` / `dialect.int()` which quote or validate it.
 */
export type OlapColumnType = 'string' | 'int64' | 'float64' | 'date';

export interface OlapTableSpec {
  name: string;
  columns: { name: string; type: OlapColumnType }[];
  /** A `date` column: ClickHouse partitions by its month, so retention drops whole partitions. */
  partitionDate: string;
  /** Sort key (ClickHouse ORDER BY); DuckDB keeps insertion order and relies on zone maps. */
  orderBy: string[];
}

export type OlapValue = string | number;
export type OlapRow = Record<string, OlapValue>;

export interface OlapDialect {
  /** A quoted string literal, safe for any input. */
  str(value: string): string;
  /** An integer literal; throws on anything that is not a safe integer. */
  int(value: number): string;
  /** Integer division (both operands integers). */
  idiv(a: string, b: string): string;
  /** Distinct count of expr over rows where cond holds. */
  countDistinctIf(expr: string, cond: string): string;
  /** String value of a top-level JSON property ('' when absent or not a string). */
  jsonString(column: string, key: string): string;
  /** Numeric value of a top-level JSON property (0 when absent or not a number). */
  jsonNumber(column: string, key: string): string;
  /** A date expression rendered as 'YYYY-MM-DD'. */
  dateString(expr: string): string;
  /** A date literal from 'YYYY-MM-DD'. */
  date(value: string): string;
  /** First day of the month / ISO week (Monday) of a date expression. */
  monthStart(expr: string): string;
  weekStart(expr: string): string;
  /** A column `name` expanding each row into n rows numbered 0..n-1 (for sliding windows). */
  expand(n: number, name: string): { select: string; from: string };
}

export interface OlapStore {
  readonly kind: 'duckdb' | 'clickhouse';
  readonly dialect: OlapDialect;
  /** Creates the table when missing (idempotent). */
  ensureTable(spec: OlapTableSpec): Promise<void>;
  insert(spec: OlapTableSpec, rows: OlapRow[]): Promise<void>;
  /** Runs a SELECT; 64-bit integers come back as numbers, dates as strings. */
  query<T extends Record<string, unknown> = Record<string, unknown>>(sql: string): Promise<T[]>;
  /** Runs a statement without a result (DDL, DELETE). */
  command(sql: string): Promise<void>;
  /**
   * Deletes rows matching a condition. ClickHouse runs it as a mutation and waits for it
   * (mutations_sync does not exist on 18.16: the adapter polls system.mutations).
   */
  deleteWhere(table: string, condition: string): Promise<void>;
  /** Removes every row whose partition date is before `day` ('YYYY-MM-DD'); returns rows removed. */
  removeBefore(spec: OlapTableSpec, day: string): Promise<number>;
  ping(): Promise<void>;
  /**
   * Writes a consistent copy of every table into `dir` (ADR 0050) and returns the file names:
   * DuckDB one database file (COPY FROM DATABASE), ClickHouse each table's DDL and Native dump.
   */
  backup(dir: string): Promise<string[]>;
  /** Loads what `backup` wrote into this (empty) store; DuckDB's file is restored by copying it instead. */
  restore(dir: string, files: string[]): Promise<void>;
  close(): Promise<void>;
}

const IDENT = /^[A-Za-z_][A-Za-z0-9_]{0,62}$/;
/** Table and column names are code, never input; this guards against a mistake. */
export function ident(name: string): string {
  if (!IDENT.test(name)) throw new Error(`invalid SQL identifier ${JSON.stringify(name)}`);
  return name;
}

/** JSON property keys allowed in filters and breakdowns (no quoting games). */
export const PROPERTY_KEY = /^[A-Za-z0-9_$][A-Za-z0-9_$.\-]{0,63}$/;

export function intLiteral(value: number): string {
  if (!Number.isSafeInteger(value)) throw new Error(`not a safe integer: ${value}`);
  return String(value);
}

export function dateLiteralText(value: string): string {
  if (!/^\d{4}-\d{2}-\d{2}$/.test(value)) throw new Error(`not a date: ${value}`);
  return value;
}

/** Normalises driver values: bigint → number, Date → ISO date string. */
export function normaliseValue(v: unknown): unknown {
  if (typeof v === 'bigint') return Number(v);
  if (v instanceof Date) return v.toISOString().slice(0, 10);
  return v;
}
