import { AppError } from '../errors.js';

/**
 * Text PostgreSQL cannot store: the NUL character (text and jsonb both refuse \u0000) and UTF-16
 * surrogates that are not part of a pair (they have no UTF-8 encoding). In a `u` regex a
 * well-formed pair is one code point, so \p{Cs} only matches a lone half.
 */
const UNSTORABLE = /[\u0000\p{Cs}]/u;

/** Deeper JSON than this is no legitimate request and overflows recursive code (JSON.stringify, zod). */
export const MAX_JSON_DEPTH = 64;

export interface InputProblem {
  path: string;
  reason: 'nul' | 'lone_surrogate' | 'too_deep';
}

function describe(s: string): InputProblem['reason'] {
  return s.includes('\u0000') ? 'nul' : 'lone_surrogate';
}

/**
 * The first string (value or object key) in `value` that the database cannot store, or the first
 * place nested deeper than MAX_JSON_DEPTH. Iterative, so a hostile nesting depth cannot overflow
 * the stack of the check itself. Buffers (raw webhook bodies) are bytes, not text, and are skipped.
 */
export function findUnstorableText(value: unknown, root: string): InputProblem | null {
  const stack: { v: unknown; path: string; depth: number }[] = [{ v: value, path: root, depth: 0 }];
  while (stack.length > 0) {
    const { v, path, depth } = stack.pop()!;
    if (typeof v === 'string') {
      if (UNSTORABLE.test(v)) return { path, reason: describe(v) };
      continue;
    }
    if (v === null || typeof v !== 'object' || Buffer.isBuffer(v) || ArrayBuffer.isView(v)) continue;
    if (depth >= MAX_JSON_DEPTH) return { path, reason: 'too_deep' };
    if (Array.isArray(v)) {
      for (let i = v.length - 1; i >= 0; i--) stack.push({ v: v[i], path: `${path}.${i}`, depth: depth + 1 });
      continue;
    }
    for (const key of Object.keys(v)) {
      // The key itself is part of the stored document (jsonb columns), so it is checked too.
      const printable = key.replace(/[\u0000\p{Cs}]/gu, '\uFFFD');
      if (UNSTORABLE.test(key)) return { path: `${path}.${printable}`, reason: describe(key) };
      stack.push({ v: (v as Record<string, unknown>)[key], path: `${path}.${key}`, depth: depth + 1 });
    }
  }
  return null;
}

export function inputProblemError(problem: InputProblem): AppError {
  if (problem.reason === 'too_deep') {
    const message = `nested deeper than ${MAX_JSON_DEPTH} levels`;
    return new AppError('nesting_too_deep', `${problem.path}: ${message}`, { errors: [{ path: problem.path, message }] });
  }
  const message = problem.reason === 'nul' ? 'contains a NUL character (\\u0000)' : 'contains an unpaired UTF-16 surrogate';
  return new AppError('invalid_text', `${problem.path}: ${message}`, { errors: [{ path: problem.path, message }] });
}

/** Throws invalid_text / nesting_too_deep for input that arrives outside the parsed body (multipart fields). */
export function assertStorableText(value: unknown, path: string): void {
  const problem = findUnstorableText(value, path);
  if (problem) throw inputProblemError(problem);
}

interface GuardedRequest {
  params?: unknown;
  query?: unknown;
  body?: unknown;
}

/**
 * One check at the edge for every route: path parameters, query string and parsed body. Header
 * values need none: Node's parser refuses control characters in them (the client error handler
 * answers) and decodes them as latin1, which has no surrogates.
 */
export async function rejectUnstorableInput(request: GuardedRequest): Promise<void> {
  for (const [part, value] of [['params', request.params], ['query', request.query], ['body', request.body]] as const) {
    const problem = findUnstorableText(value, part);
    if (problem) throw inputProblemError(problem);
  }
}
