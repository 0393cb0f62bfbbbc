import { bigserial, integer, jsonb, pgSchema, primaryKey, text, timestamp, uuid } from 'drizzle-orm/pg-core';

export const integrationHub = pgSchema('integration_hub');
const ts = (name: string) => timestamp(name, { withTimezone: true, mode: 'date' });

export const connections = integrationHub.table('connections', {
  id: uuid('id').primaryKey(),
  workspaceId: uuid('workspace_id').notNull(),
  connector: text('connector').notNull(),
  name: text('name').notNull(),
  config: jsonb('config').$type<Record<string, unknown>>().notNull().default({}),
  credentials: text('credentials').notNull(),
  status: text('status', { enum: ['active', 'needs_reauth', 'disabled'] }).notNull().default('active'),
  statusDetail: text('status_detail'),
  inboundTokenHash: text('inbound_token_hash'),
  tokenExpiresAt: ts('token_expires_at'),
  refreshLeaseUntil: ts('refresh_lease_until'),
  /** The connection's outbound rate limit: `rateRequests` per `rateWindowSeconds`, bucket of `rateBurst`; all null = the process default. */
  rateRequests: integer('rate_requests'),
  rateWindowSeconds: integer('rate_window_seconds'),
  rateBurst: integer('rate_burst'),
  createdBy: uuid('created_by'),
  createdAt: ts('created_at').notNull(),
  updatedAt: ts('updated_at').notNull(),
});

export const requestLog = integrationHub.table('request_log', {
  id: bigserial('id', { mode: 'number' }).primaryKey(),
  connectionId: uuid('connection_id').notNull(),
  workspaceId: uuid('workspace_id').notNull(),
  actorId: uuid('actor_id'),
  occurredAt: ts('occurred_at').notNull(),
  method: text('method').notNull(),
  host: text('host').notNull(),
  path: text('path').notNull(),
  status: integer('status'),
  errorCode: text('error_code'),
  durationMs: integer('duration_ms').notNull(),
});

export const webhookDeliveries = integrationHub.table(
  'webhook_deliveries',
  {
    connectionId: uuid('connection_id').notNull(),
    deliveryId: text('delivery_id').notNull(),
    receivedAt: ts('received_at').notNull(),
  },
  (t) => [primaryKey({ columns: [t.connectionId, t.deliveryId] })],
);

export const oauthStates = integrationHub.table('oauth_states', {
  stateHash: text('state_hash').primaryKey(),
  connectionId: uuid('connection_id').notNull(),
  verifier: text('verifier').notNull(),
  redirectUri: text('redirect_uri').notNull(),
  /** App path the browser returns to after the callback (null: the callback answers JSON). */
  returnTo: text('return_to'),
  createdBy: uuid('created_by'),
  expiresAt: ts('expires_at').notNull(),
});

export const publications = integrationHub.table(
  'publications',
  {
    connectionId: uuid('connection_id').notNull(),
    /** 'publish' (publish) or 'action' (runAction with an idempotency key): separate key spaces. */
    kind: text('kind', { enum: ['publish', 'action'] }).notNull().default('publish'),
    idempotencyKey: text('idempotency_key').notNull(),
    /** 'uncertain': a publish attempt ended without knowing whether the provider published (ADR 0079). */
    status: text('status', { enum: ['pending', 'confirmed', 'uncertain'] }).notNull(),
    /** The action a kind='action' key was used for, and its first successful output. */
    action: text('action'),
    output: jsonb('output').$type<Record<string, unknown>>(),
    externalId: text('external_id'),
    url: text('url'),
    claimedAt: ts('claimed_at').notNull(),
    confirmedAt: ts('confirmed_at'),
  },
  (t) => [primaryKey({ columns: [t.connectionId, t.kind, t.idempotencyKey] })],
);

export type ConnectionRow = typeof connections.$inferSelect;
