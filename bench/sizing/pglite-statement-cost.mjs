// ADR 0095: what one small PGlite statement costs through the Database of a build (its dist
// folder): CPU microseconds and bytes allocated per statement, for a drizzle statement
// (orm.execute, the consumers' and relay's kind), a raw one (Database.query, pg-boss's kind) and a raw
// one that returns a timestamptz. Allocation is counted as V8 sees it: run with
// `node --max-semi-space-size=1 --min-semi-space-size=1`, each scavenge is ~1 MB allocated (the
// line says so when not). Alternate two builds: `for d in A/dist B/dist A/dist B/dist; do ...; done`.
// Run: node --max-semi-space-size=1 --min-semi-space-size=1 bench/sizing/pglite-statement-cost.mjs [dist=dist] [n=4000]
import path from 'node:path';
import fs from 'node:fs';
import { PerformanceObserver } from 'node:perf_hooks';
import { pathToFileURL } from 'node:url';

const [dist = 'dist', n = '4000'] = process.argv.slice(2);
const at = (p) => import(pathToFileURL(path.resolve(dist, p)).href);
const { openDatabase } = await at('src/kernel/db/database.js');
const { sql } = await import(pathToFileURL(path.resolve(dist, '..', 'node_modules/drizzle-orm/index.js')).href);
const db = await openDatabase({});
await db.query('CREATE TABLE outbox (seq bigserial PRIMARY KEY, published_at timestamptz, payload jsonb)');
await db.query(`INSERT INTO outbox (published_at, payload) SELECT now(), '{"a":1}' FROM generate_series(1, 100)`);
let scavenges = 0;
new PerformanceObserver((l) => (scavenges += l.getEntries().filter((e) => e.detail?.kind === 1).length)).observe({ entryTypes: ['gc'] });
const kinds = {
  drizzle: () => db.orm.execute(sql`SELECT EXISTS (SELECT 1 FROM outbox WHERE published_at IS NULL) AS any`),
  raw: () => db.query('SELECT EXISTS (SELECT 1 FROM outbox WHERE published_at IS NULL) AS any'),
  raw_timestamptz: () => db.query('SELECT seq, published_at FROM outbox WHERE seq = $1', [7]),
};
const out = {};
for (const [kind, run] of Object.entries(kinds)) {
  for (let i = 0; i < 1000; i++) await run(); // warm
  scavenges = 0;
  const cpu = process.cpuUsage();
  for (let i = 0; i < Number(n); i++) await run();
  const c = process.cpuUsage(cpu);
  await new Promise((r) => setTimeout(r, 50));
  out[kind] = { cpu_us: Math.round((c.user + c.system) / Number(n)), alloc_kb_by_scavenges: Math.round((scavenges * 1024) / Number(n)) };
}
await db.close();
console.log(JSON.stringify({ dist, load: fs.readFileSync('/proc/loadavg', 'utf8').split(' ')[0], ...out }));
