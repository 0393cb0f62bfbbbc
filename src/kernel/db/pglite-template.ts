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

/** Bumped when what a template holds besides the migrations changes (2: pg-boss's schema). */
const TEMPLATE_FORMAT = 2;

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

const isTemplate = (dir: string) => fs.existsSync(path.join(dir, 'PG_VERSION')) && fs.existsSync(path.join(dir, '.v01t-template'));

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
    // Everything in the data files: a copy opens without WAL to replay.
    await db.query('CHECKPOINT');
  } finally {
    await db.close();
  }
  fs.writeFileSync(path.join(tmp, '.v01t-template'), `${key}\n`);
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

/** Flushes every file and folder under dir, 16 at a time (one by one, a cluster's 1,300 files take seconds). */
async function fsyncTree(dir: string): Promise<void> {
  const paths: string[] = [];
  const walk = (d: string) => {
    for (const entry of fs.readdirSync(d, { withFileTypes: true })) {
      const full = path.join(d, entry.name);
      if (entry.isDirectory()) walk(full);
      else if (entry.isFile()) paths.push(full);
    }
    paths.push(d);
  };
  walk(dir);
  // Folders after the files in them (walk pushes each folder after its contents).
  let next = 0;
  await Promise.all(
    Array.from({ length: 16 }, async () => {
      while (next < paths.length) await fsyncPath(paths[next++]!);
    }),
  );
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
  fs.cpSync(dir, tmp, { recursive: true, filter: (src) => path.basename(src) !== '.v01t-template' });
  await fsyncTree(tmp);
  fs.renameSync(tmp, pgDir);
  await fsyncPath(parent);
  return true;
}
