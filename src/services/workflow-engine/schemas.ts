import { z } from 'zod';
import { RUN_STATUSES } from './repository.js';
import { workflowDefinitionComponent } from './definition.js';
import { stepRegistry } from './steps/index.js';
import { STEP_KINDS } from './steps/types.js';

/** Response shapes of the workflow routes (what WorkflowService and the repository hand back). */
const when = z.iso.datetime({ offset: true });

/** The workflow definition as saved (the request body of POST/PUT, normalised): the shared WorkflowDefinition component. */
export const definitionSchema = workflowDefinitionComponent;

export const workflowSchema = z.object({
  id: z.uuid(),
  workspaceId: z.uuid(),
  name: z.string(),
  enabled: z.boolean(),
  currentVersion: z.number().int().describe('The version new runs use'),
  triggerType: z.string().describe('manual, schedule, event or webhook'),
  triggerEvent: z.string().nullable().describe('The event an event-triggered workflow listens to'),
  hasWebhookSecret: z.boolean().describe('Whether webhook calls must carry an X-V01T-Signature'),
  createdAt: when,
  updatedAt: when,
});

export const workflowWithDefinitionSchema = workflowSchema.extend({ definition: definitionSchema.nullable() });

/** The webhook's secret URL and HMAC secret: shown once, when created. */
const webhookSchema = z
  .object({
    url: z.string().describe('Path of the webhook trigger; POST the run input to it'),
    token: z.string(),
    hmacSecret: z.string().nullable().describe('Sign bodies with sha256 HMAC under this secret, or null when HMAC is off'),
  })
  .optional()
  .describe('Present only when this call created the webhook URL; it is not shown again');

export const savedWorkflowSchema = z.object({
  workflow: workflowWithDefinitionSchema.extend({ version: z.number().int().optional() }),
  webhook: webhookSchema,
  warnings: z.array(z.object({ path: z.string(), message: z.string() })).describe('Probable mistakes that do not stop the save, e.g. a read of steps.<id> that no earlier step produces'),
});

export const versionSchema = z.object({ version: z.number().int(), createdAt: when, createdBy: z.string().nullable(), definition: definitionSchema });

/** A wait step's type (from the registry), retry or concurrency. */
const WAIT_KINDS: [string, ...string[]] = ['retry', 'concurrency', ...stepRegistry.modules.filter((m) => m.kind === 'wait').map((m) => m.type)];

const waitSchema = z.object({
  kind: z.enum(WAIT_KINDS).describe('A wait step\'s type (the step waits), retry (backoff before the next attempt, or the same attempt later) or concurrency (held back by a limit)'),
  stepId: z.string(),
  until: when,
  decision: z.object({ approved: z.boolean(), by: z.string().nullable(), comment: z.string().nullable(), at: when }).optional(),
});

export const runSchema = z.object({
  id: z.uuid(),
  workspaceId: z.uuid(),
  workflowId: z.uuid(),
  version: z.number().int().describe('The definition version the run is pinned to'),
  status: z.enum(RUN_STATUSES),
  trigger: z.string().describe('manual, schedule, event, webhook or service'),
  input: z.unknown(),
  outputs: z.record(z.string(), z.unknown()).describe('Each finished step\'s output by step id (steps.<id>.output in expressions)'),
  output: z.unknown().describe('The output of the last step, once succeeded'),
  currentStep: z.string().nullable(),
  stepAttempt: z.number().int(),
  wait: waitSchema.nullable().describe('What a waiting run waits for'),
  error: z.string().nullable(),
  idempotencyKey: z.string().nullable(),
  takeovers: z.number().int().describe('How often another worker took the run over after a lost lease'),
  createdBy: z.string().nullable(),
  createdAt: when,
  startedAt: when.nullable(),
  finishedAt: when.nullable(),
  deadlineAt: when.nullable(),
  triggerRef: z.record(z.string(), z.unknown()).nullable().describe('What triggered the run (event id, parent run ...)'),
  chainDepth: z.number().int().describe('How many workflow runs started this one in a chain'),
});

export const attemptSchema = z.object({
  id: z.uuid(),
  stepId: z.string(),
  stepType: z.string(),
  attempt: z.number().int(),
  status: z.string().describe('started, succeeded, failed or waiting'),
  idempotencyKey: z.string().describe('Sent to the remote side of effect steps, stable across retries of the attempt'),
  input: z.unknown(),
  output: z.unknown(),
  error: z.string().nullable(),
  startedAt: when,
  finishedAt: when.nullable(),
});

export const runWithStepsSchema = runSchema.extend({ steps: z.array(attemptSchema).describe('Every attempt of every step, in order') });

/** GET /v1/workflow-step-types: one entry per step type, from the step registry (steps/index.ts). */
export const stepTypeSchema = z.object({
  type: z.string().describe('The value of a step\'s `type`'),
  kind: z.enum(STEP_KINDS).describe('pure: computed in memory; wait: parks the run until a time or decision; effect: acts outside the engine with an idempotency key'),
  title: z.string().describe('A short name for a palette'),
  description: z.string().describe('What the step does and what its output (steps.<id>.output) is'),
  withSchema: z.record(z.string(), z.unknown()).describe('JSON Schema (draft 2020-12) of the step\'s `with`; string values starting with "=" are JSONata expressions where the schema allows a string'),
  example: z.record(z.string(), z.unknown()).describe('A complete, valid step of this type: {id, type, with, ...}'),
});
