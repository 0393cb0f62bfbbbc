import { z } from 'zod';
import { defineEvents, type EventPayloads } from '../../kernel/events/catalog.js';

/**
 * Events the workflow-engine publishes, with the schema of each payload (its manifest lists them; composed
 * into the one catalog at start-up, ADR 0015). Additive changes only; a breaking change is a new
 * name with the next version (`.v2`), published side by side until consumers have moved.
 */
export const WORKFLOW_EVENTS = defineEvents('workflow-engine', {
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
  'workflow.deployment.succeeded.v1': z.object({ deploymentId: z.string(), workflowId: z.string(), environment: z.string() }),
});

type WorkflowEvents = EventPayloads<typeof WORKFLOW_EVENTS>;
declare module '../../kernel/events/catalog.js' {
  // eslint-disable-next-line @typescript-eslint/no-empty-object-type
  interface EventCatalog extends WorkflowEvents {}
}
