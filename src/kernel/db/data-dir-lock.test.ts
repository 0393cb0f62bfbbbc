import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { acquireDataDirLock, DataDirLockedError, LOCK_FILE, readDataDirLock, type LockHolder } from './data-dir-lock.js';

const dirs: string[] = [];
const children: ChildProcess[] = [];
afterEach(() => {
  for (const c of children.splice(0)) c.kill('SIGKILL');
  for (const d of dirs.splice(0)) fs.rmSync(d, { recursive: true, force: true });
});

function tempDir(): string {
  const d = fs.mkdtempSync(path.join(os.tmpdir(), 'v01t-lock-'));
  dirs.push(d);
  return d;
}

function writeLock(dir: string, holder: Partial<LockHolder>): void {
  const full: LockHolder = { pid: 1, hostname: os.hostname(), command: 'v01t start', startedAt: '2026-01-01T00:00:00.000Z', token: 'theirs', ...holder };
  fs.writeFileSync(path.join(dir, LOCK_FILE), JSON.stringify(full));
}

/** A process that is running while the test needs it. */
function liveProcess(): ChildProcess {
  const child = spawn(process.execPath, ['-e', 'setInterval(() => {}, 1000)'], { stdio: 'ignore' });
  children.push(child);
  return child;
}

/** The PID of a process that has exited. */
function deadPid(): number {
  return Number(spawnSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))'], { encoding: 'utf8' }).stdout);
}

describe('data folder lock', () => {
  it('refuses a second holder and names the process that has the folder', () => {
    const dir = tempDir();
    const other = liveProcess();
    writeLock(dir, { pid: other.pid!, command: 'v01t start', token: 'other' });
    expect(readDataDirLock(dir)?.pid).toBe(other.pid);
    expect(() => acquireDataDirLock(dir, 'v01t gdpr export')).toThrow(DataDirLockedError);
    expect(() => acquireDataDirLock(dir, 'v01t gdpr export')).toThrow(new RegExp(`in use by process ${other.pid} \\(v01t start, since 2026-01-01T00:00:00.000Z\\)`));
    // The refused attempt leaves the holder's lock as it was.
    expect(JSON.parse(fs.readFileSync(path.join(dir, LOCK_FILE), 'utf8')).token).toBe('other');
  });

  it('refuses a second holder in the same process, and release leaves a lock that is not its own', () => {
    const dir = tempDir();
    const first = acquireDataDirLock(dir, 'v01t start');
    expect(JSON.parse(fs.readFileSync(first.file, 'utf8'))).toMatchObject({ pid: process.pid, command: 'v01t start' });
    expect((fs.statSync(first.file).mode & 0o777).toString(8)).toBe('600');
    expect(() => acquireDataDirLock(dir, 'v01t start')).toThrow(DataDirLockedError);
    first.release();
    const second = acquireDataDirLock(dir, 'v01t start');
    first.release();
    expect(readDataDirLock(dir)?.token).toBe(second.holder.token);
    second.release();
  });

  it('is free again after release', () => {
    const dir = tempDir();
    acquireDataDirLock(dir, 'v01t start').release();
    expect(fs.existsSync(path.join(dir, LOCK_FILE))).toBe(false);
    expect(readDataDirLock(dir)).toBeUndefined();
    const again = acquireDataDirLock(dir, 'v01t start');
    expect(readDataDirLock(dir)?.token).toBe(again.holder.token);
    again.release();
  });

  it('takes over a stale lock whose process is gone', () => {
    const dir = tempDir();
    const pid = deadPid();
    expect(pid).toBeGreaterThan(0);
    writeLock(dir, { pid, token: 'crashed' });
    expect(readDataDirLock(dir)).toBeUndefined();
    const lock = acquireDataDirLock(dir, 'v01t start');
    expect(JSON.parse(fs.readFileSync(lock.file, 'utf8')).pid).toBe(process.pid);
    expect(fs.readdirSync(dir).sort()).toEqual([LOCK_FILE]);
    lock.release();
  });

  it('takes over a lock left with our own PID (a container restarted: PID 1 again)', () => {
    const dir = tempDir();
    writeLock(dir, { pid: process.pid, token: 'previous-life' });
    const lock = acquireDataDirLock(dir, 'v01t start');
    expect(lock.holder.token).not.toBe('previous-life');
    lock.release();
  });

  it.runIf(fs.existsSync('/proc/self/stat'))('takes a live PID with another start time for a reused PID: stale', () => {
    const dir = tempDir();
    const child = liveProcess();
    writeLock(dir, { pid: child.pid!, procStart: '1', token: 'reused' });
    const lock = acquireDataDirLock(dir, 'v01t start');
    expect(lock.holder.pid).toBe(process.pid);
    lock.release();
  });

  it('treats a torn lock file (crash while writing) as stale', () => {
    const dir = tempDir();
    fs.writeFileSync(path.join(dir, LOCK_FILE), '{"pid": 12');
    const lock = acquireDataDirLock(dir, 'v01t start');
    expect(lock.holder.pid).toBe(process.pid);
    lock.release();
  });
});
