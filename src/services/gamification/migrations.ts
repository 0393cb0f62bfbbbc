import type { Migration } from '../../kernel/db/migrate.js';

export const GAMIFICATION_MIGRATIONS: Migration[] = [
  {
    id: '0001_gamification',
    sql: `
CREATE SCHEMA IF NOT EXISTS gamification;

-- Per-workspace configuration; version bumps on every rule or badge change so replicas reload.
CREATE TABLE gamification.settings (
  workspace_id uuid PRIMARY KEY,
  settings jsonb NOT NULL,
  config_version integer NOT NULL DEFAULT 1,
  created_at timestamptz NOT NULL,
  updated_at timestamptz NOT NULL
);

CREATE TABLE gamification.rules (
  id uuid PRIMARY KEY,
  workspace_id uuid NOT NULL,
  definition jsonb NOT NULL,
  created_at timestamptz NOT NULL,
  updated_at timestamptz NOT NULL,
  -- Rules are archived, not deleted: ledger entries keep naming the rule that gave them.
  archived_at timestamptz
);
CREATE INDEX rules_workspace_idx ON gamification.rules (workspace_id) WHERE archived_at IS NULL;

CREATE TABLE gamification.badges (
  id uuid PRIMARY KEY,
  workspace_id uuid NOT NULL,
  key text NOT NULL,
  definition jsonb NOT NULL,
  created_at timestamptz NOT NULL,
  archived_at timestamptz
);
CREATE UNIQUE INDEX badges_key_idx ON gamification.badges (workspace_id, key) WHERE archived_at IS NULL;

-- Events already scored: a redelivery finds its id here and changes nothing.
CREATE TABLE gamification.processed_events (
  event_id uuid PRIMARY KEY,
  workspace_id uuid NOT NULL,
  processed_at timestamptz NOT NULL
);
CREATE INDEX processed_events_at_idx ON gamification.processed_events (processed_at);

CREATE TABLE gamification.ledger (
  id uuid PRIMARY KEY,
  workspace_id uuid NOT NULL,
  user_id uuid NOT NULL,
  persona text NOT NULL,
  metric text NOT NULL,
  points integer NOT NULL,
  kind text NOT NULL CHECK (kind IN ('award', 'reversal', 'adjustment')),
  event_id uuid,
  event_name text,
  rule_id uuid,
  reverses uuid UNIQUE,
  reason text,
  actor_id uuid,
  occurred_at timestamptz NOT NULL,
  recorded_at timestamptz NOT NULL,
  UNIQUE (event_id, rule_id),
  CHECK (kind <> 'award' OR (event_id IS NOT NULL AND rule_id IS NOT NULL)),
  CHECK (kind <> 'reversal' OR reverses IS NOT NULL)
);
CREATE INDEX ledger_user_idx ON gamification.ledger (workspace_id, user_id, metric, occurred_at);
CREATE INDEX ledger_occurred_idx ON gamification.ledger (occurred_at);
-- Append-only: corrections are reversal entries. Rows leave only through retention or erasure
-- (session flag set by those code paths).
CREATE FUNCTION gamification.ledger_guard() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF TG_OP = 'DELETE' AND current_setting('v01t.gamification_purge', true) = 'on' THEN
    RETURN OLD;
  END IF;
  RAISE EXCEPTION 'gamification.ledger is append-only';
END $$;
CREATE TRIGGER ledger_append_only BEFORE UPDATE OR DELETE ON gamification.ledger
  FOR EACH ROW EXECUTE FUNCTION gamification.ledger_guard();

-- Running totals (kept when old ledger entries are purged by retention).
CREATE TABLE gamification.balances (
  workspace_id uuid NOT NULL,
  user_id uuid NOT NULL,
  persona text NOT NULL,
  metric text NOT NULL,
  points bigint NOT NULL,
  PRIMARY KEY (workspace_id, user_id, persona, metric)
);

CREATE TABLE gamification.daily_caps (
  workspace_id uuid NOT NULL,
  user_id uuid NOT NULL,
  rule_id uuid NOT NULL,
  day date NOT NULL,
  points integer NOT NULL,
  PRIMARY KEY (workspace_id, user_id, rule_id, day)
);

CREATE TABLE gamification.event_counts (
  workspace_id uuid NOT NULL,
  user_id uuid NOT NULL,
  event_name text NOT NULL,
  count bigint NOT NULL,
  PRIMARY KEY (workspace_id, user_id, event_name)
);

CREATE TABLE gamification.streaks (
  workspace_id uuid NOT NULL,
  user_id uuid NOT NULL,
  activity text NOT NULL,
  cadence text NOT NULL CHECK (cadence IN ('daily', 'weekly')),
  current integer NOT NULL,
  longest integer NOT NULL,
  last_period integer,
  freezes integer NOT NULL,
  freezes_used integer NOT NULL,
  updated_at timestamptz NOT NULL,
  PRIMARY KEY (workspace_id, user_id, activity, cadence)
);

CREATE TABLE gamification.levels (
  workspace_id uuid NOT NULL,
  user_id uuid NOT NULL,
  persona text NOT NULL,
  level integer NOT NULL,
  PRIMARY KEY (workspace_id, user_id, persona)
);

CREATE TABLE gamification.user_badges (
  workspace_id uuid NOT NULL,
  user_id uuid NOT NULL,
  badge_id uuid NOT NULL,
  awarded_at timestamptz NOT NULL,
  PRIMARY KEY (workspace_id, user_id, badge_id)
);

CREATE TABLE gamification.entitlements (
  workspace_id uuid NOT NULL,
  user_id uuid NOT NULL,
  reward_key text NOT NULL,
  kind text NOT NULL,
  source text NOT NULL,
  granted_at timestamptz NOT NULL,
  PRIMARY KEY (workspace_id, user_id, reward_key)
);

CREATE TABLE gamification.user_settings (
  workspace_id uuid NOT NULL,
  user_id uuid NOT NULL,
  timezone text NOT NULL,
  PRIMARY KEY (workspace_id, user_id)
);

-- The PostgreSQL leaderboard (and the source the Redis sorted sets are projected from).
CREATE TABLE gamification.scores (
  workspace_id uuid NOT NULL,
  board text NOT NULL,
  period text NOT NULL,
  user_id uuid NOT NULL,
  score bigint NOT NULL,
  PRIMARY KEY (workspace_id, board, period, user_id)
);
-- Ascending: row comparisons (score, user_id) > (…) use it, and a backward scan gives the ranking order.
CREATE INDEX scores_rank_idx ON gamification.scores (workspace_id, board, period, score, user_id);

-- Score changes not yet copied to Redis; written in the scoring transaction, drained after commit.
CREATE TABLE gamification.board_sync (
  workspace_id uuid NOT NULL,
  board text NOT NULL,
  period text NOT NULL,
  user_id uuid NOT NULL,
  PRIMARY KEY (workspace_id, board, period, user_id)
);

-- Final standings of closed weekly and monthly periods.
CREATE TABLE gamification.leaderboard_archive (
  workspace_id uuid NOT NULL,
  board text NOT NULL,
  period text NOT NULL,
  rank integer NOT NULL,
  user_id uuid NOT NULL,
  score bigint NOT NULL,
  archived_at timestamptz NOT NULL,
  PRIMARY KEY (workspace_id, board, period, rank)
);
`,
  },
  {
    id: '0002_score_counts',
    sql: `
-- A maintained rank structure for the PostgreSQL leaderboard (ADR 0062): members per score
-- bucket at three widths (2^8, 2^16, 2^24). A rank is the sum of a few hundred bucket rows at
-- most plus an index range count inside the member's own 256-wide bucket, instead of a count of
-- every row above. Kept by statement-level triggers, so every writer of gamification.scores
-- (scoring, adjustments, reversals, archiving, erasure) keeps it exact in its own transaction.
CREATE TABLE gamification.score_counts (
  workspace_id uuid NOT NULL,
  board text NOT NULL,
  period text NOT NULL,
  lvl smallint NOT NULL,
  bucket bigint NOT NULL,
  members bigint NOT NULL,
  PRIMARY KEY (workspace_id, board, period, lvl, bucket) INCLUDE (members)
);

CREATE FUNCTION gamification.score_counts_sync() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  -- Bucket rows are shared by every member of a board, and one statement fires its INSERT and its
  -- UPDATE trigger separately: writers of a workspace's scores therefore queue on one lock per
  -- workspace (taken in workspace order, held to commit) before touching its buckets, so two
  -- transactions never take bucket rows in opposite orders (no deadlock).
  IF TG_OP = 'DELETE' THEN
    PERFORM pg_advisory_xact_lock(hashtextextended('gamification.scores:' || w::text, 0)) FROM (SELECT DISTINCT workspace_id AS w FROM old_rows ORDER BY 1) x;
  ELSE
    PERFORM pg_advisory_xact_lock(hashtextextended('gamification.scores:' || w::text, 0)) FROM (SELECT DISTINCT workspace_id AS w FROM new_rows ORDER BY 1) x;
  END IF;
  IF TG_OP = 'INSERT' THEN
    INSERT INTO gamification.score_counts AS c (workspace_id, board, period, lvl, bucket, members)
      SELECT r.workspace_id, r.board, r.period, l.lvl, r.score >> l.lvl, count(*)
      FROM new_rows r CROSS JOIN (VALUES (8::smallint), (16::smallint), (24::smallint)) AS l(lvl)
      GROUP BY 1, 2, 3, 4, 5 ORDER BY 1, 2, 3, 4, 5
      ON CONFLICT (workspace_id, board, period, lvl, bucket) DO UPDATE SET members = c.members + EXCLUDED.members;
  ELSIF TG_OP = 'DELETE' THEN
    INSERT INTO gamification.score_counts AS c (workspace_id, board, period, lvl, bucket, members)
      SELECT r.workspace_id, r.board, r.period, l.lvl, r.score >> l.lvl, -count(*)
      FROM old_rows r CROSS JOIN (VALUES (8::smallint), (16::smallint), (24::smallint)) AS l(lvl)
      GROUP BY 1, 2, 3, 4, 5 ORDER BY 1, 2, 3, 4, 5
      ON CONFLICT (workspace_id, board, period, lvl, bucket) DO UPDATE SET members = c.members + EXCLUDED.members;
  ELSE
    -- A score that stays in its buckets (most increments) writes nothing.
    INSERT INTO gamification.score_counts AS c (workspace_id, board, period, lvl, bucket, members)
      SELECT r.workspace_id, r.board, r.period, l.lvl, r.score >> l.lvl, sum(r.d)
      FROM (SELECT workspace_id, board, period, score, 1 AS d FROM new_rows
            UNION ALL SELECT workspace_id, board, period, score, -1 AS d FROM old_rows) r
      CROSS JOIN (VALUES (8::smallint), (16::smallint), (24::smallint)) AS l(lvl)
      GROUP BY 1, 2, 3, 4, 5 HAVING sum(r.d) <> 0 ORDER BY 1, 2, 3, 4, 5
      ON CONFLICT (workspace_id, board, period, lvl, bucket) DO UPDATE SET members = c.members + EXCLUDED.members;
  END IF;
  RETURN NULL;
END $$;
CREATE TRIGGER scores_counted_insert AFTER INSERT ON gamification.scores REFERENCING NEW TABLE AS new_rows
  FOR EACH STATEMENT EXECUTE FUNCTION gamification.score_counts_sync();
CREATE TRIGGER scores_counted_update AFTER UPDATE ON gamification.scores REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
  FOR EACH STATEMENT EXECUTE FUNCTION gamification.score_counts_sync();
CREATE TRIGGER scores_counted_delete AFTER DELETE ON gamification.scores REFERENCING OLD TABLE AS old_rows
  FOR EACH STATEMENT EXECUTE FUNCTION gamification.score_counts_sync();

INSERT INTO gamification.score_counts (workspace_id, board, period, lvl, bucket, members)
  SELECT s.workspace_id, s.board, s.period, l.lvl, s.score >> l.lvl, count(*)
  FROM gamification.scores s CROSS JOIN (VALUES (8::smallint), (16::smallint), (24::smallint)) AS l(lvl)
  GROUP BY 1, 2, 3, 4, 5;
`,
  },
  {
    id: '0003_score_counts_16',
    sql: `
-- A fourth, finer bucket width (2^4) for the rank (ADR 0069): the count of entries inside the
-- member's own bucket then scans at most 16 scores' members instead of 256 scores' (at 1M members
-- over 100,000 scores ~80 index entries instead of ~1,300), for one more sum of at most 16 rows.
CREATE OR REPLACE FUNCTION gamification.score_counts_sync() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  -- Bucket rows are shared by every member of a board, and one statement fires its INSERT and its
  -- UPDATE trigger separately: writers of a workspace's scores therefore queue on one lock per
  -- workspace (taken in workspace order, held to commit) before touching its buckets, so two
  -- transactions never take bucket rows in opposite orders (no deadlock).
  IF TG_OP = 'DELETE' THEN
    PERFORM pg_advisory_xact_lock(hashtextextended('gamification.scores:' || w::text, 0)) FROM (SELECT DISTINCT workspace_id AS w FROM old_rows ORDER BY 1) x;
  ELSE
    PERFORM pg_advisory_xact_lock(hashtextextended('gamification.scores:' || w::text, 0)) FROM (SELECT DISTINCT workspace_id AS w FROM new_rows ORDER BY 1) x;
  END IF;
  IF TG_OP = 'INSERT' THEN
    INSERT INTO gamification.score_counts AS c (workspace_id, board, period, lvl, bucket, members)
      SELECT r.workspace_id, r.board, r.period, l.lvl, r.score >> l.lvl, count(*)
      FROM new_rows r CROSS JOIN (VALUES (4::smallint), (8::smallint), (16::smallint), (24::smallint)) AS l(lvl)
      GROUP BY 1, 2, 3, 4, 5 ORDER BY 1, 2, 3, 4, 5
      ON CONFLICT (workspace_id, board, period, lvl, bucket) DO UPDATE SET members = c.members + EXCLUDED.members;
  ELSIF TG_OP = 'DELETE' THEN
    INSERT INTO gamification.score_counts AS c (workspace_id, board, period, lvl, bucket, members)
      SELECT r.workspace_id, r.board, r.period, l.lvl, r.score >> l.lvl, -count(*)
      FROM old_rows r CROSS JOIN (VALUES (4::smallint), (8::smallint), (16::smallint), (24::smallint)) AS l(lvl)
      GROUP BY 1, 2, 3, 4, 5 ORDER BY 1, 2, 3, 4, 5
      ON CONFLICT (workspace_id, board, period, lvl, bucket) DO UPDATE SET members = c.members + EXCLUDED.members;
  ELSE
    -- A score that stays in its buckets (most increments) writes nothing.
    INSERT INTO gamification.score_counts AS c (workspace_id, board, period, lvl, bucket, members)
      SELECT r.workspace_id, r.board, r.period, l.lvl, r.score >> l.lvl, sum(r.d)
      FROM (SELECT workspace_id, board, period, score, 1 AS d FROM new_rows
            UNION ALL SELECT workspace_id, board, period, score, -1 AS d FROM old_rows) r
      CROSS JOIN (VALUES (4::smallint), (8::smallint), (16::smallint), (24::smallint)) AS l(lvl)
      GROUP BY 1, 2, 3, 4, 5 HAVING sum(r.d) <> 0 ORDER BY 1, 2, 3, 4, 5
      ON CONFLICT (workspace_id, board, period, lvl, bucket) DO UPDATE SET members = c.members + EXCLUDED.members;
  END IF;
  RETURN NULL;
END $$;

INSERT INTO gamification.score_counts (workspace_id, board, period, lvl, bucket, members)
  SELECT s.workspace_id, s.board, s.period, 4, s.score >> 4, count(*)
  FROM gamification.scores s
  GROUP BY 1, 2, 3, 4, 5;
`,
  },
  {
    id: '0004_cheaper_score_writes',
    sql: `
-- ADR 0075: the bucket counts aggregate the changed rows once, at the finest width (2^4), and roll
-- those sums up to 2^8, 2^16 and 2^24 (floor shifts compose: (s >> 4) >> (l - 4) = s >> l), instead
-- of aggregating every row at each of the four widths. An increment that stays inside its 16-wide
-- bucket (+1 and -1 in the same bucket) drops out before the roll-up. Same rows written as before.
CREATE OR REPLACE FUNCTION gamification.score_counts_sync() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  -- Writers of a workspace's scores queue on one lock per workspace (taken in workspace order, held
  -- to commit) before touching its buckets (migration 0002).
  IF TG_OP = 'DELETE' THEN
    PERFORM pg_advisory_xact_lock(hashtextextended('gamification.scores:' || w::text, 0)) FROM (SELECT DISTINCT workspace_id AS w FROM old_rows ORDER BY 1) x;
  ELSE
    PERFORM pg_advisory_xact_lock(hashtextextended('gamification.scores:' || w::text, 0)) FROM (SELECT DISTINCT workspace_id AS w FROM new_rows ORDER BY 1) x;
  END IF;
  IF TG_OP = 'INSERT' THEN
    INSERT INTO gamification.score_counts AS c (workspace_id, board, period, lvl, bucket, members)
      SELECT f.workspace_id, f.board, f.period, l.lvl, f.b >> (l.lvl - 4), sum(f.n)
      FROM (SELECT workspace_id, board, period, score >> 4 AS b, count(*) AS n FROM new_rows GROUP BY 1, 2, 3, 4) f
      CROSS JOIN (VALUES (4::smallint), (8::smallint), (16::smallint), (24::smallint)) AS l(lvl)
      GROUP BY 1, 2, 3, 4, 5 ORDER BY 1, 2, 3, 4, 5
      ON CONFLICT (workspace_id, board, period, lvl, bucket) DO UPDATE SET members = c.members + EXCLUDED.members;
  ELSIF TG_OP = 'DELETE' THEN
    INSERT INTO gamification.score_counts AS c (workspace_id, board, period, lvl, bucket, members)
      SELECT f.workspace_id, f.board, f.period, l.lvl, f.b >> (l.lvl - 4), -sum(f.n)
      FROM (SELECT workspace_id, board, period, score >> 4 AS b, count(*) AS n FROM old_rows GROUP BY 1, 2, 3, 4) f
      CROSS JOIN (VALUES (4::smallint), (8::smallint), (16::smallint), (24::smallint)) AS l(lvl)
      GROUP BY 1, 2, 3, 4, 5 ORDER BY 1, 2, 3, 4, 5
      ON CONFLICT (workspace_id, board, period, lvl, bucket) DO UPDATE SET members = c.members + EXCLUDED.members;
  ELSE
    -- A score that stays in its 16-wide bucket (most increments) cancels out in f and writes nothing.
    INSERT INTO gamification.score_counts AS c (workspace_id, board, period, lvl, bucket, members)
      SELECT f.workspace_id, f.board, f.period, l.lvl, f.b >> (l.lvl - 4), sum(f.n)
      FROM (SELECT workspace_id, board, period, b, sum(d) AS n
            FROM (SELECT workspace_id, board, period, score >> 4 AS b, 1 AS d FROM new_rows
                  UNION ALL SELECT workspace_id, board, period, score >> 4 AS b, -1 AS d FROM old_rows) r
            GROUP BY 1, 2, 3, 4 HAVING sum(d) <> 0) f
      CROSS JOIN (VALUES (4::smallint), (8::smallint), (16::smallint), (24::smallint)) AS l(lvl)
      GROUP BY 1, 2, 3, 4, 5 HAVING sum(f.n) <> 0 ORDER BY 1, 2, 3, 4, 5
      ON CONFLICT (workspace_id, board, period, lvl, bucket) DO UPDATE SET members = c.members + EXCLUDED.members;
  END IF;
  RETURN NULL;
END $$;

-- Every award wrote an index entry for its NULL reverses (a UNIQUE constraint indexes NULLs too):
-- the same uniqueness over the reversals only (the reversal check's lookup, reverses = $1, uses it).
ALTER TABLE gamification.ledger DROP CONSTRAINT ledger_reverses_key;
CREATE UNIQUE INDEX ledger_reverses_idx ON gamification.ledger (reverses) WHERE reverses IS NOT NULL;
`,
  },
  {
    id: '0005_board_sync_per_member',
    sql: `
-- ADR 0088: one Redis mark per member and set of changed entries instead of one per (board, period)
-- entry. A mark names the boards and the periods whose every pair (board, period) the writer
-- changed for the member; the drain copies each pair's committed score, as it copied each entry's.
-- A scored award changes its member's entry on two boards in three periods: one mark instead of six.
CREATE TABLE gamification.board_sync_0005 (
  workspace_id uuid NOT NULL,
  user_id uuid NOT NULL,
  boards text[] NOT NULL,
  periods text[] NOT NULL,
  PRIMARY KEY (workspace_id, user_id, boards, periods)
);
INSERT INTO gamification.board_sync_0005 (workspace_id, user_id, boards, periods)
  SELECT workspace_id, user_id, ARRAY[board], ARRAY[period] FROM gamification.board_sync;
DROP TABLE gamification.board_sync;
ALTER TABLE gamification.board_sync_0005 RENAME TO board_sync;
ALTER INDEX gamification.board_sync_0005_pkey RENAME TO board_sync_pkey;
`,
  },
];
