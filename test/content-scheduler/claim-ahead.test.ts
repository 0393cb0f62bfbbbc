import { randomUUID } from 'node:crypto';
import { sql } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestPlatform, type TestPlatform } from '../helpers/platform.js';
import { createWorkspace, signup } from '../helpers/api.js';
import { drainPublisher, startFakeChannel, webhookChannel, type FakeChannel } from './fake-channel.js';
import type { ContentInstance } from '../../src/services/content-scheduler/index.js';
import { createLogger } from '../../src/kernel/telemetry/logger.js';
import { CoreMetrics } from '../../src/kernel/telemetry/metrics.js';
import type { IntegrationHubContract } from '../../src/services/integration-hub/contract.js';
import { Publisher, registerPublisherMetrics, type PublisherOptions } from '../../src/services/content-scheduler/publisher.js';
import { PublisherRepository } from '../../src/services/content-scheduler/publisher.repository.js';
import { CampaignsRepository } from '../../src/services/content-scheduler/campaigns.repository.js';

/**
 * Claim ahead (ADR 0071): a pass claims the targets due within the look-ahead and sends each at
 * its due time, never before. Time is the test's manual clock: the publisher's sleep moves it.
 * Exactly-once rests on the same claim and lease as without look-ahead: two publishers claiming
 * ahead at once send each target once, and targets claimed ahead by a publisher that then died
 * are taken over when the lease runs out and published once. On PGlite and PostgreSQL.
 */
describe('publisher claims ahead and publishes at the due time', () => {
  let t: TestPlatform;
  let f: FakeChannel;
  let channelId: string;
  let ws: string;
  let ownerId: string;

  beforeAll(async () => {
    t = await createTestPlatform({ V01T_EGRESS_ALLOW: '127.0.0.1', EGRESS_RATE_PER_S: '1000', EGRESS_RATE_BURST: '1000' });
    f = await startFakeChannel();
    const owner = await signup(t, 'Ahead Owner');
    ownerId = owner.id;
    ws = await createWorkspace(t, owner, 'Ahead');
    channelId = (await webhookChannel(t, owner, ws, f.url)).channelId;
  }, 60_000);
  afterAll(async () => {
    await t?.close();
    await f?.close();
  });

  /** Targets due at these offsets (ms) from the clock's now; returns their ids in that order. */
  async function seed(offsetsMs: number[]): Promise<string[]> {
    const base = t.clock.now().getTime();
    const ids: string[] = [];
    await t.platform.ctx.db.transaction(async (tx) => {
      for (const off of offsetsMs) {
        const postId = randomUUID();
        const id = randomUUID();
        const now = new Date(base).toISOString();
        await tx.execute(sql`INSERT INTO content.posts (id, workspace_id, author_id, body, status, timezone, created_at, updated_at) VALUES (${postId}, ${ws}, ${ownerId}, ${`ahead ${id}`}, 'scheduled', 'UTC', ${now}, ${now})`);
        await tx.execute(sql`INSERT INTO content.post_channels (post_id, channel_id) VALUES (${postId}, ${channelId})`);
        await tx.execute(sql`INSERT INTO content.targets (id, workspace_id, post_id, channel_id, due_at, status, updated_at) VALUES (${id}, ${ws}, ${postId}, ${channelId}, ${new Date(base + off).toISOString()}, 'scheduled', ${now})`);
        ids.push(id);
      }
    });
    return ids;
  }

  const targets = async (ids: string[]) =>
    (
      (await t.platform.ctx.db.execute(
        sql`SELECT id, status, claimed_by, (EXTRACT(EPOCH FROM due_at) * 1000)::bigint AS due_ms, (EXTRACT(EPOCH FROM published_at) * 1000)::bigint AS published_ms
            FROM content.targets WHERE id = ANY(string_to_array(${ids.join(',')}, ',')::uuid[])`,
      )) as unknown as { rows: { id: string; status: string; claimed_by: string | null; due_ms: string; published_ms: string | null }[] }
    ).rows;

  /** The hub as the platform runs it, with each call's clock time recorded (before the hub's own idempotency could hide a repeat). */
  function countingHub() {
    const hub = t.platform.ctx.contracts.get<IntegrationHubContract>('integration-hub');
    const calls: { key: string; at: number }[] = [];
    const counting: IntegrationHubContract = {
      ...hub,
      publish: async (w, c, content, key) => {
        calls.push({ key, at: t.clock.now().getTime() });
        return hub.publish(w, c, content, key);
      },
    };
    return { counting, calls };
  }

  function publisher(id: string, hub: IntegrationHubContract, opts: Partial<PublisherOptions>) {
    const content = t.platform.instances.get('content-scheduler') as ContentInstance;
    const db = t.platform.ctx.db;
    return new Publisher(db, new PublisherRepository(db), new CampaignsRepository(db), t.clock, () => hub, t.platform.ctx.events, (tx, x) => content.services.posts.scheduleNextOccurrence(tx, x), registerPublisherMetrics(new CoreMetrics({ collectDefaults: false }).registry, async () => 0), createLogger('silent'), {
      batch: 50,
      concurrency: 4,
      leaseSeconds: 120,
      maxAttempts: 3,
      intervalMs: 1000,
      workerId: id,
      ...opts,
    });
  }

  /** A sleep on the manual clock: waiting moves time, as the wall clock would have moved. */
  const clockSleep = (sleeps: number[]) => async (ms: number) => {
    sleeps.push(ms);
    t.clock.advance(ms);
  };

  it('claims what falls due within the look-ahead, sends each no earlier than its due time, and leaves later ones', async () => {
    const [a, b, later] = await seed([300, 800, 5_000]);
    const { counting, calls } = countingHub();
    const sleeps: number[] = [];
    const p = publisher('ahead-1', counting, { lookaheadMs: 1_000, concurrency: 1, sleep: clockSleep(sleeps) });
    const run = await p.runOnce();
    expect(run).toMatchObject({ claimed: 2, published: 2, failed: 0, retried: 0 });
    // One worker: it waited 300 ms for the first, then 500 ms more for the second.
    expect(sleeps).toEqual([300, 500]);
    const rows = new Map((await targets([a!, b!, later!])).map((r) => [r.id, r]));
    for (const id of [a!, b!]) {
      const r = rows.get(id)!;
      expect(r.status).toBe('published');
      const call = calls.find((c) => c.key === `content-target:${id}`)!;
      // Sent at its due time on the clock, not before; published_at is the confirmation time.
      expect(call.at).toBe(Number(r.due_ms));
      expect(Number(r.published_ms)).toBeGreaterThanOrEqual(Number(r.due_ms));
    }
    expect(rows.get(later!)!.status).toBe('scheduled');
    expect(calls).toHaveLength(2);
  }, 60_000);

  it('without look-ahead a target not yet due is left alone (today’s behaviour)', async () => {
    const [soon] = await seed([200]);
    const { counting, calls } = countingHub();
    const p = publisher('ahead-0', counting, { lookaheadMs: 0, sleep: async () => expect.fail('no target claimed ahead, nothing to wait for') });
    expect((await p.runOnce()).claimed).toBe(0);
    expect(calls).toHaveLength(0);
    t.clock.advance(200);
    expect(await p.runOnce()).toMatchObject({ claimed: 1, published: 1 });
    expect((await targets([soon!]))[0]!.status).toBe('published');
    // The 5 s target of the first test is still ahead: advance past it and drain it.
    t.clock.advance(10_000);
    await p.runOnce();
  }, 60_000);

  it('two publishers claiming ahead at once send every target exactly once', async () => {
    const N = 60;
    const ids = await seed(Array.from({ length: N }, (_, i) => 10 + i * 15)); // due over the next 0.9 s
    const { counting, calls } = countingHub();
    const sleeps: number[] = [];
    const a = publisher('ahead-a', counting, { lookaheadMs: 1_000, batch: 7, concurrency: 3, sleep: clockSleep(sleeps) });
    const b = publisher('ahead-b', counting, { lookaheadMs: 1_000, batch: 7, concurrency: 3, sleep: clockSleep(sleeps) });
    const drain = drainPublisher;
    const [pa, pb] = await Promise.all([drain(a), drain(b)]);
    expect(pa + pb).toBe(N);
    expect(pa).toBeGreaterThan(0);
    expect(pb).toBeGreaterThan(0);
    expect(sleeps.length).toBeGreaterThan(0);
    const keys = calls.map((c) => c.key);
    expect(new Set(keys).size).toBe(N);
    expect(keys).toHaveLength(N);
    const rows = await targets(ids);
    expect(rows.every((r) => r.status === 'published')).toBe(true);
    // No call before its target was due.
    const due = new Map(rows.map((r) => [`content-target:${r.id}`, Number(r.due_ms)]));
    expect(calls.every((c) => c.at >= due.get(c.key)!)).toBe(true);
    expect(f.duplicates()).toBe(0);
  }, 60_000);

  it('targets claimed ahead by a publisher that died are taken over after the lease and published once', async () => {
    const ids = await seed([400, 600, 800]);
    const { counting, calls } = countingHub();
    // The first publisher claims ahead, then hangs (as if killed) while waiting for the first due time.
    let waiting!: () => void;
    const waited = new Promise<void>((r) => (waiting = r));
    const dead = publisher('ahead-dead', counting, { lookaheadMs: 1_000, leaseSeconds: 30, concurrency: 3, sleep: () => (waiting(), new Promise<void>(() => {})) });
    void dead.runOnce();
    await waited;
    expect((await targets(ids)).map((r) => [r.status, r.claimed_by])).toEqual(ids.map(() => ['publishing', 'ahead-dead']));
    const sleeps: number[] = [];
    const survivor = publisher('ahead-survivor', counting, { lookaheadMs: 1_000, leaseSeconds: 30, sleep: clockSleep(sleeps) });
    // Still held: nothing to take over yet, even though the targets are due by now.
    t.clock.advance(1_000);
    expect((await survivor.runOnce()).claimed).toBe(0);
    t.clock.advance(30_000);
    const run = await survivor.runOnce();
    expect(run).toMatchObject({ claimed: 3, rechecked: 3, published: 3 });
    expect(sleeps).toEqual([]); // due long ago: no wait
    expect((await targets(ids)).map((r) => [r.status, r.claimed_by])).toEqual(ids.map(() => ['published', 'ahead-survivor']));
    expect(calls.map((c) => c.key).sort()).toEqual(ids.map((id) => `content-target:${id}`).sort());
    expect(f.duplicates()).toBe(0);
  }, 60_000);

  it('never looks further ahead than half the lease', async () => {
    const [inside, outside] = await seed([400, 700]);
    const { counting } = countingHub();
    const sleeps: number[] = [];
    const p = publisher('ahead-capped', counting, { lookaheadMs: 60_000, leaseSeconds: 1, sleep: clockSleep(sleeps) });
    expect(await p.runOnce()).toMatchObject({ claimed: 1, published: 1 });
    const rows = new Map((await targets([inside!, outside!])).map((r) => [r.id, r.status]));
    expect(rows.get(inside!)).toBe('published');
    expect(rows.get(outside!)).toBe('scheduled');
    t.clock.advance(1_000);
    expect(await p.runOnce()).toMatchObject({ claimed: 1, published: 1 });
  }, 60_000);

  it('the running loop claims ahead in overlapping passes and sends 120 targets once each, none before its time', async () => {
    const N = 120;
    const ids = await seed(Array.from({ length: N }, (_, i) => 5 + i * 25)); // due over the next 3 s of the manual clock
    const { counting, calls } = countingHub();
    // The loop runs on real timers (20 ms apart); the manual clock moves only when a pass waits for a due time.
    const p = publisher('ahead-loop', counting, { lookaheadMs: 200, intervalMs: 20, batch: 40, concurrency: 4, sleep: clockSleep([]) });
    p.start();
    try {
      const deadline = Date.now() + 60_000;
      while (Date.now() < deadline && (await targets(ids)).some((r) => r.status !== 'published')) await new Promise((r) => setTimeout(r, 50));
    } finally {
      await p.stop();
    }
    const rows = await targets(ids);
    expect(rows.filter((r) => r.status === 'published')).toHaveLength(N);
    expect(calls).toHaveLength(N);
    expect(new Set(calls.map((c) => c.key)).size).toBe(N);
    const due = new Map(rows.map((r) => [`content-target:${r.id}`, Number(r.due_ms)]));
    expect(calls.every((c) => c.at >= due.get(c.key)!)).toBe(true);
  }, 90_000);
});
