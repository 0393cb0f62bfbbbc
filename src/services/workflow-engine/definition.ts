import { Cron } from 'croner';
import { z } from 'zod';
import { AppError, type FieldError } from '../../kernel/errors.js';
import { eventNames, isEventName } from '../../kernel/events/catalog.js';
import { expressionGuard, ExpressionLimitError, type ExpressionShape } from '../../kernel/expressions/index.js';
import { stepRegistry, type StepRegistry } from './steps/index.js';

/**
 * A workflow definition: JSON, validated on save. Values in a step's `with` that are strings
 * starting with `=` are JSONata expressions evaluated against `{input, steps, item, index}`;
 * everything else is taken literally. Each step type is a module of `steps/` (its `with` schema,
 * checks and execution); errors point at the step and field (`steps[2].with.expression`).
 */
export const STEP_TYPES = stepRegistry.types();

/** What to do with schedule fires that fell while no replica was running. */
/** When a webhook trigger answers its caller. */
export const WEBHOOK_RESPOND_MODES = ['immediately', 'onCompletion'] as const;
export const MISSED_FIRE_POLICIES = ['skip', 'fire_once'] as const;

const retrySchema = z
  .object({
    maxAttempts: z.number().int().min(1).max(20),
    backoffMs: z.number().int().min(0).max(3_600_000).default(1000),
    maxBackoffMs: z.number().int().min(0).max(86_400_000).default(300_000),
  })
  .strict();

const stepSchema = z
  .object({
    id: z.string().regex(/^[A-Za-z_][A-Za-z0-9_]{0,63}$/, 'letters, digits and _, starting with a letter or _ (used as steps.<id>)'),
    /** Checked against the step registry after the envelope (the registry may be a test's own). */
    type: z.string().min(1),
    with: z.record(z.string(), z.unknown()).default({}),
    retry: retrySchema.optional(),
    timeoutMs: z.number().int().min(1).max(86_400_000).optional(),
    next: z.string().optional(),
  })
  .strict();

export const triggerSchema = z.discriminatedUnion('type', [
  z.object({ type: z.literal('manual') }).strict(),
  z
    .object({
      type: z.literal('schedule'),
      cron: z.string().min(1),
      timezone: z.string().default('UTC'),
      missedFires: z.enum(MISSED_FIRE_POLICIES).default('skip'),
    })
    .strict(),
  z
    .object({
      type: z.literal('webhook'),
      hmac: z.boolean().default(false),
      /** `immediately`: 202 with the run id once the run is stored (queued; embedded, already finished when every step is pure, ADR 0076). `onCompletion`: the run's output when it finishes within `responseTimeoutMs`, else 202 with the run id. */
      respond: z.enum(WEBHOOK_RESPOND_MODES).default('immediately'),
      responseTimeoutMs: z.number().int().min(100).max(60_000).default(10_000),
    })
    .strict(),
  z
    .object({
      type: z.literal('event'),
      /** A platform event name from the catalog (src/kernel/events/catalog.ts), e.g. content.post.published.v1. */
      event: z.string().min(1).max(200),
      /** JSONata over the event envelope ({id, name, occurredAt, workspaceId, actorId, payload}); the run starts when truthy. */
      filter: z.string().min(1).max(4000).optional(),
    })
    .strict(),
]);

export const definitionSchema = z
  .object({
    name: z.string().min(1).max(200),
    description: z.string().max(2000).optional(),
    trigger: triggerSchema.default({ type: 'manual' }),
    steps: z.array(stepSchema).min(1).max(200),
    /** Run timeout: a run still unfinished this long after it started ends as timed_out. */
    timeoutMs: z.number().int().min(1000).max(30 * 86_400_000).optional(),
    /** Runs of this workflow executing at once; more wait queued. */
    concurrency: z.number().int().min(1).max(1000).optional(),
  })
  .strict();

/**
 * The definition as the API documents it: each step typed by its module (a union discriminated
 * on `type`, with the module's `with` schema, description and example). Saving validates with
 * parseDefinition, whose errors carry paths; this schema describes the same shape for clients
 * and checks what the routes answer.
 */
export function documentedDefinitionSchema(registry: StepRegistry = stepRegistry) {
  const variants = registry.modules.map((m) =>
    stepSchema
      .extend({
        type: z.literal(m.type),
        // Optional in a request where the module accepts an empty `with` (as the envelope's default).
        with: m.with.safeParse({}).success ? m.with.default({}) : m.with,
      })
      .describe(`${m.title} (${m.kind}): ${m.description}`)
      .meta({ title: `${m.type} step`, examples: [m.example] }),
  );
  const [first, ...rest] = variants;
  return definitionSchema.extend({
    steps: z
      .array(z.discriminatedUnion('type', [first!, ...rest]))
      .min(1)
      .max(200)
      .describe('The steps; the run starts at the first and goes on to `next` (default: the following step) or where a condition branches. Step ids name outputs: steps.<id>.output'),
  });
}

/** The shared OpenAPI component (`#/components/schemas/WorkflowDefinition`, and `WorkflowDefinitionInput` for requests). */
export const workflowDefinitionComponent = documentedDefinitionSchema().meta({
  id: 'WorkflowDefinition',
  description:
    'A workflow definition: {name, trigger, steps, timeoutMs?, concurrency?}. Strings in a step\'s `with` that start with "=" are JSONata expressions ' +
    '(a transform\'s or condition\'s `expression` always is), evaluated against {input, steps: {<id>: {output}}, run: {id, workflowId}} ' +
    '(in a foreach\'s inner step also item and index). GET /v1/workflow-step-types lists the step types with the JSON Schema of their `with`.',
  examples: [
    {
      name: 'Big orders',
      trigger: { type: 'webhook', hmac: true },
      steps: [
        { id: 'big', type: 'condition', with: { expression: 'input.amount > 100' } },
        { id: 'notify', type: 'http', with: { url: 'https://example.com/hooks/big-order', body: { order: '=input.orderId', amount: '=input.amount' } }, retry: { maxAttempts: 3, backoffMs: 1000 } },
      ],
    },
  ],
});

export type Definition = z.infer<typeof definitionSchema>;
export type StepDef = z.infer<typeof stepSchema>;
export type Trigger = z.infer<typeof triggerSchema>;

const isExpr = (v: unknown): v is string => typeof v === 'string' && v.startsWith('=');

function checkExpression(errors: FieldError[], path: string, value: unknown): ExpressionShape | null {
  if (!isExpr(value)) return null;
  try {
    return expressionGuard().compile(value.slice(1)).shape;
  } catch (err) {
    const e = err as ExpressionLimitError;
    errors.push({ path, message: e.code === 'expression_invalid' ? `invalid JSONata expression: ${e.message}` : `${e.code}: ${e.message}` });
    return null;
  }
}

function walkExpressions(errors: FieldError[], path: string, value: unknown): void {
  if (isExpr(value)) checkExpression(errors, path, value);
  else if (Array.isArray(value)) value.forEach((v, i) => walkExpressions(errors, `${path}[${i}]`, v));
  else if (value && typeof value === 'object') for (const [k, v] of Object.entries(value)) walkExpressions(errors, `${path}.${k}`, v);
}

/** A step's `with` against its module's schema, then the module's own checks; problems go to `errors`. */
function checkStep(errors: FieldError[], path: string, step: { type: string; with: Record<string, unknown> }, ids: Set<string>, registry: StepRegistry, nested = false): void {
  const module = registry.get(step.type);
  if (!module) return void errors.push({ path: `${path}.type`, message: `unknown step type "${step.type}"; one of ${registry.types().join(', ')}` });
  const w = step.with;
  walkExpressions(errors, `${path}.with`, w);
  const parsed = module.with.safeParse(w);
  if (!parsed.success) for (const i of parsed.error.issues) errors.push({ path: `${path}.with${i.path.map((p) => (typeof p === 'number' ? `[${p}]` : `.${String(p)}`)).join('')}`, message: i.message });
  module.validate?.({
    path,
    with: w,
    ids,
    nested,
    error: (at, message) => errors.push({ path: `${path}.${at}`, message }),
    // Fields that are JSONata with or without the "=" (walkExpressions saw those with it already).
    checkExpression: (at, source) => (source.startsWith('=') ? null : checkExpression(errors, `${path}.${at}`, `=${source}`)),
    checkNested: (field, raw, allowed, refusal) => {
      const inner = stepSchema.omit({ id: true, next: true }).safeParse(raw);
      if (!inner.success) {
        for (const i of inner.error.issues) errors.push({ path: `${path}.with.${field}${i.path.length ? '.' + i.path.join('.') : ''}`, message: i.message });
      } else if (registry.get(inner.data.type) && !allowed(registry.of(inner.data.type))) {
        errors.push({ path: `${path}.with.${field}.type`, message: refusal });
      } else {
        checkStep(errors, `${path}.with.${field}`, inner.data, ids, registry, true);
      }
    },
  });
}

/** Validates a definition; throws validation_failed with every problem and its path. */
export function parseDefinition(raw: unknown, registry: StepRegistry = stepRegistry): Definition {
  const parsed = definitionSchema.safeParse(raw);
  if (!parsed.success) {
    const errors = parsed.error.issues.map((i) => ({ path: formatPath(i.path), message: i.message }));
    throw new AppError('validation_failed', `invalid workflow definition: ${errors.map((e) => `${e.path}: ${e.message}`).join('; ')}`, { errors });
  }
  const def = parsed.data;
  const errors: FieldError[] = [];
  const ids = new Set<string>();
  def.steps.forEach((s, i) => {
    if (ids.has(s.id)) errors.push({ path: `steps[${i}].id`, message: `duplicate step id "${s.id}"` });
    ids.add(s.id);
  });
  def.steps.forEach((s, i) => {
    const path = `steps[${i}]`;
    if (s.next !== undefined && !ids.has(s.next)) errors.push({ path: `${path}.next`, message: `unknown step id "${s.next}"` });
    if (s.next === s.id) errors.push({ path: `${path}.next`, message: 'a step cannot be its own next step' });
    checkStep(errors, path, s, ids, registry);
  });
  const t = def.trigger;
  if (t.type === 'schedule') {
    try {
      new Cron(t.cron, { timezone: t.timezone, paused: true }).stop();
    } catch (err) {
      errors.push({ path: 'trigger.cron', message: `invalid cron expression or timezone: ${(err as Error).message}` });
    }
    try {
      new Intl.DateTimeFormat('en-US', { timeZone: t.timezone });
    } catch {
      errors.push({ path: 'trigger.timezone', message: `unknown IANA time zone "${t.timezone}"` });
    }
  }
  if (t.type === 'event') {
    if (!isEventName(t.event)) {
      const near = eventNames().filter((n) => n.split('.')[0] === t.event.split('.')[0]);
      errors.push({ path: 'trigger.event', message: `unknown event name "${t.event}"; known${near.length ? ` in ${t.event.split('.')[0]}` : ''}: ${(near.length ? near : eventNames()).join(', ')}` });
    }
    if (t.filter !== undefined) {
      // A filter runs on every event of the workspace, inside the event's delivery: it must be a
      // cheap predicate that evaluates in process (paths, comparisons, boolean logic, simple functions).
      const shape = checkExpression(errors, 'trigger.filter', `=${t.filter.replace(/^=/, '')}`);
      if (shape && !shape.cheap) {
        errors.push({ path: 'trigger.filter', message: `expression_not_allowed: a trigger filter must be a simple predicate (paths, comparisons, and/or, arithmetic, string functions); it uses ${shape.reason}` });
      }
    }
  }
  if (errors.length) {
    throw new AppError('validation_failed', `invalid workflow definition: ${errors.map((e) => `${e.path}: ${e.message}`).join('; ')}`, { errors });
  }
  return def;
}

function formatPath(path: PropertyKey[]): string {
  let out = '';
  for (const p of path) out += typeof p === 'number' ? `[${p}]` : out ? `.${String(p)}` : String(p);
  return out || '(definition)';
}

/** Something in a valid definition that is probably a mistake: shown on save, never refused. */
export interface DefinitionWarning {
  path: string;
  message: string;
}

/**
 * Reads of `steps.<id>` that cannot see a value when the expression runs: an id no step has, the
 * step itself, a step that no path from the first step reaches before this one (next, then and
 * else followed), or a field other than `output` (a step's context entry holds only `output`).
 * Such a read yields nothing, so a condition on it is silently false.
 */
export function definitionWarnings(def: Definition, registry: StepRegistry = stepRegistry): DefinitionWarning[] {
  const warnings: DefinitionWarning[] = [];
  const index = new Map(def.steps.map((s, i) => [s.id, i]));
  const successors = (i: number): number[] => {
    const s = def.steps[i]!;
    const listNext = i + 1 < def.steps.length ? i + 1 : null;
    const fallthrough = s.next ?? (listNext === null ? null : def.steps[listNext]!.id);
    const module = registry.get(s.type);
    const targets = module?.successors ? module.successors(s.with, fallthrough) : [fallthrough];
    return targets.flatMap((id) => (typeof id === 'string' && index.has(id) ? [index.get(id)!] : []));
  };
  /** Steps that can have run before step i: reachable from the first step without passing through i. */
  const before = (i: number): Set<string> => {
    const seen = new Set<number>();
    const queue = i === 0 ? [] : [0];
    while (queue.length) {
      const k = queue.pop()!;
      if (k === i || seen.has(k)) continue;
      seen.add(k);
      queue.push(...successors(k));
    }
    return new Set([...seen].map((k) => def.steps[k]!.id));
  };
  def.steps.forEach((step, i) => {
    const visible = before(i);
    const check = (path: string, source: string) => {
      let ast: unknown;
      try {
        ast = expressionGuard().compile(source).expr.ast();
      } catch {
        return; // refused by parseDefinition already
      }
      for (const ref of stepReads(ast)) {
        const at = `steps.${ref.id}`;
        if (!index.has(ref.id)) warnings.push({ path, message: `reads ${at}, but no step has the id "${ref.id}"` });
        else if (ref.id === step.id) warnings.push({ path, message: `reads ${at}, its own output, which does not exist while it runs` });
        else if (!visible.has(ref.id)) warnings.push({ path, message: `reads ${at}, but no step before this one produces it (it can only run later)` });
        if (ref.field !== null && ref.field !== 'output') warnings.push({ path, message: `reads ${at}.${ref.field}: a step's context entry has only "output" (${at}.output)` });
      }
    };
    const walk = (path: string, value: unknown) => {
      if (typeof value === 'string' && value.startsWith('=')) check(path, value.slice(1));
      else if (Array.isArray(value)) value.forEach((v, k) => walk(`${path}[${k}]`, v));
      else if (value && typeof value === 'object') for (const [k, v] of Object.entries(value)) walk(`${path}.${k}`, v);
    };
    // A module's expression fields are JSONata with or without the leading "="; other strings only with it.
    const walkWith = (path: string, type: string | undefined, w: Record<string, unknown>) => {
      const module = type === undefined ? undefined : registry.get(type);
      for (const [k, v] of Object.entries(w)) {
        if (module?.expressionFields?.includes(k) && typeof v === 'string') check(`${path}.${k}`, v.replace(/^=/, ''));
        else if (k === module?.innerStepField && v && typeof v === 'object') {
          const inner = v as { type?: unknown; with?: Record<string, unknown> };
          walkWith(`${path}.${k}.with`, typeof inner.type === 'string' ? inner.type : undefined, inner.with ?? {});
        } else walk(`${path}.${k}`, v);
      }
    };
    walkWith(`steps[${i}].with`, step.type, step.with);
  });
  return warnings;
}

/** `steps.<id>[.<field>]` paths in a JSONata syntax tree, in source order. */
function stepReads(ast: unknown): { id: string; field: string | null }[] {
  const out: { id: string; field: string | null; at: number }[] = [];
  const stack: unknown[] = [ast];
  while (stack.length) {
    const node = stack.pop();
    if (!node || typeof node !== 'object') continue;
    if (Array.isArray(node)) {
      stack.push(...node);
      continue;
    }
    const n = node as { type?: string; steps?: { type?: string; value?: unknown; position?: number }[] };
    if (n.type === 'path' && n.steps && n.steps[0]?.type === 'name' && n.steps[0].value === 'steps' && n.steps[1]?.type === 'name') {
      const field = n.steps[2]?.type === 'name' ? String(n.steps[2].value) : null;
      out.push({ id: String(n.steps[1].value), field, at: n.steps[0].position ?? 0 });
    }
    for (const v of Object.values(node)) if (v && typeof v === 'object') stack.push(v);
  }
  return out.sort((a, b) => a.at - b.at).map(({ id, field }) => ({ id, field }));
}
