import { randomUUID } from 'node:crypto';
import { sql } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestPlatform, type TestPlatform } from '../helpers/platform.js';
import { createWorkspace, signup } from '../helpers/api.js';
import { startFakeChannel, webhookChannel, type FakeChannel } from './fake-channel.js';
import type { ContentInstance } from '../../src/services/content-scheduler/index.js';
import { createLogger } from '../../src/kernel/telemetry/logger.js';
import { CoreMetrics } from '../../src/kernel/telemetry/metrics.js';
import type { IntegrationHubContract } from '../../src/services/integration-hub/contract.js';
import { Publisher, registerPublisherMetrics } from '../../src/services/content-scheduler/publisher.js';
import { PublisherRepository } from '../../src/services/content-scheduler/publisher.repository.js';
import { CampaignsRepository } from '../../src/services/content-scheduler/campaigns.repository.js';

/**
 * One pass over more due targets than one recording group (50): outcomes are recorded in several
 * group transactions while other publishes are still in flight, and every confirmed publication
 * must end up `published` with its event, none left behind in `publishing`.
 */
describe('publisher records outcomes in groups', () => {
  let t: TestPlatform;
  let f: FakeChannel;

  beforeAll(async () => {
    // The per-connection egress limit raised so one pass publishes everything (EGRESS_RATE_*).
    t = await createTestPlatform({ V01T_EGRESS_ALLOW: '127.0.0.1', EGRESS_RATE_PER_S: '1000', EGRESS_RATE_BURST: '1000', CONTENT_PUBLISHER_BATCH: '500', CONTENT_PUBLISHER_CONCURRENCY: '8' });
    f = await startFakeChannel();
  }, 60_000);
  afterAll(async () => {
    await t?.close();
    await f?.close();
  });

  async function seed(name: string, N: number) {
    const owner = await signup(t, `${name} Owner`);
    const ws = await createWorkspace(t, owner, name);
    const channels = [await webhookChannel(t, owner, ws, f.url), await webhookChannel(t, owner, ws, f.url, { name: 'Second' })];
    const now = t.clock.now().toISOString();
    await t.platform.ctx.db.transaction(async (tx) => {
      for (let i = 0; i < N; i++) {
        const postId = randomUUID();
        const channelId = channels[i % 2]!.channelId;
        await tx.execute(sql`INSERT INTO content.posts (id, workspace_id, author_id, body, status, timezone, created_at, updated_at) VALUES (${postId}, ${ws}, ${owner.id}, ${`post ${i}`}, 'scheduled', 'UTC', ${now}, ${now})`);
        await tx.execute(sql`INSERT INTO content.post_channels (post_id, channel_id) VALUES (${postId}, ${channelId})`);
        await tx.execute(sql`INSERT INTO content.targets (id, workspace_id, post_id, channel_id, due_at, status, updated_at) VALUES (${randomUUID()}, ${ws}, ${postId}, ${channelId}, ${now}, 'scheduled', ${now})`);
      }
    });
    return ws;
  }

  const statuses = async (ws: string) =>
    ((await t.platform.ctx.db.execute(sql`SELECT status, count(*)::int AS n FROM content.targets WHERE workspace_id = ${ws} GROUP BY status`)) as unknown as { rows: { status: string; n: number }[] }).rows;

  it('publishes 173 due targets in one pass and records every one', async () => {
    const N = 173;
    const ws = await seed('Groups', N);
    const content = t.platform.instances.get('content-scheduler') as ContentInstance;
    t.clock.advance(1500);
    const run = await content.services.publisher.runOnce();
    expect(run).toMatchObject({ claimed: N, published: N, retried: 0, failed: 0 });
    const r = (await t.platform.ctx.db.execute(
      sql`SELECT status, count(*)::int AS n, min(late_by_seconds)::int AS late FROM content.targets WHERE workspace_id = ${ws} GROUP BY status`,
    )) as unknown as { rows: { status: string; n: number; late: number }[] };
    expect(r.rows).toEqual([{ status: 'published', n: N, late: 1 }]);
    const events = (await t.platform.ctx.db.execute(
      sql`SELECT count(DISTINCT payload->>'targetId')::int AS n FROM kernel.outbox WHERE name = 'content.post.published.v1' AND workspace_id = ${ws}`,
    )) as unknown as { rows: { n: number }[] };
    expect(events.rows[0]!.n).toBe(N);
    expect(f.deliveries).toHaveLength(N);
    expect(f.duplicates()).toBe(0);
  }, 120_000);

  it('the running loop (overlapping passes of 40) drains 230 due targets once each and stops cleanly', async () => {
    const N = 230;
    const ws = await seed('Loop', N);
    const before = f.deliveries.length;
    const content = t.platform.instances.get('content-scheduler') as ContentInstance;
    const hub = t.platform.ctx.contracts.get<IntegrationHubContract>('integration-hub');
    const p = new Publisher(t.platform.ctx.db, new PublisherRepository(t.platform.ctx.db), new CampaignsRepository(t.platform.ctx.db), t.clock, () => hub, t.platform.ctx.events, (tx, x) => content.services.posts.scheduleNextOccurrence(tx, x), registerPublisherMetrics(new CoreMetrics({ collectDefaults: false }).registry, async () => 0), createLogger('silent'), {
      batch: 40,
      concurrency: 8,
      leaseSeconds: 120,
      maxAttempts: 3,
      intervalMs: 20,
      workerId: 'loop-publisher',
    });
    p.start();
    try {
      // Poll with a deadline: the loop runs on real timers.
      const deadline = Date.now() + 60_000;
      while (Date.now() < deadline && (await statuses(ws)).find((r) => r.status === 'published')?.n !== N) await new Promise((r) => setTimeout(r, 100));
    } finally {
      await p.stop();
    }
    expect(await statuses(ws)).toEqual([{ status: 'published', n: N }]);
    expect(f.deliveries.length - before).toBe(N);
    expect(f.duplicates()).toBe(0);
  }, 120_000);
});
