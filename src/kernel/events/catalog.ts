import { z } from 'zod';

/**
 * The platform's event map: every event name, versioned, with the schema of its payload. A
 * service that publishes an event adds it here (additively); a breaking change to a payload is a
 * new name with the next version (`.v2`), published side by side until consumers have moved.
 */
export const EVENT_SCHEMAS = {
  // Published by the orchestrator (accounts and workspaces).
  'orchestrator.user.signed_up.v1': z.object({ userId: z.string(), via: z.enum(['signup', 'admin']) }),
  'orchestrator.user.erased.v1': z.object({ userId: z.string() }),
  'orchestrator.workspace.created.v1': z.object({ workspaceId: z.string(), name: z.string() }),
  'orchestrator.workspace.deleted.v1': z.object({ workspaceId: z.string() }),
  'orchestrator.member.joined.v1': z.object({ userId: z.string(), role: z.string() }),
  'workflow.run.started.v1': z.object({
    runId: z.string(),
    workflowId: z.string(),
    workflowVersion: z.number().int(),
    trigger: z.string(),
  }),
  'workflow.run.succeeded.v1': z.object({
    runId: z.string(),
    workflowId: z.string(),
    workflowVersion: z.number().int(),
    durationMs: z.number(),
  }),
  'workflow.run.failed.v1': z.object({
    runId: z.string(),
    workflowId: z.string(),
    workflowVersion: z.number().int(),
    /** failed, timed_out or cancelled. */
    status: z.enum(['failed', 'timed_out', 'cancelled']),
    error: z.string(),
    durationMs: z.number(),
  }),
  /** A user-defined signal published by a workflow's `emit` step. */
  'workflow.signal.v1': z.object({
    signal: z.string(),
    data: z.unknown(),
    runId: z.string(),
    workflowId: z.string(),
    stepId: z.string(),
  }),
  // Activity the gamification service scores (consumed there; published by the owning services).
  // content-scheduler: `channel` is the channel's connector type (mastodon, discord ...); the
  // optional fields are additive and always set by the content-scheduler.
  'content.post.published.v1': z.object({
    postId: z.string(),
    channel: z.string(),
    campaignId: z.string().nullable().optional(),
    targetId: z.string().optional(),
    channelId: z.string().optional(),
    externalId: z.string().optional(),
    url: z.string().nullable().optional(),
    lateBySeconds: z.number().int().optional(),
  }),
  'content.campaign.launched.v1': z.object({ campaignId: z.string(), name: z.string(), channels: z.array(z.string()) }),
  'content.post.scheduled.v1': z.object({
    postId: z.string(),
    campaignId: z.string().nullable(),
    targets: z.array(z.object({ targetId: z.string(), channelId: z.string(), channel: z.string(), dueAt: z.string() })),
    recurring: z.boolean(),
  }),
  'content.post.failed.v1': z.object({
    postId: z.string(),
    campaignId: z.string().nullable(),
    targetId: z.string(),
    channelId: z.string(),
    channel: z.string(),
    /** failed (the provider refused or retries ran out) or skipped (missed while down, by channel policy). */
    outcome: z.enum(['failed', 'skipped']),
    errorCode: z.string(),
    error: z.string(),
    attempts: z.number().int(),
  }),
  'content.campaign.created.v1': z.object({ campaignId: z.string(), name: z.string(), startsOn: z.string(), endsOn: z.string() }),
  'integration.app.configured.v1': z.object({ connectionId: z.string(), connector: z.string() }),
  /** A connection's OAuth token refresh failed: it is marked needs_reauth (integration-hub). */
  'integration.connection.broken.v1': z.object({ connectionId: z.string(), connector: z.string(), name: z.string(), reason: z.string() }),
  /** An inbound webhook delivery passed its signature, timestamp and replay checks (integration-hub; workflow triggers). */
  'integration.webhook.received.v1': z.object({ connectionId: z.string(), connector: z.string(), deliveryId: z.string(), eventType: z.string(), payload: z.unknown() }),
  'workflow.deployment.succeeded.v1': z.object({ deploymentId: z.string(), workflowId: z.string(), environment: z.string() }),
  'analytics.report.run.v1': z.object({ reportId: z.string().nullable(), kind: z.string() }),
  'analytics.insight.created.v1': z.object({ insightId: z.string(), title: z.string() }),
  // Published by the gamification service.
  'gamification.level.up.v1': z.object({ userId: z.string(), persona: z.string(), level: z.number().int(), previousLevel: z.number().int(), xp: z.number() }),
  'gamification.badge.awarded.v1': z.object({ userId: z.string(), badgeId: z.string(), badgeKey: z.string(), name: z.string() }),
  'gamification.reward.granted.v1': z.object({ userId: z.string(), rewardKey: z.string(), kind: z.string() }),
} as const satisfies Record<string, z.ZodType>;

export type EventCatalog = { [K in keyof typeof EVENT_SCHEMAS]: z.infer<(typeof EVENT_SCHEMAS)[K]> };
export type EventName = keyof EventCatalog;

export const EVENT_NAMES = Object.keys(EVENT_SCHEMAS) as EventName[];

export const isEventName = (name: string): name is EventName => Object.prototype.hasOwnProperty.call(EVENT_SCHEMAS, name);

/** Versioned names: lower-case dotted segments ending in `.v<N>`. */
export const EVENT_NAME_PATTERN = /^[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)+\.v[1-9][0-9]*$/;
