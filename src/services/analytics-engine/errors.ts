import { defineErrors } from '../../kernel/errors.js';

/** The analytics-engine's error codes (its manifest lists them; composed into the one catalog at start-up, ADR 0015). */
export const ANALYTICS_ERRORS = defineErrors('analytics-engine', {
  analytics_buffer_full: { status: 429, title: 'The analytics ingestion buffer is full; retry later' },
  analytics_buffer_unavailable: { status: 503, title: 'The analytics ingestion buffer cannot store events right now; retry later' },
  invalid_write_key: { status: 401, title: 'Invalid or revoked workspace write key' },
});

type AnalyticsErrors = typeof ANALYTICS_ERRORS;
declare module '../../kernel/errors.js' {
  // eslint-disable-next-line @typescript-eslint/no-empty-object-type
  interface ErrorCatalog extends AnalyticsErrors {}
}
