import { sql, type SQL } from 'drizzle-orm';
import type { Clock } from '../clock.js';
import type { Db, DbExecutor } from '../db/database.js';
import type { Migration } from '../db/migrate.js';
import { AppError } from '../errors.js';
import { currentTraceparent } from '../telemetry/tracing.js';
import { eventSchema, type EventName } from './catalog.js';
import type { AnyEnvelope, EventEnvelope, EventPublisher, NewEvent } from './envelope.js';
import { uuidV4 } from '../crypto/uuid.js';

/**
 * The outbox is both the hand-off point (business write + event row in one transaction) and, on
 * the postgres bus, the durable log itself: the relay stamps each committed row with a `position`
 * from one sequence under one advisory lock, so positions become visible strictly in order and a
 * consumer's stored offset can never skip a late-committing row.
 */
export const EVENT_MIGRATIONS: Migration[] = [
  {
    id: '0001_outbox',
    sql: `
CREATE SCHEMA IF NOT EXISTS kernel;
CREATE TABLE kernel.outbox (
  seq bigserial PRIMARY KEY,
  id uuid NOT NULL UNIQUE,
  name text NOT NULL,
  occurred_at timestamptz NOT NULL,
  workspace_id text,
  actor_id text,
  payload jsonb NOT NULL,
  position bigint UNIQUE,
  published_at timestamptz
);
CREATE INDEX outbox_unpublished_idx ON kernel.outbox (seq) WHERE published_at IS NULL;
CREATE INDEX outbox_published_at_idx ON kernel.outbox (published_at);
CREATE SEQUENCE kernel.outbox_position_seq;
CREATE TABLE kernel.event_consumers (
  group_name text PRIMARY KEY,
  position bigint NOT NULL DEFAULT 0,
  owner text,
  lease_until timestamptz,
  failing_event_id uuid,
  failing_attempts integer NOT NULL DEFAULT 0,
  last_error text,
  updated_at timestamptz NOT NULL DEFAULT now()
);
CREATE TABLE kernel.event_deliveries (
  group_name text NOT NULL,
  event_id uuid NOT NULL,
  processed_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (group_name, event_id)
);
CREATE INDEX event_deliveries_processed_idx ON kernel.event_deliveries (processed_at);
CREATE TABLE kernel.event_dead_letters (
  group_name text NOT NULL,
  event_id uuid NOT NULL,
  name text NOT NULL,
  envelope jsonb NOT NULL,
  error text NOT NULL,
  attempts integer NOT NULL,
  failed_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (group_name, event_id)
);
`,
  },
  {
    // The trace an event belongs to (tracing on): the consumer's delivery span continues it.
    id: '0002_outbox_traceparent',
    sql: `ALTER TABLE kernel.outbox ADD COLUMN traceparent text;`,
  },
];

/** Held (transaction-scoped) by whichever replica relays; one relay at a time keeps positions ordered. */
export const RELAY_LOCK_KEY = 7_310_101;

export { rowsOf } from '../db/rows.js';

export interface OutboxRow {
  seq: string | number;
  id: string;
  name: string;
  occurred_at: Date | string;
  workspace_id: string | null;
  actor_id: string | null;
  payload: unknown;
  position: string | number | null;
  traceparent?: string | null;
}

export function envelopeOf(r: Omit<OutboxRow, 'seq'>): AnyEnvelope {
  return {
    id: r.id,
    name: r.name as EventName,
    occurredAt: (r.occurred_at instanceof Date ? r.occurred_at : new Date(r.occurred_at)).toISOString(),
    workspaceId: r.workspace_id,
    actorId: r.actor_id,
    payload: (typeof r.payload === 'string' ? JSON.parse(r.payload) : r.payload) as never,
    ...(r.traceparent ? { traceparent: r.traceparent } : {}),
  };
}

export class Outbox implements EventPublisher {
  /** Called after a publish outside a transaction, so the relay can run without waiting for its poll. */
  onPublished: () => void = () => {};

  constructor(
    private readonly db: Db,
    private readonly clock: Clock,
  ) {}

  async publish<N extends EventName>(event: NewEvent<N>, tx?: DbExecutor): Promise<EventEnvelope<N>> {
    const envelope = this.envelope(event);
    await (tx ?? this.db).execute(sql`
      INSERT INTO kernel.outbox (id, name, occurred_at, workspace_id, actor_id, payload, traceparent)
      VALUES (${envelope.id}, ${envelope.name}, ${envelope.occurredAt}, ${envelope.workspaceId}, ${envelope.actorId ?? null}, ${JSON.stringify(envelope.payload)}::jsonb, ${envelope.traceparent ?? null})`);
    if (!tx) this.onPublished();
    return envelope;
  }

  /** Several events validated like publish() and written in one INSERT (all or none). */
  async publishMany(events: NewEvent<EventName>[], tx?: DbExecutor): Promise<EventEnvelope<EventName>[]> {
    if (!events.length) return [];
    const envelopes = events.map((e) => this.envelope(e));
    // One JSON parameter, rows inserted in array order (seq follows it): the same statement text for any number of events.
    const rows = JSON.stringify(envelopes.map((e) => ({ id: e.id, name: e.name, occurred_at: e.occurredAt, workspace_id: e.workspaceId, actor_id: e.actorId ?? null, payload: e.payload, traceparent: e.traceparent ?? null })));
    await (tx ?? this.db).execute(sql`INSERT INTO kernel.outbox (id, name, occurred_at, workspace_id, actor_id, payload, traceparent)
      SELECT (e.doc->>'id')::uuid, e.doc->>'name', (e.doc->>'occurred_at')::timestamptz, e.doc->>'workspace_id', e.doc->>'actor_id', e.doc->'payload', e.doc->>'traceparent'
      FROM jsonb_array_elements(${rows}::jsonb) WITH ORDINALITY AS e(doc, ord) ORDER BY e.ord`);
    if (!tx) this.onPublished();
    return envelopes;
  }

  /**
   * The outbox INSERT of these events as SQL for a data-modifying CTE of the caller's own statement
   * (ADR 0077: a run inserted finished, its attempts and its events in one autocommitted statement),
   * validated like publishMany and in array order. Event i is written only when `scopes[i]` is among
   * the text values `among` yields (e.g. the ids that statement's INSERT returned), so the events of
   * a row the statement skipped are not written either. Nothing is written until the caller runs it.
   */
  insertWithin(events: NewEvent<EventName>[], scopes: string[], among: SQL): SQL {
    const envelopes = events.map((e) => this.envelope(e));
    const rows = JSON.stringify(envelopes.map((e, i) => ({ id: e.id, name: e.name, occurred_at: e.occurredAt, workspace_id: e.workspaceId, actor_id: e.actorId ?? null, payload: e.payload, traceparent: e.traceparent ?? null, scope: scopes[i] })));
    return sql`INSERT INTO kernel.outbox (id, name, occurred_at, workspace_id, actor_id, payload, traceparent)
      SELECT (e.doc->>'id')::uuid, e.doc->>'name', (e.doc->>'occurred_at')::timestamptz, e.doc->>'workspace_id', e.doc->>'actor_id', e.doc->'payload', e.doc->>'traceparent'
      FROM jsonb_array_elements(${rows}::jsonb) WITH ORDINALITY AS e(doc, ord) WHERE e.doc->>'scope' IN (${among}) ORDER BY e.ord`;
  }

  private envelope<N extends EventName>(event: NewEvent<N>): EventEnvelope<N> {
    const schema = eventSchema(event.name);
    if (!schema) throw new AppError('bad_request', `unknown event "${String(event.name)}": declare it in the publishing service's events.ts`);
    const parsed = schema.safeParse(event.payload);
    if (!parsed.success) {
      throw new AppError('validation_failed', `payload of ${event.name} does not match its schema`, {
        errors: parsed.error.issues.map((i) => ({ path: `payload.${i.path.join('.')}`, message: i.message })),
      });
    }
    const envelope: EventEnvelope<N> = {
      id: event.id ?? uuidV4(),
      name: event.name,
      occurredAt: (event.occurredAt ?? this.clock.now()).toISOString(),
      workspaceId: event.workspaceId ?? null,
      actorId: event.actorId ?? null,
      payload: parsed.data as EventEnvelope<N>['payload'],
    };
    const traceparent = currentTraceparent();
    if (traceparent) envelope.traceparent = traceparent;
    return envelope;
  }
}
