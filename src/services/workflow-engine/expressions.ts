import jsonata from 'jsonata';

/** Compiled JSONata expressions, cached by source (definitions are immutable per version). */
const cache = new Map<string, ReturnType<typeof jsonata>>();
const MAX_CACHED = 5_000;

export class ExpressionError extends Error {
  constructor(
    readonly path: string,
    message: string,
  ) {
    super(`${path}: ${message}`);
    this.name = 'ExpressionError';
  }
}

function compiled(source: string): ReturnType<typeof jsonata> {
  let expr = cache.get(source);
  if (!expr) {
    expr = jsonata(source);
    if (cache.size >= MAX_CACHED) cache.clear();
    cache.set(source, expr);
  }
  return expr;
}

export async function evaluate(source: string, context: unknown, path: string): Promise<unknown> {
  try {
    const v = await compiled(source.replace(/^=/, '')).evaluate(context);
    return normalize(v);
  } catch (err) {
    throw new ExpressionError(path, (err as Error).message);
  }
}

/** Resolves `=expression` strings anywhere in a step's `with` against the run context. */
export async function resolveTemplate(value: unknown, context: unknown, path: string): Promise<unknown> {
  if (typeof value === 'string' && value.startsWith('=')) return evaluate(value, context, path);
  if (Array.isArray(value)) return Promise.all(value.map((v, i) => resolveTemplate(v, context, `${path}[${i}]`)));
  if (value && typeof value === 'object') {
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(value)) out[k] = await resolveTemplate(v, context, `${path}.${k}`);
    return out;
  }
  return value;
}

/** JSONata returns sequences with extra properties and undefined for no match: store plain JSON. */
function normalize(v: unknown): unknown {
  if (v === undefined) return null;
  return JSON.parse(JSON.stringify(v));
}
