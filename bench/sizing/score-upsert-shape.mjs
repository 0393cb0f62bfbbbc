// ADR 0093 sizing: the score upsert on in-memory PGlite, ON CONFLICT DO UPDATE (today's shape) against an
// UPDATE of existing rows plus an INSERT of missing ones in one statement; two workspaces, the same
// 60 batches of ~1,400 keys alternately; prints ms per batch (the last 40) and checks both end equal.
// Run after a build: node bench/sizing/score-upsert-shape.mjs [dist=dist]
import { randomUUID } from 'node:crypto';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
const D = pathToFileURL(path.resolve(process.argv[2] ?? 'dist')).href + '/';
const { openDatabase } = await import(D + 'src/kernel/db/database.js');
const { migrate } = await import(D + 'src/kernel/db/migrate.js');
const { GAMIFICATION_MIGRATIONS } = await import(D + 'src/services/gamification/migrations.js');
const db = await openDatabase({});
await migrate(db, [{ service: 'gamification', migrations: GAMIFICATION_MIGRATIONS }]);
const users = Array.from({ length: 2000 }, () => randomUUID());
const lit = (xs) => `{${xs.join(',')}}`;
const A = randomUUID(), B = randomUUID();
const onConflict = (ws, rows) => db.query(`INSERT INTO gamification.scores AS t (workspace_id, board, period, user_id, score)
  SELECT $1::uuid, r.b, r.p, r.u, r.d FROM unnest($2::text[], $3::text[], $4::uuid[], $5::bigint[]) AS r(b, p, u, d)
  ON CONFLICT (workspace_id, board, period, user_id) DO UPDATE SET score = t.score + EXCLUDED.score`, [ws, lit(rows.map((r) => r.b)), lit(rows.map((r) => r.p)), lit(rows.map((r) => r.u)), lit(rows.map((r) => r.d))]);
const split = (ws, rows) => db.query(`WITH r AS MATERIALIZED (SELECT * FROM unnest($2::text[], $3::text[], $4::uuid[], $5::bigint[]) AS r(b, p, u, d)),
  up AS (UPDATE gamification.scores t SET score = t.score + r.d FROM r WHERE t.workspace_id = $1::uuid AND t.board = r.b AND t.period = r.p AND t.user_id = r.u RETURNING 1),
  ins AS (INSERT INTO gamification.scores (workspace_id, board, period, user_id, score)
    SELECT $1::uuid, r.b, r.p, r.u, r.d FROM r WHERE NOT EXISTS (SELECT 1 FROM gamification.scores s WHERE s.workspace_id = $1::uuid AND s.board = r.b AND s.period = r.p AND s.user_id = r.u) RETURNING 1)
  SELECT (SELECT count(*) FROM up) AS u, (SELECT count(*) FROM ins) AS i`, [ws, lit(rows.map((r) => r.b)), lit(rows.map((r) => r.p)), lit(rows.map((r) => r.u)), lit(rows.map((r) => r.d))]);
const boards = ['workspace', 'builder', 'creator'];
const t = { a: 0, b: 0 };
let seed = 1; const rnd = () => ((seed = (seed * 1103515245 + 12345) % 2147483648) / 2147483648);
for (let b = 0; b < 60; b++) {
  const m = new Map();
  for (let e = 0; e < 240; e++) {
    const u = users[Math.floor(rnd() * 2000)];
    for (const board of ['workspace', boards[1 + Math.floor(rnd() * 2)]]) for (const p of ['all', `w${Math.floor(b / 8)}`, `m${Math.floor(b / 25)}`]) {
      const k = `${board}|${p}|${u}`; const r = m.get(k) ?? { b: board, p, u, d: 0 }; r.d += 1 + Math.floor(rnd() * 20); m.set(k, r);
    }
  }
  const rows = [...m.keys()].sort().map((k) => m.get(k));
  const order = b % 2 ? [['a', onConflict, A], ['b', split, B]] : [['b', split, B], ['a', onConflict, A]];
  for (const [name, fn, ws] of order) {
    await db.query('BEGIN');
    const t0 = performance.now(); await fn(ws, rows); const dt = performance.now() - t0;
    await db.query('COMMIT');
    if (b >= 20) t[name] += dt;
  }
}
const cmp = await db.query(`SELECT count(*)::int AS n FROM gamification.scores a FULL JOIN gamification.scores b ON b.workspace_id = $2 AND a.board = b.board AND a.period = b.period AND a.user_id = b.user_id AND a.score = b.score WHERE (a.workspace_id = $1 OR a.workspace_id IS NULL) AND (b.workspace_id = $2 OR b.workspace_id IS NULL) AND (a.user_id IS NULL OR b.user_id IS NULL)`, [A, B]);
const cc = await db.query(`SELECT workspace_id = $1 AS a, count(*)::int, sum(members)::int FROM gamification.score_counts GROUP BY 1 ORDER BY 1`, [A]);
console.log(JSON.stringify({ onConflict_ms_per_batch: +(t.a / 40).toFixed(1), updateThenInsert_ms_per_batch: +(t.b / 40).toFixed(1), rows_differing: cmp[0].n, counts: cc }));
await db.close(); process.exit(0);
