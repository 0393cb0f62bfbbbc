import { expressionGuard, ExpressionLimitError, type ExpressionErrorCode } from '../../kernel/expressions/index.js';

/**
 * A step's expression failed or was stopped by the kernel's expression guard. The message starts
 * with the stable code, then the field: `expression_timeout: steps.t.with.expression: the
 * expression ran longer than 1000 ms`; that text is the step attempt's and the run's error.
 */
export class ExpressionError extends Error {
  constructor(
    readonly path: string,
    message: string,
    readonly code: ExpressionErrorCode = 'expression_failed',
  ) {
    super(`${code}: ${path}: ${message}`);
    this.name = 'ExpressionError';
  }
}

export interface StepEvaluation {
  /** The run's workspace: the fair-share key of the expression workers. */
  workspaceId: string;
  /** Time left to the step's or run's deadline, when shorter than the expression limit. */
  timeoutMs?: number;
  /** Only the in-process path (the batched fresh-run path): anything else fails with expression_needs_isolation. */
  inProcessOnly?: boolean;
  /** 'reject': fail with expression_busy when the workspace's share of the expression workers is taken (the caller comes back later). */
  admission?: 'wait' | 'reject';
}

export async function evaluate(source: string, context: unknown, path: string, opts: StepEvaluation): Promise<unknown> {
  try {
    return await expressionGuard().evaluate(source.replace(/^=/, ''), context, { key: opts.workspaceId, timeoutMs: opts.timeoutMs, inProcessOnly: opts.inProcessOnly, admission: opts.admission });
  } catch (err) {
    if (err instanceof ExpressionLimitError) throw new ExpressionError(path, err.message, err.code);
    throw new ExpressionError(path, String((err as Error)?.message ?? err).slice(0, 500));
  }
}

/** Resolves `=expression` strings anywhere in a step's `with` against the run context. */
export async function resolveTemplate(value: unknown, context: unknown, path: string, opts: StepEvaluation): Promise<unknown> {
  if (typeof value === 'string' && value.startsWith('=')) return evaluate(value, context, path, opts);
  if (Array.isArray(value)) return Promise.all(value.map((v, i) => resolveTemplate(v, context, `${path}[${i}]`, opts)));
  if (value && typeof value === 'object') {
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(value)) out[k] = await resolveTemplate(v, context, `${path}.${k}`, opts);
    return out;
  }
  return value;
}
