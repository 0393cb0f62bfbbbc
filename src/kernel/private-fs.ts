import fs from 'node:fs';
import fsp from 'node:fs/promises';

/**
 * The data folder holds the database, analytics, uploaded media and possibly the master key:
 * nothing in it is for other users of the machine. Folders are created 0700 and files 0600
 * whatever the umask; the CLI also narrows the umask at start (restrictUmask) so files made by
 * engines we do not control (PGlite, DuckDB) are private too.
 */
export const PRIVATE_DIR_MODE = 0o700;
export const PRIVATE_FILE_MODE = 0o600;

function tighten(target: string, mode: number): void {
  try {
    const st = fs.statSync(target);
    if (st.mode & 0o077) fs.chmodSync(target, mode);
  } catch (err) {
    // A folder owned by someone else (a mounted volume) keeps its mode: not ours to change.
    const code = (err as NodeJS.ErrnoException).code;
    if (code !== 'EPERM' && code !== 'ENOENT') throw err;
  }
}

/** Creates `dir` (and missing parents) 0700, and narrows an existing one that others can read. */
export function ensurePrivateDir(dir: string): void {
  fs.mkdirSync(dir, { recursive: true, mode: PRIVATE_DIR_MODE });
  tighten(dir, PRIVATE_DIR_MODE);
}

export async function ensurePrivateDirAsync(dir: string): Promise<void> {
  await fsp.mkdir(dir, { recursive: true, mode: PRIVATE_DIR_MODE });
  tighten(dir, PRIVATE_DIR_MODE);
}

/** Narrows a file another engine created (DuckDB's database file) to 0600. */
export function makeFilePrivate(file: string): void {
  tighten(file, PRIVATE_FILE_MODE);
}

/** Files and folders created from here on get no group or other permissions. */
export function restrictUmask(): void {
  process.umask(0o077);
}
