// ADR 0093: only the PGlite scoring phase of `npm run bench -- gamification`, for quick A/B runs of
// two builds: the same `scoringThroughput` (bus + batch handler, default batch 200 or
// V01T_BENCH_GAMIFICATION_BATCH) imported from a given build's dist folder, so a base worktree's dist
// can be run beside this one's. In memory, or in a data folder with V01T_BENCH_PGLITE_DIR=<new dir>.
// The per-event baseline runs for `baselineMs` first (default 10,000 as in the bench): it is also
// the warm-up; without it the batches run partly on V8's first-tier WASM code and cost ~30-50 % more
// CPU (ADR 0093). Prints the figures plus the load average as one JSON line; with
// V01T_BENCH_STATEMENT_SPLIT=1 also each statement of a batch timed apart, the WAL written and the
// page misses per table.
// Run: node bench/sizing/pglite-scoring.mjs [dist=dist] [events=5000] [baselineMs=10000]
import { readFileSync } from 'node:fs';
import { scoringModules } from './scoring-modules.mjs';

const [dist = 'dist', events = '5000', baselineMs = '10000'] = process.argv.slice(2);
const { scoringThroughput, statements, openDatabase, migrate, migrationSets } = await scoringModules(dist);
const load0 = readFileSync('/proc/loadavg', 'utf8').split(' ')[0];
// V01T_BENCH_STATEMENT_SPLIT=1: the three `unnest` statements of a batch (countAndZones, readState,
// write, in that order after the bus's poll) timed apart, printed after the figures.
const split = process.env.V01T_BENCH_STATEMENT_SPLIT === '1' ? new Map() : null;
let ordinal = 0;
const observe = (queryType, table, seconds) => {
  statements.observe(queryType, table, seconds);
  if (!split || !statements.on) return;
  if (table === 'kernel.outbox' && queryType === 'select') ordinal = 0;
  const key = table === 'unnest' ? `${queryType} unnest #${ordinal++}` : `${queryType} ${table}`;
  const e = split.get(key) ?? { n: 0, ms: 0 };
  e.n++;
  e.ms += seconds * 1000;
  split.set(key, e);
};
const db = await openDatabase({ observe, ...(process.env.V01T_BENCH_PGLITE_DIR ? { dataDir: process.env.V01T_BENCH_PGLITE_DIR } : {}) });
try {
  await migrate(db, migrationSets);
  const figures = await scoringThroughput(db.orm, 'pglite', Number(events), undefined, Number(baselineMs));
  const load1 = readFileSync('/proc/loadavg', 'utf8').split(' ')[0];
  console.log(JSON.stringify({ dist, load: `${load0}→${load1}`, ...figures }));
  if (split) {
    // Where the page misses went (a fresh in-memory database: these are the run's).
    const io = await db.query(`SELECT relname, pg_total_relation_size(relid) / 1024 AS kb, heap_blks_read AS heap_read, coalesce(idx_blks_read, 0) AS idx_read,
        (SELECT n_live_tup FROM pg_stat_user_tables t WHERE t.relid = s.relid) AS live, (SELECT n_dead_tup FROM pg_stat_user_tables t WHERE t.relid = s.relid) AS dead
      FROM pg_statio_user_tables s WHERE heap_blks_read + coalesce(idx_blks_read, 0) > 0 ORDER BY heap_blks_read + coalesce(idx_blks_read, 0) DESC LIMIT 12`);
    const [wal] = await db.query(`SELECT wal_records, wal_fpi, wal_bytes FROM pg_stat_wal`);
    console.log(`WAL since start: ${wal.wal_records} records, ${wal.wal_fpi} full-page images, ${Math.round(Number(wal.wal_bytes) / 1024)} kB`);
    for (const r of io) console.log(`${String(r.relname).padEnd(24)} ${String(r.kb).padStart(7)} kB, pages read: heap ${r.heap_read}, indexes ${r.idx_read}; tuples live ${r.live}, dead ${r.dead}`);
  }
  if (split) for (const [key, e] of [...split].sort((a, b) => b[1].ms - a[1].ms)) console.log(`${key.padEnd(44)} ${String(e.n).padStart(5)} × ${(e.ms / e.n).toFixed(2).padStart(7)} ms = ${e.ms.toFixed(0).padStart(6)} ms`);
} finally {
  await db.close();
}
process.exit(0);
