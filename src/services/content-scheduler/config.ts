import { z } from 'zod';
import { defineConfig, positiveInt, setting } from '../../kernel/config/index.js';

/**
 * The media size limit, read by the content-scheduler (uploads) and by the integration-hub (the
 * body limit of its internal publish call, which carries the media): both declare it, alike.
 */
const mediaMaxBytes = setting(positiveInt.default(25 * 1024 * 1024), { description: 'largest media file (upload limit; in the split shape set it alike for the content-scheduler and the integration-hub)' });

/** The content-scheduler's settings: media limit and the publisher's claim loop. Object storage is the kernel's (S3_*). */
export const CONTENT_CONFIG = defineConfig(
  'content-scheduler',
  {
    CONTENT_MEDIA_MAX_BYTES: mediaMaxBytes,
    CONTENT_PUBLISHER_INTERVAL_MS: setting(positiveInt.max(60_000).default(1_000), { description: "period of the publisher's claim loop" }),
    CONTENT_PUBLISHER_LOOKAHEAD_MS: setting(z.coerce.number().int().min(0).max(60_000).default(2_000), {
      description:
        'the publisher claims targets due within this many ms and sends each at its due time (0: only targets already due); a post can no longer be edited or cancelled once claimed. At most half the lease',
    }),
    CONTENT_PUBLISHER_BATCH: setting(positiveInt.max(10_000).default(100), { description: 'due publications claimed at once' }),
    CONTENT_PUBLISHER_CONCURRENCY: setting(positiveInt.max(256).default(16), { description: 'publications sent at once per process' }),
    CONTENT_PUBLISH_LEASE_SECONDS: setting(positiveInt.max(86_400).default(120), { description: 'after this a `publishing` target is re-checked by another replica' }),
    CONTENT_PUBLISH_MAX_ATTEMPTS: setting(positiveInt.max(100).default(6), { description: 'transient failures before a target is `failed`' }),
  },
  (e) => ({
    mediaMaxBytes: e.CONTENT_MEDIA_MAX_BYTES,
    publisherIntervalMs: e.CONTENT_PUBLISHER_INTERVAL_MS,
    publisherLookaheadMs: e.CONTENT_PUBLISHER_LOOKAHEAD_MS,
    publisherBatch: e.CONTENT_PUBLISHER_BATCH,
    publisherConcurrency: e.CONTENT_PUBLISHER_CONCURRENCY,
    leaseSeconds: e.CONTENT_PUBLISH_LEASE_SECONDS,
    maxAttempts: e.CONTENT_PUBLISH_MAX_ATTEMPTS,
  }),
);
export type ContentSettings = ReturnType<typeof CONTENT_CONFIG.read>;
