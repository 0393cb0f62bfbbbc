import { defineErrors } from '../../kernel/errors.js';

/** The workflow-engine's error codes (its manifest lists them; composed into the one catalog at start-up, ADR 0015). */
export const WORKFLOW_ERRORS = defineErrors('workflow-engine', {
  workflow_queue_full: { status: 503, title: 'Runs of this workspace are waiting longer than the queue allows; retry after the given delay' },
});

type WorkflowErrors = typeof WORKFLOW_ERRORS;
declare module '../../kernel/errors.js' {
  // eslint-disable-next-line @typescript-eslint/no-empty-object-type
  interface ErrorCatalog extends WorkflowErrors {}
}
