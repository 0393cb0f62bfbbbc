import type { Migration } from '../../kernel/db/migrate.js';

export const INTEGRATION_HUB_MIGRATIONS: Migration[] = [
  {
    id: '0001_connections',
    sql: `
CREATE SCHEMA IF NOT EXISTS integration_hub;

CREATE TABLE integration_hub.connections (
  id uuid PRIMARY KEY,
  workspace_id uuid NOT NULL,
  connector text NOT NULL,
  name text NOT NULL,
  config jsonb NOT NULL DEFAULT '{}'::jsonb,
  credentials text NOT NULL,          -- SecretBox ciphertext of the credential JSON, never plaintext
  status text NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'needs_reauth', 'disabled')),
  status_detail text,
  inbound_token_hash text UNIQUE,     -- SHA-256 of the /hooks/connections/{token} token
  token_expires_at timestamptz,       -- OAuth access token expiry (refresh runs ahead of it)
  refresh_lease_until timestamptz,    -- one token refresh at a time per connection, across replicas
  created_by uuid,
  created_at timestamptz NOT NULL,
  updated_at timestamptz NOT NULL
);
CREATE INDEX connections_workspace_idx ON integration_hub.connections (workspace_id, created_at);

-- User activity (who called what through which connection): 90 days.
CREATE TABLE integration_hub.request_log (
  id bigserial PRIMARY KEY,
  connection_id uuid NOT NULL REFERENCES integration_hub.connections(id) ON DELETE CASCADE,
  workspace_id uuid NOT NULL,
  actor_id uuid,
  occurred_at timestamptz NOT NULL,
  method text NOT NULL,
  host text NOT NULL,
  path text NOT NULL,
  status integer,
  error_code text,
  duration_ms integer NOT NULL
);
CREATE INDEX request_log_connection_idx ON integration_hub.request_log (connection_id, id DESC);
CREATE INDEX request_log_time_idx ON integration_hub.request_log (occurred_at);
CREATE INDEX request_log_actor_idx ON integration_hub.request_log (actor_id);

-- Inbound delivery ids already accepted (replay protection).
CREATE TABLE integration_hub.webhook_deliveries (
  connection_id uuid NOT NULL REFERENCES integration_hub.connections(id) ON DELETE CASCADE,
  delivery_id text NOT NULL,
  received_at timestamptz NOT NULL,
  PRIMARY KEY (connection_id, delivery_id)
);
CREATE INDEX webhook_deliveries_time_idx ON integration_hub.webhook_deliveries (received_at);

-- OAuth authorisation requests in flight: state → PKCE verifier (SecretBox ciphertext).
CREATE TABLE integration_hub.oauth_states (
  state_hash text PRIMARY KEY,
  connection_id uuid NOT NULL REFERENCES integration_hub.connections(id) ON DELETE CASCADE,
  verifier text NOT NULL,
  redirect_uri text NOT NULL,
  created_by uuid,
  expires_at timestamptz NOT NULL
);

-- Publications by idempotency key: the provider's confirmation is kept so a retry returns it.
CREATE TABLE integration_hub.publications (
  connection_id uuid NOT NULL REFERENCES integration_hub.connections(id) ON DELETE CASCADE,
  idempotency_key text NOT NULL,
  status text NOT NULL CHECK (status IN ('pending', 'confirmed')),
  external_id text,
  url text,
  claimed_at timestamptz NOT NULL,
  confirmed_at timestamptz,
  PRIMARY KEY (connection_id, idempotency_key)
);
`,
  },
  {
    id: '0002_action_idempotency',
    sql: `
-- runAction with an idempotency key uses the same claim/confirm/release rows as publish: kind tells
-- them apart (one key space per kind and connection); an action's first successful output is kept.
ALTER TABLE integration_hub.publications ADD COLUMN kind text NOT NULL DEFAULT 'publish' CHECK (kind IN ('publish', 'action'));
ALTER TABLE integration_hub.publications ADD COLUMN action text;
ALTER TABLE integration_hub.publications ADD COLUMN output jsonb;
ALTER TABLE integration_hub.publications DROP CONSTRAINT publications_pkey;
ALTER TABLE integration_hub.publications ADD PRIMARY KEY (connection_id, kind, idempotency_key);
`,
  },
  {
    id: '0003_connection_rate_limit',
    sql: `
-- A connection's own outbound rate limit ("N requests per window", token bucket of rate_burst);
-- all three null = the process default (EGRESS_RATE_PER_S / EGRESS_RATE_BURST). ADR 0200 addendum.
ALTER TABLE integration_hub.connections ADD COLUMN rate_requests integer CHECK (rate_requests BETWEEN 1 AND 100000);
ALTER TABLE integration_hub.connections ADD COLUMN rate_window_seconds integer CHECK (rate_window_seconds BETWEEN 1 AND 86400);
ALTER TABLE integration_hub.connections ADD COLUMN rate_burst integer CHECK (rate_burst BETWEEN 1 AND 100000);
ALTER TABLE integration_hub.connections ADD CONSTRAINT connections_rate_limit_complete
  CHECK ((rate_requests IS NULL) = (rate_window_seconds IS NULL) AND (rate_requests IS NULL) = (rate_burst IS NULL));
`,
  },
  {
    id: '0004_oauth_return_to',
    sql: `
-- A flow started from the web app names the app page to come back to: the callback then answers
-- 303 to it (with ?oauth=connected or ?oauth=failed) instead of JSON. ADR 0035.
ALTER TABLE integration_hub.oauth_states ADD COLUMN return_to text;
`,
  },
  {
    id: '0005_publication_uncertain',
    sql: `
-- A publish whose outcome is unknown (no answer, the connection dropped after sending) keeps its
-- key as 'uncertain' instead of freeing it: the retry asks the connector to look for the first
-- attempt's item before publishing again. ADR 0079.
ALTER TABLE integration_hub.publications DROP CONSTRAINT IF EXISTS publications_status_check;
ALTER TABLE integration_hub.publications ADD CONSTRAINT publications_status_check CHECK (status IN ('pending', 'confirmed', 'uncertain'));
`,
  },
];
