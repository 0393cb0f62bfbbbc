import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openDatabase } from './database.js';
import { migrate, type MigrationSet } from './migrate.js';
import { buildPgliteTemplate, pgliteTemplateKey, seedFromPgliteTemplate } from './pglite-template.js';

const sets: MigrationSet[] = [
  { service: 'alpha', migrations: [{ id: '0001_init', sql: 'CREATE SCHEMA alpha; CREATE TABLE alpha.things (id int PRIMARY KEY, name text NOT NULL);' }] },
  { service: 'beta', migrations: [{ id: '0001_init', sql: "CREATE SCHEMA beta; CREATE TABLE beta.flags (k text PRIMARY KEY); INSERT INTO beta.flags VALUES ('seeded');" }] },
];

describe('the pre-initialised embedded database (ADR 0065)', () => {
  let tmp: string;
  let root: string;
  beforeAll(async () => {
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'v01t-template-'));
    root = path.join(tmp, 'templates');
    fs.mkdirSync(path.join(root, 'stale-of-another-build'), { recursive: true });
    const first = await buildPgliteTemplate(root, sets, async (db) => {
      await db.query('CREATE TABLE public.prepared (x int)');
    });
    expect(first.built).toBe(true);
  }, 120_000);
  afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

  it('is built once per key, and templates of other builds are removed', async () => {
    expect(fs.readdirSync(root)).toEqual([pgliteTemplateKey(sets)]);
    expect((await buildPgliteTemplate(root, sets)).built).toBe(false);
  });

  it('seeds a new data folder that opens migrated, with nothing left to apply (a restart reruns no migration)', async () => {
    const pgDir = path.join(tmp, 'data-a', 'pg');
    expect(await seedFromPgliteTemplate(root, sets, pgDir)).toBe(true);
    expect(fs.existsSync(path.join(pgDir, '.v01t-template'))).toBe(false);
    expect(fs.existsSync(`${pgDir}.seeding`)).toBe(false);
    const db = await openDatabase({ dataDir: pgDir });
    try {
      expect(await db.query('SELECT k FROM beta.flags')).toEqual([{ k: 'seeded' }]);
      expect(await db.query('SELECT count(*)::int AS n FROM public.prepared')).toEqual([{ n: 0 }]);
      expect((await migrate(db, sets)).applied).toEqual([]);
      await db.query("INSERT INTO alpha.things VALUES (1, 'mine')");
    } finally {
      await db.close();
    }
    // The copy is the data folder's own: a second folder seeded from the same template does not see the first's rows.
    const other = path.join(tmp, 'data-b', 'pg');
    expect(await seedFromPgliteTemplate(root, sets, other)).toBe(true);
    const db2 = await openDatabase({ dataDir: other });
    try {
      expect(await db2.query('SELECT count(*)::int AS n FROM alpha.things')).toEqual([{ n: 0 }]);
    } finally {
      await db2.close();
    }
  }, 60_000);

  it('holds only the database PGlite opens, and seeds without holding the event loop (ADR 0097)', async () => {
    const pgDir = path.join(tmp, 'data-e', 'pg');
    // The event loop's longest stall while the folder is copied: the copy runs on libuv's pool, so
    // the loop keeps turning (a synchronous copy held it for the whole copy).
    let longest = 0;
    let last = performance.now();
    const tick = setInterval(() => {
      const now = performance.now();
      longest = Math.max(longest, now - last);
      last = now;
    }, 1);
    const started = performance.now();
    try {
      expect(await seedFromPgliteTemplate(root, sets, pgDir)).toBe(true);
    } finally {
      clearInterval(tick);
    }
    const took = performance.now() - started;
    expect(longest, `longest stall ${Math.round(longest)} ms of a ${Math.round(took)} ms seed`).toBeLessThan(took / 2);
    // initdb's template0 and template1 are not in the template: one database folder, not three.
    expect(fs.readdirSync(path.join(pgDir, 'base'))).toHaveLength(1);
    // PostgreSQL's folder modes are kept.
    expect(fs.statSync(pgDir).mode & 0o777).toBe(0o700);
    const db = await openDatabase({ dataDir: pgDir });
    try {
      expect(await db.query('SELECT datname FROM pg_database ORDER BY 1')).toEqual([{ datname: 'postgres' }]);
      expect(await db.query('SELECT k FROM beta.flags')).toEqual([{ k: 'seeded' }]);
    } finally {
      await db.close();
    }
  }, 60_000);

  it('leaves an existing database alone, and is not used for other migrations (the start then runs initdb)', async () => {
    const existing = path.join(tmp, 'data-a', 'pg');
    expect(await seedFromPgliteTemplate(root, sets, existing)).toBe(false);
    const changed: MigrationSet[] = [sets[0]!, { service: 'beta', migrations: [{ id: '0001_init', sql: 'CREATE SCHEMA beta;' }] }];
    expect(pgliteTemplateKey(changed)).not.toBe(pgliteTemplateKey(sets));
    expect(await seedFromPgliteTemplate(root, changed, path.join(tmp, 'data-c', 'pg'))).toBe(false);
    expect(fs.existsSync(path.join(tmp, 'data-c', 'pg'))).toBe(false);
    expect(await seedFromPgliteTemplate(undefined, sets, path.join(tmp, 'data-c', 'pg'))).toBe(false);
    // The key does not depend on the order of the sets.
    expect(pgliteTemplateKey([...sets].reverse())).toBe(pgliteTemplateKey(sets));
  });

  it('replaces the half copy a crash left beside the data folder', async () => {
    const pgDir = path.join(tmp, 'data-d', 'pg');
    fs.mkdirSync(`${pgDir}.seeding/base`, { recursive: true });
    fs.writeFileSync(`${pgDir}.seeding/base/garbage`, 'torn');
    expect(await seedFromPgliteTemplate(root, sets, pgDir)).toBe(true);
    expect(fs.existsSync(path.join(pgDir, 'base', 'garbage'))).toBe(false);
    const db = await openDatabase({ dataDir: pgDir });
    try {
      expect(await db.query('SELECT k FROM beta.flags')).toEqual([{ k: 'seeded' }]);
    } finally {
      await db.close();
    }
  }, 60_000);
});
