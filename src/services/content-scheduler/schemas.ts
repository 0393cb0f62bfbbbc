import { z } from 'zod';
import type { Post } from './posts.js';

/** Response shapes of the content routes (what the services hand back). */
const when = z.iso.datetime({ offset: true });
const uuid = z.uuid();

export const settingsSchema = z.object({ requireApproval: z.boolean().describe('Posts need an approval before they can be scheduled') });

export const channelSchema = z.object({
  id: uuid,
  workspaceId: uuid,
  connectionId: uuid,
  connector: z.string().describe('The integration-hub connector that publishes (mastodon, bluesky, discord ...)'),
  name: z.string(),
  timezone: z.string().describe('IANA time zone of the queue slots'),
  limits: z.object({ maxTextLength: z.number().int(), maxMedia: z.number().int(), mediaTypes: z.array(z.string()) }),
  queueSlots: z.array(z.object({ weekday: z.number().int().describe('1 = Monday … 7 = Sunday'), time: z.string().describe('HH:MM local time') })),
  latePolicy: z.enum(['publish_late', 'skip']),
  lateGraceSeconds: z.number().int(),
  createdAt: when,
  updatedAt: when,
});

export const mediaSchema = z.object({
  id: uuid,
  workspaceId: uuid,
  fileName: z.string(),
  contentType: z.string(),
  sizeBytes: z.number().int(),
  sha256: z.string().describe('Hex SHA-256 of the bytes'),
  altText: z.string().nullable().describe('Alternative text published with the file'),
  uploadedBy: z.string().nullable(),
  createdAt: when,
});

export const TARGET_STATUSES = ['scheduled', 'publishing', 'published', 'failed', 'cancelled', 'skipped'] as const;
const targetSchema = z.object({
  id: uuid,
  channelId: uuid,
  dueAt: when,
  status: z.enum(TARGET_STATUSES),
  attempts: z.number().int(),
  nextAttemptAt: when.nullable(),
  externalId: z.string().nullable().describe('The provider\'s id of the published item'),
  url: z.string().nullable().describe('Where the published item can be seen'),
  errorCode: z.string().nullable(),
  error: z.string().nullable(),
  lateBySeconds: z.number().int().nullable(),
  publishedAt: when.nullable(),
});

/** A post's lifecycle as one field: the editorial phase, then what publishing did. */
export const POST_STATUSES = ['draft', 'in_review', 'approved', 'scheduled', 'publishing', 'published', 'partially_published', 'failed', 'cancelled'] as const;

export const postSchema = z.object({
  id: uuid,
  workspaceId: uuid,
  campaignId: uuid.nullable(),
  authorId: z.string().nullable(),
  title: z.string().nullable(),
  body: z.string(),
  link: z.string().nullable(),
  mediaIds: z.array(uuid),
  channels: z.array(z.object({ channelId: uuid, body: z.string().nullable().describe('Per-channel text replacing the body, or null') })),
  status: z
    .enum(POST_STATUSES)
    .describe(
      'draft → in_review → approved → scheduled (waiting for its time), then from its per-channel targets: publishing (one is being sent), published (all sent), partially_published (some sent, others failed or skipped), failed (none sent); cancelled at any point before publishing',
    ),
  timezone: z.string(),
  scheduledAt: z.string().nullable().describe('Local wall time (YYYY-MM-DDTHH:MM) in `timezone`'),
  rrule: z.string().nullable(),
  review: z.object({ comment: z.string().nullable(), by: z.string().nullable(), at: when.nullable() }),
  targets: z.array(targetSchema).describe('One per channel and occurrence'),
  createdAt: when,
  updatedAt: when,
});

/** The post as the API shows it: `status` is the whole lifecycle (what the service calls `state`). */
export function postView(post: Post): z.output<typeof postSchema> {
  const { state, ...rest } = post;
  return { ...rest, status: state };
}

export const campaignSchema = z.object({
  id: uuid,
  name: z.string(),
  goal: z.string(),
  startsOn: z.string().describe('YYYY-MM-DD'),
  endsOn: z.string().describe('YYYY-MM-DD'),
  createdBy: z.string().nullable(),
  createdAt: when,
  launchedAt: when.nullable(),
  progress: z.object({ posts: z.number().int(), scheduled: z.number().int(), published: z.number().int(), failed: z.number().int() }).describe('Per channel target: scheduled (incl. publishing), published, failed (incl. skipped); posts counts the posts'),
});

export const calendarSchema = z.object({
  timezone: z.string(),
  from: z.string(),
  to: z.string(),
  days: z.array(
    z.object({
      date: z.string().describe('YYYY-MM-DD in `timezone`'),
      posts: z.array(
        z.object({
          postId: uuid,
          title: z.string().nullable(),
          excerpt: z.string().describe('The first 140 characters of the body'),
          campaignId: uuid.nullable(),
          at: when,
          localTime: z.string().describe('HH:MM in `timezone`'),
          channels: z.array(
            z.object({
              channelId: uuid,
              channelName: z.string(),
              connector: z.string(),
              targetId: uuid,
              status: z.enum(TARGET_STATUSES),
              url: z.string().nullable(),
              error: z.string().nullable(),
              lateBySeconds: z.number().int().nullable(),
            }),
          ),
        }),
      ),
    }),
  ),
});
