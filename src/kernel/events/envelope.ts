import type { SQL } from 'drizzle-orm';
import type { DbExecutor, DbTx } from '../db/database.js';
import type { EventCatalog, EventName } from './catalog.js';

/** What travels on the bus: the same JSON shape in the outbox row, on Kafka and to handlers. */
export interface EventEnvelope<N extends EventName = EventName> {
  /** Unique per event; consumers dedupe on it. */
  id: string;
  name: N;
  /** ISO-8601 UTC. */
  occurredAt: string;
  workspaceId: string | null;
  actorId?: string | null;
  payload: EventCatalog[N];
  /** W3C trace context of the publishing span (tracing on, ADR 0058): a delivery's span continues that trace. */
  traceparent?: string;
}

/** An event to publish; id and occurredAt are filled in unless given. */
export interface NewEvent<N extends EventName = EventName> {
  name: N;
  workspaceId: string | null;
  actorId?: string | null;
  payload: EventCatalog[N];
  id?: string;
  occurredAt?: Date;
}

export type AnyEnvelope = { [N in EventName]: EventEnvelope<N> }[EventName];

export interface HandlerContext {
  /**
   * The transaction in which the delivery is recorded (dedupe row, and on the postgres bus the
   * group's offset). Writes made through it commit exactly when the event counts as handled.
   */
  tx: DbTx;
  /** 1 on first delivery to this group, more after a failed attempt. */
  attempt: number;
}

export type EventHandler<N extends EventName = EventName> = (event: EventEnvelope<N>, ctx: HandlerContext) => Promise<void>;

/**
 * A consumer group's handler for several events at once (postgres bus): called with the claimed
 * events of one batch transaction, in delivery order, on that transaction. It must have the same
 * effects as the group's per-event handler called for each event in order: when it throws, the
 * batch is rolled back and delivered again event by event through the per-event handler, which
 * also books failures, retries and dead letters per event.
 */
export type BatchEventHandler<N extends EventName = EventName> = (events: EventEnvelope<N>[], ctx: { tx: DbTx }) => Promise<void>;

export interface SubscribeOptions<N extends EventName = EventName> {
  /** Handles a batch transaction's events in one call (postgres bus; Kafka calls the per-event handler). */
  batch?: BatchEventHandler<N>;
  /** Most events per batch transaction for `batch` (postgres bus; default 50). */
  batchMax?: number;
}

export interface EventPublisher {
  /**
   * Writes the event to the outbox. Pass the caller's drizzle transaction so the event commits
   * (or rolls back) with the business write it describes.
   */
  publish<N extends EventName>(event: NewEvent<N>, tx?: DbExecutor): Promise<EventEnvelope<N>>;
  /** Several events in one outbox INSERT (same validation and transaction rules as publish). */
  publishMany?(events: NewEvent<EventName>[], tx?: DbExecutor): Promise<EventEnvelope<EventName>[]>;
  /**
   * The outbox INSERT of these events, for a repository to run as a data-modifying CTE of its own
   * statement (the events then commit with that statement's rows; same validation as publish):
   * event i is written only when `scopes[i]` is among the text values the SQL `among` yields.
   */
  insertWithin?(events: NewEvent<EventName>[], scopes: string[], among: SQL): SQL;
}

/** The `events` member of ServiceContext. */
export interface EventsPort extends EventPublisher {
  /**
   * Registers a consumer group. Several replicas registering the same group share its events
   * (each event handled once per group); different groups each see every event.
   */
  subscribe<N extends EventName>(group: string, names: N[], handler: EventHandler<N>, options?: SubscribeOptions<N>): void;
}
