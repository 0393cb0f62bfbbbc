import { sql, type SQL } from 'drizzle-orm';
import type { DbExecutor } from '../../kernel/db/database.js';
import { rows } from '../../kernel/db/rows.js';

/** GDPR art. 15/20 (access, portability), 16, 17, 18, 21. */
export const GDPR_REQUEST_KINDS = ['access', 'erasure', 'rectification', 'restriction', 'objection'] as const;
export type GdprRequestKind = (typeof GDPR_REQUEST_KINDS)[number];
export const GDPR_REQUEST_STATUSES = ['received', 'in_progress', 'completed', 'refused'] as const;
export type GdprRequestStatus = (typeof GDPR_REQUEST_STATUSES)[number];
/** How the request reached v01t: the web app, an email recorded by an operator, the CLI (scripts), the admin API. */
export const GDPR_REQUEST_CHANNELS = ['self_service', 'email', 'cli', 'api'] as const;
export type GdprRequestChannel = (typeof GDPR_REQUEST_CHANNELS)[number];

export interface GdprRequestRow {
  id: string;
  number: number;
  kind: GdprRequestKind;
  userId: string | null;
  email: string | null;
  channel: GdprRequestChannel;
  details: string | null;
  receivedAt: Date;
  dueAt: Date;
  status: GdprRequestStatus;
  refusalReason: string | null;
  resolution: string | null;
  recordedBy: string | null;
  handledBy: string | null;
  startedAt: Date | null;
  closedAt: Date | null;
  auditIds: string[];
}

type Raw = {
  id: string;
  number: string | number;
  kind: GdprRequestKind;
  user_id: string | null;
  email: string | null;
  channel: GdprRequestChannel;
  details: string | null;
  received_at: string | Date;
  due_at: string | Date;
  status: GdprRequestStatus;
  refusal_reason: string | null;
  resolution: string | null;
  recorded_by: string | null;
  handled_by: string | null;
  started_at: string | Date | null;
  closed_at: string | Date | null;
  audit_ids: string[] | string;
};

const date = (v: string | Date | null) => (v === null ? null : new Date(v));
/** node-postgres parses uuid[]; PGlite may hand back the array literal. */
const uuidArray = (v: string[] | string): string[] => (Array.isArray(v) ? v : v.replace(/^\{|\}$/g, '').split(',').filter(Boolean));

const toRow = (r: Raw): GdprRequestRow => ({
  id: r.id,
  number: Number(r.number),
  kind: r.kind,
  userId: r.user_id,
  email: r.email,
  channel: r.channel,
  details: r.details,
  receivedAt: new Date(r.received_at),
  dueAt: new Date(r.due_at),
  status: r.status,
  refusalReason: r.refusal_reason,
  resolution: r.resolution,
  recordedBy: r.recorded_by,
  handledBy: r.handled_by,
  startedAt: date(r.started_at),
  closedAt: date(r.closed_at),
  auditIds: uuidArray(r.audit_ids),
});

const OPEN = sql`status IN ('received', 'in_progress')`;

export interface GdprRequestFilter {
  /** 'open': received or in progress; 'overdue': open past its due time (at `now`). */
  status?: GdprRequestStatus | 'open' | 'overdue';
  kind?: GdprRequestKind;
  userId?: string;
  /** Requests numbered below this (paging, newest first). */
  before?: number;
  limit: number;
}

/** orchestrator.gdpr_requests (ADR 0064). */
export class GdprRequestsRepository {
  constructor(private readonly db: DbExecutor) {}

  async insert(
    r: Omit<GdprRequestRow, 'number' | 'auditIds' | 'startedAt' | 'closedAt' | 'refusalReason' | 'resolution' | 'handledBy'> & { handledBy?: string | null },
    ex: DbExecutor = this.db,
  ): Promise<GdprRequestRow> {
    const [row] = await rows<Raw>(
      ex,
      sql`INSERT INTO orchestrator.gdpr_requests (id, kind, user_id, email, channel, details, received_at, due_at, status, recorded_by, handled_by, started_at)
          VALUES (${r.id}, ${r.kind}, ${r.userId}, ${r.email}, ${r.channel}, ${r.details}, ${r.receivedAt.toISOString()}, ${r.dueAt.toISOString()}, ${r.status},
                  ${r.recordedBy}, ${r.handledBy ?? null}, ${r.status === 'in_progress' ? r.receivedAt.toISOString() : null})
          RETURNING *`,
    );
    return toRow(row!);
  }

  async byId(id: string, ex: DbExecutor = this.db, lock = false): Promise<GdprRequestRow | null> {
    const [row] = await rows<Raw>(ex, lock ? sql`SELECT * FROM orchestrator.gdpr_requests WHERE id = ${id} FOR UPDATE` : sql`SELECT * FROM orchestrator.gdpr_requests WHERE id = ${id}`);
    return row ? toRow(row) : null;
  }

  async idOfNumber(number: number): Promise<string | null> {
    const [row] = await rows<{ id: string }>(this.db, sql`SELECT id FROM orchestrator.gdpr_requests WHERE number = ${number}`);
    return row?.id ?? null;
  }

  async list(f: GdprRequestFilter, now: Date): Promise<GdprRequestRow[]> {
    const where: SQL[] = [sql`true`];
    if (f.status === 'open') where.push(OPEN);
    else if (f.status === 'overdue') where.push(sql`${OPEN} AND due_at < ${now.toISOString()}`);
    else if (f.status) where.push(sql`status = ${f.status}`);
    if (f.kind) where.push(sql`kind = ${f.kind}`);
    if (f.userId) where.push(sql`user_id = ${f.userId}`);
    if (f.before) where.push(sql`number < ${f.before}`);
    // Open requests by deadline (the most urgent first); closed ones newest first.
    const order = f.status === 'open' || f.status === 'overdue' ? sql`due_at, number` : sql`number DESC`;
    return (await rows<Raw>(this.db, sql`SELECT * FROM orchestrator.gdpr_requests WHERE ${sql.join(where, sql` AND `)} ORDER BY ${order} LIMIT ${f.limit}`)).map(toRow);
  }

  async update(
    id: string,
    change: { status: GdprRequestStatus; handledBy: string | null; at: Date; refusalReason?: string | null; resolution?: string | null; auditId: string; userId?: string | null },
    ex: DbExecutor,
  ): Promise<GdprRequestRow> {
    const closing = change.status === 'completed' || change.status === 'refused';
    const [row] = await rows<Raw>(
      ex,
      sql`UPDATE orchestrator.gdpr_requests SET
            status = ${change.status},
            handled_by = COALESCE(${change.handledBy}::uuid, handled_by),
            started_at = COALESCE(started_at, ${change.at.toISOString()}::timestamptz),
            closed_at = ${closing ? change.at.toISOString() : null}::timestamptz,
            refusal_reason = COALESCE(${change.refusalReason ?? null}::text, refusal_reason),
            resolution = COALESCE(${change.resolution ?? null}::text, resolution),
            user_id = COALESCE(user_id, ${change.userId ?? null}::uuid),
            audit_ids = array_append(audit_ids, ${change.auditId}::uuid)
          WHERE id = ${id} RETURNING *`,
    );
    return toRow(row!);
  }

  async linkAudit(id: string, auditId: string, ex: DbExecutor = this.db): Promise<void> {
    await ex.execute(sql`UPDATE orchestrator.gdpr_requests SET audit_ids = array_append(audit_ids, ${auditId}::uuid) WHERE id = ${id}`);
  }

  /** Open requests by kind, and how many of them are past their due time at `now` (the metrics). */
  async openCounts(now: Date): Promise<{ kind: GdprRequestKind; open: number; overdue: number }[]> {
    const out = await rows<{ kind: GdprRequestKind; open: string | number; overdue: string | number }>(
      this.db,
      sql`SELECT kind, count(*) AS open, count(*) FILTER (WHERE due_at < ${now.toISOString()}) AS overdue
          FROM orchestrator.gdpr_requests WHERE ${OPEN} GROUP BY kind`,
    );
    return out.map((r) => ({ kind: r.kind, open: Number(r.open), overdue: Number(r.overdue) }));
  }

  /** Requests about the user (by account or by the address the account holds). */
  async ofSubject(userId: string, email: string | null): Promise<GdprRequestRow[]> {
    return (
      await rows<Raw>(
        this.db,
        email
          ? sql`SELECT * FROM orchestrator.gdpr_requests WHERE user_id = ${userId} OR lower(email) = ${email.toLowerCase()} ORDER BY number`
          : sql`SELECT * FROM orchestrator.gdpr_requests WHERE user_id = ${userId} ORDER BY number`,
      )
    ).map(toRow);
  }

  /** Closed requests older than `before` (the retention rule: kept 3 years as evidence). */
  async purgeClosed(before: Date): Promise<number> {
    return (await rows(this.db, sql`DELETE FROM orchestrator.gdpr_requests WHERE closed_at IS NOT NULL AND closed_at < ${before.toISOString()} RETURNING id`)).length;
  }
}
