import type { Database } from '../../kernel/db/database.js';

/**
 * The runbook's database queries ("Database health check", "Database Performance Optimization"),
 * read from PostgreSQL's statistics views. pg_stat_statements needs the server to preload it; its
 * absence is reported, not thrown.
 */
export interface StatementRow {
  queryid: string;
  calls: number;
  total_ms: number;
  mean_ms: number;
  rows: number;
  query: string;
}
export interface TableRow {
  schemaname: string;
  tablename: string;
  seq_scan: number;
  idx_scan: number | null;
  n_live_tup: number;
  n_dead_tup: number;
  last_vacuum: string | null;
  last_autovacuum: string | null;
  last_analyze: string | null;
}
export interface IndexRow {
  schemaname: string;
  tablename: string;
  indexname: string;
  idx_scan: number;
  idx_tup_read: number;
  idx_tup_fetch: number;
  bytes: number;
  unique: boolean;
}

const num = (v: unknown) => (v === null || v === undefined ? 0 : Number(v));

export class DbReportRepository {
  constructor(private readonly db: Database) {}

  get kind(): 'pglite' | 'postgres' {
    return this.db.kind;
  }

  async serverVersion(): Promise<string> {
    const [r] = await this.db.query<{ v: string }>('SHOW server_version');
    return r?.v ?? 'unknown';
  }

  async hasStatementsExtension(): Promise<boolean> {
    const rows = await this.db.query("SELECT 1 FROM pg_extension WHERE extname = 'pg_stat_statements'");
    return rows.length > 0;
  }

  /** Top statements of this database by total or mean execution time (PostgreSQL 13+ column names, older ones as the runbook wrote them). */
  async topStatements(order: 'total' | 'mean', limit: number): Promise<StatementRow[]> {
    const [cols] = await this.db.query<{ modern: boolean }>(
      "SELECT EXISTS (SELECT 1 FROM information_schema.columns WHERE table_name = 'pg_stat_statements' AND column_name = 'total_exec_time') AS modern",
    );
    const total = cols?.modern ? 'total_exec_time' : 'total_time';
    const mean = cols?.modern ? 'mean_exec_time' : 'mean_time';
    const rows = await this.db.query<Record<string, unknown>>(
      `SELECT queryid::text AS queryid, calls, ${total} AS total_ms, ${mean} AS mean_ms, rows, left(query, 500) AS query
         FROM pg_stat_statements
        WHERE dbid = (SELECT oid FROM pg_database WHERE datname = current_database())
        ORDER BY ${order === 'total' ? total : mean} DESC
        LIMIT $1`,
      [limit],
    );
    return rows.map((r) => ({ queryid: String(r.queryid), calls: num(r.calls), total_ms: num(r.total_ms), mean_ms: num(r.mean_ms), rows: num(r.rows), query: String(r.query) }));
  }

  /** Tables with the most dead tuples first (the runbook's health check), with sequential vs index scans. */
  async tables(limit: number): Promise<TableRow[]> {
    const rows = await this.db.query<Record<string, unknown>>(
      `SELECT schemaname, relname AS tablename, seq_scan, idx_scan, n_live_tup, n_dead_tup,
              last_vacuum, last_autovacuum, last_analyze
         FROM pg_stat_user_tables
        ORDER BY n_dead_tup DESC, seq_scan DESC, schemaname, relname
        LIMIT $1`,
      [limit],
    );
    const iso = (v: unknown) => (v === null || v === undefined ? null : new Date(v as string).toISOString());
    return rows.map((r) => ({
      schemaname: String(r.schemaname),
      tablename: String(r.tablename),
      seq_scan: num(r.seq_scan),
      idx_scan: r.idx_scan === null ? null : num(r.idx_scan),
      n_live_tup: num(r.n_live_tup),
      n_dead_tup: num(r.n_dead_tup),
      last_vacuum: iso(r.last_vacuum),
      last_autovacuum: iso(r.last_autovacuum),
      last_analyze: iso(r.last_analyze),
    }));
  }

  /** Index usage, least used first (the runbook's index usage analysis). */
  async indexes(limit: number): Promise<IndexRow[]> {
    const rows = await this.db.query<Record<string, unknown>>(
      `SELECT s.schemaname, s.relname AS tablename, s.indexrelname AS indexname, s.idx_scan, s.idx_tup_read, s.idx_tup_fetch,
              pg_relation_size(s.indexrelid) AS bytes, (i.indisunique OR i.indisprimary) AS "unique"
         FROM pg_stat_user_indexes s JOIN pg_index i ON i.indexrelid = s.indexrelid
        ORDER BY s.idx_scan ASC, pg_relation_size(s.indexrelid) DESC, s.schemaname, s.indexrelname
        LIMIT $1`,
      [limit],
    );
    return rows.map((r) => ({
      schemaname: String(r.schemaname),
      tablename: String(r.tablename),
      indexname: String(r.indexname),
      idx_scan: num(r.idx_scan),
      idx_tup_read: num(r.idx_tup_read),
      idx_tup_fetch: num(r.idx_tup_fetch),
      bytes: num(r.bytes),
      unique: Boolean(r.unique),
    }));
  }

  /** Connections in use on the server and on this database, against max_connections. */
  async connections(): Promise<{ server: number; database: number; max: number; reserved: number }> {
    const [r] = await this.db.query<Record<string, unknown>>(
      `SELECT count(*) AS server, count(*) FILTER (WHERE datname = current_database()) AS database,
              current_setting('max_connections')::int AS max, current_setting('superuser_reserved_connections')::int AS reserved
         FROM pg_stat_activity WHERE backend_type = 'client backend'`,
    );
    return { server: num(r?.server), database: num(r?.database), max: num(r?.max), reserved: num(r?.reserved) };
  }
}
