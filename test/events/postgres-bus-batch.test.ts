import { randomUUID } from 'node:crypto';
import { sql } from 'drizzle-orm';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { ManualClock } from '../../src/kernel/clock.js';
import { openDatabase, type Database, type Db } from '../../src/kernel/db/database.js';
import { migrate } from '../../src/kernel/db/migrate.js';
import type { EventEnvelope, EventHandler } from '../../src/kernel/events/envelope.js';
import { EVENTS_MIGRATION_SET } from '../../src/kernel/events/index.js';
import { Outbox } from '../../src/kernel/events/outbox.js';
import { PostgresBus, type PostgresBusOptions } from '../../src/kernel/events/postgres-bus.js';
import { createLogger } from '../../src/kernel/telemetry/logger.js';
import { freshPostgresDatabase, TEST_DB } from '../helpers/platform.js';
import { waitFor } from './poll.js';

/**
 * The postgres bus's batch transactions, driven poll by poll (no consumer loop, no sleeps) on a
 * database of their own (PGlite in memory, or a fresh PostgreSQL database with
 * V01T_TEST_DATABASE=postgres) whose query observer counts every statement.
 */
const NAME = 'workflow.run.started.v1' as const;
const started = (runId: string) => ({ runId, workflowId: 'wf-1', workflowVersion: 1, trigger: 'manual' });
const SUCCEEDED = 'workflow.run.succeeded.v1' as const;

describe(`postgres bus batch delivery (${TEST_DB})`, { timeout: 60_000 }, () => {
  let database: Database;
  let dropPg: (() => Promise<void>) | undefined;
  let db: Db;
  let outbox: Outbox;
  const clock = new ManualClock('2026-01-05T09:00:00Z');
  /** Statements seen by the observer while `recording` (query type and table). */
  let statements: { queryType: string; table: string }[] = [];
  let recording = false;
  /** Top-level transactions the bus opened. */
  let transactions = 0;
  const buses: PostgresBus[] = [];

  beforeAll(async () => {
    let url: string | undefined;
    if (TEST_DB === 'postgres') {
      const pg = await freshPostgresDatabase();
      url = pg.url;
      dropPg = pg.drop;
    }
    database = await openDatabase({ url, poolMax: 3, observe: (queryType, table) => void (recording && statements.push({ queryType, table })) });
    await migrate(database, [EVENTS_MIGRATION_SET]);
    await database.query('CREATE TABLE public.test_effects (group_name text NOT NULL, event_id uuid NOT NULL, attempt integer NOT NULL)');
    const orm = database.orm;
    // Counts the bus's top-level transactions (each batch, each per-event delivery).
    db = new Proxy(orm, {
      get(target, prop, receiver) {
        if (prop === 'transaction') {
          return (...args: Parameters<Db['transaction']>) => {
            transactions++;
            return target.transaction(...args);
          };
        }
        return Reflect.get(target, prop, receiver) as unknown;
      },
    });
    outbox = new Outbox(orm, clock);
  });
  afterAll(async () => {
    for (const b of buses) await b.stop();
    await database?.close();
    await dropPg?.();
  });
  beforeEach(() => {
    statements = [];
    recording = false;
    transactions = 0;
  });

  const makeBus = (o: Partial<PostgresBusOptions> = {}) => {
    const b = new PostgresBus({ db, logger: createLogger('silent'), pollMs: 20, maxAttempts: 3, retryDelayMs: (a) => 1000 * a, clock, ...o });
    buses.push(b);
    return b;
  };
  const newGroup = async (bus: PostgresBus, label: string) => {
    const g = `batch-${label}-${randomUUID().slice(0, 8)}`;
    await bus.ensureGroup(g);
    // Start at the head: earlier tests' events are not this group's business.
    await database.query('UPDATE kernel.event_consumers SET position = (SELECT coalesce(max(position), 0) FROM kernel.outbox) WHERE group_name = $1', [g]);
    return g;
  };
  /** Publishes and relays events; returns them in log order. */
  const publish = async (bus: PostgresBus, labels: string[], ids?: string[]) => {
    const out: EventEnvelope[] = [];
    for (const [i, label] of labels.entries()) out.push((await outbox.publish({ id: ids?.[i], name: NAME, workspaceId: null, payload: started(label) })) as EventEnvelope);
    await bus.relayOnce();
    transactions = 0;
    return out;
  };
  const effects = async (group: string) =>
    database.query<{ event_id: string; attempt: number }>('SELECT event_id, attempt FROM public.test_effects WHERE group_name = $1 ORDER BY event_id, attempt', [group]);
  const effectCount = async (group: string) => {
    const counts = new Map<string, number>();
    for (const e of await effects(group)) counts.set(e.event_id, (counts.get(e.event_id) ?? 0) + 1);
    return counts;
  };
  const deliveries = async (group: string) =>
    (await database.query<{ event_id: string }>('SELECT event_id FROM kernel.event_deliveries WHERE group_name = $1', [group])).map((r) => r.event_id).sort();
  const consumer = async (group: string) =>
    (
      await database.query<{ position: string; failing_event_id: string | null; failing_attempts: number; last_error: string | null; owner: string | null }>(
        'SELECT position, failing_event_id, failing_attempts, last_error, owner FROM kernel.event_consumers WHERE group_name = $1',
        [group],
      )
    )[0]!;
  const positionOf = async (id: string) => Number((await database.query<{ position: string }>('SELECT position FROM kernel.outbox WHERE id = $1', [id]))[0]!.position);
  const head = async () => Number((await database.query<{ head: string }>('SELECT coalesce(max(position), 0) AS head FROM kernel.outbox'))[0]!.head);

  /** A handler that records each call and writes one effect row through ctx.tx; `fail` decides whether it throws afterwards. */
  const recordingHandler = (group: string, fail: (e: EventEnvelope, attempt: number) => boolean = () => false) => {
    const calls: { id: string; attempt: number }[] = [];
    const handler: EventHandler = async (e, ctx) => {
      calls.push({ id: e.id, attempt: ctx.attempt });
      await ctx.tx.execute(sql`INSERT INTO public.test_effects (group_name, event_id, attempt) VALUES (${group}, ${e.id}, ${ctx.attempt})`);
      if (fail(e as EventEnvelope, ctx.attempt)) throw new Error(`boom ${(e.payload as { runId: string }).runId}`);
    };
    return { calls, handler };
  };

  it('delivers a batch in one transaction with a fixed number of bus statements, not a few per event', async () => {
    const bus = makeBus();
    const g = await newGroup(bus, 'count');
    const { calls, handler } = recordingHandler(g);
    const events = await publish(
      bus,
      Array.from({ length: 30 }, (_, i) => `c${i}`),
    );
    recording = true;
    const r = await bus.pollOnce(g, [NAME], handler);
    recording = false;
    expect(r).toEqual({ handled: 30, busy: false, more: false });
    expect(calls.map((c) => c.id)).toEqual(events.map((e) => e.id));
    expect(transactions).toBe(1);
    const busStatements = statements.filter((s) => s.table !== 'public.test_effects');
    const handlerStatements = statements.filter((s) => s.table === 'public.test_effects');
    expect(handlerStatements).toHaveLength(30);
    // Lease, read (+ head), advance-and-claim (one statement); PostgreSQL's pool also shows BEGIN and COMMIT. Per event the
    // per-event mode would add BEGIN, UPDATE, SAVEPOINT, INSERT, RELEASE, COMMIT (4 of them seen on PGlite).
    expect(busStatements.map((s) => `${s.queryType} ${s.table}`).filter((s) => !s.startsWith('transaction'))).toEqual([
      'update kernel.event_consumers',
      'select kernel.outbox',
      'insert kernel.event_deliveries',
    ]);
    expect(busStatements.length).toBeLessThanOrEqual(6);
    expect(busStatements.length / events.length).toBeLessThan(0.25);
    expect(await deliveries(g)).toEqual(events.map((e) => e.id).sort());
    expect(Number((await consumer(g)).position)).toBe(await head());

    // The lease is fresh: the next polls skip its renewal (an idle poll is one read, a poll with work two statements).
    statements = [];
    recording = true;
    expect(await bus.pollOnce(g, [NAME], handler)).toEqual({ handled: 0, busy: false, more: false });
    const more = await publish(bus, ['c30', 'c31']);
    statements = [];
    expect(await bus.pollOnce(g, [NAME], handler)).toEqual({ handled: 2, busy: false, more: false });
    recording = false;
    expect(calls.slice(30).map((c) => c.id)).toEqual(more.map((e) => e.id));
    expect(statements.filter((s) => s.table !== 'public.test_effects').map((s) => `${s.queryType} ${s.table}`).filter((s) => !s.startsWith('transaction'))).toEqual([
      'select kernel.outbox',
      'insert kernel.event_deliveries',
    ]);
    expect(Number((await consumer(g)).position)).toBe(await head());
  });

  it('renews the lease every poll with renewAfterMs 0; a replica whose lease was taken over while it thought it fresh commits nothing and reports busy', async () => {
    const eager = makeBus({ renewAfterMs: 0 });
    const ge = await newGroup(eager, 'eager');
    const { handler: he } = recordingHandler(ge);
    await eager.pollOnce(ge, [NAME], he);
    statements = [];
    recording = true;
    await eager.pollOnce(ge, [NAME], he);
    recording = false;
    expect(statements.map((s) => `${s.queryType} ${s.table}`)).toContain('update kernel.event_consumers');

    const bus = makeBus();
    const g = await newGroup(bus, 'deposed');
    const { calls, handler } = recordingHandler(g);
    expect(await bus.pollOnce(g, [NAME], handler)).toEqual({ handled: 0, busy: false, more: false });
    const before = await consumer(g);
    // The lease ran out (the process stalled) and another replica took the group; this one's copy still looks fresh.
    await database.query("UPDATE kernel.event_consumers SET owner = 'another-replica', lease_until = now() + interval '15 seconds' WHERE group_name = $1", [g]);
    const events = await publish(bus, ['x0', 'x1']);
    expect(await bus.pollOnce(g, [NAME], handler)).toEqual({ handled: 0, busy: true, more: false });
    expect(await effects(g)).toEqual([]);
    expect(await deliveries(g)).toEqual([]);
    expect(await consumer(g)).toMatchObject({ position: before.position, owner: 'another-replica' });
    // The next poll renews (and finds the group held), so it stays off the group until the new owner lets go.
    statements = [];
    recording = true;
    expect(await bus.pollOnce(g, [NAME], handler)).toEqual({ handled: 0, busy: true, more: false });
    recording = false;
    expect(statements.map((s) => `${s.queryType} ${s.table}`)).toEqual(['update kernel.event_consumers']);
    await database.query('UPDATE kernel.event_consumers SET owner = NULL, lease_until = NULL WHERE group_name = $1', [g]);
    expect(await bus.pollOnce(g, [NAME], handler)).toEqual({ handled: 2, busy: false, more: false });
    // The deposed batch's first statement (offset, fenced on the owner) failed: no claim, no handler call.
    expect(calls.map((c) => c.id)).toEqual(events.map((e) => e.id));
    expect(await effectCount(g)).toEqual(new Map(events.map((e) => [e.id, 1])));
  });

  it('gives a batch handler up to batchMax events per transaction (reading that many), in log order, without the per-event handler', async () => {
    const bus = makeBus({ txMaxEvents: 5, batchSize: 10 });
    const g = await newGroup(bus, 'max');
    const { calls, handler } = recordingHandler(g);
    const sizes: number[] = [];
    const seen: string[] = [];
    const batch = async (events: EventEnvelope[]) => {
      sizes.push(events.length);
      seen.push(...events.map((e) => e.id));
    };
    const events = await publish(
      bus,
      Array.from({ length: 57 }, (_, i) => `x${i}`),
    );
    // 57 events with batchMax 25: one poll reads 25 (more than the bus's batchSize of 10) and hands them over in one call.
    expect(await bus.pollOnce(g, [NAME], handler, batch, 25)).toEqual({ handled: 25, busy: false, more: true });
    expect(await bus.pollOnce(g, [NAME], handler, batch, 25)).toEqual({ handled: 25, busy: false, more: true });
    expect(await bus.pollOnce(g, [NAME], handler, batch, 25)).toEqual({ handled: 7, busy: false, more: false });
    expect(sizes).toEqual([25, 25, 7]);
    expect(transactions).toBe(3);
    expect(seen).toEqual(events.map((e) => e.id));
    expect(calls).toEqual([]);
    expect(Number((await consumer(g)).position)).toBe(await head());
    // Without batchMax the bus's own txMaxEvents (5) bounds a batch transaction.
    const more = await publish(bus, ['y0', 'y1', 'y2', 'y3', 'y4', 'y5', 'y6']);
    sizes.length = 0;
    expect(await bus.pollOnce(g, [NAME], handler, batch)).toEqual({ handled: 7, busy: false, more: false });
    expect(sizes).toEqual([5, 2]);
    expect(seen.slice(-7)).toEqual(more.map((e) => e.id));
  });

  it('a consumer working through a backlog lets timers (and HTTP requests) run between its polls, even on PGlite', async () => {
    // pollMs is long: the loop only sleeps once the backlog is consumed, so a timer that fires before
    // then fired because the loop yielded between polls. On PGlite every statement resolves as a
    // microtask: a loop that never yielded kept this timer (and every request) waiting to the end.
    const bus = makeBus({ batchSize: 10, pollMs: 60_000 });
    const g = await newGroup(bus, 'yield');
    const { handler } = recordingHandler(g);
    const events = await publish(
      bus,
      Array.from({ length: 40 }, (_, i) => `y${i}`),
    );
    const seen: string[] = [];
    let allSeen!: () => void;
    const done = new Promise<void>((resolve) => (allSeen = resolve));
    const batch = async (batchEvents: EventEnvelope[]) => {
      seen.push(...batchEvents.map((e) => e.id));
      if (seen.length === events.length) allSeen();
    };
    await bus.startConsumer(g, [NAME], handler, batch, 10);
    const seenWhenTimerRan = await new Promise<number>((resolve) => setTimeout(() => resolve(seen.length), 0));
    await done;
    expect(seenWhenTimerRan).toBeLessThan(events.length);
    expect(seen).toEqual(events.map((e) => e.id));
    // Its loop may still be between polls: stopped here, it cannot take the next tests' events (same name).
    await bus.stop();
  });

  it('hands the batch handler a whole batch in one call (one statement for 30 events); a failing batch call falls back to the single-event handler', async () => {
    const bus = makeBus();
    const g = await newGroup(bus, 'many');
    const { calls, handler } = recordingHandler(g, (e) => (e.payload as { runId: string }).runId === 'm7');
    const batches: string[][] = [];
    let failBatch = false;
    const batch = async (events: EventEnvelope[], ctx: { tx: Parameters<EventHandler>[1]['tx'] }) => {
      batches.push(events.map((e) => e.id));
      const values = sql.join(events.map((e) => sql`(${g}, ${e.id}, 1)`), sql`, `);
      await ctx.tx.execute(sql`INSERT INTO public.test_effects (group_name, event_id, attempt) VALUES ${values}`);
      if (failBatch) throw new Error('batch boom');
    };
    const events = await publish(
      bus,
      Array.from({ length: 30 }, (_, i) => `b${i}`),
    );
    recording = true;
    expect(await bus.pollOnce(g, [NAME], handler, batch)).toEqual({ handled: 30, busy: false, more: false });
    recording = false;
    expect(batches).toEqual([events.map((e) => e.id)]);
    expect(calls).toEqual([]);
    expect(statements.filter((s) => s.table === 'public.test_effects')).toHaveLength(1);
    expect(transactions).toBe(1);
    expect(await effectCount(g)).toEqual(new Map(events.map((e) => [e.id, 1])));
    expect(Number((await consumer(g)).position)).toBe(await head());

    // The batch call throws: rolled back, then event by event through the single-event handler, whose failure (m7) is retried alone.
    failBatch = true;
    batches.length = 0;
    const more = await publish(
      bus,
      Array.from({ length: 10 }, (_, i) => `m${i}`),
    );
    const r = await bus.pollOnce(g, [NAME], handler, batch);
    expect(r).toMatchObject({ handled: 7, busy: false, more: false });
    expect(batches).toHaveLength(1);
    expect(calls.map((c) => c.id)).toEqual(more.slice(0, 8).map((e) => e.id));
    const counts = await effectCount(g);
    for (const e of more.slice(0, 7)) expect(counts.get(e.id)).toBe(1);
    expect(counts.has(more[7]!.id)).toBe(false);
  });

  it('a group with a batch handler gets each batch transaction\'s claimed events in one call; when it throws, the batch is delivered event by event', async () => {
    const bus = makeBus({ txMaxEvents: 4 });
    const g = await newGroup(bus, 'batchfn');
    const { calls, handler } = recordingHandler(g, (e, attempt) => (e.payload as { runId: string }).runId === 'b5' && attempt === 1);
    const batches: string[][] = [];
    let failBatch = true;
    const batch = async (events: EventEnvelope[], ctx: { tx: Parameters<EventHandler>[1]['tx'] }) => {
      batches.push(events.map((e) => e.id));
      for (const e of events) await ctx.tx.execute(sql`INSERT INTO public.test_effects (group_name, event_id, attempt) VALUES (${g}, ${e.id}, 0)`);
      if (failBatch && events.some((e) => (e.payload as { runId: string }).runId === 'b5')) throw new Error('batch boom');
    };
    const events = await publish(
      bus,
      Array.from({ length: 7 }, (_, i) => `b${i}`),
    );
    const ids = events.map((e) => e.id);
    // A duplicate id already delivered is not handed to the batch handler again.
    await database.query('INSERT INTO kernel.event_deliveries (group_name, event_id) VALUES ($1, $2)', [g, ids[1]]);

    const r = await bus.pollOnce(g, [NAME], handler, batch);
    // Chunk 1 (b0..b3) in one call, b1 left out; chunk 2 (b4..b6) threw and was rolled back, then re-run
    // through the per-event handler up to the failure: b4 committed, b5 failed its attempt 1.
    expect(batches).toEqual([[ids[0], ids[2], ids[3]], [ids[4], ids[5], ids[6]]]);
    expect(calls.map((c) => c.id)).toEqual([ids[4], ids[5]]);
    expect(r).toMatchObject({ handled: 4, busy: false, retryInMs: 1000 });
    expect(await effectCount(g)).toEqual(new Map([[ids[0], 1], [ids[2], 1], [ids[3], 1], [ids[4], 1]]));

    failBatch = false;
    const r2 = await bus.pollOnce(g, [NAME], handler, batch);
    expect(r2).toMatchObject({ handled: 2, busy: false });
    expect(batches.at(-1)).toEqual([ids[5], ids[6]]);
    expect(await effectCount(g)).toEqual(new Map(ids.filter((_, i) => i !== 1).map((id) => [id, 1])));
    expect(Number((await consumer(g)).position)).toBe(await head());
  });

  it('a handler failing at event k: earlier events stay committed once, k is rolled back, later ones wait; the retry handles k and the rest exactly once', async () => {
    const bus = makeBus();
    const g = await newGroup(bus, 'fail');
    const labels = ['e0', 'e1', 'e2', 'e3', 'e4', 'e5'];
    const { calls, handler } = recordingHandler(g, (e, attempt) => (e.payload as { runId: string }).runId === 'e2' && attempt === 1);
    const events = await publish(bus, labels);
    const ids = events.map((e) => e.id);
    const before = Number((await consumer(g)).position);

    const r1 = await bus.pollOnce(g, [NAME], handler);
    expect(r1).toEqual({ handled: 2, busy: false, more: false, retryInMs: 1000 });
    // Effects: e0 and e1 once each; e2's own write rolled back; e3.. not handled yet.
    expect(await effectCount(g)).toEqual(new Map([[ids[0], 1], [ids[1], 1]]));
    expect(await deliveries(g)).toEqual([ids[0], ids[1]].sort());
    const c1 = await consumer(g);
    expect(Number(c1.position)).toBe((await positionOf(ids[2]!)) - 1);
    expect(Number(c1.position)).toBeGreaterThan(before);
    expect(c1).toMatchObject({ failing_event_id: ids[2], failing_attempts: 1, last_error: 'boom e2' });
    // e2's handler ran once for attempt 1 (the fallback books the batch's failure, it does not call it again);
    // nothing after e2 was called. The batch ran, rolled back, and e0, e1 were redelivered one transaction each.
    expect(calls.filter((c) => c.id === ids[2])).toEqual([{ id: ids[2], attempt: 1 }]);
    expect(calls.some((c) => ids.slice(3).includes(c.id))).toBe(false);
    expect(transactions).toBe(3);

    calls.length = 0;
    transactions = 0;
    const r2 = await bus.pollOnce(g, [NAME], handler);
    expect(r2).toEqual({ handled: 4, busy: false, more: false });
    expect(transactions).toBe(1);
    expect(calls).toEqual(ids.slice(2).map((id) => ({ id, attempt: id === ids[2] ? 2 : 1 })));
    expect(await effectCount(g)).toEqual(new Map(ids.map((id) => [id, 1])));
    expect((await effects(g)).find((e) => e.event_id === ids[2])?.attempt).toBe(2);
    expect(await deliveries(g)).toEqual([...ids].sort());
    const c2 = await consumer(g);
    expect(c2).toMatchObject({ failing_event_id: null, failing_attempts: 0, last_error: null });
    expect(Number(c2.position)).toBe(await head());
  });

  it('dead-letters an event after the last attempt and delivers the rest of the batch in batch mode', async () => {
    const bus = makeBus({ maxAttempts: 2 });
    const g = await newGroup(bus, 'dead');
    const { calls, handler } = recordingHandler(g, (e) => (e.payload as { runId: string }).runId === 'p1');
    const events = await publish(bus, ['p0', 'p1', 'p2', 'p3']);
    const ids = events.map((e) => e.id);
    expect(await bus.pollOnce(g, [NAME], handler)).toMatchObject({ handled: 1, retryInMs: 1000 });
    transactions = 0;
    expect(await bus.pollOnce(g, [NAME], handler)).toEqual({ handled: 2, busy: false, more: false });
    // Batch (p1 fails, rolled back), dead-letter transaction for p1, batch for p2 and p3.
    expect(transactions).toBe(3);
    expect(calls.filter((c) => c.id === ids[1]).map((c) => c.attempt)).toEqual([1, 2]);
    expect(await effectCount(g)).toEqual(new Map([[ids[0], 1], [ids[2], 1], [ids[3], 1]]));
    const dead = await database.query<{ event_id: string; attempts: number; error: string }>('SELECT event_id, attempts, error FROM kernel.event_dead_letters WHERE group_name = $1', [g]);
    expect(dead).toEqual([{ event_id: ids[1], attempts: 2, error: 'boom p1' }]);
    expect(await consumer(g)).toMatchObject({ failing_event_id: null, failing_attempts: 0 });
    expect(Number((await consumer(g)).position)).toBe(await head());
  });

  it('skips events already delivered to the group (redelivery) and handles an event id twice in one batch once', async () => {
    // The offset is rewound behind the bus's back below: renew (and read it) every poll.
    const bus = makeBus({ renewAfterMs: 0 });
    const g = await newGroup(bus, 'dup');
    const { calls, handler } = recordingHandler(g);
    const events = await publish(bus, ['d0', 'd1', 'd2']);
    const ids = events.map((e) => e.id);
    // d1 was delivered before (say by a replica that crashed before moving the offset).
    await database.query('INSERT INTO kernel.event_deliveries (group_name, event_id) VALUES ($1, $2)', [g, ids[1]]);
    expect(await bus.pollOnce(g, [NAME], handler)).toEqual({ handled: 2, busy: false, more: false });
    expect(calls.map((c) => c.id)).toEqual([ids[0], ids[2]]);

    // The whole log again (offset rewound): nothing is handled twice.
    await database.query('UPDATE kernel.event_consumers SET position = $2 WHERE group_name = $1', [g, (await positionOf(ids[0]!)) - 1]);
    expect(await bus.pollOnce(g, [NAME], handler)).toEqual({ handled: 0, busy: false, more: false });
    expect(calls).toHaveLength(2);
    expect(Number((await consumer(g)).position)).toBe(await head());

    // The same event id twice in one batch (the outbox's unique id is dropped here to let it happen).
    await database.query('ALTER TABLE kernel.outbox DROP CONSTRAINT IF EXISTS outbox_id_key');
    const twice = randomUUID();
    await publish(bus, ['t0', 't1', 't2'], [randomUUID(), twice, twice]);
    calls.length = 0;
    expect(await bus.pollOnce(g, [NAME], handler)).toEqual({ handled: 2, busy: false, more: false });
    expect(calls.filter((c) => c.id === twice)).toHaveLength(1);
    expect((await effectCount(g)).get(twice)).toBe(1);
  });

  it('no replica takes a group over in the middle of a batch: the batch holds the group row from its first statement (PostgreSQL: a takeover is told busy at once)', async () => {
    const bus = makeBus();
    const other = makeBus();
    const g = await newGroup(bus, 'lease');
    expect(await bus.pollOnce(g, [NAME], recordingHandler(g).handler)).toEqual({ handled: 0, busy: false, more: false });
    // The lease has run out in the database while this replica's copy is still fresh (a stalled process).
    await database.query("UPDATE kernel.event_consumers SET lease_until = now() - interval '1 minute' WHERE group_name = $1", [g]);
    const events = await publish(bus, ['l0', 'l1', 'l2', 'l3']);
    const ids = events.map((e) => e.id);
    const { calls, handler: record } = recordingHandler(g);
    let takeover: unknown;
    const handler: EventHandler = async (e, ctx) => {
      await record(e, ctx);
      // While l2 is handled another replica tries to take the expired lease (PGlite has one connection: no one else can).
      if (TEST_DB === 'postgres' && e.id === ids[2]) takeover = await other.pollOnce(g, [NAME], recordingHandler(g).handler);
    };
    expect(await bus.pollOnce(g, [NAME], handler)).toEqual({ handled: 4, busy: false, more: false });
    if (TEST_DB === 'postgres') expect(takeover).toEqual({ handled: 0, busy: true, more: false });
    expect(calls.map((c) => c.id)).toEqual(ids);
    expect(await effectCount(g)).toEqual(new Map(ids.map((id) => [id, 1])));
    expect(Number((await consumer(g)).position)).toBe(await head());
    // Once the batch committed, the expired lease can be taken over.
    expect(await other.pollOnce(g, [NAME], handler)).toEqual({ handled: 0, busy: false, more: false });
    expect((await consumer(g)).owner).not.toBeNull();
    expect(await bus.pollOnce(g, [NAME], handler)).toEqual({ handled: 0, busy: false, more: false });
    const more = await publish(bus, ['l4']);
    expect(await bus.pollOnce(g, [NAME], handler)).toEqual({ handled: 0, busy: true, more: false });
    expect(await other.pollOnce(g, [NAME], handler)).toEqual({ handled: 1, busy: false, more: false });
    expect(calls.at(-1)!.id).toBe(more[0]!.id);
  });

  it('caps a batch transaction by event count and by time (injected clock); claims of events not reached are given back', async () => {
    const bus = makeBus({ txMaxEvents: 3, txMaxMs: 100 });
    const g = await newGroup(bus, 'cap');
    const { calls, handler: record } = recordingHandler(g);
    const events = await publish(bus, ['k0', 'k1', 'k2', 'k3', 'k4', 'k5', 'k6']);
    const ids = events.map((e) => e.id);
    const slow = new Set([ids[3], ids[4]]);
    const handler: EventHandler = async (e, ctx) => {
      await record(e, ctx);
      if (slow.has(e.id)) clock.advance(60);
    };
    expect(await bus.pollOnce(g, [NAME], handler)).toEqual({ handled: 7, busy: false, more: false });
    // [k0 k1 k2] by count, [k3 k4] by time (120 ms after k4, k5 given back), [k5 k6].
    expect(transactions).toBe(3);
    expect(calls.map((c) => c.id)).toEqual(ids);
    expect(await deliveries(g)).toEqual([...ids].sort());
    expect(await effectCount(g)).toEqual(new Map(ids.map((id) => [id, 1])));
    expect(Number((await consumer(g)).position)).toBe(await head());
  });

  it('a batch stopped by time leaves the offset at the last event it delivered (not where its first statement put it)', async () => {
    const bus = makeBus({ txMaxEvents: 3, txMaxMs: 100 });
    const g = await newGroup(bus, 'capoffset');
    const { calls, handler: record } = recordingHandler(g, (e, attempt) => e.id === ids[2] && attempt === 1);
    const events = await publish(bus, ['q0', 'q1', 'q2', 'q3']);
    const ids = events.map((e) => e.id);
    const handler: EventHandler = async (e, ctx) => {
      if (e.id === ids[1]) clock.advance(150);
      await record(e, ctx);
    };
    // [q0 q1] by time (q2's claim given back, the offset set back to q1), then [q2 q3] where q2 fails and waits.
    expect(await bus.pollOnce(g, [NAME], handler)).toMatchObject({ handled: 2, busy: false, retryInMs: 1000 });
    expect(await consumer(g)).toMatchObject({ failing_event_id: ids[2], failing_attempts: 1 });
    expect(Number((await consumer(g)).position)).toBe((await positionOf(ids[2]!)) - 1);
    // Had the offset stayed at q2 (where the first batch's first statement put it), q2 would be skipped now.
    expect(await bus.pollOnce(g, [NAME], handler)).toEqual({ handled: 2, busy: false, more: false });
    expect(calls.filter((c) => c.id === ids[2]).map((c) => c.attempt)).toEqual([1, 2]);
    expect(await effectCount(g)).toEqual(new Map(ids.map((id) => [id, 1])));
  });

  it('reads batchSize events per poll and says there are more; the offset stops at the last one read', async () => {
    const bus = makeBus({ batchSize: 4, txMaxEvents: 10 });
    const g = await newGroup(bus, 'more');
    const { handler } = recordingHandler(g);
    const events = await publish(bus, ['m0', 'm1', 'm2', 'm3', 'm4']);
    expect(await bus.pollOnce(g, [NAME], handler)).toEqual({ handled: 4, busy: false, more: true });
    expect(Number((await consumer(g)).position)).toBe(await positionOf(events[3]!.id));
    expect(await bus.pollOnce(g, [NAME], handler)).toEqual({ handled: 1, busy: false, more: false });
    expect(Number((await consumer(g)).position)).toBe(await head());
    expect(await bus.pollOnce(g, [NAME], handler)).toEqual({ handled: 0, busy: false, more: false });
  });

  it('falls back to per-event delivery when a handler leaves the transaction broken: the culprit fails, not its neighbours', async () => {
    const bus = makeBus();
    const g = await newGroup(bus, 'broken');
    const events = await publish(bus, ['b0', 'b1', 'b2']);
    const ids = events.map((e) => e.id);
    const { calls, handler: record } = recordingHandler(g);
    const handler: EventHandler = async (e, ctx) => {
      await record(e, ctx);
      // b1 swallows a failed statement: without a savepoint of its own the transaction is aborted.
      if (e.id === ids[1] && ctx.attempt === 1) await ctx.tx.execute(sql`SELECT 1 / 0`).catch(() => {});
    };
    const r = await bus.pollOnce(g, [NAME], handler);
    expect(r).toMatchObject({ handled: 1, busy: false, retryInMs: 1000 });
    expect(await effectCount(g)).toEqual(new Map([[ids[0], 1]]));
    expect(await consumer(g)).toMatchObject({ failing_event_id: ids[1], failing_attempts: 1 });
    // b2 was called in the batch (and failed on the aborted transaction) but never in per-event mode.
    expect(calls.filter((c) => c.id === ids[2])).toHaveLength(1);
    expect(await bus.pollOnce(g, [NAME], handler)).toEqual({ handled: 2, busy: false, more: false });
    expect(await effectCount(g)).toEqual(new Map(ids.map((id) => [id, 1])));
  });

  it('jumps the offset to the head when no event of the group is left, and reports another replica holding the group as busy', async () => {
    const bus = makeBus();
    const other = makeBus();
    const g = await newGroup(bus, 'jump');
    const { handler } = recordingHandler(g);
    await outbox.publish({ name: 'workflow.run.succeeded.v1', workspaceId: null, payload: { runId: 'x', workflowId: 'w', workflowVersion: 1, durationMs: 1 } });
    await bus.relayOnce();
    expect(await bus.pollOnce(g, [NAME], handler)).toEqual({ handled: 0, busy: false, more: false });
    expect(Number((await consumer(g)).position)).toBe(await head());
    expect(await other.pollOnce(g, [NAME], handler)).toEqual({ handled: 0, busy: true, more: false });
  });
  describe('one outbox read shared by the groups of a process (ADR 0096)', () => {
    /** Publishes events alternating NAME (even i) and SUCCEEDED (odd i), relays them; returns them in log order. */
    const publishMixed = async (bus: PostgresBus, prefix: string, n: number, from = 0) => {
      const out: EventEnvelope[] = [];
      for (let i = from; i < from + n; i++) {
        const runId = `${prefix}${i}`;
        const e = i % 2 === 0 ? { name: NAME, workspaceId: null, payload: started(runId) } : { name: SUCCEEDED, workspaceId: null, payload: { runId, workflowId: 'wf-1', workflowVersion: 1, durationMs: 1 } };
        out.push((await outbox.publish(e as never)) as EventEnvelope);
      }
      await bus.relayOnce();
      return out;
    };
    const outboxReads = () => statements.filter((s) => s.queryType === 'select' && s.table === 'kernel.outbox').length;
    const ids = (events: EventEnvelope[]) => events.map((e) => e.id);

    it('groups woken together by the relay share one read; each gets the events of its own names after its own offset, in log order', async () => {
      const bus = makeBus({ pollMs: 60_000 });
      const groups = [
        { g: await newGroup(bus, 'share-started'), names: [NAME] },
        { g: await newGroup(bus, 'share-both'), names: [NAME, SUCCEEDED] },
        { g: await newGroup(bus, 'share-succeeded'), names: [SUCCEEDED] },
      ].map((x) => ({ ...x, ...recordingHandler(x.g) }));
      // Each group's lease taken by an idle poll; the loops then sleep until woken (as after a relay run that found nothing).
      for (const x of groups) expect(await bus.pollOnce(x.g, x.names as never, x.handler)).toEqual({ handled: 0, busy: false, more: false });
      for (const x of groups) await bus.startConsumer(x.g, x.names as never, x.handler, undefined, undefined, 60_000);
      const events = await publishMixed(bus, 'share', 7);
      const h = await head();
      statements = [];
      recording = true;
      bus.wakeAll();
      await waitFor(async () => (await Promise.all(groups.map((x) => consumer(x.g)))).every((c) => Number(c.position) === h), { what: 'every group at the head' });
      recording = false;
      expect(outboxReads()).toBe(1);
      expect(groups[0]!.calls.map((c) => c.id)).toEqual(ids(events.filter((e) => e.name === NAME)));
      expect(groups[1]!.calls.map((c) => c.id)).toEqual(ids(events));
      expect(groups[2]!.calls.map((c) => c.id)).toEqual(ids(events.filter((e) => e.name === SUCCEEDED)));
      for (const x of groups) expect(await deliveries(x.g)).toEqual([...new Set(x.calls.map((c) => c.id))].sort());
      await bus.stop();
    });

    it('a group far behind another gets every event once and in order, and the group ahead is not held back by it', async () => {
      const bus = makeBus({ batchSize: 10, txMaxEvents: 10 });
      const behind = { g: await newGroup(bus, 'behind'), names: [NAME, SUCCEEDED] };
      const odd = { g: await newGroup(bus, 'odd'), names: [SUCCEEDED] };
      const ahead = { g: await newGroup(bus, 'ahead'), names: [NAME, SUCCEEDED] };
      const groups = [behind, odd, ahead].map((x) => ({ ...x, ...recordingHandler(x.g) }));
      const poll = (x: (typeof groups)[number]) => bus.pollOnce(x.g, x.names as never, x.handler);
      for (const x of groups) expect(await poll(x)).toEqual({ handled: 0, busy: false, more: false });
      const first = await publishMixed(bus, 'far', 24);
      // The group ahead consumes these on its own first.
      while ((await poll(groups[2]!)).more);
      const events = [...first, ...(await publishMixed(bus, 'far', 4, 24))];
      const readsPerRound: number[] = [];
      for (;;) {
        statements = [];
        recording = true;
        const results = await Promise.all(groups.map(poll));
        recording = false;
        readsPerRound.push(outboxReads());
        expect(results.every((r) => !r.busy && r.retryInMs === undefined)).toBe(true);
        if (!results.some((r) => r.more)) break;
      }
      // Round 1: one read from the group behind (full at its 10th row); the group ahead, past all of it,
      // reads on its own and gets its 4 new events at once. Then one shared read per round.
      expect(readsPerRound).toEqual([2, 1, 1]);
      expect(groups[0]!.calls.map((c) => c.id)).toEqual(ids(events));
      expect(groups[1]!.calls.map((c) => c.id)).toEqual(ids(events.filter((e) => e.name === SUCCEEDED)));
      expect(groups[2]!.calls.map((c) => c.id)).toEqual(ids(events));
      const h = await head();
      for (const x of groups) {
        expect(Number((await consumer(x.g)).position)).toBe(h);
        expect(await effectCount(x.g)).toEqual(new Map(x.calls.map((c) => [c.id, 1])));
      }
    });

    it('after a crash a new replica resumes each group where it stopped (a failing group at its failing event); the crashed one commits nothing', async () => {
      const crashed = makeBus();
      const ok = { g: await newGroup(crashed, 'resume-ok') };
      const failing = { g: await newGroup(crashed, 'resume-fail') };
      const okH = recordingHandler(ok.g);
      const failH = recordingHandler(failing.g, (e, attempt) => (e.payload as { runId: string }).runId === 'k2' && attempt === 1);
      const events = await publish(crashed, ['k0', 'k1', 'k2', 'k3', 'k4']);
      const [r1ok, r1fail] = await Promise.all([crashed.pollOnce(ok.g, [NAME], okH.handler), crashed.pollOnce(failing.g, [NAME], failH.handler)]);
      expect(r1ok).toEqual({ handled: 5, busy: false, more: false });
      expect(r1fail).toEqual({ handled: 2, busy: false, more: false, retryInMs: 1000 });
      // The replica dies without giving its leases back; they run out.
      await database.query(`UPDATE kernel.event_consumers SET lease_until = now() - interval '1 second' WHERE group_name IN ($1, $2)`, [ok.g, failing.g]);
      const restarted = makeBus();
      const later = await publish(restarted, ['k5', 'k6']);
      const [r2ok, r2fail] = await Promise.all([restarted.pollOnce(ok.g, [NAME], okH.handler), restarted.pollOnce(failing.g, [NAME], failH.handler)]);
      expect(r2ok).toEqual({ handled: 2, busy: false, more: false });
      expect(r2fail).toEqual({ handled: 5, busy: false, more: false });
      // The crashed replica, still thinking its leases fresh, polls both together: nothing claimed, nothing handled.
      const more = await publish(restarted, ['k7']);
      expect(await Promise.all([crashed.pollOnce(ok.g, [NAME], okH.handler), crashed.pollOnce(failing.g, [NAME], failH.handler)])).toEqual([
        { handled: 0, busy: true, more: false },
        { handled: 0, busy: true, more: false },
      ]);
      statements = [];
      recording = true;
      expect(await Promise.all([restarted.pollOnce(ok.g, [NAME], okH.handler), restarted.pollOnce(failing.g, [NAME], failH.handler)])).toEqual([
        { handled: 1, busy: false, more: false },
        { handled: 1, busy: false, more: false },
      ]);
      recording = false;
      expect(outboxReads()).toBe(1);
      const all = ids([...events, ...later, ...more]);
      expect(okH.calls.map((c) => c.id)).toEqual(all);
      expect(failH.calls.filter((c) => c.id === all[2]).map((c) => c.attempt)).toEqual([1, 2]);
      for (const g of [ok.g, failing.g]) {
        expect(await effectCount(g)).toEqual(new Map(all.map((id) => [id, 1])));
        expect(await deliveries(g)).toEqual([...all].sort());
        expect(await consumer(g)).toMatchObject({ failing_event_id: null, failing_attempts: 0 });
        expect(Number((await consumer(g)).position)).toBe(await head());
      }
    });
  });
});
