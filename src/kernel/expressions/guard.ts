import jsonata from 'jsonata';
import { analyze, type ExpressionShape } from './analyze.js';
import { ExpressionLimitError } from './errors.js';
import { compileFast, NOT_FAST } from './fast.js';
import { ExpressionPool } from './pool.js';

/** Limits on every user expression (kernel config `expressions`, EXPRESSION_* variables). */
export interface ExpressionLimits {
  /** Wall time of one evaluation in a worker process, queue wait included. */
  timeoutMs: number;
  /** Heap of a worker process, MB. */
  memoryMb: number;
  /** Serialized (JSON) size of a result, bytes. */
  maxResultBytes: number;
  /** Nesting of evaluation (recursion included). */
  maxDepth: number;
  /** Characters of an expression's source. */
  maxLength: number;
  /** Worker processes per platform process. */
  workers: number;
  /** Expressions of one workspace queued or running in the workers at once, for callers that can come back later. */
  maxQueuedPerWorkspace: number;
}

export const DEFAULT_EXPRESSION_LIMITS: ExpressionLimits = {
  timeoutMs: 1000,
  memoryMb: 64,
  maxResultBytes: 1024 * 1024,
  maxDepth: 500,
  maxLength: 20_000,
  workers: 2,
  maxQueuedPerWorkspace: 8,
};

/**
 * Budget of the in-process path: evaluation steps (JSONata's evaluate entries) and wall time. A
 * cheap expression over a large input that exceeds either is not an error: it is evaluated again
 * in a worker process, under the real limits. The budget only bounds how long the caller's event
 * loop can be held (a few ms).
 */
const IN_PROCESS_STEPS = 20_000;
const IN_PROCESS_MS = 20;
/** Without a caller's deadline, a task waits for a worker at most this many times the time limit. */
const QUEUE_WAIT_FACTOR = 30;
/** Syntax trees deeper than this are refused outright (no legitimate expression nests so deep). */
const MAX_AST_DEPTH = 200;

const ENTRY = Symbol.for('jsonata.__evaluate_entry');
const BUDGET_VAR = '__v01t_budget';

interface Budget {
  steps: number;
  started: number;
}

class OverBudget extends Error {}

export interface Compiled {
  expr: jsonata.Expression;
  shape: ExpressionShape;
  /** The direct evaluator of the smallest expressions (fast.ts, ADR 0087); null for the rest. */
  fast: ((input: unknown) => unknown) | null;
}

export interface EvaluateOptions {
  /** Fair-share key: the workspace the expression belongs to. */
  key?: string;
  /** A tighter time limit than the configured one (a step's or run's remaining time). */
  timeoutMs?: number;
  /** Only the in-process path: an expression that needs a worker fails with expression_needs_isolation. */
  inProcessOnly?: boolean;
  /** 'reject': fail with expression_busy instead of queueing behind the workspace's other slow expressions. */
  admission?: 'wait' | 'reject';
}

/**
 * The one way to evaluate a user-written JSONata expression (workflow transforms, conditions and
 * `=` templates, event-trigger filters, gamification rule filters). A provably cheap expression
 * runs in process under a step and time budget; everything else runs in a worker process with a
 * hard timeout, a heap cap and a result size cap, so a runaway never blocks or grows this process.
 * Results are plain JSON (no match is null). See ADR 0320.
 */
export class ExpressionGuard {
  private readonly cache = new Map<string, Compiled>();
  private pool: ExpressionPool | null = null;

  constructor(private limits: ExpressionLimits = DEFAULT_EXPRESSION_LIMITS) {}

  get config(): Readonly<ExpressionLimits> {
    return this.limits;
  }

  /** New limits; the worker processes are replaced when their size or heap cap changed. */
  reconfigure(limits: ExpressionLimits): void {
    const old = this.limits;
    this.limits = limits;
    if (this.pool && (old.workers !== limits.workers || old.memoryMb !== limits.memoryMb || old.maxQueuedPerWorkspace !== limits.maxQueuedPerWorkspace)) {
      void this.pool.close();
      this.pool = null;
    }
  }

  /** Parses and classifies an expression (cached); throws expression_invalid, expression_too_large or expression_too_deep. */
  compile(source: string): Compiled {
    const hit = this.cache.get(source);
    if (hit) return hit;
    if (source.length > this.limits.maxLength) throw new ExpressionLimitError('expression_too_large', `the expression has ${source.length} characters (at most ${this.limits.maxLength})`);
    let expr: jsonata.Expression;
    try {
      expr = jsonata(source);
    } catch (err) {
      if (err instanceof RangeError) throw new ExpressionLimitError('expression_too_deep', 'the expression nests too deeply');
      const e = err as { message?: string; position?: number };
      throw new ExpressionLimitError('expression_invalid', `${e.message ?? 'invalid expression'}${e.position !== undefined ? ` (at ${e.position})` : ''}`);
    }
    const shape = analyze(expr.ast());
    if (shape.depth > MAX_AST_DEPTH) throw new ExpressionLimitError('expression_too_deep', `the expression nests ${shape.depth} levels deep (at most ${MAX_AST_DEPTH})`);
    if (shape.cheap) {
      // jsonata's typings name bindings by string; its evaluator looks this hook up by symbol.
      (expr.assign as unknown as (name: symbol, value: unknown) => void)(ENTRY, (_e: unknown, _i: unknown, env: { lookup(name: string): unknown }) => {
        const b = env.lookup(BUDGET_VAR) as Budget | undefined;
        if (!b) return;
        if (++b.steps > IN_PROCESS_STEPS || ((b.steps & 255) === 0 && performance.now() - b.started > IN_PROCESS_MS)) throw new OverBudget();
      });
    }
    const c = { expr, shape, fast: shape.cheap ? compileFast(expr.ast()) : null };
    if (this.cache.size >= 5000) this.cache.clear();
    this.cache.set(source, c);
    return c;
  }

  async evaluate(source: string, input: unknown, opts: EvaluateOptions = {}): Promise<unknown> {
    const started = Date.now();
    const c = this.compile(source);
    if (c.fast) {
      // Literals, field paths, `=` and object constructors: JSONata's result without its asynchronous evaluator's allocations.
      const value = c.fast(input);
      if (value !== NOT_FAST) return this.plain(value);
    }
    if (c.shape.cheap) {
      const r = await this.inProcess(c, input);
      if (r.done) return r.value;
    }
    if (opts.inProcessOnly) throw new ExpressionLimitError('expression_needs_isolation', c.shape.reason ? `uses ${c.shape.reason}` : 'exceeded the in-process budget');
    const limitMs = Math.min(this.limits.timeoutMs, opts.timeoutMs ?? Infinity);
    if (!(limitMs > 0)) throw new ExpressionLimitError('expression_timeout', 'no time was left for the expression');
    // The running time is the configured limit; waiting for a worker is bounded separately (by the
    // caller's deadline, or generously), so another workspace's slow expressions never eat this one's time.
    const deadline = opts.timeoutMs !== undefined ? started + opts.timeoutMs : started + this.limits.timeoutMs * QUEUE_WAIT_FACTOR;
    let context: string | undefined;
    try {
      context = input === undefined ? undefined : JSON.stringify(input);
    } catch (err) {
      throw new ExpressionLimitError('expression_failed', `the input cannot be serialized: ${(err as Error).message}`);
    }
    this.pool ??= new ExpressionPool({ size: this.limits.workers, memoryMb: this.limits.memoryMb, maxQueuedPerKey: this.limits.maxQueuedPerWorkspace });
    const json = await this.pool.run({
      key: opts.key ?? '',
      source,
      context,
      deadline,
      limitMs,
      maxDepth: this.limits.maxDepth,
      maxResultBytes: this.limits.maxResultBytes,
      admission: opts.admission ?? 'wait',
    });
    return JSON.parse(json);
  }

  private async inProcess(c: Compiled, input: unknown): Promise<{ done: true; value: unknown } | { done: false }> {
    const budget: Budget = { steps: 0, started: performance.now() };
    let value: unknown;
    try {
      value = await c.expr.evaluate(input, { [BUDGET_VAR]: budget });
    } catch (err) {
      if (err instanceof OverBudget) return { done: false };
      if (err instanceof RangeError) throw new ExpressionLimitError('expression_too_large', err.message);
      throw new ExpressionLimitError('expression_failed', String((err as Error)?.message ?? err));
    }
    return { done: true, value: this.plain(value) };
  }

  /** An in-process result as plain JSON (no match is null), within the result size limit. */
  private plain(value: unknown): unknown {
    if (value === undefined) return null;
    const json = JSON.stringify(value);
    if (json === undefined) return null;
    if (json.length > this.limits.maxResultBytes && Buffer.byteLength(json) > this.limits.maxResultBytes) {
      throw new ExpressionLimitError('expression_too_large', `the result is ${Buffer.byteLength(json)} bytes (at most ${this.limits.maxResultBytes})`);
    }
    return JSON.parse(json);
  }

  /** Worker processes alive now. */
  workersAlive(): number {
    return this.pool?.size() ?? 0;
  }

  /** Stops the worker processes (tests, shutdown); the next slow expression starts new ones. */
  async close(): Promise<void> {
    const p = this.pool;
    this.pool = null;
    await p?.close();
  }
}

let shared: ExpressionGuard | null = null;

/** The process's guard: one pool of worker processes shared by every service in the process. */
export function expressionGuard(): ExpressionGuard {
  shared ??= new ExpressionGuard();
  return shared;
}

/** Applies the kernel config's limits to the process's guard (called by the platform at start-up, before the services are created). */
export function configureExpressionGuard(limits: ExpressionLimits): ExpressionGuard {
  const g = expressionGuard();
  g.reconfigure(limits);
  return g;
}
