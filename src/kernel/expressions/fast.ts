/**
 * A direct evaluator for the smallest JSONata expressions (ADR 0087): literals, paths of plain
 * field names, `=` / `!=` between them, and object constructors with literal keys, such as
 * `{"flag": input.answer}` or `steps.flag.output.flag = "yes"`. JSONata's evaluator is
 * asynchronous at every node: three such expressions allocated about 28 KB per workflow run
 * (a fifth of all the allocation of a webhook answered on completion), and the scavenges that
 * this allocation causes pause every request in flight.
 *
 * The subset is chosen so that its results are JSONata's by construction, over a plain object input:
 * - a path looks each name up as an own property of an object and yields undefined on anything
 *   that is not an object. Wherever JSONata's sequence rules would apply (an array as the input,
 *   on the way, or as the result), the evaluation gives up (`NOT_FAST`) and JSONata evaluates it;
 * - `=` / `!=` compare scalars (string, number, boolean, null) with `===`; a side that is undefined
 *   makes both false, as in JSONata; an object on either side gives up;
 * - an object constructor's keys are distinct string literals (none is `__proto__`), and a value
 *   that is undefined leaves its key out, as in JSONata.
 * Anything else in the syntax tree (predicates, `[]`, variables, functions, arithmetic, ...)
 * leaves the expression to JSONata entirely (`compileFast` returns null).
 */

/** Returned by a fast evaluation that met something outside the subset: evaluate with JSONata instead. */
export const NOT_FAST: unique symbol = Symbol('not fast');

type Fast = (input: Record<string, unknown>) => unknown;
type Node = Record<string, unknown>;

const only = (n: Node, keys: string[]) => Object.keys(n).every((k) => k === 'position' || keys.includes(k));
const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
const isScalar = (v: unknown) => v === null || typeof v === 'string' || typeof v === 'number' || typeof v === 'boolean';

function compileNode(node: unknown): Fast | null {
  if (!isObject(node)) return null;
  const n = node as Node;
  switch (n.type) {
    case 'string':
    case 'number':
    case 'value': {
      if (!only(n, ['type', 'value']) || !isScalar(n.value)) return null;
      const v = n.value;
      return () => v;
    }
    case 'path': {
      if (!only(n, ['type', 'steps']) || !Array.isArray(n.steps) || n.steps.length === 0) return null;
      const names: string[] = [];
      for (const s of n.steps as unknown[]) {
        if (!isObject(s) || s.type !== 'name' || typeof s.value !== 'string' || !only(s, ['type', 'value'])) return null;
        names.push(s.value);
      }
      return (input) => {
        let v: unknown = input;
        for (const name of names) {
          if (Array.isArray(v)) return NOT_FAST;
          if (!isObject(v)) return undefined;
          // An inherited property (`constructor`, ...) is JSONata's business.
          if (!Object.hasOwn(v, name)) return name in v ? NOT_FAST : undefined;
          v = v[name];
        }
        return Array.isArray(v) ? NOT_FAST : v;
      };
    }
    case 'binary': {
      if ((n.value !== '=' && n.value !== '!=') || !only(n, ['type', 'value', 'lhs', 'rhs'])) return null;
      const lhs = compileNode(n.lhs);
      const rhs = compileNode(n.rhs);
      if (!lhs || !rhs) return null;
      const equal = n.value === '=';
      return (input) => {
        const l = lhs(input);
        if (l === NOT_FAST) return NOT_FAST;
        const r = rhs(input);
        if (r === NOT_FAST) return NOT_FAST;
        if (l === undefined || r === undefined) return false;
        if (!isScalar(l) || !isScalar(r)) return NOT_FAST;
        return (l === r) === equal;
      };
    }
    case 'unary': {
      if (n.value !== '{' || !only(n, ['type', 'value', 'lhs']) || !Array.isArray(n.lhs)) return null;
      const pairs: [string, Fast][] = [];
      const keys = new Set<string>();
      for (const pair of n.lhs as unknown[]) {
        if (!Array.isArray(pair) || pair.length !== 2) return null;
        const [k, v] = pair as [unknown, unknown];
        if (!isObject(k) || k.type !== 'string' || typeof k.value !== 'string' || !only(k, ['type', 'value'])) return null;
        if (k.value === '__proto__' || keys.has(k.value)) return null;
        keys.add(k.value);
        const value = compileNode(v);
        if (!value) return null;
        pairs.push([k.value, value]);
      }
      return (input) => {
        const out: Record<string, unknown> = {};
        for (const [key, value] of pairs) {
          const v = value(input);
          if (v === NOT_FAST) return NOT_FAST;
          if (v !== undefined) out[key] = v;
        }
        return out;
      };
    }
    default:
      return null;
  }
}

/**
 * The direct evaluator of a parsed expression (JSONata's `ast()`), or null when the expression is
 * outside the subset. The evaluator applies to a plain object input only; on any other input, and
 * wherever it meets an array, it returns NOT_FAST.
 */
export function compileFast(ast: unknown): ((input: unknown) => unknown) | null {
  const fast = compileNode(ast);
  if (!fast) return null;
  return (input) => (isObject(input) ? fast(input) : NOT_FAST);
}
