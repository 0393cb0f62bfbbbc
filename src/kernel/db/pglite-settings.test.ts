import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { openDatabase } from './database.js';

describe("PGlite's server settings", () => {
  it('creates WAL segments without zero-filling them (ADR 0086), with the configured shared buffers', async () => {
    const db = await openDatabase({ pgliteSharedBuffers: '12MB' });
    try {
      const [init] = await db.query<{ wal_init_zero: string }>('SHOW wal_init_zero');
      const [buffers] = await db.query<{ shared_buffers: string }>('SHOW shared_buffers');
      expect(init!.wal_init_zero).toBe('off');
      expect(buffers!.shared_buffers).toBe('12MB');
    } finally {
      await db.close();
    }
  });
});

describe("PGlite's data folder after close (ADR 0089)", () => {
  it('is left shut down at a checkpoint, so a restart replays no WAL', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'v01t-pglite-close-'));
    try {
      const db = await openDatabase({ dataDir: path.join(dir, 'pg') });
      await db.query('CREATE TABLE written (n int)');
      await db.query('INSERT INTO written SELECT generate_series(1, 1000)');
      await db.close();
      // pg_control (PostgreSQL's ControlFileData): the cluster state at byte 16 (1 = DB_SHUTDOWNED),
      // the last checkpoint's location at 32 and its redo point at 40. A shutdown checkpoint's redo
      // point is the checkpoint itself: nothing to replay.
      const control = fs.readFileSync(path.join(dir, 'pg', 'global', 'pg_control'));
      expect(control.readInt32LE(16)).toBe(1);
      expect(control.readBigUInt64LE(40)).toBe(control.readBigUInt64LE(32));
      const again = await openDatabase({ dataDir: path.join(dir, 'pg') });
      try {
        const [row] = await again.query<{ n: string }>('SELECT count(*) AS n FROM written');
        expect(Number(row!.n)).toBe(1000);
      } finally {
        await again.close();
      }
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
