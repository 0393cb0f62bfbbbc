import type { SQL } from 'drizzle-orm';
import type { DbExecutor } from '../../kernel/db/database.js';

/** Rows of a raw statement; drizzle's node-postgres and PGlite drivers both answer `{ rows }`. */
export async function rows<T>(db: DbExecutor, query: SQL): Promise<T[]> {
  const r = (await db.execute(query)) as unknown as { rows: T[] };
  return r.rows;
}

export const iso = (v: Date | string | null | undefined): string | null => (v == null ? null : new Date(v).toISOString());

/** A uuid[] parameter without relying on driver array encoding. */
export const uuidList = (ids: readonly string[]) => ids.join(',');
