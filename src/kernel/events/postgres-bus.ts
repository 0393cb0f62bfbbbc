import { randomUUID } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import { setImmediate as nextTurn } from 'node:timers/promises';
import { sql } from 'drizzle-orm';
import { systemClock, type Clock } from '../clock.js';
import type { Db, DbExecutor } from '../db/database.js';
import type { Logger } from '../telemetry/logger.js';
import type { EventName } from './catalog.js';
import type { BatchEventHandler, EventHandler } from './envelope.js';
import { deliverOnce, errorText, recordDeadLetter, releaseClaims } from './deliver.js';
import { envelopeOf, RELAY_LOCK_KEY, rowsOf, type OutboxRow } from './outbox.js';

/** An outbox row as a consumer's read returns it. */
type PolledRow = Omit<OutboxRow, 'seq'>;

export interface BusAdapter {
  readonly kind: 'postgres' | 'kafka';
  /** Most outbox rows one relayOnce() moves onto the bus. */
  readonly relayMax: number;
  /** Moves committed outbox rows onto the bus; returns how many. No-op when another replica holds the relay lock. */
  relayOnce(): Promise<number>;
  /** Starts consuming for a group (background). */
  /** `batchMax`: most events per batch transaction for this group's batch handler (postgres bus; default its txMaxEvents). */
  /** `firstPollInMs` (postgres bus): the loop's first poll that long after the start, or sooner when woken (default: at once). */
  startConsumer(group: string, names: EventName[], handler: EventHandler, batch?: BatchEventHandler, batchMax?: number, firstPollInMs?: number): Promise<void>;
  stop(): Promise<void>;
  /** Unconsumed events per group subscribed in this process. */
  lag(): Promise<Map<string, number>>;
  /** Makes lag() report a group before (or without) its consumer running here. */
  track(group: string, names: EventName[]): void;
  /** Throws while the bus cannot be reached (for /ready); absent where the database probe covers it. */
  ping?(): Promise<void>;
}

export interface PollResult {
  /** Events handed to the handler (duplicates excluded). */
  handled: number;
  /** Another replica holds the group right now. */
  busy: boolean;
  /** A handler failed: wait this long before polling again. */
  retryInMs?: number;
  /** A full batch was read: poll again at once. */
  more: boolean;
}

class LeaseLost extends Error {
  constructor(group: string) {
    super(`lease on consumer group ${group} was taken over by another replica`);
  }
}

/** A handler threw inside a batch transaction (which is therefore rolled back). */
class HandlerFailed extends Error {
  constructor(
    /** Index of the failing row in the batch. */
    readonly index: number,
    readonly eventId: string,
    readonly error: unknown,
  ) {
    super(`handler failed for event ${eventId}: ${errorText(error)}`);
  }
}

/** A group's batch handler threw (the batch transaction is rolled back and re-run event by event). */
class BatchHandlerFailed extends Error {
  constructor(readonly error: unknown) {
    super(`batch handler failed: ${errorText(error)}`);
  }
}

/** A group's share of an outbox read (see PostgresBus.read). */
interface GroupRead {
  head: number;
  rows: PolledRow[];
  cover: number | undefined;
}

interface ReadRequest {
  from: number;
  names: EventName[];
  readMax: number;
  resolve: (r: GroupRead) => void;
  reject: (err: unknown) => void;
}

interface PollContext {
  group: string;
  handler: EventHandler;
  /** The group's batch handler, when it has one: called once per batch transaction instead of `handler` per event. */
  batch?: BatchEventHandler;
  /** The group's offset when the poll began (a retry never moves it back past this). */
  from: number;
  /** The attempt number an event's delivery in this poll is. */
  attemptOf: (eventId: string) => number;
}

export interface PostgresBusOptions {
  db: Db;
  logger: Logger;
  pollMs: number;
  maxAttempts: number;
  batchSize?: number;
  retryDelayMs: (attempt: number) => number;
  /** How long a replica owns a group without renewing (a dead replica's groups move after this). */
  leaseMs?: number;
  /** Most events delivered in one batch transaction (default 50). */
  txMaxEvents?: number;
  /** A batch transaction commits after its handlers ran this long (default 100 ms), even with events left. */
  txMaxMs?: number;
  /** Time source of txMaxMs (default: the system clock). */
  clock?: Clock;
  /**
   * A poll renews the group's lease only when the last renewal is this old (default a third of
   * leaseMs; 0: every poll). In between the owner reads its offset from memory: it is the only writer
   * of the group's row while it holds the lease, and every write is fenced on `owner` anyway.
   */
  renewAfterMs?: number;
}

/** What the owner of a group knows of its row while its lease is fresh (it is the only writer then). */
interface HeldLease {
  /** performance.now() just before the renewing UPDATE was sent (lease_until is at least leaseMs after it). */
  renewedAt: number;
  position: number;
  failingEventId: string | null;
  failingAttempts: number;
}

/**
 * The default bus: the outbox table is the log. Offsets per consumer group live in
 * kernel.event_consumers; a replica processes a group only while it holds that group's lease, so
 * replicas never process one group's events concurrently and a crashed replica's groups move to
 * another replica when its lease runs out.
 */
export class PostgresBus implements BusAdapter {
  readonly kind = 'postgres' as const;
  readonly relayMax = 1000;
  private readonly loops = new Map<string, { stop: boolean; pending: boolean; wake: () => void; done: Promise<void> }>();
  private readonly batchSize: number;
  private readonly leaseMs: number;
  private readonly txMaxEvents: number;
  private readonly txMaxMs: number;
  private readonly clock: Clock;
  private readonly replicaId = randomUUID();
  private readonly renewAfterMs: number;
  /** Groups whose lease this replica renewed lately, with their offset as this replica last wrote it. */
  private readonly leases = new Map<string, HeldLease>();
  /** Groups subscribed in this process (lag is reported for these, running or not). */
  private readonly known = new Set<string>();
  /** Reads asked for in this turn of the event loop, sent together as one (see read()). */
  private reads: ReadRequest[] = [];
  /** Each group's names as a set (keyed by the group's names array, the same one every poll). */
  private readonly nameSets = new WeakMap<EventName[], Set<string>>();

  constructor(private readonly o: PostgresBusOptions) {
    this.batchSize = o.batchSize ?? 200;
    this.leaseMs = o.leaseMs ?? 15_000;
    this.txMaxEvents = Math.max(1, o.txMaxEvents ?? 50);
    this.txMaxMs = o.txMaxMs ?? 100;
    this.clock = o.clock ?? systemClock;
    this.renewAfterMs = Math.min(o.renewAfterMs ?? this.leaseMs / 3, this.leaseMs / 2);
  }

  track(group: string): void {
    this.known.add(group);
  }

  async relayOnce(): Promise<number> {
    // Idle (most polls): one indexed read instead of BEGIN, the lock, the UPDATE and COMMIT. A row
    // committed just after this read is stamped by the next relay run, as one committed after the UPDATE would be.
    const [pending] = rowsOf<{ any: boolean }>(await this.o.db.execute(sql`SELECT EXISTS (SELECT 1 FROM kernel.outbox WHERE published_at IS NULL) AS any`));
    if (!pending?.any) return 0;
    return this.o.db.transaction(async (tx) => {
      const [lock] = rowsOf<{ ok: boolean }>(await tx.execute(sql`SELECT pg_try_advisory_xact_lock(${RELAY_LOCK_KEY}) AS ok`));
      if (!lock?.ok) return 0;
      const stamped = rowsOf<{ seq: string }>(
        await tx.execute(sql`
          WITH next AS (
            SELECT seq FROM kernel.outbox WHERE published_at IS NULL ORDER BY seq LIMIT ${this.relayMax} FOR UPDATE
          )
          UPDATE kernel.outbox o SET position = nextval('kernel.outbox_position_seq'), published_at = now()
          FROM next WHERE o.seq = next.seq RETURNING o.seq`),
      );
      return stamped.length;
    });
  }

  /** Wakes every consumer loop in this process (after the relay stamped new positions). */
  wakeAll(): void {
    for (const l of this.loops.values()) l.wake();
  }

  async startConsumer(group: string, names: EventName[], handler: EventHandler, batch?: BatchEventHandler, batchMax?: number, firstPollInMs = 0): Promise<void> {
    if (this.loops.has(group)) throw new Error(`consumer group ${group} is already running in this process`);
    await this.ensureGroup(group);
    this.known.add(group);
    let wake = () => {};
    const state = {
      stop: false,
      // A wake-up that arrives while a poll runs is remembered, so the loop polls again instead of sleeping.
      pending: false,
      wake: () => {
        state.pending = true;
        wake();
      },
      done: Promise.resolve(),
    };
    this.loops.set(group, state);
    // Waits ms, or less when the group is woken (a relay found its events, or stop()).
    const sleepUnlessWoken = (ms: number) =>
      new Promise<void>((resolve) => {
        const t = setTimeout(resolve, ms);
        wake = () => {
          clearTimeout(t);
          resolve();
        };
      }).finally(() => {
        wake = () => {};
      });
    state.done = (async () => {
      // A serving process starts its loops as if each had just polled (ADR 0092): the first poll
      // comes a poll period later, or at once when a relay wakes the group (an event committed here),
      // so the start's readiness checks do not queue behind every group's first read on PGlite's one
      // connection. The group is registered (above) before this returns either way.
      if (firstPollInMs > 0) {
        await sleepUnlessWoken(firstPollInMs);
      }
      while (!state.stop) {
        let waitMs = this.o.pollMs;
        state.pending = false;
        try {
          const r = await this.pollOnce(group, names, handler, batch, batchMax);
          if (r.more) waitMs = 0;
          if (r.retryInMs !== undefined) waitMs = r.retryInMs;
        } catch (err) {
          this.o.logger.error({ err, group }, 'event consumer poll failed');
        }
        if (state.stop) break;
        if (waitMs <= 0 || (state.pending && waitMs === this.o.pollMs)) {
          // Polling again at once: let the event loop run first. On PGlite every statement resolves
          // as a microtask, so a loop that never waits on a timer or I/O would keep HTTP requests and
          // timers from running until the whole backlog was consumed (ADR 0083).
          await nextTurn();
        } else {
          await sleepUnlessWoken(waitMs);
        }
      }
    })();
  }

  async ensureGroup(group: string): Promise<void> {
    await this.o.db.execute(sql`INSERT INTO kernel.event_consumers (group_name) VALUES (${group}) ON CONFLICT DO NOTHING`);
  }

  /**
   * Processes one batch for a group. The group is held through a lease (owner + lease_until, renewed
   * once a third of its TTL has passed) rather than a row lock held across polls, and the rows read are delivered in
   * batch transactions of at most `txMaxEvents` events / `txMaxMs` (so a PGlite transaction, which
   * holds the only connection, stays short). A batch transaction moves the offset (only while this
   * replica still owns the lease: fencing) and claims every delivery row in one statement, then runs
   * the handlers on the transaction itself (no savepoints): a replica that lost its lease claims
   * nothing and calls no handler. When a handler throws, the batch is
   * rolled back and re-run in the per-event mode (one transaction per event, as before batching) up
   * to the failing event, whose failure is then booked without calling its handler again. With a
   * batch handler and `batchMax`, up to `batchMax` events go to one batch transaction (and a poll
   * reads at least that many).
   */
  async pollOnce(group: string, names: EventName[], handler: EventHandler, batch?: BatchEventHandler, batchMax?: number): Promise<PollResult> {
    try {
      return await this.poll(group, names, handler, batch, batchMax);
    } catch (err) {
      // Whatever went wrong, the next poll renews the lease and reads the offset from the database again.
      this.leases.delete(group);
      throw err;
    }
  }

  /** The group's lease: renewed (and the offset read) when the last renewal is older than renewAfterMs, else from memory. */
  private async lease(group: string): Promise<HeldLease | undefined> {
    const held = this.leases.get(group);
    if (held && performance.now() - held.renewedAt < this.renewAfterMs) return held;
    const renewedAt = performance.now();
    const [g] = rowsOf<{ position: string; failing_event_id: string | null; failing_attempts: number }>(
      await this.o.db.execute(sql`
        UPDATE kernel.event_consumers
        SET owner = ${this.replicaId}, lease_until = now() + make_interval(secs => ${this.leaseMs / 1000}), updated_at = now()
        WHERE group_name = (
          -- A row locked by the owner's batch transaction is busy: skip it rather than wait for that batch.
          SELECT group_name FROM kernel.event_consumers
          WHERE group_name = ${group} AND (owner IS NULL OR owner = ${this.replicaId} OR lease_until < now()) FOR UPDATE SKIP LOCKED
        )
        RETURNING position, failing_event_id, failing_attempts`),
    );
    if (!g) {
      this.leases.delete(group);
      return undefined;
    }
    const lease: HeldLease = { renewedAt, position: Number(g.position), failingEventId: g.failing_event_id, failingAttempts: g.failing_attempts };
    this.leases.set(group, lease);
    return lease;
  }

  /** Books an offset write that committed (the in-memory copy follows the row: greatest(), failure fields replaced). */
  private moved(group: string, position: number, failure: { eventId: string; attempts: number } | null): void {
    const held = this.leases.get(group);
    if (!held) return;
    held.position = Math.max(held.position, position);
    held.failingEventId = failure?.eventId ?? null;
    held.failingAttempts = failure?.attempts ?? 0;
  }

  private async poll(group: string, names: EventName[], handler: EventHandler, batch?: BatchEventHandler, batchMax?: number): Promise<PollResult> {
    const db = this.o.db;
    const g = await this.lease(group);
    if (!g) return { handled: 0, busy: true, more: false };
    const from = g.position;
    const failing = { id: g.failingEventId, attempts: g.failingAttempts };
    const perTx = batch && batchMax ? Math.max(1, batchMax) : this.txMaxEvents;
    const readMax = batch && batchMax ? Math.max(this.batchSize, perTx) : this.batchSize;
    const { head, rows, cover } = await this.read(from, names, readMax);
    if (head <= from) return { handled: 0, busy: false, more: false };
    // `cover`: every matching row up to it is in `rows`, so the last transaction may jump the offset there
    // (the head when nothing more matches; lag then reads zero and the next scan starts late). Undefined:
    // the read was full for this group, and its offset goes to the last row delivered.
    const full = cover === undefined || cover < head;
    const end = cover;
    const attemptOf = (id: string) => (failing.id === id ? failing.attempts + 1 : 1);
    const ctx: PollContext = { group, handler, batch, from, attemptOf };
    let handled = 0;
    let atEnd = false;
    let i = 0;
    while (i < rows.length) {
      const chunk = rows.slice(i, i + perTx);
      const last = i + chunk.length === rows.length;
      let r: { consumed: number; handled: number; position: number };
      try {
        r = await this.deliverBatch(ctx, chunk, last ? end : undefined);
      } catch (err) {
        if (err instanceof LeaseLost) {
          this.leases.delete(group);
          return { handled, busy: true, more: false };
        }
        // Rolled back: re-run per event up to the failing one (all of them when the failure was not a handler's).
        const upTo = err instanceof HandlerFailed ? err.index + 1 : chunk.length;
        const known = err instanceof HandlerFailed ? { eventId: err.eventId, error: err.error } : undefined;
        if (err instanceof BatchHandlerFailed) this.o.logger.warn({ err: err.error, group }, 'batch handler failed; delivering that batch event by event');
        else if (!(err instanceof HandlerFailed)) this.o.logger.warn({ err, group }, 'batch delivery failed; delivering that batch event by event');
        const step = await this.deliverEach(ctx, chunk.slice(0, upTo), known);
        handled += step.handled;
        if (step.stop) {
          if (step.stop.busy) this.leases.delete(group);
          return { ...step.stop, handled };
        }
        i += upTo;
        atEnd = false;
        continue;
      }
      this.moved(group, r.position, null);
      handled += r.handled;
      i += r.consumed;
      atEnd = end !== undefined && i === rows.length;
    }
    if (end !== undefined && !atEnd) {
      try {
        await this.advance(db, group, end, null);
        this.moved(group, end, null);
      } catch (err) {
        if (!(err instanceof LeaseLost)) throw err;
        this.leases.delete(group);
      }
    }
    return { handled, busy: false, more: full };
  }

  /**
   * The rows after `from` of the given names, up to `readMax`, with the head, in one snapshot. The
   * groups of this process that ask in the same turn of the event loop (the relay wakes them
   * together) share one read (ADR 0096): it starts at the lowest of their offsets and takes the
   * union of their names, and each group gets the rows after its own offset of its own names.
   * `cover`: every row of this group's names after `from` and up to it is among `rows` (the head
   * unless the read was full); undefined when the group's rows filled its `readMax` (the old `full`).
   */
  private read(from: number, names: EventName[], readMax: number): Promise<GroupRead> {
    return new Promise<GroupRead>((resolve, reject) => {
      this.reads.push({ from, names, readMax, resolve, reject });
      // The first request of a turn sends the read at the end of that turn, with every request made meanwhile.
      if (this.reads.length === 1) void nextTurn().then(() => this.flushReads());
    });
  }

  private async flushReads(): Promise<void> {
    const asked = this.reads.splice(0);
    try {
      const shared = await this.readRows(
        Math.min(...asked.map((a) => a.from)),
        asked.length === 1 ? asked[0]!.names : [...new Set(asked.flatMap((a) => a.names))],
        Math.max(...asked.map((a) => a.readMax)),
      );
      // A full read holds every matching row only up to its last one.
      const upTo = shared.full ? shared.positions[shared.positions.length - 1]! : shared.head;
      for (const a of asked) {
        if (upTo <= a.from && shared.head > a.from) {
          // A group past every row of a full read (another group is far behind): a read of its own.
          this.readAlone(a);
          continue;
        }
        const names = asked.length === 1 ? undefined : this.nameSet(a.names);
        const rows: PolledRow[] = [];
        for (let i = 0; i < shared.rows.length && rows.length < a.readMax; i++) {
          if (shared.positions[i]! > a.from && (!names || names.has(shared.rows[i]!.name))) rows.push(shared.rows[i]!);
        }
        a.resolve({ head: shared.head, rows, cover: rows.length === a.readMax ? undefined : upTo });
      }
    } catch (err) {
      for (const a of asked) a.reject(err);
    }
  }

  private nameSet(names: EventName[]): Set<string> {
    let set = this.nameSets.get(names);
    if (!set) this.nameSets.set(names, (set = new Set(names)));
    return set;
  }

  private readAlone(a: ReadRequest): void {
    this.readRows(a.from, a.names, a.readMax).then(
      (r) => a.resolve({ head: r.head, rows: r.rows, cover: r.full ? undefined : r.head }),
      (err: unknown) => a.reject(err),
    );
  }

  /** The head and up to `limit` rows of `names` after `from` in one statement (one snapshot). */
  private async readRows(from: number, names: EventName[], limit: number): Promise<{ head: number; rows: PolledRow[]; positions: number[]; full: boolean }> {
    const nameList = sql.join(names.map((n) => sql`${n}`), sql`, `);
    // The head and the matching rows after the offset in one statement, so one snapshot: every matching
    // row up to that head is among the rows read (unless the read is full), which is what lets the offset jump to it.
    // Only the columns an envelope needs (not seq or published_at: fewer fields and Dates parsed per row).
    const read = rowsOf<PolledRow & { bus_head: string | number }>(
      await this.o.db.execute(sql`WITH h AS (SELECT coalesce(max(position), 0) AS bus_head FROM kernel.outbox)
        SELECT h.bus_head, o.* FROM h LEFT JOIN LATERAL (
          SELECT id, name, occurred_at, workspace_id, actor_id, payload, position, traceparent FROM kernel.outbox
          WHERE position > ${from} AND position <= h.bus_head AND name IN (${nameList}) ORDER BY position LIMIT ${limit}
        ) o ON true`),
    );
    const head = Number(read[0]?.bus_head ?? 0);
    const rows: PolledRow[] = read.filter((r) => r.id !== null);
    return { head, rows, positions: rows.map((r) => Number(r.position)), full: rows.length === limit };
  }

  /**
   * One batch transaction: moves the offset (fenced on the lease) and claims the delivery rows of
   * `rows` in one statement, runs the handler for each claimed event on the transaction itself and
   * commits. The offset goes to `end` when given (every matching row up to the head is in `rows`),
   * else to the last row. The offset row stays locked by this transaction from its first statement,
   * so no replica takes the group over in the middle of a batch; a replica that lost its lease before
   * the batch claims nothing and calls no handler (LeaseLost). Stops early (and commits what it did)
   * after `txMaxMs`: the claims of the rows not reached are given back and the offset set to the last
   * row delivered. A throwing handler rolls the whole transaction back and surfaces as HandlerFailed.
   */
  private async deliverBatch(ctx: PollContext, rows: PolledRow[], end: number | undefined): Promise<{ consumed: number; handled: number; position: number }> {
    const started = this.clock.now().getTime();
    return this.o.db.transaction(async (tx) => {
      const ids = [...new Set(rows.map((r) => r.id))];
      const planned = end !== undefined ? end : Number(rows[rows.length - 1]!.position);
      const claimed = await this.advanceAndClaim(tx, ctx.group, planned, ids);
      let handled = 0;
      let consumed = 0;
      if (ctx.batch) {
        // One call for the whole chunk (no early stop): a batch handler's cost barely grows with its size.
        const events = rows.map(envelopeOf).filter((e) => claimed.delete(e.id));
        if (events.length) {
          try {
            await ctx.batch(events as never, { tx });
          } catch (err) {
            throw new BatchHandlerFailed(err);
          }
        }
        return { consumed: rows.length, handled: events.length, position: planned };
      }
      for (const row of rows) {
        const event = envelopeOf(row);
        consumed++;
        // A claim covers one delivery: a second row with the same id in this batch is a duplicate.
        if (claimed.delete(event.id)) {
          try {
            await (ctx.handler as EventHandler)(event as never, { tx, attempt: ctx.attemptOf(event.id) });
          } catch (err) {
            throw new HandlerFailed(consumed - 1, event.id, err);
          }
          handled++;
        }
        if (consumed < rows.length && this.clock.now().getTime() - started >= this.txMaxMs) break;
      }
      if (consumed === rows.length) return { consumed, handled, position: planned };
      // Stopped early: the rows not reached were claimed above but not delivered; give their claims back
      // and set the offset (moved to `planned` above, in this same transaction) back to the last row delivered.
      if (claimed.size) await releaseClaims(tx, ctx.group, [...claimed]);
      const position = Number(rows[consumed - 1]!.position);
      await tx.execute(sql`UPDATE kernel.event_consumers SET position = ${position} WHERE group_name = ${ctx.group} AND owner = ${this.replicaId}`);
      return { consumed, handled, position };
    });
  }

  /**
   * The first statement of a batch transaction: the fenced offset update (which locks the group's
   * row until commit) and the claim of the delivery rows, in one statement; the claim happens only if
   * the update did. Returns the ids claimed now (the others were delivered before); LeaseLost when
   * this replica no longer owns the group.
   */
  private async advanceAndClaim(tx: DbExecutor, group: string, position: number, eventIds: string[]): Promise<Set<string>> {
    const rows = rowsOf<{ event_id: string }>(
      await tx.execute(sql`
        WITH moved AS (
          UPDATE kernel.event_consumers SET position = greatest(position, ${position}), updated_at = now(),
            failing_event_id = NULL, failing_attempts = 0, last_error = NULL
          WHERE group_name = ${group} AND owner = ${this.replicaId} RETURNING 1
        )
        INSERT INTO kernel.event_deliveries (group_name, event_id)
        SELECT ${group}, unnest(string_to_array(${eventIds.join(',')}, ',')::uuid[]) WHERE EXISTS (SELECT 1 FROM moved)
        ON CONFLICT DO NOTHING RETURNING event_id`),
    );
    if (!rows.length) {
      // Nothing claimed: every event was delivered before (then the offset moved), or the lease is gone.
      const [c] = rowsOf<{ owner: string | null }>(await tx.execute(sql`SELECT owner FROM kernel.event_consumers WHERE group_name = ${group}`));
      if (c?.owner !== this.replicaId) throw new LeaseLost(group);
    }
    return new Set(rows.map((r) => r.event_id));
  }

  /**
   * The per-event mode (the fallback after a batch failed): one transaction per event that claims and
   * handles the event in a savepoint, then moves the offset (fenced). `known` is a failure already seen in the
   * batch for that event: it is booked as this attempt's failure without calling the handler again.
   */
  private async deliverEach(
    ctx: PollContext,
    rows: PolledRow[],
    known?: { eventId: string; error: unknown },
  ): Promise<{ handled: number; stop?: PollResult }> {
    const db = this.o.db;
    const { group } = ctx;
    let handled = 0;
    for (const row of rows) {
      const event = envelopeOf(row);
      const position = Number(row.position);
      const attempt = ctx.attemptOf(event.id);
      try {
        if (known && known.eventId === event.id) throw known.error;
        // Offset, then claim: the order of a batch transaction (whose first statement does both), so a
        // deposed owner claims nothing and calls no handler, and two transactions take their locks in one order.
        const outcome = await db.transaction(async (tx) => {
          await this.advance(tx, group, position, null);
          return deliverOnce(tx, group, event, ctx.handler, attempt);
        });
        this.moved(group, position, null);
        if (outcome === 'handled') handled++;
      } catch (err) {
        if (err instanceof LeaseLost) return { handled, stop: { handled, busy: true, more: false } };
        if (attempt >= this.o.maxAttempts) {
          this.o.logger.error({ err, group, eventId: event.id, name: event.name, attempts: attempt }, 'event handler gave up; dead-lettered');
          await db.transaction(async (tx) => {
            await this.advance(tx, group, position, null);
            await recordDeadLetter(tx, group, event, err, attempt);
          });
          this.moved(group, position, null);
          continue;
        }
        this.o.logger.warn({ err, group, eventId: event.id, name: event.name, attempt }, 'event handler failed; will retry');
        await this.advance(db, group, position - 1, { eventId: event.id, attempts: attempt, error: errorText(err) }, ctx.from);
        this.moved(group, Math.max(position - 1, ctx.from), { eventId: event.id, attempts: attempt });
        return { handled, stop: { handled, busy: false, more: false, retryInMs: this.o.retryDelayMs(attempt) } };
      }
    }
    return { handled };
  }

  /** Moves the group's offset (and failure bookkeeping) if this replica still holds the lease. */
  private async advance(
    executor: DbExecutor,
    group: string,
    position: number,
    failure: { eventId: string; attempts: number; error: string } | null,
    floor?: number,
  ): Promise<void> {
    const target = floor === undefined ? position : Math.max(position, floor);
    const updated = rowsOf<{ one: number }>(
      await executor.execute(sql`
        UPDATE kernel.event_consumers SET position = greatest(position, ${target}), updated_at = now(),
          failing_event_id = ${failure?.eventId ?? null}, failing_attempts = ${failure?.attempts ?? 0}, last_error = ${failure?.error ?? null}
        WHERE group_name = ${group} AND owner = ${this.replicaId} RETURNING 1 AS one`),
    );
    if (!updated.length) throw new LeaseLost(group);
  }

  /** Gives the group's lease back so another replica can take it at once. */
  private async release(group: string): Promise<void> {
    this.leases.delete(group);
    await this.o.db.execute(sql`UPDATE kernel.event_consumers SET owner = NULL, lease_until = NULL WHERE group_name = ${group} AND owner = ${this.replicaId}`);
  }

  async lag(): Promise<Map<string, number>> {
    const groups = [...this.known];
    const out = new Map<string, number>();
    if (!groups.length) return out;
    const rows = rowsOf<{ group_name: string; lag: string }>(
      await this.o.db.execute(sql`
        SELECT c.group_name, greatest((SELECT coalesce(max(position), 0) FROM kernel.outbox) - c.position, 0) AS lag
        FROM kernel.event_consumers c WHERE c.group_name IN (${sql.join(groups.map((g) => sql`${g}`), sql`, `)})`),
    );
    for (const r of rows) out.set(r.group_name, Number(r.lag));
    return out;
  }

  async stop(): Promise<void> {
    for (const l of this.loops.values()) {
      l.stop = true;
      l.wake();
    }
    await Promise.all([...this.loops.values()].map((l) => l.done));
    for (const group of this.loops.keys()) await this.release(group).catch(() => {});
    this.leases.clear();
    this.loops.clear();
    this.known.clear();
  }
}
