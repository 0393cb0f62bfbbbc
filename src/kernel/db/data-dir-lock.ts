import { randomUUID } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

/**
 * One process at a time opens an embedded data folder (ADR 0021). PGlite and DuckDB keep their
 * files open and would corrupt each other's, or fail with a bare file-lock error, if a second
 * server or a CLI opened the same folder. The holder writes `v01t.lock` with its PID; a lock whose
 * process is gone is stale and taken over.
 */
export const LOCK_FILE = 'v01t.lock';

export interface LockHolder {
  pid: number;
  hostname: string;
  /** What the holder runs, e.g. `v01t start` or `v01t gdpr export`. */
  command: string;
  startedAt: string;
  /** Kernel start time of the process (Linux), so a PID reused after a restart is not mistaken for the holder. */
  procStart?: string;
  token: string;
}

export class DataDirLockedError extends Error {
  constructor(
    readonly dataDir: string,
    readonly holder: LockHolder,
  ) {
    super(
      `the data folder ${dataDir} is in use by process ${holder.pid} (${holder.command}, since ${holder.startedAt}${holder.hostname !== os.hostname() ? ` on host ${holder.hostname}` : ''}); ` +
        'stop it first, or run operator commands while it runs: they reach it through its admin socket',
    );
    this.name = 'DataDirLockedError';
  }
}

export interface DataDirLock {
  readonly file: string;
  readonly holder: LockHolder;
  release(): void;
}

/** Tokens of the locks this process holds: a lock with our PID and another token is a previous life's. */
const heldHere = new Set<string>();

/** Field 22 of /proc/<pid>/stat (start time in clock ticks since boot); undefined where there is no /proc. */
function procStart(pid: number): string | undefined {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    // The command name (field 2) may hold spaces and parentheses: count fields after its closing one.
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19];
  } catch {
    return undefined;
  }
}

function alive(holder: LockHolder): boolean {
  // A torn file names no process (and kill() with 0 or -1 would address process groups).
  if (!Number.isInteger(holder.pid) || holder.pid <= 0) return false;
  // Another host's process cannot be probed: a lock from there (a shared volume) is taken as held.
  if (holder.hostname !== os.hostname()) return true;
  // Our PID but not our lock: left by an earlier process that had this PID (a container's PID 1 after a restart).
  if (holder.pid === process.pid) return heldHere.has(holder.token);
  try {
    process.kill(holder.pid, 0);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EPERM') return false;
  }
  const now = procStart(holder.pid);
  return now === undefined || holder.procStart === undefined || now === holder.procStart;
}

/** The current holder of a data folder's lock, when its process is alive. */
export function readDataDirLock(dataDir: string): LockHolder | undefined {
  const holder = readHolder(path.join(dataDir, LOCK_FILE));
  return holder && alive(holder) ? holder : undefined;
}

function readHolder(file: string): LockHolder | undefined {
  try {
    const parsed = JSON.parse(fs.readFileSync(file, 'utf8')) as LockHolder;
    return typeof parsed.pid === 'number' && typeof parsed.token === 'string' ? parsed : undefined;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    // Unreadable or torn (a crash while writing): no live holder can be named, so treat it as stale.
    return { pid: 0, hostname: os.hostname(), command: 'unknown', startedAt: 'unknown', token: 'unreadable' };
  }
}

/**
 * Takes the data folder for this process, or throws DataDirLockedError naming the process that
 * has it. The lock is released by `release()` and, as a last resort, when this process exits.
 */
export function acquireDataDirLock(dataDir: string, command: string): DataDirLock {
  fs.mkdirSync(dataDir, { recursive: true, mode: 0o700 });
  const file = path.join(dataDir, LOCK_FILE);
  const holder: LockHolder = { pid: process.pid, hostname: os.hostname(), command, startedAt: new Date().toISOString(), procStart: procStart(process.pid), token: randomUUID() };
  // Written whole under a private name, then linked into place: link() fails when the lock exists,
  // so a reader never sees a half-written lock and two acquirers cannot both succeed.
  const draft = `${file}.${process.pid}.${holder.token}`;
  fs.writeFileSync(draft, `${JSON.stringify(holder)}\n`, { mode: 0o600 });
  try {
    for (let attempt = 0; ; attempt++) {
      try {
        fs.linkSync(draft, file);
        break;
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'EEXIST' || attempt >= 5) throw err;
      }
      const current = readHolder(file);
      if (!current) continue; // released meanwhile
      if (alive(current)) throw new DataDirLockedError(dataDir, current);
      breakStaleLock(file, current);
    }
  } finally {
    fs.rmSync(draft, { force: true });
  }
  heldHere.add(holder.token);
  let released = false;
  const release = () => {
    if (released) return;
    released = true;
    heldHere.delete(holder.token);
    process.removeListener('exit', release);
    // Only our own lock: never remove one a later holder took after a stale takeover.
    if (readHolder(file)?.token === holder.token) fs.rmSync(file, { force: true });
  };
  process.on('exit', release);
  return { file, holder, release };
}

/**
 * Moves a stale lock aside. Another process may have judged it stale too and already replaced it
 * with its own live lock between our read and this rename: then the moved file is not the one we
 * judged, and it is put back.
 */
function breakStaleLock(file: string, stale: LockHolder): void {
  const aside = `${file}.stale.${process.pid}.${randomUUID()}`;
  try {
    fs.renameSync(file, aside);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return;
    throw err;
  }
  const moved = readHolder(aside);
  if (moved && moved.token !== stale.token) {
    try {
      fs.linkSync(aside, file);
    } catch {
      // Someone holds the path again; the next attempt reads and judges it.
    }
  }
  fs.rmSync(aside, { force: true });
}
