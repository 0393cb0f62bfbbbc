import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openDatabase, type Database } from './database.js';
import { ADMIN_PG_URL, TEST_DB } from '../../../test/helpers/test-env.js';

/**
 * A PostgreSQL connection dropping under a checked-out client (a server restart, a failover, an
 * idle-session kill) must fail that client's next statement, not the process. Reproduced without
 * restarting the shared server: the backend of the held connection is terminated from another one.
 */
describe.skipIf(TEST_DB !== 'postgres')('PostgreSQL pool: a connection lost while checked out', () => {
  let db: Database;
  beforeAll(async () => {
    db = await openDatabase({ url: ADMIN_PG_URL, poolMax: 3 });
  });
  afterAll(async () => {
    await db?.close();
  });

  it('rejects the holder\'s next statement, keeps the process alive and serves the next caller on a new connection', async () => {
    const errors: unknown[] = [];
    const onUncaught = (err: unknown) => errors.push(err);
    process.on('uncaughtException', onUncaught);
    try {
      const outcome = await db.withClient(async (c) => {
        const [own] = await c.query<{ pid: number }>('SELECT pg_backend_pid() AS pid');
        await db.query('SELECT pg_terminate_backend($1)', [own!.pid]);
        // Give the socket's end time to arrive while the client is held but idle, as in a transaction awaiting other work.
        for (let i = 0; i < 50; i++) await new Promise((r) => setTimeout(r, 20));
        return c.query('SELECT 1').then(
          () => 'answered',
          (err: Error) => `rejected: ${err.message}`,
        );
      });
      expect(outcome).toMatch(/^rejected: /);
      expect(errors).toEqual([]);
      expect(await db.query<{ n: number }>('SELECT 1 AS n')).toEqual([{ n: 1 }]);
      await db.ping();
    } finally {
      process.off('uncaughtException', onUncaught);
    }
  });
});
