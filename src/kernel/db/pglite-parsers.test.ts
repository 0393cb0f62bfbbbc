import { PGlite } from '@electric-sql/pglite';
import { sql } from 'drizzle-orm';
import { drizzle } from 'drizzle-orm/pglite';
import { pgTable, integer, timestamp, date, interval, numeric } from 'drizzle-orm/pg-core';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { openDatabase, type Database } from './database.js';

// Every type drizzle turns to text, their arrays, other arrays and scalars, and one name twice.
const SELECT = `SELECT
  '2026-12-04 18:00:00.123456'::timestamp AS ts, '2026-12-04 18:00:00.123456+02'::timestamptz AS tstz,
  '1 day 02:03:04'::interval AS iv, '2026-12-04'::date AS d, ARRAY[1.5, 2.25]::numeric[] AS nums,
  ARRAY['2026-12-04 18:00:00'::timestamp] AS tss, ARRAY['2026-12-04 18:00:00+00'::timestamptz, NULL] AS tstzs,
  ARRAY['1 hour'::interval] AS ivs, ARRAY['2026-12-04'::date] AS ds, ARRAY[1, 2]::int4[] AS ints,
  '{"a": 1}'::jsonb AS j, 42::int8 AS big, 1.5::numeric AS num, true AS yes, NULL::timestamptz AS none,
  1 AS dup, '2026-01-01'::date AS dup`;

const stamps = pgTable('stamps', {
  id: integer('id').primaryKey(),
  at: timestamp('at', { withTimezone: true, mode: 'date' }),
  atText: timestamp('at_text', { withTimezone: true, mode: 'string' }),
  plain: timestamp('plain', { mode: 'string' }),
  day: date('day'),
  span: interval('span'),
  amount: numeric('amount'),
});
const CREATE = `CREATE TABLE stamps (id int PRIMARY KEY, at timestamptz, at_text timestamptz, plain timestamp, day date, span interval, amount numeric);
  INSERT INTO stamps VALUES (1, '2026-12-04 18:00:00.123456+00', '2026-12-04 18:00:00.123456+00', '2026-12-04 18:00:00.5', '2026-12-04', '3 days', 12.5), (2, NULL, NULL, NULL, NULL, NULL, NULL)`;

/** ADR 0095: the same answers as PGlite and drizzle give on their own, without the per-query parser copy. */
describe("PGlite's parsers set to drizzle's", () => {
  let db: Database;
  let plain: PGlite;
  beforeAll(async () => {
    db = await openDatabase({});
    plain = await PGlite.create();
    await db.pglite!.exec(CREATE);
    await plain.exec(CREATE);
  });
  afterAll(async () => {
    await db.close();
    await plain.close();
  });

  it('answers raw queries, exec and raw transactions as PGlite does', async () => {
    expect(await db.query(SELECT)).toEqual((await plain.query(SELECT)).rows);
    expect(await db.prepared('x', `${SELECT} WHERE $1::int = 1`, [1])).toEqual((await plain.query(`${SELECT} WHERE $1::int = 1`, [1])).rows);
    expect(await db.pglite!.query(SELECT, [], { rowMode: 'array' })).toEqual(await plain.query(SELECT, [], { rowMode: 'array' }));
    expect(await db.pglite!.exec(`${SELECT}; ${SELECT}`)).toEqual(await plain.exec(`${SELECT}; ${SELECT}`));
    expect(await db.withTransaction((c) => c.query(SELECT))).toEqual((await plain.query(SELECT)).rows);
    const parsers = { 1184: (x: string) => `custom ${x}` };
    expect(await db.pglite!.query(SELECT, [], { parsers })).toEqual(await plain.query(SELECT, [], { parsers }));
  });

  it("answers drizzle's queries as drizzle on PGlite does", async () => {
    const orm = drizzle({ client: plain });
    expect(await db.orm.execute(sql.raw(SELECT))).toEqual(await orm.execute(sql.raw(SELECT)));
    expect(await db.orm.select().from(stamps).orderBy(stamps.id)).toEqual(await orm.select().from(stamps).orderBy(stamps.id));
    expect(await db.orm.transaction((tx) => tx.select().from(stamps))).toEqual(await orm.transaction((tx) => tx.select().from(stamps)));
  });

  it("runs drizzle's queries without per-query parsers (PGlite copies its whole parser table for those)", async () => {
    const spy = vi.spyOn(PGlite.prototype, 'query');
    try {
      await db.orm.select().from(stamps);
      await db.orm.execute(sql`SELECT now() AS at`);
      expect(spy).toHaveBeenCalledTimes(2);
      for (const call of spy.mock.calls) expect((call[2] as { parsers?: unknown } | undefined)?.parsers).toBeUndefined();
    } finally {
      spy.mockRestore();
    }
  });
});
