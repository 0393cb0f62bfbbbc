import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import type { RawClient } from '../db/database.js';
import type { DatabaseSslSettings } from '../db/ssl.js';

const run = promisify(execFile);

/** What a backup's manifest says about the database: applied migrations and rows per table. */
export async function describeDatabase(c: RawClient): Promise<{ migrations: string[]; rowCounts: Record<string, number> }> {
  const tables = await c.query<{ s: string; t: string }>(
    `SELECT table_schema AS s, table_name AS t FROM information_schema.tables
      WHERE table_type = 'BASE TABLE' AND table_schema NOT IN ('pg_catalog', 'information_schema') AND table_schema NOT LIKE 'pg\\_%'
      ORDER BY 1, 2`,
  );
  const rowCounts: Record<string, number> = {};
  for (const { s, t } of tables) {
    const q = (x: string) => `"${x.replace(/"/g, '""')}"`;
    const [r] = await c.query<{ n: string | number }>(`SELECT count(*) AS n FROM ${q(s)}.${q(t)}`);
    rowCounts[`${s}.${t}`] = Number(r?.n ?? 0);
  }
  const migrations = rowCounts['kernel.migrations'] !== undefined ? (await c.query<{ m: string }>(`SELECT service || '/' || id AS m FROM kernel.migrations ORDER BY service, id`)).map((r) => r.m) : [];
  return { migrations, rowCounts };
}

/** Tables of the database outside PostgreSQL's own schemas (a restore target must have none without --force). */
export async function userTableCount(c: RawClient): Promise<number> {
  const [r] = await c.query<{ n: string | number }>(
    `SELECT count(*) AS n FROM information_schema.tables WHERE table_type = 'BASE TABLE' AND table_schema NOT IN ('pg_catalog', 'information_schema') AND table_schema NOT LIKE 'pg\\_%'`,
  );
  return Number(r?.n ?? 0);
}

/**
 * PostgreSQL tools run with the password in PGPASSWORD, never on the command line (the process
 * list shows arguments to every user of the machine).
 */
function connection(url: string, ssl?: DatabaseSslSettings): { dbname: string; env: NodeJS.ProcessEnv } {
  const u = new URL(url);
  const password = decodeURIComponent(u.password);
  u.password = '';
  const env: NodeJS.ProcessEnv = { ...process.env, ...(password ? { PGPASSWORD: password } : {}) };
  // DATABASE_SSL_* win over the URL's ssl parameters, as for the platform's pools (kernel/db/ssl.ts).
  if (ssl) {
    for (const k of ['sslmode', 'ssl', 'sslcert', 'sslkey', 'sslrootcert', 'sslpassword', 'uselibpqcompat']) u.searchParams.delete(k);
    env.PGSSLMODE = ssl.mode;
    if (ssl.caFile) env.PGSSLROOTCERT = ssl.caFile;
    if (ssl.certFile) env.PGSSLCERT = ssl.certFile;
    if (ssl.keyFile) env.PGSSLKEY = ssl.keyFile;
  }
  return { dbname: u.toString(), env };
}

/**
 * A REPEATABLE READ transaction whose snapshot pg_dump shares (`--snapshot`): the row counts of the
 * manifest and the dump see the same committed state, while the server keeps serving.
 */
export async function pgDumpConsistent<T>(c: RawClient, url: string, file: string, inside: (c: RawClient) => Promise<T>, ssl?: DatabaseSslSettings): Promise<T> {
  await c.exec('BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY');
  try {
    const [snap] = await c.query<{ s: string }>('SELECT pg_export_snapshot() AS s');
    const result = await inside(c);
    const { dbname, env } = connection(url, ssl);
    // The runbook's pg_dump, in the custom format (compressed, restorable table by table).
    await run('pg_dump', ['--format=custom', '--compress=6', '--no-owner', '--no-privileges', `--snapshot=${snap!.s}`, `--file=${file}`, `--dbname=${dbname}`], { env, maxBuffer: 16 * 1024 * 1024 }).catch((err: unknown) => {
      throw toolError('pg_dump', err);
    });
    return result;
  } finally {
    await c.exec('COMMIT').catch(() => {});
  }
}

export async function pgRestore(url: string, file: string, opts: { clean: boolean; ssl?: DatabaseSslSettings }): Promise<void> {
  const { dbname, env } = connection(url, opts.ssl);
  try {
    await run('pg_restore', ['--no-owner', '--no-privileges', '--exit-on-error', '--single-transaction', ...(opts.clean ? ['--clean', '--if-exists'] : []), `--dbname=${dbname}`, file], { env, maxBuffer: 16 * 1024 * 1024 });
  } catch (err) {
    throw toolError('pg_restore', err);
  }
}

function toolError(tool: string, err: unknown): Error {
  const e = err as NodeJS.ErrnoException & { stderr?: string };
  if (e.code === 'ENOENT') return new Error(`${tool} is not installed (Debian: apt-get install postgresql-client-15)`);
  return new Error(`${tool} failed: ${(e.stderr ?? e.message ?? String(err)).trim().split('\n').slice(-3).join(' ')}`);
}
