import { Cron } from 'croner';
import { z } from 'zod';
import { AppError, type FieldError } from '../../kernel/errors.js';
import { eventNames, isEventName } from '../../kernel/events/catalog.js';
import { expressionGuard, ExpressionLimitError, type ExpressionShape } from '../../kernel/expressions/index.js';

/**
 * A workflow definition: JSON, validated on save. Values in a step's `with` that are strings
 * starting with `=` are JSONata expressions evaluated against `{input, steps, item, index}`;
 * everything else is taken literally. Errors point at the step and field
 * (`steps[2].with.expression`).
 */
export const STEP_TYPES = ['http', 'integration', 'transform', 'condition', 'delay', 'approval', 'emit', 'foreach'] as const;
export type StepType = (typeof STEP_TYPES)[number];

/** What to do with schedule fires that fell while no replica was running. */
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
    type: z.enum(STEP_TYPES),
    with: z.record(z.string(), z.unknown()).default({}),
    retry: retrySchema.optional(),
    timeoutMs: z.number().int().min(1).max(86_400_000).optional(),
    next: z.string().optional(),
  })
  .strict();

const triggerSchema = z.discriminatedUnion('type', [
  z.object({ type: z.literal('manual') }).strict(),
  z
    .object({
      type: z.literal('schedule'),
      cron: z.string().min(1),
      timezone: z.string().default('UTC'),
      missedFires: z.enum(MISSED_FIRE_POLICIES).default('skip'),
    })
    .strict(),
  z.object({ type: z.literal('webhook'), hmac: z.boolean().default(false) }).strict(),
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

function requireField(errors: FieldError[], path: string, w: Record<string, unknown>, key: string, what: string): void {
  if (w[key] === undefined || w[key] === null || w[key] === '') errors.push({ path: `${path}.with.${key}`, message: `required: ${what}` });
}

function checkStep(errors: FieldError[], path: string, step: StepDef, ids: Set<string>, nested = false): void {
  const w = step.with;
  walkExpressions(errors, `${path}.with`, w);
  switch (step.type) {
    case 'http': {
      requireField(errors, path, w, 'url', 'the URL to call (a string or an =expression)');
      if (typeof w.url === 'string' && !isExpr(w.url) && !/^https?:\/\//.test(w.url)) errors.push({ path: `${path}.with.url`, message: 'must be an http(s) URL' });
      if (w.method !== undefined && (typeof w.method !== 'string' || !/^(GET|POST|PUT|PATCH|DELETE|HEAD)$/.test(w.method))) {
        errors.push({ path: `${path}.with.method`, message: 'one of GET, POST, PUT, PATCH, DELETE, HEAD' });
      }
      break;
    }
    case 'integration':
      requireField(errors, path, w, 'connectionId', 'the workspace connection to use');
      requireField(errors, path, w, 'action', 'the connector action to run');
      break;
    case 'transform':
      requireField(errors, path, w, 'expression', 'a JSONata expression');
      if (w.expression !== undefined && typeof w.expression !== 'string') errors.push({ path: `${path}.with.expression`, message: 'must be a string' });
      else if (typeof w.expression === 'string') checkExpression(errors, `${path}.with.expression`, `=${w.expression.replace(/^=/, '')}`);
      break;
    case 'condition':
      requireField(errors, path, w, 'expression', 'a JSONata expression that yields true or false');
      if (typeof w.expression === 'string') checkExpression(errors, `${path}.with.expression`, `=${w.expression.replace(/^=/, '')}`);
      for (const k of ['then', 'else'] as const) {
        if (w[k] !== undefined && (typeof w[k] !== 'string' || !ids.has(w[k] as string))) {
          errors.push({ path: `${path}.with.${k}`, message: `unknown step id "${String(w[k])}"` });
        }
      }
      break;
    case 'delay': {
      const has = ['ms', 'until'].filter((k) => w[k] !== undefined);
      if (has.length !== 1) errors.push({ path: `${path}.with`, message: 'exactly one of ms (a duration) or until (an ISO time or =expression)' });
      if (w.ms !== undefined && !isExpr(w.ms) && !(typeof w.ms === 'number' && w.ms >= 0 && w.ms <= 365 * 86_400_000)) {
        errors.push({ path: `${path}.with.ms`, message: 'a number of milliseconds between 0 and one year' });
      }
      if (typeof w.until === 'string' && !isExpr(w.until) && Number.isNaN(Date.parse(w.until))) errors.push({ path: `${path}.with.until`, message: 'an ISO-8601 time' });
      break;
    }
    case 'approval':
      if (w.expiresInMs !== undefined && !(typeof w.expiresInMs === 'number' && w.expiresInMs >= 1000 && w.expiresInMs <= 90 * 86_400_000)) {
        errors.push({ path: `${path}.with.expiresInMs`, message: 'a number of milliseconds between 1000 and 90 days' });
      }
      break;
    case 'emit':
      requireField(errors, path, w, 'signal', 'the signal name consumers match on');
      if (typeof w.signal === 'string' && !isExpr(w.signal) && !/^[a-z][a-z0-9_.-]{0,99}$/.test(w.signal)) errors.push({ path: `${path}.with.signal`, message: 'lower-case letters, digits, . _ -' });
      break;
    case 'foreach': {
      if (nested) errors.push({ path: `${path}.type`, message: 'foreach cannot be nested' });
      requireField(errors, path, w, 'items', 'an =expression yielding the array to map over');
      if (w.concurrency !== undefined && !(typeof w.concurrency === 'number' && Number.isInteger(w.concurrency) && w.concurrency >= 1 && w.concurrency <= 50)) {
        errors.push({ path: `${path}.with.concurrency`, message: 'an integer between 1 and 50' });
      }
      const inner = stepSchema.omit({ id: true, next: true }).safeParse(w.step);
      if (!inner.success) {
        for (const i of inner.error.issues) errors.push({ path: `${path}.with.step${i.path.length ? '.' + i.path.join('.') : ''}`, message: i.message });
      } else if (!['http', 'transform', 'integration', 'emit'].includes(inner.data.type)) {
        errors.push({ path: `${path}.with.step.type`, message: 'foreach maps an http, integration, transform or emit step' });
      } else {
        checkStep(errors, `${path}.with.step`, { ...inner.data, id: step.id }, ids, true);
      }
      break;
    }
  }
}

/** Validates a definition; throws validation_failed with every problem and its path. */
export function parseDefinition(raw: unknown): Definition {
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
    checkStep(errors, path, s, ids);
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
export function definitionWarnings(def: Definition): DefinitionWarning[] {
  const warnings: DefinitionWarning[] = [];
  const index = new Map(def.steps.map((s, i) => [s.id, i]));
  const successors = (i: number): number[] => {
    const s = def.steps[i]!;
    const listNext = i + 1 < def.steps.length ? i + 1 : null;
    const to = (id: unknown) => (typeof id === 'string' ? index.get(id) : undefined);
    if (s.type === 'condition') {
      const out: number[] = [];
      const then = to(s.with.then) ?? (s.next !== undefined ? to(s.next) : listNext);
      if (then !== undefined && then !== null) out.push(then);
      const otherwise = to(s.with.else);
      if (otherwise !== undefined) out.push(otherwise);
      return out;
    }
    const n = s.next !== undefined ? to(s.next) : listNext;
    return n === undefined || n === null ? [] : [n];
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
    for (const [k, v] of Object.entries(step.with)) {
      const path = `steps[${i}].with.${k}`;
      // A transform's and a condition's expression is JSONata with or without the leading "=".
      if (k === 'expression' && (step.type === 'transform' || step.type === 'condition') && typeof v === 'string') check(path, v.replace(/^=/, ''));
      else if (k === 'step' && step.type === 'foreach' && v && typeof v === 'object') {
        const inner = v as { type?: string; with?: Record<string, unknown> };
        for (const [ik, iv] of Object.entries(inner.with ?? {})) {
          const ipath = `${path}.with.${ik}`;
          if (ik === 'expression' && inner.type === 'transform' && typeof iv === 'string') check(ipath, iv.replace(/^=/, ''));
          else walk(ipath, iv);
        }
      } else walk(path, v);
    }
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
