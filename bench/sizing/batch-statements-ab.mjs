// ADR 0098: the batch scoring statements of two builds compared in place, in one process, on one
// database state. The PGlite scoring phase (`scoringThroughput`, batches of 200, 5,000 events) runs
// from build B; at each of its batches FROM..TO, before the real call, `countAndZones`, `readState`
// and `write` are each run ROUNDS times by build A's BatchScoringRepository and by build B's,
// alternated (A first in even rounds, B first in odd ones), each inside a savepoint that is rolled
// back, so both see the same rows. Prints the CPU of the process per call (statement building,
// PGlite's protocol and its WASM), A → B, and the load average: a load-robust A/B, since both builds
// run in the same seconds. In memory with MEM=1, else in a fresh data folder. With
// V01T_BENCH_PG_URL set, on a fresh PostgreSQL database instead (20,000 events, batches of 500), and
// the server backend's CPU per call too (from /proc; 10 ms ticks, so an average over many calls).
// Run: node bench/sizing/batch-statements-ab.mjs A_DIST [B_DIST=dist] [rounds=4] [from=6] [to=24]
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { scoringModules } from './scoring-modules.mjs';

const [distA, distB = 'dist', rounds = '4', from = '6', to = '24'] = process.argv.slice(2);
if (!distA) throw new Error('usage: batch-statements-ab.mjs A_DIST [B_DIST] [rounds] [from] [to]');
const { scoringThroughput, statements, openDatabase, migrate, migrationSets, at } = await scoringModules(distB);
const repoOf = async (dist) => (await import(pathToFileURL(path.resolve(dist, 'src/services/gamification/scoring.repository.js')).href)).BatchScoringRepository;
const [RepoA, RepoB] = [await repoOf(distA), await at('src/services/gamification/scoring.repository.js').then((m) => m.BatchScoringRepository)];
const { sql } = await import('drizzle-orm');
const a = new RepoA();
const b = new RepoB();
const methods = ['countAndZones', 'readState', 'write'];
const pgUrl = process.env.V01T_BENCH_PG_URL;
const cpu = new Map();
const serverMs = (pid) => {
  const f = fs.readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
  return (Number(f[11]) + Number(f[12])) * 10;
};
const calls = new Map();
for (const m of methods) {
  const own = RepoB.prototype[m];
  RepoB.prototype[m] = async function (...args) {
    const n = (calls.get(m) ?? 0) + 1;
    calls.set(m, n);
    if (n >= Number(from) && n <= Number(to)) {
      const tx = args[args.length - 1];
      const pid = pgUrl ? Number((await tx.execute(sql`SELECT pg_backend_pid() AS pid`)).rows[0].pid) : 0;
      for (let r = 0; r < Number(rounds); r++) {
        for (const side of r % 2 ? ['B', 'A'] : ['A', 'B']) {
          await tx.execute(sql`SAVEPOINT ab`);
          const c0 = process.cpuUsage();
          const s0 = pid ? serverMs(pid) : 0;
          await (side === 'A' ? a[m](...args) : own.apply(b, args));
          const c = process.cpuUsage(c0);
          const server = pid ? serverMs(pid) - s0 : 0;
          await tx.execute(sql`ROLLBACK TO SAVEPOINT ab`);
          const e = cpu.get(`${m} ${side}`) ?? { n: 0, us: 0, server: 0 };
          e.n++;
          e.us += c.user + c.system;
          e.server += server;
          cpu.set(`${m} ${side}`, e);
        }
      }
    }
    return own.apply(this, args);
  };
}
const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'v01t-ab-'));
const fresh = pgUrl ? await (await at('bench/support/postgres.js')).freshDatabase(pgUrl) : null;
const db = await openDatabase({ observe: statements.observe, ...(fresh ? { url: fresh.url, poolMax: 4 } : process.env.MEM ? {} : { dataDir: path.join(dir, 'db') }) });
try {
  await migrate(db, migrationSets);
  const load0 = fs.readFileSync('/proc/loadavg', 'utf8').split(' ')[0];
  await scoringThroughput(db.orm, fresh ? 'postgres' : 'pglite', fresh ? 20000 : 5000, undefined, fresh ? 1000 : 8000);
  const out = { A: distA, B: distB, load: `${load0}→${fs.readFileSync('/proc/loadavg', 'utf8').split(' ')[0]}` };
  const ms = (e) => (e ? (e.us / e.n / 1000).toFixed(2) : '-');
  for (const m of methods) out[`${m}_ms`] = `${ms(cpu.get(`${m} A`))} → ${ms(cpu.get(`${m} B`))}`;
  const server = (e) => (e ? (e.server / e.n).toFixed(2) : '-');
  if (fresh) for (const m of methods) out[`${m}_server_ms`] = `${server(cpu.get(`${m} A`))} → ${server(cpu.get(`${m} B`))}`;
  console.log(JSON.stringify(out));
} finally {
  await db.close();
  await fresh?.drop();
  fs.rmSync(dir, { recursive: true, force: true });
}
process.exit(0);
