/**
 * The workflow-engine's public contract: the only file of this service other services may import.
 * Runs are started through it (for example by another service reacting to its own domain), and
 * its events are in src/kernel/events/catalog.ts (`workflow.run.started|succeeded|failed.v1`,
 * `workflow.signal.v1`).
 */
export interface WorkflowEngineContract {
  /** Starts a run of an enabled workflow; the same idempotency key returns the first run's id. */
  startRun(workspaceId: string, workflowId: string, input: unknown, idempotencyKey?: string): Promise<{ runId: string; status: string }>;
  /** A run's status, or null when the workspace has no such run. */
  runStatus(workspaceId: string, runId: string): Promise<{ status: string; output: unknown; error: string | null } | null>;
}
