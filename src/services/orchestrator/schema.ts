import { bigint, bigserial, boolean, integer, jsonb, pgSchema, primaryKey, text, timestamp, uuid } from 'drizzle-orm/pg-core';

export const orchestrator = pgSchema('orchestrator');
const ts = (name: string) => timestamp(name, { withTimezone: true, mode: 'date' });

export const users = orchestrator.table('users', {
  id: uuid('id').primaryKey(),
  email: text('email').notNull(),
  emailNormalized: text('email_normalized').notNull().unique(),
  name: text('name').notNull(),
  passwordHash: text('password_hash').notNull(),
  platformAdmin: boolean('platform_admin').notNull().default(false),
  mfaEnabled: boolean('mfa_enabled').notNull().default(false),
  mfaSecret: text('mfa_secret'),
  mfaPendingSecret: text('mfa_pending_secret'),
  mfaLastStep: bigint('mfa_last_step', { mode: 'number' }),
  failedLogins: integer('failed_logins').notNull().default(0),
  lockedUntil: ts('locked_until'),
  lastLoginAt: ts('last_login_at'),
  emailVerifiedAt: ts('email_verified_at'),
  createdAt: ts('created_at').notNull(),
  updatedAt: ts('updated_at').notNull(),
});

export const recoveryCodes = orchestrator.table(
  'recovery_codes',
  {
    userId: uuid('user_id').notNull(),
    codeHash: text('code_hash').notNull(),
    usedAt: ts('used_at'),
  },
  (t) => [primaryKey({ columns: [t.userId, t.codeHash] })],
);

export const tokens = orchestrator.table('tokens', {
  id: uuid('id').primaryKey(),
  userId: uuid('user_id').notNull(),
  kind: text('kind', { enum: ['session', 'api'] }).notNull(),
  name: text('name'),
  tokenHash: text('token_hash').notNull().unique(),
  scopes: text('scopes').array().notNull(),
  createdAt: ts('created_at').notNull(),
  expiresAt: ts('expires_at'),
  revokedAt: ts('revoked_at'),
  lastUsedAt: ts('last_used_at'),
  createdIp: text('created_ip'),
});

export const workspaces = orchestrator.table('workspaces', {
  id: uuid('id').primaryKey(),
  name: text('name').notNull(),
  requireMfa: boolean('require_mfa').notNull().default(false),
  createdBy: uuid('created_by'),
  createdAt: ts('created_at').notNull(),
  updatedAt: ts('updated_at').notNull(),
});

export const members = orchestrator.table(
  'members',
  {
    workspaceId: uuid('workspace_id').notNull(),
    userId: uuid('user_id').notNull(),
    role: text('role', { enum: ['owner', 'admin', 'developer', 'analyst', 'viewer'] }).notNull(),
    personas: text('personas').array().notNull().default([]),
    joinedAt: ts('joined_at').notNull(),
  },
  (t) => [primaryKey({ columns: [t.workspaceId, t.userId] })],
);

export const invitations = orchestrator.table('invitations', {
  id: uuid('id').primaryKey(),
  workspaceId: uuid('workspace_id').notNull(),
  email: text('email').notNull(),
  emailNormalized: text('email_normalized').notNull(),
  role: text('role', { enum: ['owner', 'admin', 'developer', 'analyst', 'viewer'] }).notNull(),
  tokenHash: text('token_hash').notNull().unique(),
  invitedBy: uuid('invited_by'),
  createdAt: ts('created_at').notNull(),
  expiresAt: ts('expires_at').notNull(),
  acceptedAt: ts('accepted_at'),
  acceptedBy: uuid('accepted_by'),
  revokedAt: ts('revoked_at'),
});

export const securityEvents = orchestrator.table('security_events', {
  id: bigserial('id', { mode: 'number' }).primaryKey(),
  occurredAt: ts('occurred_at').notNull(),
  kind: text('kind').notNull(),
  ip: text('ip'),
  userId: uuid('user_id'),
  emailNormalized: text('email_normalized'),
  detail: jsonb('detail').$type<Record<string, unknown>>().notNull().default({}),
});

export const mailOutbox = orchestrator.table('mail_outbox', {
  id: uuid('id').primaryKey(),
  template: text('template').notNull(),
  toAddress: text('to_address').notNull(),
  subject: text('subject').notNull(),
  textBody: text('text_body').notNull(),
  htmlBody: text('html_body').notNull(),
  userId: uuid('user_id'),
  status: text('status', { enum: ['pending', 'sent', 'failed'] }).notNull().default('pending'),
  attempts: integer('attempts').notNull().default(0),
  nextAttemptAt: ts('next_attempt_at').notNull(),
  leaseOwner: text('lease_owner'),
  leaseUntil: ts('lease_until'),
  lastError: text('last_error'),
  messageId: text('message_id'),
  createdAt: ts('created_at').notNull(),
  sentAt: ts('sent_at'),
});

export const accountTokens = orchestrator.table('account_tokens', {
  id: uuid('id').primaryKey(),
  userId: uuid('user_id').notNull(),
  purpose: text('purpose', { enum: ['password_reset', 'email_verify', 'email_change'] }).notNull(),
  tokenHash: text('token_hash').notNull().unique(),
  email: text('email').notNull(),
  createdAt: ts('created_at').notNull(),
  expiresAt: ts('expires_at').notNull(),
  usedAt: ts('used_at'),
});

export interface SsoGroupRole {
  group: string;
  workspaceId: string;
  role: 'owner' | 'admin' | 'developer' | 'analyst' | 'viewer';
}

export const ssoProviders = orchestrator.table('sso_providers', {
  id: uuid('id').primaryKey(),
  slug: text('slug').notNull().unique(),
  name: text('name').notNull(),
  issuerUrl: text('issuer_url').notNull(),
  clientId: text('client_id').notNull(),
  clientSecret: text('client_secret').notNull(),
  scopes: text('scopes').array().notNull(),
  emailClaim: text('email_claim').notNull().default('email'),
  nameClaim: text('name_claim').notNull().default('name'),
  groupsClaim: text('groups_claim'),
  groupRoles: jsonb('group_roles').$type<SsoGroupRole[]>().notNull().default([]),
  jitEnabled: boolean('jit_enabled').notNull().default(false),
  defaultWorkspaceId: uuid('default_workspace_id'),
  defaultRole: text('default_role', { enum: ['owner', 'admin', 'developer', 'analyst', 'viewer'] }).notNull().default('viewer'),
  enabled: boolean('enabled').notNull().default(true),
  createdAt: ts('created_at').notNull(),
  updatedAt: ts('updated_at').notNull(),
});

export const ssoIdentities = orchestrator.table(
  'sso_identities',
  {
    providerId: uuid('provider_id').notNull(),
    subject: text('subject').notNull(),
    userId: uuid('user_id').notNull(),
    email: text('email'),
    createdAt: ts('created_at').notNull(),
    lastLoginAt: ts('last_login_at'),
  },
  (t) => [primaryKey({ columns: [t.providerId, t.subject] })],
);

export const ssoFlows = orchestrator.table('sso_flows', {
  stateHash: text('state_hash').primaryKey(),
  providerId: uuid('provider_id').notNull(),
  nonce: text('nonce').notNull(),
  codeVerifier: text('code_verifier').notNull(),
  redirectUri: text('redirect_uri').notNull(),
  returnTo: text('return_to').notNull(),
  client: text('client', { enum: ['browser', 'api'] }).notNull(),
  createdAt: ts('created_at').notNull(),
  expiresAt: ts('expires_at').notNull(),
});

export const ORCHESTRATOR_TABLES = { users, recoveryCodes, tokens, workspaces, members, invitations, securityEvents, mailOutbox, accountTokens, ssoProviders, ssoIdentities, ssoFlows };
