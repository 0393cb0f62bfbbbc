import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { ManualClock } from '../../src/kernel/clock.js';
import type { Db } from '../../src/kernel/db/database.js';
import { EventBackbone, type EventsConfig } from '../../src/kernel/events/index.js';
import { createLogger } from '../../src/kernel/telemetry/logger.js';
// Registers the event name the consumer tests subscribe to.
import '../../src/services/workflow-engine/events.js';

/**
 * The relay loop's pacing (ADR 0084), on timers faked by vitest: while the relay keeps finding
 * events it pauses `relayGatherMs` between runs, and a publish during that pause waits for it; a
 * full run (a backlog) and an idle one keep their old timing. The bus is never reached: its
 * relayOnce is replaced by a script of how many rows each run stamped.
 */
describe('event relay gathering', () => {
  const backbones: EventBackbone[] = [];
  beforeEach(() => void vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'Date'] }));
  afterEach(async () => {
    for (const b of backbones.splice(0)) {
      const stopped = b.stop();
      await vi.runOnlyPendingTimersAsync();
      await stopped;
    }
    vi.useRealTimers();
  });

  /** A backbone whose relay runs stamp `script[i]` rows (then 0), not started; `runs` gets the times (fake ms) of its runs. */
  function scripted(script: number[], relayGatherMs?: number) {
    const config: EventsConfig = { bus: 'postgres', pollMs: 200, maxAttempts: 3, kafka: { brokers: [], clientId: 't', topicPrefix: 't.', partitions: 1 }, ...(relayGatherMs === undefined ? {} : { relayGatherMs }) };
    const b = new EventBackbone({ db: {} as Db, clock: new ManualClock('2026-01-05T09:00:00Z'), logger: createLogger('silent'), config });
    backbones.push(b);
    const runs: number[] = [];
    const t0 = Date.now();
    vi.spyOn(b.bus, 'relayOnce').mockImplementation(async () => {
      runs.push(Date.now() - t0);
      return script.shift() ?? 0;
    });
    return { b, runs, t0 };
  }

  /** scripted(), started: returns the times of its relay runs and a publish. */
  async function relaying(script: number[], relayGatherMs?: number) {
    const { b, runs } = scripted(script, relayGatherMs);
    await b.start();
    return { runs, nudge: () => b.outbox.onPublished() };
  }

  /**
   * scripted() with one consumer group on the postgres bus (its polls find nothing), started as a
   * serving process starts (first passes a poll period later, ADR 0092): the times of relay runs and
   * polls, and the groups registered when start() returned.
   */
  async function deferredStart(script: number[]) {
    const { b, runs, t0 } = scripted(script);
    const polls: number[] = [];
    const bus = b.bus as unknown as { ensureGroup(g: string): Promise<void>; pollOnce(): Promise<{ more: boolean }> };
    const registered: string[] = [];
    vi.spyOn(bus, 'ensureGroup').mockImplementation(async (g) => void registered.push(g));
    vi.spyOn(bus, 'pollOnce').mockImplementation(async () => {
      polls.push(Date.now() - t0);
      return { more: false };
    });
    b.subscribe('deferred', ['workflow.run.started.v1'], async () => {});
    await b.start({ firstPassInMs: 200 });
    return { runs, polls, registered: [...registered], nudge: () => b.outbox.onPublished() };
  }

  it('pauses between runs that find events, and a publish during the pause waits for it', async () => {
    const { runs, nudge } = await relaying([5, 7, 3], 50);
    await vi.advanceTimersByTimeAsync(0);
    expect(runs).toEqual([0]);
    await vi.advanceTimersByTimeAsync(10);
    nudge(); // a publish 10 ms into the pause: no run before the pause ends
    await vi.advanceTimersByTimeAsync(20);
    expect(runs).toEqual([0]);
    await vi.advanceTimersByTimeAsync(20);
    expect(runs).toEqual([0, 50]);
    await vi.advanceTimersByTimeAsync(100);
    // 7 then 3 rows: each run after a pause; then an empty run, after which the relay polls every pollMs.
    expect(runs).toEqual([0, 50, 100, 150]);
    await vi.advanceTimersByTimeAsync(200);
    expect(runs).toEqual([0, 50, 100, 150, 350]);
  });

  it('runs again at once after a full run (a backlog), and at once on a publish while idle', async () => {
    const { runs, nudge } = await relaying([1000, 1000, 4], 50);
    await vi.advanceTimersByTimeAsync(5);
    // Back to back (a timer of 0 ms fires after 1 ms) after each full run.
    expect(runs).toEqual([0, 1, 2]);
    await vi.advanceTimersByTimeAsync(50);
    expect(runs).toEqual([0, 1, 2, 52]);
    await vi.advanceTimersByTimeAsync(30);
    nudge(); // idle (the last run found nothing): a publish is relayed at once
    await vi.advanceTimersByTimeAsync(1);
    expect(runs).toEqual([0, 1, 2, 52, 85]);
  });

  it('without relayGatherMs runs back to back while it finds events, as before', async () => {
    const { runs } = await relaying([5, 7]);
    await vi.advanceTimersByTimeAsync(5);
    expect(runs).toEqual([0, 1, 2]);
    await vi.advanceTimersByTimeAsync(200);
    expect(runs).toEqual([0, 1, 2, 202]);
  });

  it('a pause as long as the poll period or longer is a gather pause too: a publish during it waits for its end (ADR 0090)', async () => {
    const { runs, nudge } = await relaying([5, 7], 300);
    await vi.advanceTimersByTimeAsync(0);
    expect(runs).toEqual([0]);
    await vi.advanceTimersByTimeAsync(250);
    nudge(); // a publish 250 ms into the pause, past the poll period (200 ms)
    await vi.advanceTimersByTimeAsync(49);
    expect(runs).toEqual([0]);
    await vi.advanceTimersByTimeAsync(1);
    expect(runs).toEqual([0, 300]);
    await vi.advanceTimersByTimeAsync(300);
    expect(runs).toEqual([0, 300, 600]);
  });

  it('a serving start (ADR 0092) runs the first relay and consumer polls a poll period later, and a publish still relays and wakes them at once', async () => {
    const { runs, polls, registered, nudge } = await deferredStart([0, 3]);
    // The group is registered before start() returns; nothing reads the outbox or the backlog yet.
    expect(registered).toEqual(['deferred']);
    await vi.advanceTimersByTimeAsync(150);
    expect(runs).toEqual([]);
    expect(polls).toEqual([]);
    // The first passes a poll period after the start, as if each had just run.
    await vi.advanceTimersByTimeAsync(50);
    expect(runs).toEqual([200]);
    expect(polls).toEqual([200]);
    // Then as before: a publish relays at once, and what it relayed wakes the consumer at once.
    await vi.advanceTimersByTimeAsync(30);
    nudge();
    await vi.advanceTimersByTimeAsync(1);
    // (the relay found rows, so it runs again at once: no gather pause configured)
    expect(runs).toEqual([200, 230, 231]);
    expect(polls).toEqual([200, 230]);
  });

  it('a publish before the deferred first pass relays and wakes the consumers at once', async () => {
    const { runs, polls, nudge } = await deferredStart([2]);
    await vi.advanceTimersByTimeAsync(40);
    nudge();
    await vi.advanceTimersByTimeAsync(1);
    expect(runs).toEqual([40, 41]);
    expect(polls).toEqual([40]);
  });
});
