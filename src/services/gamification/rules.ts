import { AppError } from '../../kernel/errors.js';
import { expressionGuard, ExpressionLimitError } from '../../kernel/expressions/index.js';
import type { Rule } from './schemas.js';

/** What a filter expression sees of an event. */
export interface RuleInputEvent {
  name: string;
  payload: unknown;
  actorId?: string | null;
  occurredAt: string;
  /** The event's workspace, when known: the fair-share key should a filter need an expression worker. */
  workspaceId?: string | null;
}

/**
 * Functions a filter may call. Lambdas, variable binding and the rest of JSONata's library are
 * refused when a rule is saved: an admin-written filter runs on every event and must stay a cheap,
 * terminating predicate (no recursion, no unbounded work).
 */
const ALLOWED_FUNCTIONS = new Set([
  'contains', 'exists', 'number', 'string', 'boolean', 'not', 'lowercase', 'uppercase', 'length', 'substring',
  'substringBefore', 'substringAfter', 'trim', 'count', 'sum', 'max', 'min', 'abs', 'floor', 'ceil', 'round', 'keys', 'lookup', 'type',
]);
const REFUSED_NODES = new Set(['lambda', 'bind', 'regex', 'transform', 'partial', 'apply', 'sort', 'parent']);

function checkAst(node: unknown, path: string[] = []): void {
  if (Array.isArray(node)) {
    for (const n of node) checkAst(n, path);
    return;
  }
  if (!node || typeof node !== 'object') return;
  const n = node as { type?: string; value?: unknown; procedure?: { type?: string; value?: unknown } };
  if (n.type && REFUSED_NODES.has(n.type)) throw new AppError('validation_failed', `filter: "${n.type}" expressions are not allowed`, { errors: [{ path: 'filter', message: `${n.type} not allowed` }] });
  if (n.type === 'function') {
    const fn = n.procedure?.type === 'variable' ? String(n.procedure.value) : '';
    if (!ALLOWED_FUNCTIONS.has(fn)) throw new AppError('validation_failed', `filter: function $${fn || '?'} is not allowed`, { errors: [{ path: 'filter', message: `function not allowed` }] });
  }
  for (const v of Object.values(node)) if (v && typeof v === 'object') checkAst(v, path);
}

export type CompiledFilter = (event: RuleInputEvent) => Promise<boolean>;

/**
 * Compiles a filter, refusing syntax errors and disallowed constructs with a 400. Evaluation goes
 * through the kernel's expression guard: the allowed constructs are all in its in-process cheap
 * subset (ranges are refused too), and a filter saved before these checks, or one whose budget a
 * huge payload exhausts, runs in an isolated worker under the time and memory limits.
 */
export function compileFilter(expression: string | null, opts: { strict?: boolean } = {}): CompiledFilter {
  if (!expression) return async () => true;
  const guard = expressionGuard();
  const evaluate: CompiledFilter = async (event) => {
    try {
      return (await guard.evaluate(expression, event, { key: event.workspaceId ?? 'gamification' })) === true;
    } catch {
      // A runtime error (a type mismatch on an odd payload) or a limit means "does not match", not a failed delivery.
      return false;
    }
  };
  // A stored rule (saved under older checks) is evaluated, guarded, rather than breaking its workspace's whole rule set.
  if (opts.strict === false) return evaluate;
  let shape;
  try {
    const compiled = guard.compile(expression);
    shape = compiled.shape;
    checkAst(compiled.expr.ast());
  } catch (err) {
    if (!(err instanceof ExpressionLimitError)) throw err;
    throw new AppError('validation_failed', `filter: ${err.message}`, { errors: [{ path: 'filter', message: err.code === 'expression_invalid' ? err.message : `${err.code}: ${err.message}` }] });
  }
  if (!shape.cheap) throw new AppError('validation_failed', `filter: ${shape.reason} is not allowed`, { errors: [{ path: 'filter', message: `${shape.reason} not allowed` }] });
  return evaluate;
}

export interface CompiledRule {
  rule: Rule;
  matches: CompiledFilter;
}

/** Points a rule gives before caps: the base points times the best streak bonus the user qualifies for. */
export function pointsWithBonus(rule: Rule, streakOf: (activity: string, cadence: 'daily' | 'weekly') => number): { points: number; factor: number } {
  let factor = 1;
  for (const m of rule.multipliers) if (streakOf(m.activity, m.cadence) >= m.minStreak) factor = Math.max(factor, m.factor);
  return { points: Math.round(rule.points * factor), factor };
}

/** A workspace's enabled rules indexed by event name, filters compiled once. */
export class RuleSet {
  private readonly byEvent = new Map<string, CompiledRule[]>();
  constructor(rules: Rule[]) {
    for (const rule of rules) {
      if (!rule.enabled) continue;
      const list = this.byEvent.get(rule.event) ?? [];
      list.push({ rule, matches: compileFilter(rule.filter, { strict: false }) });
      this.byEvent.set(rule.event, list);
    }
  }

  events(): string[] {
    return [...this.byEvent.keys()];
  }

  /** Rules whose event and filter match, in a stable order (by id) so caps are applied deterministically. */
  async match(event: RuleInputEvent): Promise<Rule[]> {
    const candidates = this.byEvent.get(event.name);
    if (!candidates) return [];
    const out: Rule[] = [];
    for (const c of candidates) if (await c.matches(event)) out.push(c.rule);
    return out;
  }
}
