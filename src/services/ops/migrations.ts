import type { Migration } from '../../kernel/db/migrate.js';

/** Incident response: its own schema `ops`, no foreign keys to any service's tables. */
export const OPS_MIGRATIONS: Migration[] = [
  {
    id: '0001_incidents',
    sql: `
CREATE SCHEMA IF NOT EXISTS ops;

CREATE TABLE ops.incidents (
  id uuid PRIMARY KEY,
  number bigserial UNIQUE,
  -- Alertmanager's groupKey (or 'manual:<id>'): one open incident per alert group.
  group_key text NOT NULL,
  title text NOT NULL,
  severity smallint NOT NULL CHECK (severity BETWEEN 1 AND 4),
  status text NOT NULL CHECK (status IN ('open', 'acknowledged', 'resolved')),
  source text NOT NULL,
  -- Status page components (from the alerts' service label), shown once a public update exists.
  components text[] NOT NULL DEFAULT '{}',
  opened_at timestamptz NOT NULL,
  respond_by timestamptz NOT NULL,
  first_alert_at timestamptz,
  acknowledged_at timestamptz,
  acknowledged_by uuid,
  escalated_at timestamptz,
  resolved_at timestamptz,
  resolved_by uuid,
  resolution text,
  commander_id uuid,
  technical_lead_id uuid,
  communications_lead_id uuid,
  public_title text,
  updated_at timestamptz NOT NULL
);
CREATE UNIQUE INDEX incidents_open_group_idx ON ops.incidents (group_key) WHERE status <> 'resolved';
CREATE INDEX incidents_escalation_idx ON ops.incidents (respond_by) WHERE status = 'open' AND escalated_at IS NULL;
CREATE INDEX incidents_opened_idx ON ops.incidents (opened_at DESC);

CREATE TABLE ops.incident_alerts (
  incident_id uuid NOT NULL REFERENCES ops.incidents(id) ON DELETE CASCADE,
  fingerprint text NOT NULL,
  status text NOT NULL CHECK (status IN ('firing', 'resolved')),
  alertname text,
  labels jsonb NOT NULL,
  annotations jsonb NOT NULL,
  starts_at timestamptz,
  ends_at timestamptz,
  last_seen_at timestamptz NOT NULL,
  PRIMARY KEY (incident_id, fingerprint)
);

CREATE TABLE ops.incident_timeline (
  id bigserial PRIMARY KEY,
  incident_id uuid NOT NULL REFERENCES ops.incidents(id) ON DELETE CASCADE,
  at timestamptz NOT NULL,
  kind text NOT NULL,
  actor_id uuid,
  text text NOT NULL,
  data jsonb NOT NULL DEFAULT '{}'::jsonb
);
CREATE INDEX incident_timeline_idx ON ops.incident_timeline (incident_id, id);
CREATE INDEX incident_timeline_actor_idx ON ops.incident_timeline (actor_id) WHERE actor_id IS NOT NULL;

-- What the status page shows: written by the incident's communications lead, nothing else leaks.
CREATE TABLE ops.public_updates (
  id uuid PRIMARY KEY,
  incident_id uuid NOT NULL REFERENCES ops.incidents(id) ON DELETE CASCADE,
  at timestamptz NOT NULL,
  status text NOT NULL CHECK (status IN ('investigating', 'identified', 'monitoring', 'resolved')),
  message text NOT NULL,
  author_id uuid
);
CREATE INDEX public_updates_idx ON ops.public_updates (incident_id, at);

-- Escalation deliveries, written in the transaction that decides them and delivered afterwards
-- (an outbox): a crash between the decision and the call loses nothing.
CREATE TABLE ops.notifications (
  id uuid PRIMARY KEY,
  incident_id uuid NOT NULL REFERENCES ops.incidents(id) ON DELETE CASCADE,
  workspace_id uuid NOT NULL,
  connection_id uuid NOT NULL,
  connector text NOT NULL,
  event text NOT NULL CHECK (event IN ('trigger', 'acknowledge', 'resolve')),
  status text NOT NULL CHECK (status IN ('pending', 'sent', 'failed')),
  attempts integer NOT NULL DEFAULT 0,
  next_attempt_at timestamptz NOT NULL,
  last_error text,
  created_at timestamptz NOT NULL,
  sent_at timestamptz,
  UNIQUE (incident_id, connection_id, event)
);
CREATE INDEX notifications_due_idx ON ops.notifications (next_attempt_at) WHERE status = 'pending';
`,
  },
  {
    id: '0002_escalation_routes_and_cadence',
    sql: `
-- Per-severity routing (ADR 0802): a connection of the ops workspace opts in by severities. A
-- connection without a row keeps the default (escalations of Sev1-3, nothing else).
CREATE TABLE ops.escalation_routes (
  workspace_id uuid NOT NULL,
  connection_id uuid NOT NULL,
  -- Sev1-3: the escalation page when the response target passes unacknowledged; Sev4: a bug ticket at open.
  severities smallint[] NOT NULL,
  -- A subset of severities (1-3) notified when the incident opens instead of after the missed target.
  immediate smallint[] NOT NULL DEFAULT '{}',
  -- Communication cadence reminders (internal updates, Sev1 status page updates, post-mortem) for its severities.
  reminders boolean NOT NULL DEFAULT false,
  updated_at timestamptz NOT NULL,
  PRIMARY KEY (workspace_id, connection_id)
);

-- Notifications: immediate notices at open, Sev4 tickets and reminders; a reminder is sent once per
-- overdue window, so the same event may recur for one connection under a different dedup.
ALTER TABLE ops.notifications DROP CONSTRAINT notifications_event_check;
ALTER TABLE ops.notifications ADD CONSTRAINT notifications_event_check CHECK (event IN ('trigger', 'acknowledge', 'resolve', 'open', 'ticket', 'reminder'));
ALTER TABLE ops.notifications ADD COLUMN dedup text NOT NULL DEFAULT '';
ALTER TABLE ops.notifications ADD COLUMN data jsonb NOT NULL DEFAULT '{}'::jsonb;
ALTER TABLE ops.notifications DROP CONSTRAINT notifications_incident_id_connection_id_event_key;
ALTER TABLE ops.notifications ADD CONSTRAINT notifications_once_key UNIQUE (incident_id, connection_id, event, dedup);

-- The severity whose immediate notices / ticket were decided (NULL: not yet; greater than severity: raised since).
ALTER TABLE ops.incidents ADD COLUMN announced_severity smallint;
-- The last internal update (a timeline note or a status page update) and the last status page update.
ALTER TABLE ops.incidents ADD COLUMN last_update_at timestamptz;
ALTER TABLE ops.incidents ADD COLUMN last_public_update_at timestamptz;
-- Post-mortem due 24 h after resolution (Sev1-3), and when it was marked done.
ALTER TABLE ops.incidents ADD COLUMN postmortem_due_at timestamptz;
ALTER TABLE ops.incidents ADD COLUMN postmortem_done_at timestamptz;
ALTER TABLE ops.incidents ADD COLUMN postmortem_done_by uuid;
ALTER TABLE ops.incidents ADD COLUMN postmortem_url text;
-- Incidents from before this migration: announced (no immediate notice for old incidents), their
-- last updates read from the timeline; their post-mortems are not reminded (no due time).
UPDATE ops.incidents i SET announced_severity = i.severity,
  last_update_at = (SELECT max(t.at) FROM ops.incident_timeline t WHERE t.incident_id = i.id AND t.kind IN ('note', 'public_update')),
  last_public_update_at = (SELECT max(u.at) FROM ops.public_updates u WHERE u.incident_id = i.id);
CREATE INDEX incidents_announce_idx ON ops.incidents (opened_at) WHERE status <> 'resolved';
CREATE INDEX incidents_postmortem_idx ON ops.incidents (postmortem_due_at) WHERE postmortem_done_at IS NULL AND postmortem_due_at IS NOT NULL;

-- One row per reminder decided (incident, kind, the overdue window's due time): a window is reminded
-- once, whichever replica's tick saw it first.
CREATE TABLE ops.incident_reminders (
  incident_id uuid NOT NULL REFERENCES ops.incidents(id) ON DELETE CASCADE,
  kind text NOT NULL CHECK (kind IN ('internal_update', 'public_update', 'postmortem')),
  due_at timestamptz NOT NULL,
  at timestamptz NOT NULL,
  targets integer NOT NULL,
  PRIMARY KEY (incident_id, kind, due_at)
);
`,
  },
  {
    id: '0003_backup_runs',
    sql: `
-- Backups, restore drills and retention cleanups (ADR 0050): one row per run, whichever replica or
-- CLI ran it; the metrics v01t_backup_*, v01t_restore_drill_* and v01t_retention_* read the newest.
CREATE TABLE ops.backup_runs (
  id uuid PRIMARY KEY,
  kind text NOT NULL CHECK (kind IN ('backup', 'drill', 'retention', 'prune')),
  started_at timestamptz NOT NULL,
  finished_at timestamptz NOT NULL,
  ok boolean NOT NULL,
  backup_id text,
  bytes bigint,
  rto_seconds double precision,
  rpo_seconds double precision,
  details jsonb NOT NULL DEFAULT '{}'::jsonb,
  error text
);
CREATE INDEX backup_runs_kind_idx ON ops.backup_runs (kind, finished_at DESC);
-- The schedules' own bookkeeping: the last slot each job ran for, claimed under an advisory lock.
CREATE TABLE ops.schedule_slots (
  job text PRIMARY KEY,
  slot timestamptz NOT NULL
);
`,
  },
  {
    id: '0004_incident_timers',
    sql: `
-- The first minutes of an incident (ADR 0060): acknowledge < 5 min, assess < 10 min (the first
-- internal update), assemble the team < 15 min (all three roles assigned); a breach is reminded once.
ALTER TABLE ops.incidents ADD COLUMN first_update_at timestamptz, ADD COLUMN team_assembled_at timestamptz;
UPDATE ops.incidents i SET
  first_update_at = (SELECT min(t.at) FROM ops.incident_timeline t WHERE t.incident_id = i.id AND t.kind IN ('note', 'public_update')),
  team_assembled_at = CASE WHEN commander_id IS NOT NULL AND technical_lead_id IS NOT NULL AND communications_lead_id IS NOT NULL
    THEN (SELECT max(t.at) FROM ops.incident_timeline t WHERE t.incident_id = i.id AND t.kind = 'role_assigned') END;
ALTER TABLE ops.incident_reminders DROP CONSTRAINT incident_reminders_kind_check;
ALTER TABLE ops.incident_reminders ADD CONSTRAINT incident_reminders_kind_check
  CHECK (kind IN ('internal_update', 'public_update', 'postmortem', 'acknowledge', 'assess', 'assemble'));
`,
  },
];
