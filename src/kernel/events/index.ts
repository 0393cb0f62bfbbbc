import { sql, type SQL } from 'drizzle-orm';
import client from 'prom-client';
import type { Clock } from '../clock.js';
import type { Db, DbExecutor } from '../db/database.js';
import type { MigrationSet } from '../db/migrate.js';
import type { Logger } from '../telemetry/logger.js';
import type { CoreMetrics } from '../telemetry/metrics.js';
import { contextFrom, failSpan, runIn, SpanKind, startSpan, tracingEnabled, withSpan } from '../telemetry/tracing.js';
import { eventNames, isEventName, type EventName } from './catalog.js';
import { retryDelayMs } from './deliver.js';
import type { BatchEventHandler, EventEnvelope, EventHandler, EventsPort, NewEvent, SubscribeOptions } from './envelope.js';
import { KafkaBus } from './kafka-bus.js';
import { EVENT_MIGRATIONS, Outbox, rowsOf } from './outbox.js';
import { PostgresBus, type BusAdapter, type PostgresBusOptions } from './postgres-bus.js';

export * from './catalog.js';
export * from './envelope.js';
export { EVENT_MIGRATIONS } from './outbox.js';

export const EVENTS_MIGRATION_SET: MigrationSet = { service: 'kernel.events', migrations: EVENT_MIGRATIONS };

export interface EventsConfig {
  bus: 'postgres' | 'kafka';
  pollMs: number;
  /**
   * While the relay keeps finding events, it runs again after this pause instead of at once (ADR
   * 0084): each run stamps the events committed meanwhile together and wakes the consumer groups once
   * for all of them. A run that took as many events as it may (a backlog) goes again at once. 0 or
   * unset: back to back, as before.
   */
  relayGatherMs?: number;
  maxAttempts: number;
  kafka: { brokers: string[]; clientId: string; topicPrefix: string; partitions: number };
}

export interface EventBackboneOptions {
  db: Db;
  clock: Clock;
  logger: Logger;
  config: EventsConfig;
  /** Where lag gauges go; omitted in tests that build a second replica on one registry. */
  metrics?: CoreMetrics;
  /** Batch sizes of the postgres bus (ADR 0084: larger on a PostgreSQL server than PGlite's defaults). */
  postgresBus?: Pick<PostgresBusOptions, 'batchSize' | 'txMaxEvents'>;
}

/** With tracing on, each delivery to a group is a consumer span continuing the publisher's trace (the envelope's traceparent). */
function tracedHandler(group: string, handler: EventHandler): EventHandler {
  return (event, hctx) =>
    withSpan(
      `deliver ${event.name}`,
      {
        kind: SpanKind.CONSUMER,
        parent: contextFrom(event),
        attributes: { 'messaging.system': 'v01t', 'messaging.operation.type': 'process', 'messaging.destination.name': event.name, 'messaging.consumer.group.name': group, 'messaging.message.id': event.id, 'v01t.delivery.attempt': hctx.attempt },
      },
      () => handler(event, hctx),
    );
}

/**
 * With tracing on, each event of a batch delivery is a consumer span too, in its publisher's trace:
 * the spans open together, end when the batch's handler settles (failed together if it throws),
 * and the handler's own work runs under the first event's span.
 */
function tracedBatch(group: string, batch: BatchEventHandler): BatchEventHandler {
  return async (events, hctx) => {
    if (!tracingEnabled() || events.length === 0) return batch(events, hctx);
    const spans = events.map((event) =>
      startSpan(`deliver ${event.name}`, {
        kind: SpanKind.CONSUMER,
        parent: contextFrom(event),
        attributes: { 'messaging.system': 'v01t', 'messaging.operation.type': 'process', 'messaging.destination.name': event.name, 'messaging.consumer.group.name': group, 'messaging.message.id': event.id, 'messaging.batch.message_count': events.length },
      }),
    );
    try {
      return await runIn(spans[0]?.context, () => batch(events, hctx));
    } catch (err) {
      for (const s of spans) if (s) failSpan(s.span, err);
      throw err;
    } finally {
      for (const s of spans) s?.span.end();
    }
  };
}

/**
 * The event backbone of one process: the outbox publisher, the relay loop and the consumer groups
 * this process subscribed. Replicas share work only through the database (relay advisory lock,
 * group row locks) or Kafka's group coordinator.
 */
export class EventBackbone implements EventsPort {
  readonly outbox: Outbox;
  readonly bus: BusAdapter;
  private readonly subscriptions = new Map<string, { names: EventName[]; handler: EventHandler; batch?: BatchEventHandler; batchMax?: number }>();
  private started = false;
  private relayTimer?: NodeJS.Timeout;
  private relayRunning?: Promise<void>;
  private relayAgain = false;
  /** The next relay run is the end of a gather pause (a nudge then waits for it instead of running at once). */
  private relayGathering = false;
  private stopping = false;

  constructor(private readonly o: EventBackboneOptions) {
    this.outbox = new Outbox(o.db, o.clock);
    const common = { db: o.db, logger: o.logger, maxAttempts: o.config.maxAttempts, retryDelayMs: (a: number) => retryDelayMs(a) };
    this.bus =
      o.config.bus === 'kafka'
        ? new KafkaBus({ ...common, ...o.config.kafka, names: eventNames() })
        : new PostgresBus({ ...common, pollMs: o.config.pollMs, clock: o.clock, ...o.postgresBus });
    this.outbox.onPublished = () => this.nudgeRelay();
    if (o.metrics) this.registerMetrics(o.metrics);
  }

  publish<N extends EventName>(event: NewEvent<N>, tx?: DbExecutor): Promise<EventEnvelope<N>> {
    return this.outbox.publish(event, tx);
  }

  publishMany(events: NewEvent<EventName>[], tx?: DbExecutor): Promise<EventEnvelope<EventName>[]> {
    return this.outbox.publishMany(events, tx);
  }

  insertWithin(events: NewEvent<EventName>[], scopes: string[], among: SQL): SQL {
    return this.outbox.insertWithin(events, scopes, among);
  }

  subscribe<N extends EventName>(group: string, names: N[], handler: EventHandler<N>, options: SubscribeOptions<N> = {}): void {
    if (!/^[a-z0-9][a-z0-9._-]{0,99}$/.test(group)) throw new Error(`invalid consumer group name "${group}"`);
    if (this.subscriptions.has(group)) throw new Error(`consumer group "${group}" is subscribed twice`);
    const unknown = names.filter((n) => !isEventName(n));
    if (unknown.length || !names.length) throw new Error(`consumer group "${group}": unknown or no event names (${unknown.join(', ')})`);
    const traced = tracedHandler(group, handler as EventHandler);
    const batch = options.batch ? tracedBatch(group, options.batch as BatchEventHandler) : undefined;
    this.subscriptions.set(group, { names, handler: traced, batch, batchMax: options.batchMax });
    this.bus.track(group, names);
    if (this.started) void this.bus.startConsumer(group, names, traced, batch, options.batchMax).catch((err) => this.o.logger.error({ err, group }, 'consumer start failed'));
  }

  /**
   * Starts the relay loop and every subscribed consumer group. With `firstPassInMs` (a serving
   * process: the poll period, ADR 0092) the relay's and the postgres bus consumers' first passes
   * come that much later, as if each had just run, instead of at once; a publish in this process
   * still relays at once and wakes the consumers. Without it (tests, commands) they run at once.
   */
  async start(opts: { firstPassInMs?: number } = {}): Promise<void> {
    if (this.started) return;
    this.started = true;
    this.stopping = false;
    const first = Math.max(0, opts.firstPassInMs ?? 0);
    for (const [group, s] of this.subscriptions) await this.bus.startConsumer(group, s.names, s.handler, s.batch, s.batchMax, first);
    this.scheduleRelay(first);
  }

  async stop(): Promise<void> {
    this.stopping = true;
    this.started = false;
    if (this.relayTimer) clearTimeout(this.relayTimer);
    await this.relayRunning;
    await this.bus.stop();
  }

  /** Relays pending outbox rows now (tests; and `v01t` commands that publish without starting services). */
  async relayOnce(): Promise<number> {
    const n = await this.bus.relayOnce();
    if (n > 0 && this.bus instanceof PostgresBus) this.bus.wakeAll();
    return n;
  }

  private nudgeRelay(): void {
    if (!this.started || this.stopping) return;
    if (this.relayRunning) {
      this.relayAgain = true;
      return;
    }
    // A run is already due at the end of the gather pause: it takes this publish's events too.
    if (this.relayGathering) return;
    this.scheduleRelay(0);
  }

  private scheduleRelay(delayMs: number, gathering = false): void {
    if (this.relayTimer) clearTimeout(this.relayTimer);
    this.relayGathering = gathering;
    this.relayTimer = setTimeout(() => {
      this.relayTimer = undefined;
      this.relayGathering = false;
      if (this.stopping) return;
      this.relayAgain = false;
      let next = this.o.config.pollMs;
      let gathering = false;
      this.relayRunning = this.relayOnce()
        .then((n) => {
          // Events keep coming: gather the next ones for a moment (a full run means a backlog: at once).
          if (n > 0 || this.relayAgain) {
            next = n >= this.bus.relayMax ? 0 : (this.o.config.relayGatherMs ?? 0);
            // A pause as long as the poll period or longer is a gather pause too (ADR 0090).
            gathering = next > 0;
          }
        })
        .catch((err) => {
          this.o.logger.error({ err }, 'event relay failed; retrying');
          next = Math.max(1000, this.o.config.pollMs);
        })
        .finally(() => {
          this.relayRunning = undefined;
          if (!this.stopping) this.scheduleRelay(next, gathering);
        });
    }, delayMs);
  }

  /** Readiness of the bus itself: Kafka answering (the postgres bus is the database, probed apart). */
  async readiness(): Promise<void> {
    await this.bus.ping?.();
  }

  /** Events waiting in the outbox (not yet on the bus). */
  async pendingInOutbox(): Promise<number> {
    const [r] = rowsOf<{ n: string }>(await this.o.db.execute(sql`SELECT count(*) AS n FROM kernel.outbox WHERE published_at IS NULL`));
    return Number(r?.n ?? 0);
  }

  /** Retention: published events and delivery records older than `keepDays` (7 days by default). */
  retentionRule(keepDays = 7) {
    return {
      name: 'kernel.events',
      class: 'operational' as const,
      keep: `${keepDays} days`,
      purge: async (now: Date): Promise<number> => {
        const cutoff = new Date(now.getTime() - keepDays * 86_400_000).toISOString();
        const a = rowsOf<{ n: string }>(
          await this.o.db.execute(sql`WITH d AS (DELETE FROM kernel.outbox WHERE published_at IS NOT NULL AND published_at < ${cutoff} RETURNING 1) SELECT count(*) AS n FROM d`),
        );
        const b = rowsOf<{ n: string }>(
          await this.o.db.execute(sql`WITH d AS (DELETE FROM kernel.event_deliveries WHERE processed_at < ${cutoff} RETURNING 1) SELECT count(*) AS n FROM d`),
        );
        return Number(a[0]?.n ?? 0) + Number(b[0]?.n ?? 0);
      },
    };
  }

  private registerMetrics(metrics: CoreMetrics): void {
    const bus = this.bus;
    const logger = this.o.logger;
    const kind = this.o.config.bus;
    // Lag is read once per scrape and shared by both gauges.
    let pending: Promise<Map<string, number>> | undefined;
    const readLag = () => {
      pending ??= bus
        .lag()
        .catch((err) => {
          logger.warn({ err }, 'reading consumer lag failed');
          return new Map<string, number>();
        })
        .finally(() => setTimeout(() => (pending = undefined), 0));
      return pending;
    };
    new client.Gauge({
      name: 'v01t_event_consumer_lag',
      help: 'Events on the bus not yet consumed, per consumer group',
      labelNames: ['group', 'bus'],
      registers: [metrics.registry],
      async collect() {
        this.reset();
        for (const [group, lag] of await readLag()) this.set({ group, bus: kind }, lag);
      },
    });
    if (kind === 'kafka') {
      new client.Gauge({
        name: 'kafka_consumer_lag_sum',
        help: 'Kafka consumer lag summed over the partitions of the group (runbook alert KafkaConsumerLag)',
        labelNames: ['group'],
        registers: [metrics.registry],
        async collect() {
          this.reset();
          for (const [group, lag] of await readLag()) this.set({ group }, lag);
        },
      });
    }
    const outboxPending = () => this.pendingInOutbox().catch(() => 0);
    metrics.gauge('v01t_event_outbox_pending', 'Events committed to the outbox and not yet relayed to the bus', outboxPending);
  }
}
