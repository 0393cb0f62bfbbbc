import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { randomUUID } from 'node:crypto';
import { afterAll, describe, expect, it } from 'vitest';
import { TEST_DB, createTestPlatform, freshPostgresDatabase, type TestPlatform } from '../helpers/platform.js';
import { bearer, createWorkspace, signup } from '../helpers/api.js';
import type { AnalyticsInstance } from '../../src/services/analytics-engine/index.js';
import { LazyOlapStore } from '../../src/kernel/olap/index.js';

/**
 * A platform is closed right after answering 202 (its flush loop never ran for those events; the
 * flush interval is a minute). A new platform on the same buffer and store finds the events,
 * stores them exactly once, and still refuses their messageIds as duplicates.
 */
const cleanups: (() => Promise<void>)[] = [];
afterAll(async () => {
  for (const c of cleanups.reverse()) await c().catch(() => undefined);
});

/** Closes a platform once, from the test or from afterAll, whichever comes first. */
function closeOnce(t: TestPlatform): () => Promise<void> {
  let closing: Promise<void> | undefined;
  const close = () => (closing ??= t.close());
  cleanups.push(close);
  return close;
}

const analyticsOf = (t: TestPlatform) => t.platform.instances.get('analytics-engine') as AnalyticsInstance;

/** The test's own events in the store (platform events of the workspace, such as its creation, arrive through the bus whenever it delivers them). */
async function storedCount(t: TestPlatform, workspaceId: string): Promise<number> {
  const [row] = await analyticsOf(t).services.store.olap.query(`SELECT count(*) AS n FROM analytics_events WHERE workspace_id = '${workspaceId}' AND event = 'survivor'`);
  return Number(row?.n ?? 0);
}

async function until(probe: () => Promise<boolean>, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await probe())) {
    if (Date.now() > deadline) throw new Error(`not met within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

const kinds: { buffer: 'file' | 'database'; skip: boolean }[] = [
  { buffer: 'file', skip: false },
  // The database buffer survives a restart only on a database that does: PostgreSQL (in-memory PGlite in tests does not).
  { buffer: 'database', skip: TEST_DB !== 'postgres' },
];

for (const { buffer, skip } of kinds) {
  describe.skipIf(skip)(`events acknowledged with 202 survive a restart (${buffer} buffer)`, () => {
    it('reach the store exactly once after the restart and stay deduplicated', async () => {
      const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'v01t-analytics-restart-'));
      cleanups.push(async () => fs.rmSync(dir, { recursive: true, force: true }));
      const env: Record<string, string> = {
        ANALYTICS_BUFFER: buffer,
        ANALYTICS_BUFFER_DIR: path.join(dir, 'buffer'),
        ANALYTICS_DUCKDB_PATH: path.join(dir, 'analytics.duckdb'),
        ANALYTICS_FLUSH_INTERVAL_MS: '60000',
      };
      if (buffer === 'database') {
        const db = await freshPostgresDatabase();
        cleanups.push(db.drop);
        env.DATABASE_URL = db.url;
      }

      const first = await createTestPlatform(env);
      const closeFirst = closeOnce(first);
      await first.platform.startServices();
      const owner = await signup(first, 'Restart');
      const ws = await createWorkspace(first, owner);
      const batch = Array.from({ length: 5 }, (_, i) => ({ type: 'track', event: 'survivor', userId: `u${i}`, messageId: randomUUID() }));
      const res = await first.inject({ method: 'POST', url: `/v1/workspaces/${ws}/events`, headers: bearer(owner.token), payload: { batch } });
      expect(res.statusCode, res.body).toBe(202);
      expect(res.json().accepted).toBe(5);
      expect(await storedCount(first, ws)).toBe(0);
      await closeFirst();

      const second = await createTestPlatform(env);
      const closeSecond = closeOnce(second);
      // DuckDB opens on first use (ADR 0065): not at start, but for the first event's duplicate check.
      const olap = analyticsOf(second).services.store.olap as LazyOlapStore;
      expect(olap).toBeInstanceOf(LazyOlapStore);
      expect(olap.opened).toBe(false);
      await second.inject({ method: 'GET', url: '/ready' });
      expect(olap.opened, 'the readiness probe does not load DuckDB').toBe(false);
      const ingest = analyticsOf(second).services.ingest;
      // Before anything is flushed: the replayed buffer knows the messageIds.
      expect(await ingest.ingest(ws, batch)).toEqual({ accepted: 0, duplicates: 5, errors: [] });
      // The file buffer's duplicate check read the stored messageIds from DuckDB; the database buffer's is in the database.
      expect(olap.opened).toBe(buffer === 'file');
      await second.platform.startServices();
      await until(async () => (await storedCount(second, ws)) >= 5);
      await analyticsOf(second).services.flusher.stop();
      // Whatever else is pending (the workspace's creation event, delivered by the bus at its own pace) goes out too; the survivors never again.
      await analyticsOf(second).services.flusher.drain();
      expect(await storedCount(second, ws)).toBe(5);
      // After the flush the store (and, for the database buffer, the flushed rows) still know them.
      expect(await ingest.ingest(ws, batch)).toEqual({ accepted: 0, duplicates: 5, errors: [] });
      await closeSecond();

      const third = await createTestPlatform(env);
      closeOnce(third);
      expect(await analyticsOf(third).services.ingest.ingest(ws, batch)).toEqual({ accepted: 0, duplicates: 5, errors: [] });
      expect(await storedCount(third, ws)).toBe(5);
    }, 120_000);
  });
}
