import { sql, type SQL } from 'drizzle-orm';
import type { Db } from '../../kernel/db/database.js';
import { AppError } from '../../kernel/errors.js';
import { rows } from '../../kernel/db/rows.js';

export const LEDGER_KINDS = ['award', 'reversal', 'adjustment'] as const;

export interface LedgerEntry {
  id: string;
  userId: string;
  persona: string;
  metric: string;
  points: number;
  kind: (typeof LEDGER_KINDS)[number];
  eventId: string | null;
  eventName: string | null;
  ruleId: string | null;
  /** The entry this one reverses (kind reversal). */
  reverses: string | null;
  /** The reversal of this entry, when it was reversed. */
  reversedBy: string | null;
  reason: string | null;
  actorId: string | null;
  occurredAt: string;
  recordedAt: string;
}

export interface LedgerFilter {
  userId?: string;
  kind?: LedgerEntry['kind'];
  persona?: string;
  metric?: string;
  ruleId?: string;
  /** occurred_at >= from, < to (ISO instants). */
  from?: string;
  to?: string;
  cursor?: string;
  limit: number;
}

interface LedgerRow {
  id: string;
  user_id: string;
  persona: string;
  metric: string;
  points: number;
  kind: LedgerEntry['kind'];
  event_id: string | null;
  event_name: string | null;
  rule_id: string | null;
  reverses: string | null;
  reversed_by: string | null;
  reason: string | null;
  actor_id: string | null;
  occurred_at: string | Date;
  recorded_at: string | Date;
}

const iso = (d: string | Date) => new Date(d).toISOString();

function decodeCursor(cursor: string): { recordedAt: string; id: string } {
  try {
    const [recordedAt, id] = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8')) as [string, string];
    if (typeof recordedAt === 'string' && !Number.isNaN(Date.parse(recordedAt)) && typeof id === 'string' && /^[0-9a-f-]{36}$/i.test(id)) return { recordedAt, id };
  } catch {
    /* answered below */
  }
  throw new AppError('validation_failed', 'cursor is not one this endpoint handed out', { errors: [{ path: 'querystring.cursor', message: 'invalid cursor' }] });
}

/** Reads of the points ledger for people who correct it: newest recorded first, one workspace only. */
export class LedgerReadRepository {
  constructor(private readonly db: Db) {}

  async list(workspaceId: string, f: LedgerFilter): Promise<{ entries: LedgerEntry[]; nextCursor: string | null }> {
    const where: SQL[] = [sql`l.workspace_id = ${workspaceId}`];
    if (f.userId) where.push(sql`l.user_id = ${f.userId}`);
    if (f.kind) where.push(sql`l.kind = ${f.kind}`);
    if (f.persona) where.push(sql`l.persona = ${f.persona}`);
    if (f.metric) where.push(sql`l.metric = ${f.metric}`);
    if (f.ruleId) where.push(sql`l.rule_id = ${f.ruleId}`);
    if (f.from) where.push(sql`l.occurred_at >= ${f.from}`);
    if (f.to) where.push(sql`l.occurred_at < ${f.to}`);
    if (f.cursor) {
      const c = decodeCursor(f.cursor);
      where.push(sql`(l.recorded_at, l.id) < (${c.recordedAt}::timestamptz, ${c.id}::uuid)`);
    }
    const found = await rows<LedgerRow>(
      this.db,
      sql`SELECT l.*, r.id AS reversed_by FROM gamification.ledger l
        LEFT JOIN gamification.ledger r ON r.reverses = l.id
        WHERE ${sql.join(where, sql` AND `)}
        ORDER BY l.recorded_at DESC, l.id DESC LIMIT ${f.limit + 1}`,
    );
    const page = found.slice(0, f.limit).map(
      (r): LedgerEntry => ({
        id: r.id,
        userId: r.user_id,
        persona: r.persona,
        metric: r.metric,
        points: Number(r.points),
        kind: r.kind,
        eventId: r.event_id,
        eventName: r.event_name,
        ruleId: r.rule_id,
        reverses: r.reverses,
        reversedBy: r.reversed_by,
        reason: r.reason,
        actorId: r.actor_id,
        occurredAt: iso(r.occurred_at),
        recordedAt: iso(r.recorded_at),
      }),
    );
    const last = page[page.length - 1];
    const nextCursor = found.length > f.limit && last ? Buffer.from(JSON.stringify([last.recordedAt, last.id])).toString('base64url') : null;
    return { entries: page, nextCursor };
  }
}
