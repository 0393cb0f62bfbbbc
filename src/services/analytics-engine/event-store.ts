import type { OlapRow, OlapStore, OlapTableSpec } from '../../kernel/olap/index.js';

/** The analytics event table, the same columns on DuckDB and ClickHouse. Times are epoch ms (Int64). */
export const EVENTS_TABLE: OlapTableSpec = {
  name: 'analytics_events',
  columns: [
    { name: 'workspace_id', type: 'string' },
    { name: 'event', type: 'string' },
    /** The user id, else the user an anonymous id was linked to, else "anon:<anonymousId>". */
    { name: 'person_id', type: 'string' },
    { name: 'user_id', type: 'string' },
    { name: 'anonymous_id', type: 'string' },
    { name: 'ts', type: 'int64' },
    { name: 'day', type: 'date' },
    { name: 'message_id', type: 'string' },
    { name: 'properties', type: 'string' },
    { name: 'received_at', type: 'int64' },
    /** The flush batch that wrote the row: lets a crashed flush be undone and redone exactly once. */
    { name: 'batch_id', type: 'string' },
  ],
  partitionDate: 'day',
  orderBy: ['workspace_id', 'event', 'day', 'person_id'],
};

export interface StoredEvent {
  workspaceId: string;
  event: string;
  personId: string;
  userId: string;
  anonymousId: string;
  ts: number;
  messageId: string;
  properties: Record<string, unknown>;
  receivedAt: number;
  batchId: string;
}

const DAY_MS = 86_400_000;
const dayNames = new Map<number, string>();
/** 'YYYY-MM-DD' (UTC) of an epoch-ms time; day names are cached (the flush path asks once per event). */
export function dayOf(ms: number): string {
  const day = Math.floor(ms / DAY_MS);
  let name = dayNames.get(day);
  if (name === undefined) {
    name = new Date(day * DAY_MS).toISOString().slice(0, 10);
    if (dayNames.size >= 10_000) dayNames.clear();
    dayNames.set(day, name);
  }
  return name;
}

export function toRow(e: StoredEvent): OlapRow {
  return {
    workspace_id: e.workspaceId,
    event: e.event,
    person_id: e.personId,
    user_id: e.userId,
    anonymous_id: e.anonymousId,
    ts: e.ts,
    day: dayOf(e.ts),
    message_id: e.messageId,
    properties: JSON.stringify(e.properties),
    received_at: e.receivedAt,
    batch_id: e.batchId,
  };
}

/** Writes and housekeeping of the event table; the queries live in query.service.ts. */
export class EventStore {
  constructor(
    readonly olap: OlapStore,
    /** Told after each write: the workspaces whose events changed, or 'all' (the analytics result cache's versions). */
    private readonly onChange: (workspaces: Iterable<string> | 'all') => Promise<void> = async () => {},
  ) {}

  async init(): Promise<void> {
    await this.olap.ensureTable(EVENTS_TABLE);
  }

  async insert(events: StoredEvent[]): Promise<void> {
    await this.olap.insert(EVENTS_TABLE, events.map(toRow));
    await this.onChange(events.map((e) => e.workspaceId));
  }

  async countBatch(batchId: string): Promise<number> {
    const [row] = await this.olap.query(`SELECT count(*) AS n FROM ${EVENTS_TABLE.name} WHERE batch_id = ${this.olap.dialect.str(batchId)}`);
    return Number(row?.n ?? 0);
  }

  /** (workspace, messageId, receivedAt) of rows received since a time: rebuilds the file buffer's dedupe window. */
  async recentMessageIds(sinceMs: number): Promise<{ workspaceId: string; messageId: string; receivedAt: number }[]> {
    const rows = await this.olap.query<{ workspace_id: string; message_id: string; received_at: number | string }>(
      `SELECT workspace_id, message_id, received_at FROM ${EVENTS_TABLE.name} WHERE received_at >= ${this.olap.dialect.int(Math.floor(sinceMs))}`,
    );
    return rows.map((r) => ({ workspaceId: r.workspace_id, messageId: r.message_id, receivedAt: Number(r.received_at) }));
  }

  async deleteBatch(batchId: string): Promise<void> {
    await this.olap.deleteWhere(EVENTS_TABLE.name, `batch_id = ${this.olap.dialect.str(batchId)}`);
    await this.onChange('all');
  }

  /** Rows of a user: by user id, by the person they were merged into, or by their linked anonymous ids. */
  private userCondition(userId: string, anonymousIds: string[] = []): string {
    const d = this.olap.dialect;
    const u = d.str(userId);
    const anon = anonymousIds.length ? ` OR anonymous_id IN (${anonymousIds.map((a) => d.str(a)).join(', ')})` : '';
    return `(user_id = ${u} OR person_id = ${u}${anon})`;
  }

  async eventsOfUser(userId: string, limit = 100_000): Promise<Record<string, unknown>[]> {
    const rows = await this.olap.query(
      `SELECT workspace_id, event, ts, message_id, properties, anonymous_id FROM ${EVENTS_TABLE.name} WHERE ${this.userCondition(userId)} ORDER BY ts LIMIT ${this.olap.dialect.int(limit)}`,
    );
    return rows.map((r) => ({
      workspaceId: r.workspace_id,
      event: r.event,
      timestamp: new Date(Number(r.ts)).toISOString(),
      messageId: r.message_id,
      anonymousId: r.anonymous_id || null,
      properties: safeJson(String(r.properties)),
    }));
  }

  async eraseUser(userId: string, anonymousIds: string[] = []): Promise<number> {
    const where = this.userCondition(userId, anonymousIds);
    const [row] = await this.olap.query(`SELECT count(*) AS n FROM ${EVENTS_TABLE.name} WHERE ${where}`);
    const n = Number(row?.n ?? 0);
    if (n > 0) await this.olap.deleteWhere(EVENTS_TABLE.name, where);
    if (n > 0) await this.onChange('all');
    return n;
  }

  /** Removes the events before `day`: all of them, or only those whose name is (`only`) or is not (`except`) one of `events`. */
  async removeBefore(day: string, filter?: { only?: readonly string[]; except?: readonly string[] }): Promise<number> {
    if (!filter) {
      const removed = await this.olap.removeBefore(EVENTS_TABLE, day);
      if (removed > 0) await this.onChange('all');
      return removed;
    }
    const d = this.olap.dialect;
    const names = (filter.only ?? filter.except ?? []).map((n) => d.str(n)).join(', ');
    const where = `day < ${d.date(day)} AND event ${filter.only ? 'IN' : 'NOT IN'} (${names})`;
    const [row] = await this.olap.query(`SELECT count(*) AS n FROM ${EVENTS_TABLE.name} WHERE ${where}`);
    const n = Number(row?.n ?? 0);
    if (n > 0) await this.olap.deleteWhere(EVENTS_TABLE.name, where);
    if (n > 0) await this.onChange('all');
    return n;
  }
}

export function safeJson(text: string): Record<string, unknown> {
  try {
    const v = JSON.parse(text) as unknown;
    return v && typeof v === 'object' && !Array.isArray(v) ? (v as Record<string, unknown>) : {};
  } catch {
    return {};
  }
}
