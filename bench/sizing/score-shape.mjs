// ADR 0091 sizing: server CPU of the score write per 1,000 scored events, today's shape (one row per
// member, board and period; PK + rank index; bucket-count triggers) against a wide shape (one row
// per member and board holding the all/week/month scores; PK + one rank index per period; the same
// bucket counts through an unpivoting trigger). Raw SQL on a throwaway database, no service code:
// the bench's event mix (2,000 members, 6 kinds, 20 days, 500-event batches; 2.33 boards per event)
// aggregated per key as scoreBatch does, written with the same unnest-of-arrays statement shape as
// BatchScoringRepository.write. Server CPU is the backend's utime+stime from /proc.
// Run: node bench/sizing/score-shape.mjs [rounds=3] [events=20000] [seed=200000]
import { readFileSync } from 'node:fs';
import { randomUUID } from 'node:crypto';
import pg from 'pg';

const [rounds = 3, N = 20000, SEED = 200000] = process.argv.slice(2).map(Number);
const ADMIN = 'postgres://postgres@127.0.0.1:5432/test';
const DB = 'w31b_score_shape';
const TICK = 10; // ms per clock tick (CLK_TCK 100)

const cpuOf = (pid) => {
  const f = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const parts = f.slice(f.lastIndexOf(')') + 2).split(' ');
  return (Number(parts[11]) + Number(parts[12])) * TICK;
};
const lit = (xs) => `{${xs.map((x) => (typeof x === 'number' ? String(x) : `"${x}"`)).join(',')}}`;

const COUNTS = `
CREATE TABLE score_counts (workspace_id uuid NOT NULL, board text NOT NULL, period text NOT NULL, lvl smallint NOT NULL, bucket bigint NOT NULL, members bigint NOT NULL,
  PRIMARY KEY (workspace_id, board, period, lvl, bucket) INCLUDE (members));`;
// Migration 0004's trigger body over a relation `src(workspace_id, board, period, score)` per side.
const countsSql = (newSrc, oldSrc) => `
  IF TG_OP = 'INSERT' THEN
    INSERT INTO score_counts AS c (workspace_id, board, period, lvl, bucket, members)
      SELECT f.workspace_id, f.board, f.period, l.lvl, f.b >> (l.lvl - 4), sum(f.n)
      FROM (SELECT workspace_id, board, period, score >> 4 AS b, count(*) AS n FROM ${newSrc} GROUP BY 1, 2, 3, 4) f
      CROSS JOIN (VALUES (4::smallint), (8::smallint), (16::smallint), (24::smallint)) AS l(lvl)
      GROUP BY 1, 2, 3, 4, 5 ORDER BY 1, 2, 3, 4, 5
      ON CONFLICT (workspace_id, board, period, lvl, bucket) DO UPDATE SET members = c.members + EXCLUDED.members;
  ELSE
    INSERT INTO score_counts AS c (workspace_id, board, period, lvl, bucket, members)
      SELECT f.workspace_id, f.board, f.period, l.lvl, f.b >> (l.lvl - 4), sum(f.n)
      FROM (SELECT workspace_id, board, period, b, sum(d) AS n
            FROM (SELECT workspace_id, board, period, score >> 4 AS b, 1 AS d FROM ${newSrc}
                  UNION ALL SELECT workspace_id, board, period, score >> 4 AS b, -1 AS d FROM ${oldSrc}) r
            GROUP BY 1, 2, 3, 4 HAVING sum(d) <> 0) f
      CROSS JOIN (VALUES (4::smallint), (8::smallint), (16::smallint), (24::smallint)) AS l(lvl)
      GROUP BY 1, 2, 3, 4, 5 HAVING sum(f.n) <> 0 ORDER BY 1, 2, 3, 4, 5
      ON CONFLICT (workspace_id, board, period, lvl, bucket) DO UPDATE SET members = c.members + EXCLUDED.members;
  END IF;`;
const LOCK = `PERFORM pg_advisory_xact_lock(hashtextextended('gamification.scores:' || w::text, 0)) FROM (SELECT DISTINCT workspace_id AS w FROM new_rows ORDER BY 1) x;`;

const SHAPES = {
  narrow: {
    ddl: `${COUNTS}
CREATE TABLE scores (workspace_id uuid NOT NULL, board text NOT NULL, period text NOT NULL, user_id uuid NOT NULL, score bigint NOT NULL,
  PRIMARY KEY (workspace_id, board, period, user_id));
CREATE INDEX scores_rank_idx ON scores (workspace_id, board, period, score, user_id);
CREATE FUNCTION counts_sync() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN ${LOCK} ${countsSql('new_rows', 'old_rows')} RETURN NULL; END $$;
CREATE FUNCTION counts_ins() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN ${LOCK} ${countsSql('new_rows', 'new_rows')} RETURN NULL; END $$;
CREATE TRIGGER i AFTER INSERT ON scores REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION counts_ins();
CREATE TRIGGER u AFTER UPDATE ON scores REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION counts_sync();`,
    seed: (ws) => `INSERT INTO scores SELECT '${ws}', 'workspace', 'all', gen_random_uuid(), (random() * 100000)::bigint FROM generate_series(1, ${SEED});`,
    // rows: one per (member, board, period) of the batch; the m CTE of pairs as in write().
    write: (batch) => {
      const pairs = new Map();
      const rows = [];
      for (const [key, d] of batch) {
        const [ws, board, period, u] = key.split('|');
        const pk = `${ws}|${u}`;
        if (!pairs.has(pk)) pairs.set(pk, pairs.size + 1);
        rows.push([pairs.get(pk), board, period, d]);
      }
      const ps = [...pairs.keys()].map((p) => p.split('|'));
      return {
        text: `WITH m AS MATERIALIZED (SELECT $1::uuid[] AS ws, $2::uuid[] AS u),
          w0 AS (INSERT INTO scores AS t (workspace_id, board, period, user_id, score)
            SELECT m.ws[r.i], r.b, r.p, m.u[r.i], r.d FROM m, unnest($3::int[], $4::text[], $5::text[], $6::bigint[]) AS r(i, b, p, d)
            ON CONFLICT (workspace_id, board, period, user_id) DO UPDATE SET score = t.score + EXCLUDED.score) SELECT 1`,
        values: [lit(ps.map((p) => p[0])), lit(ps.map((p) => p[1])), lit(rows.map((r) => r[0])), lit(rows.map((r) => r[1])), lit(rows.map((r) => r[2])), lit(rows.map((r) => r[3]))],
        rows: rows.length,
      };
    },
  },
  wide: {
    // One row per (member, board): the all-time score, and the score of the latest week and month
    // the member scored in (an older week's or month's score would move to a narrow history table
    // when a later one starts: not written here, ~1 row per member per week, see the ADR).
    ddl: `${COUNTS}
CREATE TABLE scores (workspace_id uuid NOT NULL, board text NOT NULL, user_id uuid NOT NULL, s_all bigint NOT NULL,
  week text NOT NULL, s_week bigint NOT NULL, month text NOT NULL, s_month bigint NOT NULL, PRIMARY KEY (workspace_id, board, user_id));
CREATE INDEX scores_rank_all ON scores (workspace_id, board, s_all, user_id);
CREATE INDEX scores_rank_week ON scores (workspace_id, board, week, s_week, user_id);
CREATE INDEX scores_rank_month ON scores (workspace_id, board, month, s_month, user_id);
CREATE FUNCTION counts_sync() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN ${LOCK} ${countsSql(
      `(SELECT r.workspace_id, r.board, x.period, x.score FROM new_rows r CROSS JOIN LATERAL (VALUES ('all', r.s_all), (r.week, r.s_week), (r.month, r.s_month)) x(period, score)) nr`,
      `(SELECT r.workspace_id, r.board, x.period, x.score FROM old_rows r CROSS JOIN LATERAL (VALUES ('all', r.s_all), (r.week, r.s_week), (r.month, r.s_month)) x(period, score)) orr`,
    )} RETURN NULL; END $$;
CREATE TRIGGER i AFTER INSERT ON scores REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION counts_sync();
CREATE TRIGGER u AFTER UPDATE ON scores REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION counts_sync();`,
    seed: (ws) => `INSERT INTO scores SELECT '${ws}', 'workspace', gen_random_uuid(), v, 'week:2026-W01', v, 'month:2026-01', v FROM (SELECT (random() * 100000)::bigint AS v FROM generate_series(1, ${SEED})) s;`,
    write: (batch) => {
      // Regroup the batch's (board, period) deltas into one row per (member, board).
      const wide = new Map();
      for (const [key, d] of batch) {
        const [ws, board, period, u] = key.split('|');
        const wk = `${ws}|${board}|${u}`;
        const r = wide.get(wk) ?? { ws, board, u, all: 0, week: '', dw: 0, month: '', dm: 0 };
        if (period === 'all') r.all += d;
        else if (period.startsWith('week:')) {
          r.week = period;
          r.dw += d;
        } else {
          r.month = period;
          r.dm += d;
        }
        wide.set(wk, r);
      }
      const pairs = new Map();
      const rows = [];
      for (const r of wide.values()) {
        const pk = `${r.ws}|${r.u}`;
        if (!pairs.has(pk)) pairs.set(pk, pairs.size + 1);
        rows.push([pairs.get(pk), r.board, r.all, r.week, r.dw, r.month, r.dm]);
      }
      const ps = [...pairs.keys()].map((p) => p.split('|'));
      const col = (i) => lit(rows.map((r) => r[i]));
      return {
        text: `WITH m AS MATERIALIZED (SELECT $1::uuid[] AS ws, $2::uuid[] AS u),
          w0 AS (INSERT INTO scores AS t (workspace_id, board, user_id, s_all, week, s_week, month, s_month)
            SELECT m.ws[r.i], r.b, m.u[r.i], r.a, r.w, r.dw, r.mo, r.dm FROM m, unnest($3::int[], $4::text[], $5::bigint[], $6::text[], $7::bigint[], $8::text[], $9::bigint[]) AS r(i, b, a, w, dw, mo, dm)
            ON CONFLICT (workspace_id, board, user_id) DO UPDATE SET s_all = t.s_all + EXCLUDED.s_all,
              s_week = CASE WHEN t.week = EXCLUDED.week THEN t.s_week + EXCLUDED.s_week ELSE EXCLUDED.s_week END, week = EXCLUDED.week,
              s_month = CASE WHEN t.month = EXCLUDED.month THEN t.s_month + EXCLUDED.s_month ELSE EXCLUDED.s_month END, month = EXCLUDED.month) SELECT 1`,
        values: [lit(ps.map((p) => p[0])), lit(ps.map((p) => p[1])), col(0), col(1), col(2), col(3), col(4), col(5), col(6)],
        rows: rows.length,
      };
    },
  },
};

// The bench's mix (bench/gamification.ts eventMix) and the boards each kind credits (DEFAULT_RULES).
const BOARDS = [['vAutomator'], ['vAutomator'], ['vBuilder', 'founder'], ['vCreator'], ['vCreator', 'founder'], ['vAnalyst']];
const PTS = [10, 10, 30, 10, 50, 5];
const isoWeek = (d) => {
  const t = new Date(Date.UTC(d.getUTCFullYear(), d.getUTCMonth(), d.getUTCDate()));
  const day = t.getUTCDay() || 7;
  t.setUTCDate(t.getUTCDate() + 4 - day);
  const y = t.getUTCFullYear();
  return `week:${y}-W${String(Math.ceil(((t - Date.UTC(y, 0, 1)) / 86400000 + 1) / 7)).padStart(2, '0')}`;
};
function batches(ws) {
  const users = Array.from({ length: 2000 }, () => randomUUID());
  const start = Date.now() - 20 * 86400000;
  const out = [];
  for (let b = 0; b < N; b += 500) {
    const m = new Map();
    for (let i = b; i < Math.min(N, b + 500); i++) {
      const u = users[(i * 7919) % users.length];
      const at = new Date(start + Math.floor((i / N) * 20 * 86400000));
      const periods = ['all', isoWeek(at), `month:${at.toISOString().slice(0, 7)}`];
      for (const board of ['workspace', ...BOARDS[i % 6]]) for (const p of periods) {
        const key = `${ws}|${board}|${p}|${u}`;
        m.set(key, (m.get(key) ?? 0) + PTS[i % 6]);
      }
    }
    out.push(m);
  }
  return out;
}

async function run(shape) {
  const c = new pg.Client({ connectionString: ADMIN.replace(/\/test$/, `/${DB}`) });
  await c.connect();
  await c.query('DROP SCHEMA IF EXISTS s CASCADE; CREATE SCHEMA s; SET search_path = s');
  await c.query(SHAPES[shape].ddl);
  await c.query(SHAPES[shape].seed(randomUUID()));
  await c.query('VACUUM ANALYZE scores');
  await c.query('VACUUM ANALYZE score_counts');
  const ws = randomUUID();
  const bs = batches(ws);
  const stmts = bs.map((b) => SHAPES[shape].write(b));
  const { rows: [{ pid }] } = await c.query('SELECT pg_backend_pid() AS pid');
  const wal0 = (await c.query('SELECT pg_current_wal_lsn() AS l')).rows[0].l;
  const cpu0 = cpuOf(pid);
  const t0 = performance.now();
  for (const s of stmts) {
    await c.query('BEGIN');
    await c.query(`SELECT pg_advisory_xact_lock(hashtextextended('gamification.scores:' || $1::text, 0))`, [ws]);
    await c.query({ text: s.text, values: s.values });
    await c.query('COMMIT');
  }
  const ms = performance.now() - t0;
  const cpu = cpuOf(pid) - cpu0;
  const wal = (await c.query(`SELECT pg_wal_lsn_diff(pg_current_wal_lsn(), $1) AS b`, [wal0])).rows[0].b;
  const rowsSent = stmts.reduce((a, s) => a + s.rows, 0);
  await c.end();
  return { shape, server_cpu_ms_per_1k: (cpu / N) * 1000, wall_ms_per_1k: (ms / N) * 1000, rows_per_event: rowsSent / N, wal_bytes_per_event: Number(wal) / N, load: readFileSync('/proc/loadavg', 'utf8').split(' ')[0] };
}

const admin = new pg.Client({ connectionString: ADMIN });
await admin.connect();
await admin.query(`DROP DATABASE IF EXISTS ${DB} WITH (FORCE)`);
await admin.query(`CREATE DATABASE ${DB}`);
try {
  for (let r = 0; r < rounds; r++) {
    const order = r % 2 ? ['wide', 'narrow'] : ['narrow', 'wide'];
    for (const s of order) console.log(JSON.stringify(await run(s)));
  }
} catch (e) {
  console.error(e);
  process.exitCode = 1;
} finally {
  await admin.query(`DROP DATABASE IF EXISTS ${DB} WITH (FORCE)`);
  await admin.end();
}
