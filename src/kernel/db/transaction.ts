import type { DbExecutor } from './database.js';

/**
 * A transaction as a service sees it: a handle to pass to repositories, the audit log and the
 * outbox so their writes commit together. Services never run SQL on it; the lint rule
 * (eslint.config.js, "database access only in repositories") keeps SQL in `*.repository.ts`.
 */
export type Tx = DbExecutor;

/**
 * Opens transactions. `ctx.db` is one; a unit test passes `{ transaction: (fn) => fn(fakeTx) }`
 * with fake repositories, so a service runs without a database.
 */
export interface Transactor {
  transaction<T>(fn: (tx: Tx) => Promise<T>): Promise<T>;
}
