import { sql } from 'drizzle-orm';
import { PgBoss, fromDrizzle, fromPglite } from 'pg-boss';
import type { Database, DbExecutor } from '../db/database.js';
import type { Logger } from '../telemetry/logger.js';
import { contextFrom, currentTraceparent, failSpan, runIn, SpanKind, startSpan, tracingEnabled } from '../telemetry/tracing.js';
import type { Context, Span } from '@opentelemetry/api';

/** Runs the work of one id inside the span of the job that carried it (as is with tracing off). */
export type JobScope = <T>(id: string, fn: () => T) => T;
const untraced: JobScope = (_id, fn) => fn();

export interface WakeQueueOptions {
  /** The pg-boss queue's name (e.g. workflow-run). */
  queue: string;
  /** The job data's key holding the id of the thing to wake (e.g. runId). */
  idKey: string;
  database: Database;
  /** DATABASE_URL on PostgreSQL (pg-boss keeps its own pool); unused on PGlite. */
  url?: string;
  logger: Logger;
  /** Jobs fetched per poll (each advances one run). */
  batchSize: number;
  /** Workers in this process, each fetching its own batch (default: 2 on PostgreSQL, 1 on PGlite, whose one connection serialises them anyway). */
  workers?: number;
  pollingIntervalSeconds: number;
}

const BOSS_OPTIONS = { schema: 'pgboss', superviseIntervalSeconds: 5, monitorIntervalSeconds: 5, schedule: false, migrate: true } as const;

/**
 * Installs pg-boss's schema on an embedded database, as the queue's first start would: the build's
 * pre-initialised database (ADR 0065) carries it, so a first start does not spend a second on it.
 * A pg-boss of another version migrates it at start like any older schema.
 */
export async function installWakeQueueSchema(database: Database): Promise<void> {
  if (database.kind !== 'pglite' || !database.pglite) return;
  const boss = new PgBoss({ ...BOSS_OPTIONS, db: fromPglite(database.pglite as never), backend: 'pglite', supervise: false });
  await boss.start();
  await boss.stop({ graceful: false, close: false });
}

/**
 * A queue of wake-ups over pg-boss on the platform's database (its own `pgboss` schema; on PGlite
 * through pg-boss's PGlite adapter, on PostgreSQL through its own small pool). A job is a wake-up
 * of one thing by id ("advance run X, not before T"); its state lives in the service's tables, so
 * a lost or duplicated job never loses or repeats work (for workflow runs: the executor's lease
 * and recorded attempts decide). Enqueueing inside a transaction commits the job with it.
 */
export class WakeQueue {
  private boss?: PgBoss;
  private starting?: Promise<PgBoss>;
  private working = false;
  private workerId?: string;

  constructor(private readonly o: WakeQueueOptions) {}

  private ensure(): Promise<PgBoss> {
    this.starting ??= (async () => {
      const { database } = this.o;
      const common = BOSS_OPTIONS;
      const boss =
        database.kind === 'pglite' && database.pglite
          ? new PgBoss({ ...common, db: fromPglite(database.pglite as never), backend: 'pglite' })
          : // LISTEN/NOTIFY: a job created by another replica wakes this one's worker at once (polling stays the floor).
            new PgBoss({ ...common, ...this.connection(), max: 4, application_name: 'v01t-workflow-queue', useListenNotify: true } as never);
      boss.on('error', (err) => this.o.logger.error({ err }, 'pg-boss error'));
      await boss.start();
      const queueOptions = { retryLimit: 5, retryDelay: 1, retryBackoff: true, retryDelayMax: 60, expireInSeconds: 900, heartbeatSeconds: 10, notify: true };
      await boss.createQueue(this.o.queue, queueOptions).catch(async (err: Error) => {
        if (!/exists/i.test(err.message)) throw err;
        await boss.updateQueue(this.o.queue, { notify: true });
      });
      // pg-boss looks a queue up on its own connection the first time a job is sent to it. Sent inside
      // a PGlite transaction, that lookup would wait for the transaction that waits for it: warm the
      // cache now with a no-op job (the worker skips jobs without an id).
      await boss.send(this.o.queue, { warmup: true });
      this.boss = boss;
      return boss;
    })().catch((err) => {
      this.starting = undefined;
      throw err;
    });
    return this.starting;
  }

  /** The platform pool's server and TLS settings (DATABASE_SSL_MODE applies to pg-boss's pool too). */
  private connection(): { connectionString: string; ssl?: unknown } {
    if (this.o.database.connection) return this.o.database.connection;
    if (!this.o.url) throw new Error('pg-boss needs DATABASE_URL on PostgreSQL');
    return { connectionString: this.o.url };
  }

  /** True once pg-boss is started and its queue cache warm: only then may a transaction enqueue. */
  isReady(): boolean {
    return this.boss !== undefined;
  }

  async ready(): Promise<void> {
    await this.ensure();
  }

  /** The job's data: the id, and with tracing on the W3C trace context of the enqueuing span (the worker's span continues it). */
  private data(id: string, traceparent = currentTraceparent()): Record<string, unknown> {
    return traceparent ? { [this.o.idKey]: id, traceparent } : { [this.o.idKey]: id };
  }

  /** Enqueues a wake-up; pass the caller's transaction so the job commits with the state change. */
  async wake(id: string, at: Date | null, tx?: DbExecutor): Promise<void> {
    const boss = await this.ensure();
    await boss.send(this.o.queue, this.data(id), { ...(at ? { startAfter: at } : {}), ...(tx ? { db: fromDrizzle(tx as never, sql as never) } : {}) });
  }

  /**
   * Hands each fetched batch's ids to `handler` at once (the workflow executor advances fresh runs
   * of a batch together). With tracing on, each job is a consumer span continuing the trace that
   * enqueued it; `within(id, fn)` runs the work of one id inside its job's span.
   */
  async work(handler: (ids: string[], within: JobScope) => Promise<void>): Promise<void> {
    const boss = await this.ensure();
    if (this.working) return;
    this.working = true;
    // burstWhenBatchFull: while fetches come back full, fetch again at once instead of waiting for the poll.
    // notifyPollingIntervalSeconds = the poll: NOTIFY only announces new jobs, a job whose startAfter comes due is found by polling.
    const localConcurrency = this.o.workers ?? (this.o.database.kind === 'pglite' ? 1 : 2);
    const options = { batchSize: this.o.batchSize, pollingIntervalSeconds: this.o.pollingIntervalSeconds, notifyPollingIntervalSeconds: this.o.pollingIntervalSeconds, burstWhenBatchFull: true, localConcurrency };
    this.workerId = await boss.work<Record<string, unknown>>(this.o.queue, options, async (jobs) => {
      const ids = jobs.flatMap((j) => (typeof j.data?.[this.o.idKey] === 'string' ? [j.data[this.o.idKey] as string] : []));
      if (!ids.length) return;
      // A failure fails the batch and pg-boss retries it; the handler must be idempotent per id, so repeating the others is harmless.
      if (!tracingEnabled()) return handler(ids, untraced);
      const spans = new Map<string, { span: Span; context: Context }>();
      for (const j of jobs) {
        const id = j.data?.[this.o.idKey];
        if (typeof id !== 'string' || spans.has(id)) continue;
        const s = startSpan(`process ${this.o.queue}`, {
          kind: SpanKind.CONSUMER,
          parent: contextFrom(j.data),
          attributes: { 'messaging.system': 'pg-boss', 'messaging.operation.type': 'process', 'messaging.destination.name': this.o.queue, 'messaging.message.id': j.id, [`v01t.${this.o.idKey}`]: id },
        });
        if (s) spans.set(id, s);
      }
      try {
        await handler(ids, (id, fn) => runIn(spans.get(id)?.context, fn));
      } catch (err) {
        for (const s of spans.values()) failSpan(s.span, err);
        throw err;
      } finally {
        for (const s of spans.values()) s.span.end();
      }
    });
  }

  /** Immediate wake-ups of many in one INSERT, inside `tx` (the API's group commit). */
  async wakeMany(ids: string[], tx: DbExecutor): Promise<void> {
    if (!ids.length) return;
    const boss = await this.ensure();
    const traceparent = currentTraceparent();
    await boss.insert(this.o.queue, ids.map((id) => ({ data: this.data(id, traceparent) })), { db: fromDrizzle(tx as never, sql as never) });
  }

  /** Wakes this process's worker now (a job was just enqueued here and committed) instead of at its next poll. */
  notifyLocal(): void {
    if (this.workerId) this.boss?.notifyWorker(this.workerId);
  }

  /** Raw pg-boss throughput helpers for the benchmark. */
  async raw(): Promise<PgBoss> {
    return this.ensure();
  }

  async stop(): Promise<void> {
    const boss = this.boss;
    this.boss = undefined;
    this.starting = undefined;
    this.working = false;
    this.workerId = undefined;
    await boss?.stop({ graceful: true, timeout: 5000 }).catch((err) => this.o.logger.warn({ err }, 'pg-boss stop failed'));
  }
}
