import type { Migration } from '../../kernel/db/migrate.js';

export const ANALYTICS_MIGRATIONS: Migration[] = [
  {
    id: '0001_analytics',
    sql: `
CREATE SCHEMA IF NOT EXISTS analytics;

-- Workspace write keys for ingestion; only the SHA-256 of the key is kept.
CREATE TABLE analytics.write_keys (
  id uuid PRIMARY KEY,
  workspace_id uuid NOT NULL,
  name text NOT NULL,
  key_hash text NOT NULL UNIQUE,
  key_prefix text NOT NULL,
  created_by uuid,
  created_at timestamptz NOT NULL,
  last_used_at timestamptz,
  revoked_at timestamptz
);
CREATE INDEX write_keys_workspace_idx ON analytics.write_keys (workspace_id, created_at DESC);

-- The durable ingestion buffer: an event is acknowledged (202) once its row commits here.
-- The flusher moves pending rows to the OLAP store in batches; flushed rows stay for the
-- dedupe window so a retried messageId is still recognised, then the retention rule drops them.
CREATE TABLE analytics.event_buffer (
  seq bigserial PRIMARY KEY,
  workspace_id uuid NOT NULL,
  message_id text NOT NULL,
  received_at timestamptz NOT NULL,
  payload jsonb NOT NULL,
  state text NOT NULL DEFAULT 'pending' CHECK (state IN ('pending', 'flushing', 'flushed')),
  batch_id uuid,
  claimed_at timestamptz,
  flushed_at timestamptz,
  UNIQUE (workspace_id, message_id)
);
CREATE INDEX event_buffer_pending_idx ON analytics.event_buffer (seq) WHERE state = 'pending';
CREATE INDEX event_buffer_flushing_idx ON analytics.event_buffer (batch_id) WHERE state = 'flushing';
CREATE INDEX event_buffer_flushed_idx ON analytics.event_buffer (flushed_at) WHERE state = 'flushed';
CREATE INDEX event_buffer_user_idx ON analytics.event_buffer ((payload->>'userId'));

-- Anonymous ids linked to users by identify/alias.
CREATE TABLE analytics.identities (
  workspace_id uuid NOT NULL,
  anonymous_id text NOT NULL,
  user_id text NOT NULL,
  linked_at timestamptz NOT NULL,
  PRIMARY KEY (workspace_id, anonymous_id)
);
CREATE INDEX identities_user_idx ON analytics.identities (user_id);

CREATE TABLE analytics.settings (
  workspace_id uuid PRIMARY KEY,
  signup_event text NOT NULL,
  activation_event text,
  updated_at timestamptz NOT NULL
);

CREATE TABLE analytics.mrr_forecasts (
  workspace_id uuid NOT NULL,
  currency text NOT NULL,
  day date NOT NULL,
  amount numeric NOT NULL,
  PRIMARY KEY (workspace_id, currency, day)
);

CREATE TABLE analytics.reports (
  id uuid PRIMARY KEY,
  workspace_id uuid NOT NULL,
  name text NOT NULL,
  spec jsonb NOT NULL,
  created_by uuid,
  created_at timestamptz NOT NULL,
  updated_at timestamptz NOT NULL
);
CREATE INDEX reports_workspace_idx ON analytics.reports (workspace_id, created_at DESC);

CREATE TABLE analytics.dashboards (
  id uuid PRIMARY KEY,
  workspace_id uuid NOT NULL,
  name text NOT NULL,
  tiles jsonb NOT NULL DEFAULT '[]'::jsonb,
  created_by uuid,
  created_at timestamptz NOT NULL,
  updated_at timestamptz NOT NULL
);
CREATE INDEX dashboards_workspace_idx ON analytics.dashboards (workspace_id, created_at DESC);
`,
  },
];
