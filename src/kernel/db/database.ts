import fs from 'node:fs';
import path from 'node:path';
// Each engine (and drizzle's adapter for it) is imported by the open function that uses it: a
// PostgreSQL process never loads PGlite, an embedded one never loads pg (ADR 0073).
import type { PGlite, QueryOptions } from '@electric-sql/pglite';
import type { PoolClient } from 'pg';
import type { PgDatabase, PgQueryResultHKT, PgTransaction } from 'drizzle-orm/pg-core';
import type { ExtractTablesWithRelations } from 'drizzle-orm';
import { classifyQuery } from './instrument.js';
import { useDrizzleParsers } from './pglite-parsers.js';
import { failSpan, SpanKind, startSpan, tracingEnabled } from '../telemetry/tracing.js';
import { installDatabaseErrorScrubbing, scrubDatabaseError } from './redact.js';
import { ensurePrivateDir } from '../private-fs.js';
import { postgresConnection, type DatabaseSslSettings } from './ssl.js';

export type Db = PgDatabase<PgQueryResultHKT, Record<string, never>>;
export type DbTx = PgTransaction<PgQueryResultHKT, Record<string, never>, ExtractTablesWithRelations<Record<string, never>>>;
/** What repository methods accept: the database, or a transaction that spans several writes. */
export type DbExecutor = Db | DbTx;

export type QueryObserver = (queryType: string, table: string, seconds: number) => void;

/** A connection on which raw SQL (several statements at once) can run; used by migrations. */
export interface RawClient {
  query<T = Record<string, unknown>>(sql: string, params?: unknown[]): Promise<T[]>;
  exec(sql: string): Promise<void>;
}

export interface Database {
  readonly kind: 'pglite' | 'postgres';
  /** The embedded engine (PGlite only), for libraries with their own PGlite adapter (pg-boss). */
  readonly pglite?: Pick<PGlite, 'query' | 'exec'>;
  readonly orm: Db;
  query<T = Record<string, unknown>>(sql: string, params?: unknown[]): Promise<T[]>;
  /**
   * A hot read as a named prepared statement: PostgreSQL parses and plans it once per pooled
   * connection (`name` must always come with the same `sql`); PGlite runs it as a plain query.
   */
  prepared<T = Record<string, unknown>>(name: string, sql: string, params: unknown[]): Promise<T[]>;
  /** Runs fn on one dedicated connection (session-level locks, multi-statement SQL). */
  withClient<T>(fn: (client: RawClient) => Promise<T>): Promise<T>;
  /** Runs fn in a transaction on one dedicated connection. */
  withTransaction<T>(fn: (client: RawClient) => Promise<T>): Promise<T>;
  ping(): Promise<void>;
  connectionStats(): { active: number; max: number };
  /** PGlite only: the whole data directory as a tarball (a migrated template for tests). */
  snapshot?(): Promise<Blob>;
  /**
   * PGlite only: a gzipped tarball of the data directory taken while no other transaction runs
   * (after a checkpoint), and what `inside` read in the same transaction (backups, ADR 0050).
   */
  backupSnapshot?<T>(inside: (client: RawClient) => Promise<T>): Promise<{ tar: Blob; result: T }>;
  /** PostgreSQL only: how to open another pool to the same server (pg-boss), TLS settings included. */
  readonly connection?: { connectionString: string; ssl?: false | import('node:tls').ConnectionOptions };
  close(): Promise<void>;
}

export interface DatabaseOptions {
  url?: string;
  /** PGlite data folder; omitted = in memory. */
  dataDir?: string;
  /** PGlite shared_buffers: its WASM heap never shrinks, so this bounds the embedded footprint. */
  pgliteSharedBuffers?: string;
  /** PGlite only: start from this data directory tarball (see Database.snapshot) instead of initdb. */
  pgliteLoadDataDir?: Blob;
  /**
   * PGlite only: what must finish before `dataDir` is opened (a new data folder being copied from
   * the template); PGlite's modules are loaded meanwhile (ADR 0097). A rejection fails the open.
   */
  pgliteDataDirReady?: Promise<unknown>;
  poolMax?: number;
  statementTimeoutMs?: number;
  observe?: QueryObserver;
  applicationName?: string;
  /** TLS to PostgreSQL (DATABASE_SSL_MODE, ssl.ts). */
  ssl?: DatabaseSslSettings;
}

export async function openDatabase(opts: DatabaseOptions): Promise<Database> {
  installDatabaseErrorScrubbing();
  return opts.url ? openPostgres(opts) : openPglite(opts);
}

/**
 * Times a statement for `database_query_duration_seconds` and, with tracing on and a span active,
 * opens a client span named by the statement's kind and table: never its text or values (ADR 0008).
 */
function timer(observe: QueryObserver | undefined, sql: string | undefined): (err?: unknown) => void {
  if (!sql || (!observe && !tracingEnabled())) return () => {};
  const start = process.hrtime.bigint();
  const { queryType, table } = classifyQuery(sql);
  const traced = startSpan(`${queryType} ${table}`, {
    kind: SpanKind.CLIENT,
    childOnly: true,
    attributes: { 'db.system.name': 'postgresql', 'db.operation.name': queryType, 'db.collection.name': table },
  });
  return (err?: unknown) => {
    observe?.(queryType, table, Number(process.hrtime.bigint() - start) / 1e9);
    if (traced) {
      if (err) failSpan(traced.span, err);
      traced.span.end();
    }
  };
}

async function openPostgres(opts: DatabaseOptions): Promise<Database> {
  const [{ default: pg }, { drizzle: drizzlePg }] = await Promise.all([import('pg'), import('drizzle-orm/node-postgres')]);
  const observe = opts.observe;
  // Every query of the pool, in or out of a transaction, passes through this client class.
  class InstrumentedClient extends pg.Client {
    // eslint-disable-next-line @typescript-eslint/no-explicit-any
    override query(...args: any[]): any {
      const first = args[0];
      if (first && typeof first === 'object' && typeof first.submit === 'function') {
        return (super.query as (...a: unknown[]) => unknown)(...args);
      }
      const text: string | undefined = typeof first === 'string' ? first : first?.text;
      const done = timer(observe, text);
      const cbIndex = args.findIndex((a) => typeof a === 'function');
      if (cbIndex >= 0) {
        const cb = args[cbIndex] as (...r: unknown[]) => void;
        args[cbIndex] = (...r: unknown[]) => {
          done(r[0]);
          cb(scrubDatabaseError(r[0]), ...r.slice(1));
        };
        return (super.query as (...a: unknown[]) => unknown)(...args);
      }
      const result = (super.query as (...a: unknown[]) => Promise<unknown>)(...args);
      return result.then(
        (value) => {
          done();
          return value;
        },
        (err: unknown) => {
          done(err);
          throw scrubDatabaseError(err);
        },
      );
    }
  }
  const poolMax = opts.poolMax ?? 10;
  const connection = postgresConnection(opts.url!, opts.ssl);
  const pool = new pg.Pool({
    ...connection,
    max: poolMax,
    Client: InstrumentedClient,
    statement_timeout: opts.statementTimeoutMs ?? 30_000,
    application_name: opts.applicationName ?? 'v01t',
    connectionTimeoutMillis: 10_000,
  });
  // An idle client that errors (server restart) must not crash the process; the pool replaces it.
  pool.on('error', () => {});
  // The pool listens only to idle clients. A checked-out client between statements (a transaction
  // awaiting other work, a LISTEN connection) whose connection drops emits 'error' with no listener,
  // which kills the process: every service crashed on a PostgreSQL restart (the chaos suite). With a
  // listener the error reaches the holder on its next statement, and release discards the client.
  pool.on('connect', (client) => {
    client.on('error', () => {});
  });
  const orm = drizzlePg({ client: pool }) as unknown as Db;
  const rawFrom = (c: PoolClient): RawClient => ({
    async query<T>(sql: string, params?: unknown[]) {
      return (await c.query(sql, params as unknown[])).rows as T[];
    },
    async exec(sql: string) {
      await c.query(sql);
    },
  });
  const withClient = async <T>(fn: (client: RawClient) => Promise<T>): Promise<T> => {
    const c = await pool.connect();
    try {
      return await fn(rawFrom(c));
    } finally {
      c.release();
    }
  };
  return {
    kind: 'postgres',
    connection,
    orm,
    async query<T>(sql: string, params?: unknown[]) {
      return (await pool.query(sql, params as unknown[])).rows as T[];
    },
    async prepared<T>(name: string, sql: string, params: unknown[]) {
      return (await pool.query({ name, text: sql, values: params })).rows as T[];
    },
    withClient,
    withTransaction: (fn) =>
      withClient(async (c) => {
        await c.exec('BEGIN');
        try {
          const r = await fn(c);
          await c.exec('COMMIT');
          return r;
        } catch (err) {
          await c.exec('ROLLBACK').catch(() => {});
          throw err;
        }
      }),
    async ping() {
      await pool.query('SELECT 1');
    },
    connectionStats: () => ({ active: pool.totalCount - pool.idleCount, max: poolMax }),
    async close() {
      await pool.end();
    },
  };
}

/**
 * PGlite's server settings. `wal_init_zero = off` (ADR 0086): a new 16 MB WAL segment is created
 * by writing its last byte instead of 16 MB of zeros. In memory, PGlite's file system grows a file
 * by 12.5 % per write past its end, copying all of it each time, so zero-filling one segment copied
 * ~130 MB; a scoring backlog creates one every ~2,000 events, and that copying was 15 % of the CPU
 * of scoring on PGlite. On disk the zeros only reserve space ahead (PGlite runs with fsync off);
 * segments recycled after a checkpoint are not filled either way.
 */
function pgliteConf(opts: Pick<DatabaseOptions, 'pgliteSharedBuffers'>): string {
  return [`shared_buffers=${opts.pgliteSharedBuffers ?? '8MB'}`, 'wal_init_zero=off'].join('\n');
}

async function openPglite(opts: DatabaseOptions): Promise<Database> {
  const [{ PGlite, types }, { drizzle: drizzlePglite }] = await Promise.all([import('@electric-sql/pglite'), import('drizzle-orm/pglite'), opts.pgliteDataDirReady]);
  if (opts.dataDir) ensurePrivateDir(path.dirname(opts.dataDir));
  const client = await PGlite.create({
    ...(opts.dataDir ? { dataDir: opts.dataDir } : {}),
    ...(opts.pgliteLoadDataDir ? { loadDataDir: opts.pgliteLoadDataDir } : {}),
    postgresqlconf: pgliteConf(opts),
  });
  // PGlite creates its folder itself, with the umask's mode: narrowed once it exists.
  if (opts.dataDir && fs.existsSync(opts.dataDir)) ensurePrivateDir(opts.dataDir);
  const observe = opts.observe;
  let inFlight = 0;
  // drizzle's per-query parsers made PGlite copy its whole parser table for every ORM statement:
  // the instance's parsers are drizzle's now, and other queries get PGlite's parsing back (ADR 0095).
  const parsing = useDrizzleParsers(client, types as never);
  // PGlite runs one statement at a time; wrap query/exec (and those of transactions) to time them.
  type Queryable = Pick<PGlite, 'query' | 'exec'>;
  const wrap = <Q extends Queryable>(target: Q): Q =>
    new Proxy(target, {
      get(t, prop, receiver) {
        if (prop === 'query') {
          return async (sql: string, params?: unknown[], o?: unknown) => {
            const done = timer(observe, sql);
            inFlight++;
            let failed: unknown;
            try {
              const run = parsing.options(o as QueryOptions | undefined);
              const result = await t.query(sql, params as unknown[], run.options);
              return run.reparse ? parsing.reparse(result) : result;
            } catch (err) {
              failed = err;
              throw scrubDatabaseError(err);
            } finally {
              inFlight--;
              done(failed);
            }
          };
        }
        if (prop === 'exec') {
          return async (sql: string, o?: unknown) => {
            const done = timer(observe, sql);
            inFlight++;
            let failed: unknown;
            try {
              const run = parsing.options(o as QueryOptions | undefined);
              const results = await t.exec(sql, run.options);
              return run.reparse ? results.map((r) => parsing.reparse(r)) : results;
            } catch (err) {
              failed = err;
              throw scrubDatabaseError(err);
            } finally {
              inFlight--;
              done(failed);
            }
          };
        }
        if (prop === 'transaction') {
          return (cb: (tx: unknown) => Promise<unknown>) =>
            (t as unknown as PGlite).transaction((tx) => cb(wrap(tx as unknown as Queryable)));
        }
        const value = Reflect.get(t, prop, receiver === target ? t : receiver);
        return typeof value === 'function' ? value.bind(t) : value;
      },
    });
  const instrumented = wrap(client);
  const orm = drizzlePglite({ client: instrumented as PGlite }) as unknown as Db;
  const rawFrom = (c: Queryable): RawClient => ({
    async query<T>(sql: string, params?: unknown[]) {
      return (await c.query<T>(sql, params as unknown[])).rows;
    },
    async exec(sql: string) {
      await c.exec(sql);
    },
  });
  return {
    kind: 'pglite',
    pglite: instrumented,
    orm,
    async query<T>(sql: string, params?: unknown[]) {
      return (await instrumented.query<T>(sql, params as unknown[])).rows;
    },
    async prepared<T>(_name: string, sql: string, params: unknown[]) {
      return (await instrumented.query<T>(sql, params)).rows;
    },
    withClient: (fn) => fn(rawFrom(instrumented)),
    withTransaction: (fn) =>
      (instrumented as PGlite).transaction(async (tx) => fn(rawFrom(tx as unknown as Queryable))) as never,
    async ping() {
      await instrumented.query('SELECT 1');
    },
    connectionStats: () => ({ active: inFlight > 0 ? 1 : 0, max: 1 }),
    snapshot: () => client.dumpDataDir('none'),
    // PGlite serialises transactions: inside one, no other writer runs, so the tarball is the state
    // this transaction sees. The checkpoint spares the restore a long WAL replay.
    backupSnapshot: <T>(inside: (c: RawClient) => Promise<T>) =>
      client.transaction(async (tx) => {
        const result = await inside(rawFrom(wrap(tx as unknown as Queryable)));
        await tx.exec('CHECKPOINT');
        return { tar: await client.dumpDataDir('gzip'), result };
      }) as Promise<{ tar: Blob; result: T }>,
    async close() {
      if (!client.closed) await client.close();
    },
  };
}
