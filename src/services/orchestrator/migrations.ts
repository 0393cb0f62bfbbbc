import type { Migration } from '../../kernel/db/migrate.js';

export const ORCHESTRATOR_MIGRATIONS: Migration[] = [
  {
    id: '0001_identity',
    sql: `
CREATE SCHEMA IF NOT EXISTS orchestrator;

CREATE TABLE orchestrator.users (
  id uuid PRIMARY KEY,
  email text NOT NULL,
  email_normalized text NOT NULL UNIQUE,
  name text NOT NULL,
  password_hash text NOT NULL,
  platform_admin boolean NOT NULL DEFAULT false,
  mfa_enabled boolean NOT NULL DEFAULT false,
  mfa_secret text,            -- SecretBox ciphertext, never plaintext
  mfa_pending_secret text,    -- SecretBox ciphertext while enrolment awaits confirmation
  mfa_last_step bigint,       -- last TOTP time step accepted (no replay of a code)
  failed_logins integer NOT NULL DEFAULT 0,
  locked_until timestamptz,
  last_login_at timestamptz,
  created_at timestamptz NOT NULL,
  updated_at timestamptz NOT NULL
);

CREATE TABLE orchestrator.recovery_codes (
  user_id uuid NOT NULL REFERENCES orchestrator.users(id) ON DELETE CASCADE,
  code_hash text NOT NULL,
  used_at timestamptz,
  PRIMARY KEY (user_id, code_hash)
);

CREATE TABLE orchestrator.tokens (
  id uuid PRIMARY KEY,
  user_id uuid NOT NULL REFERENCES orchestrator.users(id) ON DELETE CASCADE,
  kind text NOT NULL CHECK (kind IN ('session', 'api')),
  name text,
  token_hash text NOT NULL UNIQUE,
  scopes text[] NOT NULL,
  created_at timestamptz NOT NULL,
  expires_at timestamptz,
  revoked_at timestamptz,
  last_used_at timestamptz,
  created_ip text
);
CREATE INDEX tokens_user_idx ON orchestrator.tokens (user_id, kind);

CREATE TABLE orchestrator.workspaces (
  id uuid PRIMARY KEY,
  name text NOT NULL,
  require_mfa boolean NOT NULL DEFAULT false,
  created_by uuid,
  created_at timestamptz NOT NULL,
  updated_at timestamptz NOT NULL
);

CREATE TABLE orchestrator.members (
  workspace_id uuid NOT NULL REFERENCES orchestrator.workspaces(id) ON DELETE CASCADE,
  user_id uuid NOT NULL REFERENCES orchestrator.users(id) ON DELETE CASCADE,
  role text NOT NULL CHECK (role IN ('owner', 'admin', 'developer', 'analyst', 'viewer')),
  personas text[] NOT NULL DEFAULT '{}',
  joined_at timestamptz NOT NULL,
  PRIMARY KEY (workspace_id, user_id)
);
CREATE INDEX members_user_idx ON orchestrator.members (user_id);

CREATE TABLE orchestrator.invitations (
  id uuid PRIMARY KEY,
  workspace_id uuid NOT NULL REFERENCES orchestrator.workspaces(id) ON DELETE CASCADE,
  email text NOT NULL,
  email_normalized text NOT NULL,
  role text NOT NULL CHECK (role IN ('owner', 'admin', 'developer', 'analyst', 'viewer')),
  token_hash text NOT NULL UNIQUE,
  invited_by uuid,
  created_at timestamptz NOT NULL,
  expires_at timestamptz NOT NULL,
  accepted_at timestamptz,
  accepted_by uuid,
  revoked_at timestamptz
);
CREATE INDEX invitations_workspace_idx ON orchestrator.invitations (workspace_id, created_at DESC);

CREATE TABLE orchestrator.security_events (
  id bigserial PRIMARY KEY,
  occurred_at timestamptz NOT NULL,
  kind text NOT NULL,
  ip text,
  user_id uuid,
  email_normalized text,
  detail jsonb NOT NULL DEFAULT '{}'::jsonb
);
CREATE INDEX security_events_time_idx ON orchestrator.security_events (occurred_at DESC);
CREATE INDEX security_events_user_idx ON orchestrator.security_events (user_id);
`,
  },
  {
    // Platform mail (ADR 0040): an outbox written in the transaction of the change that causes the
    // mail, sent by a leased worker; single-use account tokens for password reset, email
    // verification and email change (only their SHA-256 is stored).
    id: '0002_mail_and_account_recovery',
    sql: `
ALTER TABLE orchestrator.users ADD COLUMN email_verified_at timestamptz;

CREATE TABLE orchestrator.mail_outbox (
  id uuid PRIMARY KEY,
  template text NOT NULL,
  to_address text NOT NULL,
  subject text NOT NULL,
  text_body text NOT NULL,
  html_body text NOT NULL,
  user_id uuid,
  status text NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'sent', 'failed')),
  attempts integer NOT NULL DEFAULT 0,
  next_attempt_at timestamptz NOT NULL,
  lease_owner text,
  lease_until timestamptz,
  last_error text,
  message_id text,
  created_at timestamptz NOT NULL,
  sent_at timestamptz
);
CREATE INDEX mail_outbox_due_idx ON orchestrator.mail_outbox (next_attempt_at) WHERE status = 'pending';
CREATE INDEX mail_outbox_time_idx ON orchestrator.mail_outbox (created_at DESC);
CREATE INDEX mail_outbox_user_idx ON orchestrator.mail_outbox (user_id);

CREATE TABLE orchestrator.account_tokens (
  id uuid PRIMARY KEY,
  user_id uuid NOT NULL REFERENCES orchestrator.users(id) ON DELETE CASCADE,
  purpose text NOT NULL CHECK (purpose IN ('password_reset', 'email_verify', 'email_change')),
  token_hash text NOT NULL UNIQUE,
  email text NOT NULL,
  created_at timestamptz NOT NULL,
  expires_at timestamptz NOT NULL,
  used_at timestamptz
);
CREATE INDEX account_tokens_user_idx ON orchestrator.account_tokens (user_id, purpose);
`,
  },
  {
    id: '0003_sso',
    sql: `
-- OpenID Connect providers (ADR 0042). client_secret is SecretBox ciphertext, never plaintext.
CREATE TABLE orchestrator.sso_providers (
  id uuid PRIMARY KEY,
  slug text NOT NULL UNIQUE,
  name text NOT NULL,
  issuer_url text NOT NULL,
  client_id text NOT NULL,
  client_secret text NOT NULL,
  scopes text[] NOT NULL,
  email_claim text NOT NULL DEFAULT 'email',
  name_claim text NOT NULL DEFAULT 'name',
  groups_claim text,
  group_roles jsonb NOT NULL DEFAULT '[]'::jsonb,   -- [{group, workspaceId, role}]
  jit_enabled boolean NOT NULL DEFAULT false,
  default_workspace_id uuid,
  default_role text NOT NULL DEFAULT 'viewer' CHECK (default_role IN ('owner', 'admin', 'developer', 'analyst', 'viewer')),
  enabled boolean NOT NULL DEFAULT true,
  created_at timestamptz NOT NULL,
  updated_at timestamptz NOT NULL
);

-- Which provider subject is which account: the link is made once, by a verified email or JIT provisioning.
CREATE TABLE orchestrator.sso_identities (
  provider_id uuid NOT NULL REFERENCES orchestrator.sso_providers(id) ON DELETE CASCADE,
  subject text NOT NULL,
  user_id uuid NOT NULL REFERENCES orchestrator.users(id) ON DELETE CASCADE,
  email text,
  created_at timestamptz NOT NULL,
  last_login_at timestamptz,
  PRIMARY KEY (provider_id, subject)
);
CREATE INDEX sso_identities_user_idx ON orchestrator.sso_identities (user_id);

-- Sign-ins in progress: one row per authorization request, deleted when its callback arrives.
CREATE TABLE orchestrator.sso_flows (
  state_hash text PRIMARY KEY,
  provider_id uuid NOT NULL REFERENCES orchestrator.sso_providers(id) ON DELETE CASCADE,
  nonce text NOT NULL,
  code_verifier text NOT NULL,    -- SecretBox ciphertext
  redirect_uri text NOT NULL,
  return_to text NOT NULL,
  client text NOT NULL CHECK (client IN ('browser', 'api')),
  created_at timestamptz NOT NULL,
  expires_at timestamptz NOT NULL
);
CREATE INDEX sso_flows_expiry_idx ON orchestrator.sso_flows (expires_at);
`,
  },
  {
    id: '0004_gdpr_requests',
    sql: `
-- The register of data subject requests (ADR 0064): what was asked (GDPR art. 15-21), by whom,
-- when, the one-month answer deadline, and how it ended. Kept after the account is erased (the
-- evidence that it was), 3 years after it closed; no foreign key to users for that reason.
CREATE TABLE orchestrator.gdpr_requests (
  id uuid PRIMARY KEY,
  number bigserial UNIQUE,
  kind text NOT NULL CHECK (kind IN ('access', 'erasure', 'rectification', 'restriction', 'objection')),
  -- The data subject: an account (user_id) and/or an address; the address is kept as given.
  user_id uuid,
  email text,
  channel text NOT NULL CHECK (channel IN ('self_service', 'email', 'cli', 'api')),
  details text,
  received_at timestamptz NOT NULL,
  due_at timestamptz NOT NULL,
  status text NOT NULL CHECK (status IN ('received', 'in_progress', 'completed', 'refused')),
  refusal_reason text,
  resolution text,
  recorded_by uuid,
  handled_by uuid,
  started_at timestamptz,
  closed_at timestamptz,
  -- kernel.audit_log ids of every step (received, started, the export or erasure, completed/refused).
  audit_ids uuid[] NOT NULL DEFAULT '{}',
  CHECK (user_id IS NOT NULL OR email IS NOT NULL),
  CHECK (status <> 'refused' OR refusal_reason IS NOT NULL)
);
CREATE INDEX gdpr_requests_open_idx ON orchestrator.gdpr_requests (due_at) WHERE status IN ('received', 'in_progress');
CREATE INDEX gdpr_requests_user_idx ON orchestrator.gdpr_requests (user_id) WHERE user_id IS NOT NULL;
CREATE INDEX gdpr_requests_closed_idx ON orchestrator.gdpr_requests (closed_at) WHERE closed_at IS NOT NULL;
`,
  },
];
