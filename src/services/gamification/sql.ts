import type { SQL } from 'drizzle-orm';
import type { DbExecutor } from '../../kernel/db/database.js';

/** Rows of a raw drizzle query (the same shape on node-postgres and PGlite). */
export async function rows<T>(ex: DbExecutor, query: SQL): Promise<T[]> {
  return ((await ex.execute(query)) as unknown as { rows: T[] }).rows;
}

export const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
