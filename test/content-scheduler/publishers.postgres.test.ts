import { randomUUID } from 'node:crypto';
import { sql } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestPlatform, TEST_DB, type TestPlatform } from '../helpers/platform.js';
import { createWorkspace, signup } from '../helpers/api.js';
import { drainPublisher, startFakeChannel, webhookChannel, type FakeChannel } from './fake-channel.js';
import { openDatabase, type Database } from '../../src/kernel/db/database.js';
import { createLogger } from '../../src/kernel/telemetry/logger.js';
import { CoreMetrics } from '../../src/kernel/telemetry/metrics.js';
import type { IntegrationHubContract } from '../../src/services/integration-hub/contract.js';
import type { ContentInstance } from '../../src/services/content-scheduler/index.js';
import { Publisher, registerPublisherMetrics } from '../../src/services/content-scheduler/publisher.js';
import { PublisherRepository } from '../../src/services/content-scheduler/publisher.repository.js';
import { CampaignsRepository } from '../../src/services/content-scheduler/campaigns.repository.js';

/**
 * Two publishers, each with its own connection pool to the same PostgreSQL database (as two
 * replicas would have), drain the same due targets concurrently. Every publish call is counted
 * before the hub's own idempotency could hide a double claim.
 */
describe.skipIf(TEST_DB !== 'postgres')('two publishers on PostgreSQL', () => {
  let t: TestPlatform;
  let f: FakeChannel;
  let second: Database;

  beforeAll(async () => {
    t = await createTestPlatform({ V01T_EGRESS_ALLOW: '127.0.0.1' });
    f = await startFakeChannel();
    second = await openDatabase({ url: t.platform.config.db.url!, poolMax: 5, pgliteSharedBuffers: '16MB', statementTimeoutMs: 30_000, applicationName: 'v01t-test-second-publisher' });
  }, 60_000);
  afterAll(async () => {
    await second?.close();
    await t?.close();
    await f?.close();
  });

  it('never publishes a target twice', async () => {
    const owner = await signup(t, 'Replica Owner');
    const ws = await createWorkspace(t, owner, 'Replicas');
    const { channelId } = await webhookChannel(t, owner, ws, f.url);
    const N = 120;
    const now = t.clock.now().toISOString();
    // Seed directly: N posts due now.
    for (let i = 0; i < N; i++) {
      const postId = randomUUID();
      await t.platform.ctx.db.execute(sql`INSERT INTO content.posts (id, workspace_id, author_id, body, status, timezone, created_at, updated_at) VALUES (${postId}, ${ws}, ${owner.id}, ${`post ${i}`}, 'scheduled', 'UTC', ${now}, ${now})`);
      await t.platform.ctx.db.execute(sql`INSERT INTO content.post_channels (post_id, channel_id) VALUES (${postId}, ${channelId})`);
      await t.platform.ctx.db.execute(sql`INSERT INTO content.targets (id, workspace_id, post_id, channel_id, due_at, status, updated_at) VALUES (${randomUUID()}, ${ws}, ${postId}, ${channelId}, ${now}, 'scheduled', ${now})`);
    }
    const hub = t.platform.ctx.contracts.get<IntegrationHubContract>('integration-hub');
    const calls = new Map<string, number>();
    const counting: IntegrationHubContract = {
      ...hub,
      // Counts calls that got an answer from the hub (a repeat would return the first
      // confirmation, so only this count can reveal a double claim); throttled calls never left.
      publish: async (w, c, content, key) => {
        const r = await hub.publish(w, c, content, key);
        calls.set(key, (calls.get(key) ?? 0) + 1);
        return r;
      },
    };
    const content = t.platform.instances.get('content-scheduler') as ContentInstance;
    const make = (db: Database['orm'], id: string) =>
      new Publisher(db, new PublisherRepository(db), new CampaignsRepository(db), t.clock, () => counting, t.platform.ctx.events, (tx, x) => content.services.posts.scheduleNextOccurrence(tx, x), registerPublisherMetrics(new CoreMetrics({ collectDefaults: false }).registry, async () => 0), createLogger('silent'), {
        batch: 7,
        concurrency: 3,
        leaseSeconds: 120,
        maxAttempts: 3,
        intervalMs: 1000,
        workerId: id,
      });
    const a = make(t.platform.ctx.db, 'publisher-a');
    const b = make(second.orm, 'publisher-b');
    const drain = drainPublisher;
    // The hub throttles each connection (10/s): throttled targets wait without using an attempt.
    let pa = 0;
    let pb = 0;
    for (let round = 0; round < 50 && pa + pb < N; round++) {
      const [x, y] = await Promise.all([drain(a), drain(b)]);
      pa += x;
      pb += y;
      t.clock.advance(5_000);
    }
    expect(pa + pb).toBe(N);
    expect(pa).toBeGreaterThan(0);
    expect(pb).toBeGreaterThan(0);
    expect(calls.size).toBe(N);
    expect([...calls.values()].every((n) => n === 1)).toBe(true);
    expect(f.deliveries).toHaveLength(N);
    expect(f.duplicates()).toBe(0);
    const r = (await t.platform.ctx.db.execute(sql`SELECT status, count(*)::int AS n FROM content.targets WHERE workspace_id = ${ws} GROUP BY status`)) as unknown as { rows: { status: string; n: number }[] };
    expect(r.rows).toEqual([{ status: 'published', n: N }]);
    const attempts = (await t.platform.ctx.db.execute(sql`SELECT max(attempts)::int AS m FROM content.targets WHERE workspace_id = ${ws}`)) as unknown as { rows: { m: number }[] };
    expect(attempts.rows[0]!.m).toBe(1);
  }, 120_000);
});
