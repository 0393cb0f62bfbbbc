import { randomUUID } from 'node:crypto';
import { sql } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ManualClock } from '../../src/kernel/clock.js';
import { openDatabase, type Database } from '../../src/kernel/db/database.js';
import { migrate } from '../../src/kernel/db/migrate.js';
import { rowsOf } from '../../src/kernel/db/rows.js';
import { EVENTS_MIGRATION_SET } from '../../src/kernel/events/index.js';
import { Outbox } from '../../src/kernel/events/outbox.js';
import { freshPostgresDatabase, TEST_DB } from '../helpers/platform.js';

/**
 * Outbox.insertWithin (ADR 0077): the outbox INSERT as a CTE of the caller's own statement. Only the
 * events whose scope the statement's own rows yield are written, in array order, validated like
 * publish; nothing is written before the caller runs it.
 */
describe(`outbox insertWithin (${TEST_DB})`, { timeout: 60_000 }, () => {
  let database: Database;
  let dropPg: (() => Promise<void>) | undefined;
  let outbox: Outbox;

  beforeAll(async () => {
    let url: string | undefined;
    if (TEST_DB === 'postgres') {
      const pg = await freshPostgresDatabase();
      url = pg.url;
      dropPg = pg.drop;
    }
    database = await openDatabase({ url, poolMax: 2 });
    await migrate(database, [EVENTS_MIGRATION_SET]);
    await database.query('CREATE TABLE public.test_parents (id uuid PRIMARY KEY)');
    outbox = new Outbox(database.orm, new ManualClock('2026-01-05T09:00:00Z'));
  });
  afterAll(async () => {
    await database?.close();
    await dropPg?.();
  });

  const started = (runId: string) => ({ name: 'workflow.run.started.v1' as const, workspaceId: randomUUID(), payload: { runId, workflowId: 'wf', workflowVersion: 1, trigger: 'webhook' } });

  it('writes the events of the rows the statement inserted, in array order, and none of a row it skipped', async () => {
    const [a, b, skipped] = [randomUUID(), randomUUID(), randomUUID()];
    await database.query('INSERT INTO public.test_parents (id) VALUES ($1)', [skipped]); // exists already: skipped by ON CONFLICT
    const events = [started(a), started(skipped), started(b), { ...started(a), name: 'workflow.run.succeeded.v1' as const, payload: { runId: a, workflowId: 'wf', workflowVersion: 1, durationMs: 1 } }];
    const parents = JSON.stringify([a, skipped, b]);
    const inserted = rowsOf<{ id: string }>(
      await database.orm.execute(sql`WITH p AS (
          INSERT INTO public.test_parents (id) SELECT (e #>> '{}')::uuid FROM jsonb_array_elements(${parents}::jsonb) AS e ON CONFLICT DO NOTHING RETURNING id
        ), o AS (${outbox.insertWithin(events, [a, skipped, b, a], sql`SELECT id::text FROM p`)})
        SELECT id FROM p`),
    );
    expect(inserted.map((r) => r.id).sort()).toEqual([a, b].sort());
    const rows = await database.query<{ name: string; run: string }>("SELECT name, payload->>'runId' AS run FROM kernel.outbox ORDER BY seq");
    expect(rows).toEqual([
      { name: 'workflow.run.started.v1', run: a },
      { name: 'workflow.run.started.v1', run: b },
      { name: 'workflow.run.succeeded.v1', run: a },
    ]);
  });

  it('validates like publish: an unknown event or a payload off its schema is refused before anything is written', async () => {
    const before = (await database.query<{ n: string }>('SELECT count(*) AS n FROM kernel.outbox'))[0]!.n;
    expect(() => outbox.insertWithin([{ name: 'no.such.event.v1' as never, workspaceId: null, payload: {} as never }], ['x'], sql`SELECT 'x'`)).toThrow(/unknown event/);
    expect(() => outbox.insertWithin([{ ...started(randomUUID()), payload: { runId: 1 } as never }], ['x'], sql`SELECT 'x'`)).toThrow(/does not match its schema/);
    expect((await database.query<{ n: string }>('SELECT count(*) AS n FROM kernel.outbox'))[0]!.n).toBe(before);
  });
});
