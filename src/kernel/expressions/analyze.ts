/**
 * Static analysis of a parsed JSONata expression: how big and deep its syntax tree is, and whether
 * it is *provably cheap*: made only of constructs whose cost is bounded by the size of the input
 * and of the expression (paths, predicates, comparisons, boolean and arithmetic operators, string
 * concatenation, object and array constructors, conditionals, and a list of library functions that
 * are linear in their arguments). Such an expression may run on the caller's thread under a step
 * budget; anything else (functions, lambdas, ranges, regular expressions, sorting, descendants,
 * `$eval`, variable binding) runs in an isolated worker process (see ADR 0320).
 */

/** Node types of the cheap subset. Everything not listed (lambda, bind, apply, partial, regex, sort, transform, descendant, parent, error) is not. */
const CHEAP_NODES = new Set(['path', 'name', 'string', 'number', 'value', 'variable', 'binary', 'unary', 'condition', 'block', 'filter', 'wildcard', 'function']);

/**
 * Library functions whose time and output size are at most linear in their arguments. `$join`,
 * `$pad`, `$replace` (output can be the input times a literal), `$distinct` (quadratic), `$sort`,
 * `$eval`, the higher-order functions and the regular-expression ones are left to the worker.
 */
export const CHEAP_FUNCTIONS: ReadonlySet<string> = new Set([
  'string', 'number', 'boolean', 'not', 'exists', 'type', 'length', 'count', 'sum', 'max', 'min', 'average',
  'abs', 'floor', 'ceil', 'round', 'sqrt', 'power', 'lowercase', 'uppercase', 'trim', 'substring', 'substringBefore',
  'substringAfter', 'contains', 'split', 'keys', 'lookup', 'merge', 'append', 'reverse', 'spread', 'now', 'millis',
  'fromMillis', 'toMillis', 'formatNumber', 'formatBase', 'formatInteger', 'parseInteger', 'base64encode', 'base64decode',
  'encodeUrl', 'encodeUrlComponent', 'decodeUrl', 'decodeUrlComponent', 'assert', 'error',
]);

/** Size limits of the cheap subset: a bigger expression is not provably cheap enough for the caller's thread. */
const CHEAP_MAX_NODES = 2000;
const CHEAP_MAX_DEPTH = 64;

export interface ExpressionShape {
  /** Syntax tree nodes. */
  nodes: number;
  /** Nesting depth of the syntax tree. */
  depth: number;
  /** True when the expression may be evaluated in process (under a step budget). */
  cheap: boolean;
  /** Why it is not cheap (the first construct found), for logs and save-time messages. */
  reason: string | null;
}

export function analyze(ast: unknown): ExpressionShape {
  let nodes = 0;
  let depth = 0;
  let reason: string | null = null;
  // Iterative walk: a pathological tree must not overflow the stack here either.
  const stack: { node: unknown; level: number }[] = [{ node: ast, level: 1 }];
  while (stack.length) {
    const { node, level } = stack.pop()!;
    if (!node || typeof node !== 'object') continue;
    if (Array.isArray(node)) {
      for (const n of node) stack.push({ node: n, level });
      continue;
    }
    const n = node as Record<string, unknown>;
    if (typeof n.type === 'string') {
      nodes++;
      if (level > depth) depth = level;
      if (reason === null) {
        if (!CHEAP_NODES.has(n.type)) reason = describe(n);
        else if (n.type === 'binary' && n.value === '..') reason = 'a range [a..b]';
        else if (n.type === 'function') {
          const proc = n.procedure as { type?: string; value?: unknown } | undefined;
          const name = proc?.type === 'variable' ? String(proc.value) : null;
          if (name === null || !CHEAP_FUNCTIONS.has(name)) reason = name === null ? 'a call of a computed function' : `the function $${name}`;
        }
      }
    }
    const next = typeof n.type === 'string' ? level + 1 : level;
    for (const [k, v] of Object.entries(n)) if (k !== 'position' && v && typeof v === 'object') stack.push({ node: v, level: next });
  }
  if (reason === null && nodes > CHEAP_MAX_NODES) reason = `more than ${CHEAP_MAX_NODES} syntax nodes`;
  if (reason === null && depth > CHEAP_MAX_DEPTH) reason = `nesting deeper than ${CHEAP_MAX_DEPTH}`;
  return { nodes, depth, cheap: reason === null, reason };
}

function describe(n: Record<string, unknown>): string {
  switch (n.type) {
    case 'lambda':
      return 'a function definition';
    case 'bind':
      return 'a variable binding (:=)';
    case 'apply':
      return 'function application (~>)';
    case 'partial':
      return 'a partial function application';
    case 'regex':
      return 'a regular expression';
    case 'sort':
      return 'sorting (^)';
    case 'transform':
      return 'a transform (| ... |)';
    case 'descendant':
      return 'the descendant operator (**)';
    case 'parent':
      return 'the parent operator (%)';
    default:
      return `"${String(n.type)}" expressions`;
  }
}
