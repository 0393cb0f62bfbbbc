import type { Migration, MigrationSet } from '../kernel/db/migrate.js';

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
];

export const OPS_MIGRATION_SET: MigrationSet = { service: 'ops', migrations: OPS_MIGRATIONS };
