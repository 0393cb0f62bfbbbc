import type { Migration } from '../../kernel/db/migrate.js';

export const WORKFLOW_MIGRATIONS: Migration[] = [
  {
    id: '0001_workflows',
    sql: `
CREATE SCHEMA IF NOT EXISTS workflow;
CREATE TABLE workflow.workflows (
  id uuid PRIMARY KEY,
  workspace_id uuid NOT NULL,
  name text NOT NULL,
  enabled boolean NOT NULL DEFAULT true,
  current_version integer NOT NULL,
  trigger_type text NOT NULL,
  trigger_event text,
  webhook_token_hash text UNIQUE,
  webhook_secret_enc text,
  created_by uuid,
  created_at timestamptz NOT NULL,
  updated_at timestamptz NOT NULL,
  deleted_at timestamptz
);
CREATE INDEX workflows_workspace_idx ON workflow.workflows (workspace_id, created_at DESC);
CREATE INDEX workflows_trigger_idx ON workflow.workflows (trigger_type, trigger_event) WHERE deleted_at IS NULL AND enabled;
CREATE TABLE workflow.versions (
  workflow_id uuid NOT NULL REFERENCES workflow.workflows(id) ON DELETE CASCADE,
  version integer NOT NULL,
  definition jsonb NOT NULL,
  created_by uuid,
  created_at timestamptz NOT NULL,
  PRIMARY KEY (workflow_id, version)
);
CREATE TABLE workflow.runs (
  id uuid PRIMARY KEY,
  workspace_id uuid NOT NULL,
  workflow_id uuid NOT NULL REFERENCES workflow.workflows(id) ON DELETE CASCADE,
  version integer NOT NULL,
  status text NOT NULL,
  trigger text NOT NULL,
  input jsonb NOT NULL DEFAULT '{}'::jsonb,
  outputs jsonb NOT NULL DEFAULT '{}'::jsonb,
  output jsonb,
  current_step text,
  step_attempt integer NOT NULL DEFAULT 0,
  wait jsonb,
  error text,
  idempotency_key text,
  takeovers integer NOT NULL DEFAULT 0,
  lease_owner text,
  lease_until timestamptz,
  created_by uuid,
  created_at timestamptz NOT NULL,
  started_at timestamptz,
  finished_at timestamptz,
  deadline_at timestamptz,
  updated_at timestamptz NOT NULL,
  UNIQUE (workflow_id, idempotency_key)
);
CREATE INDEX runs_workspace_idx ON workflow.runs (workspace_id, created_at DESC, id DESC);
CREATE INDEX runs_status_idx ON workflow.runs (status, created_at);
CREATE INDEX runs_workflow_status_idx ON workflow.runs (workflow_id, status);
CREATE INDEX runs_lease_idx ON workflow.runs (lease_until) WHERE lease_until IS NOT NULL;
CREATE TABLE workflow.step_attempts (
  id uuid PRIMARY KEY,
  run_id uuid NOT NULL REFERENCES workflow.runs(id) ON DELETE CASCADE,
  step_id text NOT NULL,
  step_type text NOT NULL,
  attempt integer NOT NULL,
  status text NOT NULL,
  idempotency_key text NOT NULL,
  input jsonb,
  output jsonb,
  error text,
  started_at timestamptz NOT NULL,
  finished_at timestamptz,
  UNIQUE (run_id, step_id, attempt)
);
CREATE INDEX step_attempts_run_idx ON workflow.step_attempts (run_id, started_at);
CREATE TABLE workflow.schedule_fires (
  workflow_id uuid NOT NULL REFERENCES workflow.workflows(id) ON DELETE CASCADE,
  fire_at timestamptz NOT NULL,
  run_id uuid,
  PRIMARY KEY (workflow_id, fire_at)
);
`,
  },
  {
    id: '0002_event_triggers',
    sql: `
ALTER TABLE workflow.runs ADD COLUMN trigger_ref jsonb;
ALTER TABLE workflow.runs ADD COLUMN chain_depth integer NOT NULL DEFAULT 0;
CREATE INDEX workflows_event_trigger_idx ON workflow.workflows (workspace_id, trigger_event) WHERE trigger_type = 'event' AND deleted_at IS NULL;
`,
  },
  {
    id: '0003_concurrency_waits',
    sql: `
CREATE INDEX runs_concurrency_wait_idx ON workflow.runs (workspace_id, created_at) WHERE status = 'queued' AND wait IS NOT NULL;
CREATE INDEX runs_active_idx ON workflow.runs (workspace_id, workflow_id) WHERE status = 'running';
`,
  },
];
