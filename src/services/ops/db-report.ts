import type { DbReportRepository, IndexRow, StatementRow, TableRow } from './db-report.repository.js';

/**
 * `v01t db report` and GET /v1/ops/db/report: what an operator reads when the database slows
 * (runbook: "Database health check", "Database Performance Optimization"): the top statements by
 * total and mean time, tables by dead tuples with sequential vs index scans, index usage and the
 * unused indexes, connections against max_connections. A part the server cannot give (the
 * pg_stat_statements extension not loaded, the embedded PGlite) says why and how to enable it.
 */
export const ENABLE_STATEMENTS =
  "add shared_preload_libraries = 'pg_stat_statements' to postgresql.conf (RDS: the parameter group; Helm/Bitnami: primary.extendedConfiguration), restart PostgreSQL, then run CREATE EXTENSION pg_stat_statements; in the v01t database";

export interface Section<T> {
  available: boolean;
  /** Why the section is empty, and what to do. */
  reason?: string;
  rows: T[];
}

export interface DbReport {
  database: { kind: 'pglite' | 'postgres'; version: string };
  statementsByTotalTime: Section<StatementRow>;
  statementsByMeanTime: Section<StatementRow>;
  tables: Section<TableRow>;
  indexUsage: Section<IndexRow>;
  /** Indexes never scanned since the statistics were reset, excluding unique and primary keys (they enforce constraints). */
  unusedIndexes: Section<IndexRow>;
  connections: { available: boolean; reason?: string; server: number; database: number; max: number; usedRatio: number };
  generatedAt: string;
}

async function section<T>(read: () => Promise<T[]>): Promise<Section<T>> {
  try {
    return { available: true, rows: await read() };
  } catch (err) {
    return { available: false, reason: `the server refused: ${(err as Error).message.split('\n')[0]}`, rows: [] };
  }
}

export async function buildDbReport(repo: DbReportRepository, opts: { limit: number; now?: Date }): Promise<DbReport> {
  const version = await repo.serverVersion().catch(() => 'unknown');
  const embedded = repo.kind === 'pglite';
  let byTotal: Section<StatementRow>;
  let byMean: Section<StatementRow>;
  if (embedded) {
    const reason = 'the embedded PGlite keeps no statement statistics: run v01t on PostgreSQL (DATABASE_URL) with pg_stat_statements for them';
    byTotal = { available: false, reason, rows: [] };
    byMean = { available: false, reason, rows: [] };
  } else if (!(await repo.hasStatementsExtension().catch(() => false))) {
    const reason = `the pg_stat_statements extension is not installed in this database: ${ENABLE_STATEMENTS}`;
    byTotal = { available: false, reason, rows: [] };
    byMean = { available: false, reason, rows: [] };
  } else {
    const explain = (s: Section<StatementRow>) =>
      !s.available && /shared_preload_libraries/.test(s.reason ?? '') ? { ...s, reason: `pg_stat_statements is installed but the server did not preload it: ${ENABLE_STATEMENTS}` } : s;
    byTotal = explain(await section(() => repo.topStatements('total', opts.limit)));
    byMean = explain(await section(() => repo.topStatements('mean', opts.limit)));
  }
  const tables = await section(() => repo.tables(opts.limit));
  const indexes = await section(() => repo.indexes(1000));
  const conn = await repo.connections().then(
    (c) => ({ available: true, server: c.server, database: c.database, max: c.max, usedRatio: c.max > 0 ? c.server / c.max : 0 }),
    (err: Error) => ({ available: false, reason: `the server refused: ${err.message.split('\n')[0]}`, server: 0, database: 0, max: 0, usedRatio: 0 }),
  );
  return {
    database: { kind: repo.kind, version },
    statementsByTotalTime: byTotal,
    statementsByMeanTime: byMean,
    tables,
    indexUsage: { ...indexes, rows: indexes.rows.slice(0, opts.limit) },
    unusedIndexes: { ...indexes, rows: indexes.rows.filter((i) => i.idx_scan === 0 && !i.unique) },
    connections: conn,
    generatedAt: (opts.now ?? new Date()).toISOString(),
  };
}

const ms = (n: number) => (n >= 1000 ? `${(n / 1000).toFixed(1)} s` : `${n.toFixed(1)} ms`);
const oneLine = (q: string) => q.replace(/\s+/g, ' ').slice(0, 120);

/** The report as an operator reads it in a terminal. */
export function formatDbReport(r: DbReport): string {
  const out: string[] = [`Database report (${r.database.kind} ${r.database.version}, ${r.generatedAt})`, ''];
  const statements = (title: string, s: Section<StatementRow>) => {
    out.push(title);
    if (!s.available) out.push(`  unavailable: ${s.reason}`);
    else if (!s.rows.length) out.push('  (no statements recorded yet)');
    for (const x of s.rows) out.push(`  ${ms(x.total_ms).padStart(9)} total  ${ms(x.mean_ms).padStart(9)} mean  ${String(x.calls).padStart(8)} calls  ${oneLine(x.query)}`);
    out.push('');
  };
  statements('Top statements by total time (pg_stat_statements)', r.statementsByTotalTime);
  statements('Top statements by mean time', r.statementsByMeanTime);
  out.push('Tables by dead tuples (pg_stat_user_tables)');
  if (!r.tables.available) out.push(`  unavailable: ${r.tables.reason}`);
  for (const t of r.tables.rows) {
    out.push(`  ${`${t.schemaname}.${t.tablename}`.padEnd(44)} live ${String(t.n_live_tup).padStart(9)}  dead ${String(t.n_dead_tup).padStart(8)}  seq scans ${String(t.seq_scan).padStart(8)}  index scans ${String(t.idx_scan ?? '-').padStart(8)}`);
  }
  out.push('', 'Unused indexes (never scanned; unique and primary keys excluded)');
  if (!r.unusedIndexes.available) out.push(`  unavailable: ${r.unusedIndexes.reason}`);
  else if (!r.unusedIndexes.rows.length) out.push('  none');
  for (const i of r.unusedIndexes.rows) out.push(`  ${`${i.schemaname}.${i.indexname}`.padEnd(60)} on ${i.tablename}  ${(i.bytes / 1024).toFixed(0)} kB`);
  out.push('', 'Connections');
  if (!r.connections.available) out.push(`  unavailable: ${r.connections.reason}`);
  else out.push(`  ${r.connections.server} of ${r.connections.max} in use on the server (${(r.connections.usedRatio * 100).toFixed(1)} %), ${r.connections.database} on this database`);
  return `${out.join('\n')}\n`;
}
