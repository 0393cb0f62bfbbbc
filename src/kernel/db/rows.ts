import type { SQL } from 'drizzle-orm';
import type { DbExecutor } from './database.js';

/**
 * The rows of a raw statement. drizzle's `execute` answers `{ rows }` on both drivers
 * (node-postgres and PGlite) but types it per driver; this is the one place that says so.
 */
export async function rows<T = Record<string, unknown>>(ex: DbExecutor, query: SQL): Promise<T[]> {
  return rowsOf<T>(await ex.execute(query));
}

/** The rows of an `execute` result already in hand (for callers that time or inspect the result). */
export const rowsOf = <T>(result: unknown): T[] => (result as { rows: T[] }).rows;
