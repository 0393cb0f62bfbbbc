import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LazyOlapStore, openOlapStore, type OlapStore, type OlapTableSpec } from './index.js';
import { CLICKHOUSE_SKIP_REASON, OLAP_KINDS, openTestOlap, type TestOlap } from '../../../test/helpers/olap.js';

const spec: OlapTableSpec = {
  name: 'things',
  columns: [
    { name: 'k', type: 'string' },
    { name: 'n', type: 'int64' },
    { name: 'x', type: 'float64' },
    { name: 'day', type: 'date' },
    { name: 'props', type: 'string' },
  ],
  partitionDate: 'day',
  orderBy: ['k', 'day'],
};

const rows = [
  { k: "it's", n: 1, x: 1.5, day: '2023-01-15', props: JSON.stringify({ plan: 'pro', amount: 10 }) },
  { k: 'back\\slash', n: 2, x: 2.5, day: '2023-02-20', props: JSON.stringify({ plan: 'free', amount: 2.5 }) },
  { k: 'plain', n: 1_700_000_000_123, x: 0, day: '2026-03-04', props: JSON.stringify({ amount: 'not a number' }) },
];

for (const { kind, skip } of OLAP_KINDS) {
  describe.skipIf(skip)(`OLAP port on ${kind}${skip ? ` (skipped: ${CLICKHOUSE_SKIP_REASON})` : ''}`, () => {
    let t: TestOlap;
    let s: OlapStore;
    beforeAll(async () => {
      t = await openTestOlap(kind);
      s = t.store;
      await s.ensureTable(spec);
      await s.ensureTable(spec);
      await s.insert(spec, rows);
    });
    afterAll(async () => t?.close());

    it('round-trips strings that need quoting and 64-bit integers', async () => {
      const d = s.dialect;
      const got = await s.query<{ k: string; n: number }>(`SELECT k, n FROM things WHERE k IN (${d.str("it's")}, ${d.str('back\\slash')}) ORDER BY n`);
      expect(got.map((r) => [r.k, Number(r.n)])).toEqual([["it's", 1], ['back\\slash', 2]]);
      const [big] = await s.query(`SELECT n FROM things WHERE k = ${d.str('plain')}`);
      expect(Number(big!.n)).toBe(1_700_000_000_123);
      const [none] = await s.query(`SELECT count(*) AS c FROM things WHERE k = ${d.str("x' OR 1=1 --")}`);
      expect(Number(none!.c)).toBe(0);
    });

    it('answers the dialect helpers the same way', async () => {
      const d = s.dialect;
      const got = await s.query(
        `SELECT k, ${d.jsonString('props', 'plan')} AS plan, ${d.jsonNumber('props', 'amount')} AS amount, ${d.dateString('day')} AS d, ` +
          `${d.dateString(d.monthStart('day'))} AS m, ${d.dateString(d.weekStart('day'))} AS w, ${d.idiv('n', '2')} AS half ` +
          `FROM things ORDER BY k`,
      );
      expect(got.map((r) => ({ ...r, amount: Number(r.amount), half: Number(r.half) }))).toEqual([
        { k: 'back\\slash', plan: 'free', amount: 2.5, d: '2023-02-20', m: '2023-02-01', w: '2023-02-20', half: 1 },
        { k: "it's", plan: 'pro', amount: 10, d: '2023-01-15', m: '2023-01-01', w: '2023-01-09', half: 0 },
        { k: 'plain', plan: '', amount: 0, d: '2026-03-04', m: '2026-03-01', w: '2026-03-02', half: 850_000_000_061 },
      ]);
      const e = d.expand(3, 'j');
      const [c] = await s.query(`SELECT ${d.countDistinctIf('k', 'n < 3')} AS c, count(*) AS total FROM (SELECT k, n, ${e.select} FROM things ${e.from}) AS x`);
      expect([Number(c!.c), Number(c!.total)]).toEqual([2, 9]);
    });

    it('backs up every table consistently and restores it into an empty store (ADR 0050)', async () => {
      const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'v01t-olap-backup-'));
      const empty = await openTestOlap(kind);
      try {
        const files = await s.backup(dir);
        expect(files.length).toBeGreaterThan(0);
        for (const f of files) expect(fs.statSync(path.join(dir, f)).size).toBeGreaterThan(0);
        await empty.store.restore(dir, files);
        const q = 'SELECT k, n, x, props FROM things ORDER BY n';
        expect(await empty.store.query(q)).toEqual(await s.query(q));
        expect(Number((await empty.store.query('SELECT count(*) AS c FROM things'))[0]!.c)).toBe(3);
      } finally {
        await empty.close();
        fs.rmSync(dir, { recursive: true, force: true });
      }
    });

    it('deletes by condition and removes old data by date', async () => {
      await s.deleteWhere('things', `k = ${s.dialect.str('plain')}`);
      expect(Number((await s.query('SELECT count(*) AS c FROM things'))[0]!.c)).toBe(2);
      expect(await s.removeBefore(spec, '2023-02-10')).toBe(1);
      const left = await s.query<{ k: string }>('SELECT k FROM things');
      expect(left.map((r) => r.k)).toEqual(['back\\slash']);
    });
  });
}

describe('DuckDB opened on first use (ADR 0065)', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'v01t-lazy-olap-'));
  afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

  it('opens at the first use, prepares its tables before it, keeps what was written, and answers ping before it without opening', async () => {
    const file = path.join(dir, 'a.duckdb');
    let prepared = 0;
    const store = await openOlapStore({ duckdbPath: file, lazy: true, prepare: async (s) => (prepared++, s.ensureTable(spec)) });
    expect(store).toBeInstanceOf(LazyOlapStore);
    const lazy = store as LazyOlapStore;
    await store.ping();
    expect(lazy.opened).toBe(false);
    expect(fs.existsSync(file)).toBe(false);
    expect(store.dialect.str("it's")).toBe("'it''s'");
    // Two first uses at once: one opening, one preparation.
    await Promise.all([store.insert(spec, rows.slice(0, 1)), store.insert(spec, rows.slice(1, 2))]);
    expect(prepared).toBe(1);
    expect(lazy.opened).toBe(true);
    expect(await store.query('SELECT count(*) AS n FROM things')).toEqual([{ n: 2 }]);
    await store.close();
    await expect(store.query('SELECT 1')).rejects.toThrow(/closed/);

    const again = await openOlapStore({ duckdbPath: file, lazy: true, prepare: (s) => s.ensureTable(spec) });
    expect(await again.query('SELECT count(*) AS n FROM things')).toEqual([{ n: 2 }]);
    await again.close();
  });

  it('tries a failed opening again at the next use, and fails ping when the file cannot be created', async () => {
    let attempts = 0;
    const store = await openOlapStore({
      duckdbPath: path.join(dir, 'b.duckdb'),
      lazy: true,
      prepare: async (s) => {
        if (++attempts === 1) throw new Error('first opening fails');
        await s.ensureTable(spec);
      },
    });
    await expect(store.query('SELECT 1')).rejects.toThrow(/first opening fails/);
    expect((store as LazyOlapStore).opened).toBe(false);
    expect(await store.query('SELECT count(*) AS n FROM things')).toEqual([{ n: 0 }]);
    expect(attempts).toBe(2);
    await store.close();

    // A folder still to be made is fine (the opening makes it); a file where a folder should be is not.
    const later = await openOlapStore({ duckdbPath: path.join(dir, 'made-later', 'c.duckdb'), lazy: true });
    await later.ping();
    await later.close();
    fs.writeFileSync(path.join(dir, 'a-file'), '');
    const blocked = await openOlapStore({ duckdbPath: path.join(dir, 'a-file', 'c.duckdb'), lazy: true });
    await expect(blocked.ping()).rejects.toThrow(/not a folder/);
    await blocked.close();
  });
});
