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
