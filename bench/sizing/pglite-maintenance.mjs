// ADR 0094: what a maintenance pass costs on a bloated embedded gamification database. Scores
// `events` gamification events through the bus (the same `scoringThroughput` as
// bench/sizing/pglite-scoring.mjs, per-event baseline `baselineMs`) into a PGlite data folder, then
// runs one pass (`DatabaseMaintenance.runPass`: every table past autovacuum's formulas) and prints,
// per table, the statement's milliseconds, dead tuples before and after and the size before and
// after, then the pass's total and the CPU it took (process.cpuUsage), with the load average.
// With rounds > 1, scores `events` again after the pass, `rounds` times, and prints the size of the
// database's tables after each round; V01T_BENCH_NO_PASS=1 runs the same rounds without any pass
// (the old code), to compare how the files grow.
// Run: node bench/sizing/pglite-maintenance.mjs [dist=dist] [events=5000] [baselineMs=2000] [rounds=1]
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { scoringModules } from './scoring-modules.mjs';

const [dist = 'dist', events = '5000', baselineMs = '2000', rounds = '1'] = process.argv.slice(2);
const { scoringThroughput, openDatabase, migrate, migrationSets, at } = await scoringModules(dist);
const { DatabaseMaintenance } = await at('src/apps/db-maintenance.js');
const load = () => readFileSync('/proc/loadavg', 'utf8').split(' ')[0];
const dir = mkdtempSync(path.join(os.tmpdir(), 'v01t-maintenance-bench-'));
const db = await openDatabase({ dataDir: path.join(dir, 'pg') });
const tableStats = async () => {
  await db.query('SELECT pg_stat_force_next_flush()');
  const rows = await db.query(`SELECT schemaname || '.' || relname AS name, n_live_tup::int AS live, n_dead_tup::int AS dead, pg_total_relation_size(relid)::int AS bytes FROM pg_stat_all_tables WHERE schemaname NOT IN ('pg_toast', 'information_schema')`);
  return new Map(rows.map((r) => [r.name, r]));
};
// Each round's bus is another replica: the previous round's lease on the consumer group is let go.
const nextRound = () => db.query('UPDATE kernel.event_consumers SET owner = NULL, lease_until = NULL');
const totalKb = (stats) => Math.round([...stats.values()].reduce((n, r) => n + r.bytes, 0) / 1024);
try {
  await migrate(db, migrationSets);
  const load0 = load();
  await scoringThroughput(db.orm, 'pglite', Number(events), undefined, Number(baselineMs));
  const before = await tableStats();
  const logger = { debug: () => {}, info: () => {}, warn: (o, m) => console.error(m, o) };
  if (process.env.V01T_BENCH_NO_PASS === '1') {
    // The old code: the same rounds, no pass at all.
    console.log(JSON.stringify({ round: 1, pass: false, tablesKb: totalKb(before) }));
    for (let r = 2; r <= Number(rounds); r++) {
      await nextRound();
      await scoringThroughput(db.orm, 'pglite', Number(events), undefined, Number(baselineMs));
      console.log(JSON.stringify({ round: r, pass: false, tablesKb: totalKb(await tableStats()) }));
    }
    await db.close();
    rmSync(dir, { recursive: true, force: true });
    process.exit(0);
  }
  const maintenance = new DatabaseMaintenance({ database: db, logger, busy: () => 0 });
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  const steps = await maintenance.runPass();
  const wallMs = performance.now() - t0;
  const cpu = process.cpuUsage(cpu0);
  const after = await tableStats();
  for (const s of steps.sort((a, b) => b.ms - a.ms)) {
    const name = `${s.schema}.${s.table}`;
    const b = before.get(name);
    const a = after.get(name);
    console.log(
      `${name.padEnd(36)} ${s.action.padEnd(7)} ${s.reason.padEnd(11)} ${s.ms.toFixed(1).padStart(7)} ms  live ${String(b?.live).padStart(6)}  dead ${String(b?.dead).padStart(6)} -> ${String(a?.dead).padStart(5)}  ${Math.round((b?.bytes ?? 0) / 1024)} -> ${Math.round((a?.bytes ?? 0) / 1024)} kB${s.error ? `  ERROR ${s.error}` : ''}`,
    );
  }
  const user = steps.filter((s) => !s.schema.startsWith('pg_'));
  console.log(
    JSON.stringify({
      events: Number(events),
      tables: steps.length,
      userTables: user.length,
      passWallMs: Math.round(wallMs),
      passStatementMs: Math.round(steps.reduce((n, s) => n + s.ms, 0)),
      passCpuMs: Math.round((cpu.user + cpu.system) / 1000),
      maxTableMs: Math.round(Math.max(...steps.map((s) => s.ms))),
      deadBefore: [...before.values()].reduce((n, r) => n + r.dead, 0),
      deadAfter: [...after.values()].reduce((n, r) => n + r.dead, 0),
      load: `${load0}→${load()}`,
    }),
  );
  // A second pass right after: nothing left past the thresholds, only the listing.
  const t1 = performance.now();
  const again = await maintenance.runPass();
  console.log(JSON.stringify({ secondPassTables: again.length, secondPassMs: Math.round(performance.now() - t1) }));
  console.log(JSON.stringify({ round: 1, pass: true, tablesKb: totalKb(after) }));
  for (let r = 2; r <= Number(rounds); r++) {
    await nextRound();
    await scoringThroughput(db.orm, 'pglite', Number(events), undefined, Number(baselineMs));
    const grown = await tableStats();
    const t = performance.now();
    const roundSteps = await maintenance.runPass();
    console.log(JSON.stringify({ round: r, pass: true, tablesKb: totalKb(grown), passMs: Math.round(performance.now() - t), maxTableMs: Math.round(Math.max(...roundSteps.map((s) => s.ms))) }));
  }
} finally {
  await db.close();
  rmSync(dir, { recursive: true, force: true });
}
process.exit(0);
