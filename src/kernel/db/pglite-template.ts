import fs from 'node:fs';
import path from 'node:path';
import { createHash } from 'node:crypto';
import { createRequire } from 'node:module';
import { migrate, migrationChecksum, type MigrationSet } from './migrate.js';
import { openDatabase, type Database } from './database.js';
import { PRIVATE_DIR_MODE } from '../private-fs.js';

/**
 * A pre-initialised embedded database (ADR 0065). PGlite's initdb takes 4–8 s and grows the WASM
 * heap past 400 MB that it never gives back; a data folder copied from a template made at build
 * time (`initdb` + every migration of this build, checkpointed) opens like a restart, in a fraction
 * of a second. The template is named by a key over the PGlite version and every migration's
 * checksum: a template of another build is never used (the start falls back to initdb + migrate).
 */

/**
 * Bumped when what a template holds besides the migrations changes (2: pg-boss's schema; 3: without
 * the template0 and template1 databases, ADR 0097).
 */
const TEMPLATE_FORMAT = 3;
/** The file that marks a finished template; not copied into a data folder. */
const MARKER = '.v01t-template';
/** Files copied (and flushed) at once when seeding: libuv's thread pool has four threads. */
const SEED_PARALLEL = 4;

let pgliteVersionCache: string | undefined;
/** The installed PGlite's version: a data directory is only portable within one PGlite build. */
export function pgliteVersion(): string {
  if (pgliteVersionCache) return pgliteVersionCache;
  let dir = path.dirname(createRequire(import.meta.url).resolve('@electric-sql/pglite'));
  for (let i = 0; i < 4; i++) {
    const file = path.join(dir, 'package.json');
    if (fs.existsSync(file)) {
      const pkg = JSON.parse(fs.readFileSync(file, 'utf8')) as { name?: string; version?: string };
      if (pkg.name === '@electric-sql/pglite' && pkg.version) return (pgliteVersionCache = pkg.version);
    }
    dir = path.dirname(dir);
  }
  throw new Error('the version of @electric-sql/pglite cannot be read');
}

/**
 * The key of the template these migrations need: PGlite's version and each migration's checksum,
 * in a fixed order (services own their schemas, so the order of the sets changes nothing).
 */
export function pgliteTemplateKey(sets: MigrationSet[]): string {
  const lines = sets.flatMap((set) => set.migrations.map((m) => `${set.service}/${m.id} ${migrationChecksum(m.sql)}`)).sort();
  return createHash('sha256').update(`template ${TEMPLATE_FORMAT}\npglite ${pgliteVersion()}\n${lines.join('\n')}`).digest('hex').slice(0, 16);
}

const isTemplate = (dir: string) => fs.existsSync(path.join(dir, 'PG_VERSION')) && fs.existsSync(path.join(dir, MARKER));

/**
 * Makes the template of these migrations under `root` (`root/<key>/`) unless it exists, and removes
 * templates of other builds. Returns its folder. Written under a temporary name and renamed, so a
 * template is whole or absent.
 */
export async function buildPgliteTemplate(
  root: string,
  sets: MigrationSet[],
  /** What else a first start would install (pg-boss's schema), after the migrations. */
  prepare?: (db: Database) => Promise<void>,
): Promise<{ dir: string; built: boolean }> {
  const key = pgliteTemplateKey(sets);
  const dir = path.join(root, key);
  if (isTemplate(dir)) return { dir, built: false };
  fs.mkdirSync(root, { recursive: true });
  const tmp = path.join(root, `.${key}.${process.pid}.tmp`);
  fs.rmSync(tmp, { recursive: true, force: true });
  const db = await openDatabase({ dataDir: tmp });
  try {
    await migrate(db, sets);
    await prepare?.(db);
    // PGlite only ever opens the database `postgres`. initdb's template databases (template0,
    // template1: 600 of the folder's 1,400 files) are there for CREATE DATABASE, which an embedded
    // platform never runs; each file is one more to create and flush in every new data folder, and
    // creating files is most of a seed's time (ADR 0097).
    await db.withClient(async (c) => {
      for (const name of ['template0', 'template1']) {
        await c.exec(`ALTER DATABASE ${name} IS_TEMPLATE false`);
        await c.exec(`DROP DATABASE ${name}`);
      }
    });
    // Everything in the data files: a copy opens without WAL to replay.
    await db.query('CHECKPOINT');
  } finally {
    await db.close();
  }
  fs.writeFileSync(path.join(tmp, MARKER), `${key}\n`);
  fs.rmSync(dir, { recursive: true, force: true });
  fs.renameSync(tmp, dir);
  for (const other of fs.readdirSync(root)) if (other !== key) fs.rmSync(path.join(root, other), { recursive: true, force: true });
  return { dir, built: true };
}

async function fsyncPath(p: string): Promise<void> {
  const handle = await fs.promises.open(p, 'r');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}

/**
 * Copies the folder `from` to the new folder `to` and flushes every file and folder of the copy to
 * disk. Each file is copied and flushed on libuv's thread pool, SEED_PARALLEL at a time, so the main
 * thread stays free meanwhile (the start loads PGlite beside it); a folder is flushed once all its
 * entries exist, the deepest first. A copy-on-write clone is used where the file system has one
 * (btrfs, XFS, APFS): each file is still a file of its own, never the template's (ADR 0097).
 */
async function copyTreeDurably(from: string, to: string): Promise<void> {
  const dirs: string[] = [];
  const files: string[] = [];
  const walk = (rel: string) => {
    for (const entry of fs.readdirSync(path.join(from, rel), { withFileTypes: true })) {
      const r = path.join(rel, entry.name);
      if (entry.isDirectory()) {
        dirs.push(r);
        walk(r);
      } else if (entry.isFile() && r !== MARKER) files.push(r);
    }
  };
  walk('');
  // PostgreSQL's folders keep their mode (0700): the data directory's is checked at start.
  const mode = (rel: string) => fs.statSync(path.join(from, rel)).mode & 0o7777;
  fs.mkdirSync(to, { mode: mode('') });
  for (const d of dirs) fs.mkdirSync(path.join(to, d), { mode: mode(d) });
  let next = 0;
  await Promise.all(
    Array.from({ length: SEED_PARALLEL }, async () => {
      while (next < files.length) {
        const rel = files[next++]!;
        await fs.promises.copyFile(path.join(from, rel), path.join(to, rel), fs.constants.COPYFILE_FICLONE);
        await fsyncPath(path.join(to, rel));
      }
    }),
  );
  for (const d of [...dirs].reverse()) await fsyncPath(path.join(to, d));
  await fsyncPath(to);
}

/**
 * Seeds an absent embedded database folder `pgDir` from the template of these migrations, if
 * `root` holds it. The copy is made beside `pgDir`, flushed to disk (files and folders: what
 * initdb's own sync guarantees), and renamed into place, so a crash leaves either no database
 * (the next start seeds again) or a whole one, never half a copy. Returns whether it seeded.
 */
export async function seedFromPgliteTemplate(root: string | undefined, sets: MigrationSet[], pgDir: string): Promise<boolean> {
  if (!root || fs.existsSync(pgDir)) return false;
  const dir = path.join(root, pgliteTemplateKey(sets));
  if (!isTemplate(dir)) return false;
  const parent = path.dirname(pgDir);
  fs.mkdirSync(parent, { recursive: true, mode: PRIVATE_DIR_MODE });
  const tmp = `${pgDir}.seeding`;
  fs.rmSync(tmp, { recursive: true, force: true });
  await copyTreeDurably(dir, tmp);
  fs.renameSync(tmp, pgDir);
  await fsyncPath(parent);
  return true;
}
