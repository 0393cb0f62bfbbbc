import { PgPreparedQuery } from 'drizzle-orm/pg-core';

/**
 * Statement parameters are what the application binds: password hashes, token hashes, write-key
 * hashes, personal data. None of it may reach a log line or an answer, so a failed statement's
 * error keeps the SQL text and the server's reason, and loses every bound value:
 * - drizzle's DrizzleQueryError puts `params: …` into its message and a `params` field;
 * - PostgreSQL's `detail` quotes the offending values ("Key (token_hash)=(…) already exists",
 *   "Failing row contains (…)").
 */
export const WITHHELD = '[withheld]';

const scrubbed = new WeakSet<object>();

export function scrubDetail(detail: string): string {
  const key = /^Key \(([^)]*)\)=/.exec(detail);
  if (key) return `Key (${key[1]})=(${WITHHELD})`;
  if (/Failing row contains/i.test(detail)) return `Failing row contains (${WITHHELD})`;
  // Any other "(…)=(…)" value list a server message might carry.
  return detail.replace(/=\([\s\S]*\)/g, `=(${WITHHELD})`);
}

function rewriteStack(err: Error, oldMessage: string): void {
  const stack = typeof err.stack === 'string' ? err.stack : '';
  const header = `${err.name}: ${oldMessage}`;
  const frames = stack.startsWith(header) ? stack.slice(header.length) : `\n${stack.split('\n').filter((l) => /^\s+at /.test(l)).join('\n')}`;
  err.stack = `${err.name}: ${err.message}${frames}`;
}

/** Removes bound values from a database error (and its causes), in place; returns it. */
export function scrubDatabaseError<T>(err: T): T {
  let e: unknown = err;
  for (let depth = 0; depth < 5 && e && typeof e === 'object' && !scrubbed.has(e); depth++) {
    scrubbed.add(e);
    const x = e as Error & { params?: unknown; query?: unknown; detail?: unknown; cause?: unknown };
    // drizzle's DrizzleQueryError and PGlite's own errors both carry the bound values as `params`.
    if (Array.isArray(x.params)) {
      const count = x.params.length;
      x.params = `${WITHHELD} ${count} parameter${count === 1 ? '' : 's'}` as never;
      const at = x.message.indexOf('\nparams: ');
      if (at >= 0) {
        // drizzle's message is "Failed query: <sql>\nparams: <values>": keep the SQL, add the server's reason.
        const old = x.message;
        const reason = (x.cause as Error | undefined)?.message;
        x.message = `${old.slice(0, at)}${reason ? `\nreason: ${reason}` : ''}`;
        rewriteStack(x, old);
      }
    }
    if (typeof x.detail === 'string') x.detail = scrubDetail(x.detail);
    e = x.cause;
  }
  return err;
}

let installed = false;

/**
 * Every drizzle statement on PGlite and on node-postgres runs through
 * PgPreparedQuery.queryWithCache, which wraps a failure in DrizzleQueryError: scrubbing there
 * covers every repository without each one remembering to.
 */
export function installDatabaseErrorScrubbing(): void {
  if (installed) return;
  installed = true;
  const proto = PgPreparedQuery.prototype as unknown as { queryWithCache: (...args: unknown[]) => Promise<unknown> };
  const original = proto.queryWithCache;
  proto.queryWithCache = async function (this: unknown, ...args: unknown[]) {
    try {
      return await original.apply(this, args);
    } catch (err) {
      throw scrubDatabaseError(err);
    }
  };
}
