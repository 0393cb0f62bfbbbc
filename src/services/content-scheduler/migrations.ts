import type { Migration } from '../../kernel/db/migrate.js';

export const CONTENT_MIGRATIONS: Migration[] = [
  {
    id: '0001_content',
    sql: `
CREATE SCHEMA IF NOT EXISTS content;

CREATE TABLE content.settings (
  workspace_id uuid PRIMARY KEY,
  require_approval boolean NOT NULL DEFAULT false,
  updated_at timestamptz NOT NULL
);

-- Uploaded files; the bytes live in object storage under object_key.
CREATE TABLE content.media (
  id uuid PRIMARY KEY,
  workspace_id uuid NOT NULL,
  object_key text NOT NULL,
  file_name text NOT NULL,
  content_type text NOT NULL,
  size_bytes bigint NOT NULL,
  sha256 text NOT NULL,
  uploaded_by uuid,
  created_at timestamptz NOT NULL
);
CREATE INDEX media_workspace_idx ON content.media (workspace_id, created_at DESC);

-- A publish target bound to an integration-hub connection (no foreign key across services).
CREATE TABLE content.channels (
  id uuid PRIMARY KEY,
  workspace_id uuid NOT NULL,
  connection_id uuid NOT NULL,
  connector text NOT NULL,
  name text NOT NULL,
  timezone text NOT NULL,
  max_text_length integer NOT NULL,
  max_media integer NOT NULL,
  media_types text[] NOT NULL,
  queue_slots jsonb NOT NULL DEFAULT '[]',
  late_policy text NOT NULL CHECK (late_policy IN ('publish_late', 'skip')),
  late_grace_seconds integer NOT NULL,
  created_at timestamptz NOT NULL,
  updated_at timestamptz NOT NULL,
  archived_at timestamptz
);
CREATE INDEX channels_workspace_idx ON content.channels (workspace_id) WHERE archived_at IS NULL;

CREATE TABLE content.campaigns (
  id uuid PRIMARY KEY,
  workspace_id uuid NOT NULL,
  name text NOT NULL,
  goal text NOT NULL DEFAULT '',
  starts_on date NOT NULL,
  ends_on date NOT NULL,
  created_by uuid,
  created_at timestamptz NOT NULL,
  launched_at timestamptz,
  CHECK (ends_on >= starts_on)
);
CREATE INDEX campaigns_workspace_idx ON content.campaigns (workspace_id, starts_on);

-- status: draft → in_review → approved → scheduled (then per-target) | cancelled.
CREATE TABLE content.posts (
  id uuid PRIMARY KEY,
  workspace_id uuid NOT NULL,
  campaign_id uuid REFERENCES content.campaigns (id) ON DELETE SET NULL,
  author_id uuid,
  title text,
  body text NOT NULL,
  link text,
  media_ids uuid[] NOT NULL DEFAULT '{}',
  status text NOT NULL CHECK (status IN ('draft', 'in_review', 'approved', 'scheduled', 'cancelled')),
  timezone text NOT NULL,
  scheduled_local text,
  rrule text,
  review_comment text,
  reviewed_by uuid,
  reviewed_at timestamptz,
  created_at timestamptz NOT NULL,
  updated_at timestamptz NOT NULL
);
CREATE INDEX posts_workspace_idx ON content.posts (workspace_id, created_at DESC);
CREATE INDEX posts_campaign_idx ON content.posts (campaign_id);
CREATE INDEX posts_author_idx ON content.posts (author_id);

-- The channels a post goes to, with per-channel overrides.
CREATE TABLE content.post_channels (
  post_id uuid NOT NULL REFERENCES content.posts (id) ON DELETE CASCADE,
  channel_id uuid NOT NULL REFERENCES content.channels (id),
  body_override text,
  PRIMARY KEY (post_id, channel_id)
);

-- One publication of a post on a channel at one occurrence: the unit the publisher claims.
-- status: scheduled → publishing → published | failed; cancelled or skipped (missed, by policy).
CREATE TABLE content.targets (
  id uuid PRIMARY KEY,
  workspace_id uuid NOT NULL,
  post_id uuid NOT NULL REFERENCES content.posts (id) ON DELETE CASCADE,
  channel_id uuid NOT NULL REFERENCES content.channels (id),
  due_at timestamptz NOT NULL,
  status text NOT NULL CHECK (status IN ('scheduled', 'publishing', 'published', 'failed', 'cancelled', 'skipped')),
  attempts integer NOT NULL DEFAULT 0,
  next_attempt_at timestamptz,
  lease_until timestamptz,
  claimed_by text,
  external_id text,
  external_url text,
  error_code text,
  error text,
  late_by_seconds integer,
  published_at timestamptz,
  updated_at timestamptz NOT NULL,
  UNIQUE (post_id, channel_id, due_at)
);
CREATE INDEX targets_due_idx ON content.targets (COALESCE(next_attempt_at, due_at)) WHERE status = 'scheduled';
CREATE INDEX targets_lease_idx ON content.targets (lease_until) WHERE status = 'publishing';
CREATE INDEX targets_post_idx ON content.targets (post_id);
CREATE INDEX targets_channel_due_idx ON content.targets (channel_id, due_at);
CREATE INDEX targets_workspace_due_idx ON content.targets (workspace_id, due_at);
`,
  },
  {
    id: '0002_media_alt_text',
    sql: `
-- Alternative text of an image, published with it (Mastodon description, Bluesky alt, Discord/Slack).
ALTER TABLE content.media ADD COLUMN alt_text text;
`,
  },
];
