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
 * A handler that can also take a batch transaction's events in one call (`many`, e.g. one
 * multi-row INSERT instead of one per event). The postgres bus calls `many` with the events it
 * claimed in a batch transaction, on that transaction; a throw rolls the batch back and the events
 * are then delivered one by one through the single-event function (which alone sees `attempt`),
 * as for any failed batch. Other buses call the single-event function only. Both must write the
 * same thing.
 */
export type BatchCapableHandler<N extends EventName = EventName> = EventHandler<N> & {
  many: (events: EventEnvelope<N>[], ctx: { tx: DbTx }) => Promise<void>;
};

/** Builds a BatchCapableHandler from its single-event and its batch form. */
export function batchHandler<N extends EventName>(
  each: EventHandler<N>,
  many: (events: EventEnvelope<N>[], ctx: { tx: DbTx }) => Promise<void>,
): BatchCapableHandler<N> {
  return Object.assign(each, { many });
}

export interface EventPublisher {
  /**
   * Writes the event to the outbox. Pass the caller's drizzle transaction so the event commits
   * (or rolls back) with the business write it describes.
   */
  publish<N extends EventName>(event: NewEvent<N>, tx?: DbExecutor): Promise<EventEnvelope<N>>;
  /** Several events in one outbox INSERT (same validation and transaction rules as publish). */
  publishMany?(events: NewEvent<EventName>[], tx?: DbExecutor): Promise<EventEnvelope<EventName>[]>;
}

/** The `events` member of ServiceContext. */
export interface EventsPort extends EventPublisher {
  /**
   * Registers a consumer group. Several replicas registering the same group share its events
   * (each event handled once per group); different groups each see every event.
   */
  subscribe<N extends EventName>(group: string, names: N[], handler: EventHandler<N>): void;
}
