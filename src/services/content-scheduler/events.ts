import { z } from 'zod';
import { defineEvents, type EventPayloads } from '../../kernel/events/catalog.js';

/**
 * Events the content-scheduler publishes, with the schema of each payload (its manifest lists them; composed
 * into the one catalog at start-up, ADR 0015). Additive changes only; a breaking change is a new
 * name with the next version (`.v2`), published side by side until consumers have moved.
 */
export const CONTENT_EVENTS = defineEvents('content-scheduler', {
  // `channel` is the channel's connector type (mastodon, discord ...); the
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
});

type ContentEvents = EventPayloads<typeof CONTENT_EVENTS>;
declare module '../../kernel/events/catalog.js' {
  // eslint-disable-next-line @typescript-eslint/no-empty-object-type
  interface EventCatalog extends ContentEvents {}
}
