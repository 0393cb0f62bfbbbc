import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import pg from 'pg';

/** A throwaway database on the local PostgreSQL, so benchmarks never touch real data. */
export async function freshDatabase(adminUrl: string): Promise<{ url: string; drop: () => Promise<void> }> {
  const name = `v01t_bench_${randomBytes(4).toString('hex')}`;
  const run = async (sql: string) => {
    const c = new pg.Client({ connectionString: adminUrl });
    await c.connect();
    try {
      await c.query(sql);
    } finally {
      await c.end();
    }
  };
  await run(`CREATE DATABASE ${name}`);
  const url = new URL(adminUrl);
  url.pathname = `/${name}`;
  return { url: url.toString(), drop: () => run(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`) };
}

export interface ServerSide { cpuMs: number; commits: number }

/**
 * The database's server-side counters: its committed transactions (pg_stat_database, every client's,
 * pg-boss's pool too) and the CPU its backends used so far, read from /proc (a server on this
 * machine only, else 0; a backend that already exited is not counted).
 */
export async function serverSide(url: string): Promise<ServerSide> {
  const c = new pg.Client({ connectionString: url });
  await c.connect();
  try {
    // Backends report their counters at most once a second: ask for a fresh snapshot.
    await c.query('SELECT pg_stat_clear_snapshot()');
    const name = new URL(url).pathname.slice(1);
    const { rows } = await c.query<{ commits: string; pids: number[] }>(
      'SELECT (SELECT xact_commit FROM pg_stat_database WHERE datname = $1) AS commits, array(SELECT pid FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()) AS pids',
      [name],
    );
    let ticks = 0;
    for (const pid of rows[0]?.pids ?? []) {
      try {
        const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
        const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
        ticks += Number(f[11]) + Number(f[12]);
      } catch {
        // not on this machine, or gone
      }
    }
    return { cpuMs: ticks * 10, commits: Number(rows[0]?.commits ?? 0) };
  } finally {
    await c.end();
  }
}
