import { z } from 'zod';
import type { ExpressionShape } from '../../../kernel/expressions/index.js';
import type { HttpPort, IntegrationPort } from '../http-port.js';

/**
 * What a step type is to the executor:
 * - `pure`: computed in memory from the run context (no I/O, no wait); written together with the
 *   next side effect or wait, and the only kind the batched fresh-run path (ADR 0311) runs;
 * - `wait`: parks the run (status waiting) until a time or a decision, holding no worker;
 * - `effect`: acts outside the engine; a `running` attempt with its idempotency key is recorded
 *   before acting, so a takeover repeats the same attempt with the same key.
 */
export const STEP_KINDS = ['pure', 'wait', 'effect'] as const;
export type StepKind = (typeof STEP_KINDS)[number];

/** A step failure; `retriable` false ends the run without using the remaining attempts. */
export class StepError extends Error {
  constructor(
    message: string,
    readonly retriable = true,
  ) {
    super(message);
    this.name = 'StepError';
  }
}

/** How long to wait before asking again about an attempt whose key is still claimed. */
export const IN_PROGRESS_RECHECK_MS = 30_000;

/**
 * The same attempt is looked at again later with the same key, without using up an attempt: the
 * remote side holds a claim on the key for a call still in progress, or the outbound rate limit
 * refused the call before it was sent.
 */
export class StepInProgress extends Error {
  constructor(
    message: string,
    /** When to look again. */
    readonly afterMs = IN_PROGRESS_RECHECK_MS,
  ) {
    super(message);
    this.name = 'StepInProgress';
  }
}

/** The guarded egress client's per-workflow rate limit refused the request: not the receiver's failure, so no attempt is used up. */
export function rateLimitedRecheck(err: unknown): StepInProgress | null {
  const e = err as { code?: string; extra?: { retryAfterSeconds?: number } } | null;
  if (e?.code !== 'egress_rate_limited') return null;
  return new StepInProgress(RATE_LIMITED, Math.max(100, Math.ceil((e.extra?.retryAfterSeconds ?? 1) * 1000)));
}
export const RATE_LIMITED = 'outbound rate limit reached';

/** A string starting with "=": a JSONata expression evaluated against the run context when the step runs. */
export const expression = z
  .string()
  .regex(/^=/, 'an =expression starts with "="')
  .describe('A JSONata expression after "=", evaluated against {input, steps.<id>.output, run} when the step runs');

/** A required string field with a message that says what it is for. */
export const requiredString = (what: string) => z.string({ error: (i) => (i.input === undefined || i.input === null ? `required: ${what}` : 'must be a string') }).min(1, `required: ${what}`);

/** The checks beyond the schema of `with` (references to other steps, expressions' limits ...). */
export interface StepValidation {
  /** `steps[2]`, or `steps[2].with.step` for a foreach's inner step. */
  path: string;
  with: Record<string, unknown>;
  /** Every step id of the definition. */
  ids: ReadonlySet<string>;
  /** Inside a foreach. */
  nested: boolean;
  /** Records a problem at `<path>.<at>`, `at` relative to the step (`with.url`, `type`). */
  error(at: string, message: string): void;
  /** Compiles a JSONata expression (with or without "=") under the expression guard; records a problem at `<path>.<at>` when refused. */
  checkExpression(at: string, source: string): ExpressionShape | null;
  /** Validates a nested step (the foreach's inner step) with its own module, at `<path>.with.<field>`. */
  checkNested(field: string, raw: unknown, allowed: (module: StepModule) => boolean, refusal: string): void;
}

/** The run a step executes in. */
export interface StepRun {
  id: string;
  workspaceId: string;
  workflowId: string;
}

/** The step as written in the definition (the envelope shared by every type). */
export interface StepRef {
  id: string;
  type: string;
  with: Record<string, unknown>;
  timeoutMs?: number;
}

/** Expression helpers bound to the run, the step and its evaluation limits. */
export interface Expressions {
  /** Evaluates a JSONata source (with or without "="); `field` names it in errors (`with.expression`). */
  evaluate(source: string, field: string, context?: unknown): Promise<unknown>;
  /** Resolves `=expression` strings anywhere in `value`. */
  resolve(value: unknown, field: string, context?: unknown): Promise<unknown>;
}

export interface PureExecution extends Expressions {
  run: StepRun;
  step: StepRef;
  /** The run context: {input, steps: {<id>: {output}}, run}. */
  context: unknown;
  /** The step that runs next unless the step says otherwise. */
  next: string | null;
  /** Publishes a `workflow.signal.v1` event, written with the run's next write. */
  signal(name: string, data: unknown): void;
}

export type PureResult = { output: unknown; next?: string | null };

export interface WaitBegin extends Expressions {
  run: StepRun;
  step: StepRef;
  context: unknown;
  now: Date;
}

/** A wait the run is parked in (the run's `wait` column). */
export interface WaitState {
  kind: string;
  stepId: string;
  until: string;
  decision?: { approved: boolean; by: string | null; comment: string | null; at: string };
}

export type WaitResume = { output: unknown } | { error: string } | { waiting: true; wakeAt: Date | null };

export interface EffectExecution extends Expressions {
  run: StepRun;
  step: StepRef;
  /** `with` after `=expressions` were resolved (what `attemptInput` selected), recorded as the attempt's input. */
  input: Record<string, unknown>;
  /** The attempt's idempotency key: sent to the remote side, stable across retries of the attempt. */
  key: string;
  context: unknown;
  signal: AbortSignal;
  timeoutMs: number;
  http(): HttpPort;
  integration(): IntegrationPort | null;
  /** Another step type's module (foreach maps its inner step with it). */
  module(type: string): StepModule | undefined;
}

interface ModuleBase<W> {
  type: string;
  kind: StepKind;
  /** A short name for a palette. */
  title: string;
  /** What the step does, what its output is (steps.<id>.output), how it fails. */
  description: string;
  /** The shape of `with`; any value may instead be an `=expression` where the schema says so. */
  with: z.ZodType<W>;
  /** A complete step of this type, valid on its own. */
  example: { id: string; type: string; with: Record<string, unknown>; [k: string]: unknown };
  /** Fields that are JSONata with or without the leading "=" (not only when they start with "="). */
  expressionFields?: readonly string[];
  /** The field of `with` that holds an inner step `{type, with}` (foreach's `step`): its expressions are checked as that type's. */
  innerStepField?: string;
  /** May be the inner step of a foreach (run once per item). */
  mappable?: boolean;
  /** Checks beyond the schema (references to other steps, limits of expressions). */
  validate?(v: StepValidation): void;
  /** The steps that can run after this one, given the step it falls through to (for reachability). */
  successors?(w: Record<string, unknown>, fallthrough: string | null): (string | null)[];
}

export interface PureStepModule<W = unknown> extends ModuleBase<W> {
  kind: 'pure';
  execute(x: PureExecution): Promise<PureResult>;
}

export interface WaitStepModule<W = unknown> extends ModuleBase<W> {
  kind: 'wait';
  /** Starts the wait: done at once (a delay already past), or parked until `until`. */
  begin(x: WaitBegin): Promise<{ output: unknown } | { until: Date }>;
  /** Looks at the run's wait again when woken: done, failed, or still waiting (woken again at `wakeAt`, or by a decision). */
  resume(wait: WaitState, now: Date, step: StepRef): WaitResume;
}

export interface EffectStepModule<W = unknown> extends ModuleBase<W> {
  kind: 'effect';
  /** The part of `with` resolved before acting and recorded as the attempt's input (default: all of it). */
  attemptInput?(w: Record<string, unknown>): Record<string, unknown>;
  perform(x: EffectExecution): Promise<unknown>;
}

// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type StepModule = PureStepModule<any> | WaitStepModule<any> | EffectStepModule<any>;

/** Declares a step module, typed by its kind. */
export function defineStep<W>(m: PureStepModule<W>): PureStepModule<W>;
export function defineStep<W>(m: WaitStepModule<W>): WaitStepModule<W>;
export function defineStep<W>(m: EffectStepModule<W>): EffectStepModule<W>;
export function defineStep(m: StepModule): StepModule {
  return m;
}
