import { defineErrors } from '../../kernel/errors.js';

/** The content-scheduler's error codes (its manifest lists them; composed into the one catalog at start-up, ADR 0015). */
export const CONTENT_ERRORS = defineErrors('content-scheduler', {
  media_missing: { status: 409, title: 'A media file of the post no longer exists' },
});

type ContentErrors = typeof CONTENT_ERRORS;
declare module '../../kernel/errors.js' {
  // eslint-disable-next-line @typescript-eslint/no-empty-object-type
  interface ErrorCatalog extends ContentErrors {}
}
