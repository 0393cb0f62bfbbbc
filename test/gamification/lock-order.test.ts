import { randomUUID } from 'node:crypto';
import { sql } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { EventEnvelope } from '../../src/kernel/events/index.js';
import { rows } from '../../src/kernel/db/rows.js';
import type { GamificationInstance } from '../../src/services/gamification/index.js';
import type { BatchScoringRepository } from '../../src/services/gamification/scoring.repository.js';
import { createTestPlatform, TEST_DB, type TestPlatform } from '../helpers/platform.js';

/**
 * Lock order between a scoring batch and an admin adjustment on the same member (ADR 0075). The
 * batch locks the member's level rows in its read and their balances in its write; an adjustment
 * writes the balance and scores first and locks the level last. Before every writer took the
 * workspace's score lock first, an adjustment arriving between the batch's read and write held the
 * balance the batch needed while waiting for the level the batch held: PostgreSQL broke the
 * deadlock by aborting one of them. Needs two connections, so PostgreSQL only.
 */
let t: TestPlatform;
let g: GamificationInstance['services'];
const db = () => t.platform.database.orm;

describe.skipIf(TEST_DB !== 'postgres')('scoring lock order (PostgreSQL)', () => {
  beforeAll(async () => {
    t = await createTestPlatform({ V01T_SERVICES: 'orchestrator,gamification' });
    t.clock.set('2026-11-23T12:00:00Z');
    g = (t.platform.instances.get('gamification') as GamificationInstance).services;
  }, 60_000);

  afterAll(async () => {
    await t?.close();
  });

  const run = (ws: string, user: string) =>
    ({
      id: randomUUID(),
      name: 'workflow.run.succeeded.v1',
      occurredAt: t.clock.now().toISOString(),
      workspaceId: ws,
      actorId: user,
      payload: { runId: 'r', workflowId: 'wf', workflowVersion: 1, durationMs: 1 },
    }) as EventEnvelope;

  /** Resolves once some backend of this database waits for a lock (the adjustment, blocked behind the batch). */
  async function someoneWaits(): Promise<void> {
    for (let i = 0; i < 500; i++) {
      const [r] = await rows<{ n: number }>(db(), sql`SELECT count(*)::int AS n FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'`);
      if (r!.n > 0) return;
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
    throw new Error('nothing waited for a lock');
  }

  it('lets an adjustment that arrives while a batch holds its rows wait for the batch, and both commit', async () => {
    const ws = randomUUID();
    const user = randomUUID();
    // The member's level row exists, so the batch's read locks it.
    await db().transaction((tx) => g.scoring.handleBatch([run(ws, user)], tx));

    // The batch stops between its read (levels locked) and its write (balances) until released.
    const batchRepo = (g.scoring as unknown as { batchRepo: BatchScoringRepository }).batchRepo;
    const write = batchRepo.write.bind(batchRepo);
    let release!: () => void;
    const released = new Promise<void>((resolve) => (release = resolve));
    let reachedWrite!: () => void;
    const atWrite = new Promise<void>((resolve) => (reachedWrite = resolve));
    batchRepo.write = async (...args) => {
      reachedWrite();
      await released;
      return write(...args);
    };
    try {
      const batch = db().transaction((tx) => g.scoring.handleBatch([run(ws, user), run(ws, user)], tx));
      await atWrite;
      const adjustment = g.scoring.adjust(ws, { userId: user, persona: 'vAutomator', metric: 'Automation XP', points: 5, reason: 'bonus' }, { userId: randomUUID() });
      await someoneWaits();
      release();
      const [b, a] = await Promise.allSettled([batch, adjustment]);
      expect([b.status, a.status, b.status === 'rejected' ? String(b.reason) : a.status === 'rejected' ? String(a.reason) : '']).toEqual(['fulfilled', 'fulfilled', '']);
    } finally {
      batchRepo.write = write;
    }
    // Three runs of 10 points and the adjustment's 5.
    const [xp] = await rows<{ p: string }>(db(), sql`SELECT coalesce(sum(points), 0)::text AS p FROM gamification.balances WHERE workspace_id = ${ws} AND user_id = ${user}`);
    expect(xp!.p).toBe('35');
    const scores = await rows<{ board: string; score: string }>(db(), sql`SELECT board, score::text FROM gamification.scores WHERE workspace_id = ${ws} AND user_id = ${user} AND period = 'all' ORDER BY board`);
    expect(scores.map((s) => [s.board, s.score])).toEqual([
      ['vAutomator', '35'],
      ['workspace', '35'],
    ]);
  }, 60_000);
});
