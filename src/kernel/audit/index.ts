import { createHash, randomUUID } from 'node:crypto';
import { sql } from 'drizzle-orm';
import type { Clock } from '../clock.js';
import type { Db, DbExecutor } from '../db/database.js';
import type { Migration } from '../db/migrate.js';
import { rowsOf } from '../db/rows.js';

/**
 * The append-only, hash-chained audit log. It lives in the kernel so that any service can record
 * an entry in the same transaction as the change it describes; the orchestrator serves it.
 */
export const AUDIT_MIGRATIONS: Migration[] = [
  {
    id: '0001_audit_log',
    sql: `
CREATE TABLE kernel.audit_log (
  seq bigserial PRIMARY KEY,
  id uuid NOT NULL UNIQUE,
  occurred_at timestamptz NOT NULL,
  workspace_id uuid,
  actor_id uuid,
  actor_ip text,
  action text NOT NULL,
  target_type text,
  target_id text,
  data jsonb NOT NULL DEFAULT '{}'::jsonb,
  prev_hash text NOT NULL,
  hash text NOT NULL
);
CREATE INDEX audit_log_workspace_idx ON kernel.audit_log (workspace_id, seq DESC);
CREATE INDEX audit_log_occurred_idx ON kernel.audit_log (occurred_at);
-- Rows are never updated. They are deleted only by the retention job (session flag set, older than 7 years).
CREATE FUNCTION kernel.audit_log_guard() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF TG_OP = 'DELETE'
     AND current_setting('v01t.audit_retention', true) = 'on'
     AND OLD.occurred_at < now() - interval '7 years' THEN
    RETURN OLD;
  END IF;
  RAISE EXCEPTION 'kernel.audit_log is append-only';
END $$;
CREATE TRIGGER audit_log_append_only BEFORE UPDATE OR DELETE ON kernel.audit_log
  FOR EACH ROW EXECUTE FUNCTION kernel.audit_log_guard();
`,
  },
];

export const GENESIS_HASH = '0'.repeat(64);
const APPEND_LOCK = 7_310_002;

export interface AuditInput {
  action: string;
  workspaceId?: string | null;
  actorId?: string | null;
  actorIp?: string | null;
  targetType?: string | null;
  targetId?: string | null;
  data?: Record<string, unknown>;
}

export interface AuditEntry {
  seq: number;
  id: string;
  occurredAt: Date;
  workspaceId: string | null;
  actorId: string | null;
  actorIp: string | null;
  action: string;
  targetType: string | null;
  targetId: string | null;
  data: Record<string, unknown>;
  prevHash: string;
  hash: string;
}

/** JSON with sorted keys, so a jsonb round trip hashes the same. */
export function canonicalJson(value: unknown): string {
  if (value === null || typeof value !== 'object') return JSON.stringify(value ?? null);
  if (value instanceof Date) return JSON.stringify(value.toISOString());
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  const obj = value as Record<string, unknown>;
  return `{${Object.keys(obj)
    .filter((k) => obj[k] !== undefined)
    .sort()
    .map((k) => `${JSON.stringify(k)}:${canonicalJson(obj[k])}`)
    .join(',')}}`;
}

export function entryHash(prevHash: string, e: Omit<AuditEntry, 'seq' | 'hash' | 'prevHash'>): string {
  return createHash('sha256')
    .update(
      canonicalJson([
        prevHash,
        e.id,
        e.occurredAt.toISOString(),
        e.workspaceId,
        e.actorId,
        e.actorIp,
        e.action,
        e.targetType,
        e.targetId,
        e.data,
      ]),
    )
    .digest('hex');
}

type Row = {
  seq: string | number;
  id: string;
  occurred_at: Date | string;
  workspace_id: string | null;
  actor_id: string | null;
  actor_ip: string | null;
  action: string;
  target_type: string | null;
  target_id: string | null;
  data: Record<string, unknown> | string;
  prev_hash: string;
  hash: string;
};

function toEntry(r: Row): AuditEntry {
  return {
    seq: Number(r.seq),
    id: r.id,
    occurredAt: new Date(r.occurred_at),
    workspaceId: r.workspace_id,
    actorId: r.actor_id,
    actorIp: r.actor_ip,
    action: r.action,
    targetType: r.target_type,
    targetId: r.target_id,
    data: typeof r.data === 'string' ? JSON.parse(r.data) : r.data,
    prevHash: r.prev_hash,
    hash: r.hash,
  };
}

export interface AuditQuery {
  workspaceId?: string;
  action?: string;
  actorId?: string;
  from?: Date;
  to?: Date;
  /** Entries with seq below this (for paging newest first). */
  before?: number;
  limit: number;
}

export class AuditLog {
  constructor(
    private readonly db: Db,
    private readonly clock: Clock,
    /** Called after each append (the metrics counter behind the privilege-escalation alert, the audit log line). */
    private readonly onRecorded?: (entry: AuditEntry) => void,
  ) {}

  /** Appends an entry; pass the caller's transaction so the entry commits with the change. */
  async record(input: AuditInput, executor: DbExecutor = this.db): Promise<AuditEntry> {
    const entry = await executor.transaction(async (tx) => {
      await tx.execute(sql`SELECT pg_advisory_xact_lock(${APPEND_LOCK})`);
      const last = rowsOf<{ hash: string }>(await tx.execute(sql`SELECT hash FROM kernel.audit_log ORDER BY seq DESC LIMIT 1`));
      const prevHash = last[0]?.hash ?? GENESIS_HASH;
      const base = {
        id: randomUUID(),
        occurredAt: new Date(Math.floor(this.clock.now().getTime())),
        workspaceId: input.workspaceId ?? null,
        actorId: input.actorId ?? null,
        actorIp: input.actorIp ?? null,
        action: input.action,
        targetType: input.targetType ?? null,
        targetId: input.targetId ?? null,
        data: JSON.parse(JSON.stringify(input.data ?? {})) as Record<string, unknown>,
      };
      const hash = entryHash(prevHash, base);
      const inserted = rowsOf<Row>(
        await tx.execute(sql`
          INSERT INTO kernel.audit_log (id, occurred_at, workspace_id, actor_id, actor_ip, action, target_type, target_id, data, prev_hash, hash)
          VALUES (${base.id}, ${base.occurredAt.toISOString()}, ${base.workspaceId}, ${base.actorId}, ${base.actorIp}, ${base.action},
                  ${base.targetType}, ${base.targetId}, ${JSON.stringify(base.data)}::jsonb, ${prevHash}, ${hash})
          RETURNING *`),
      );
      return toEntry(inserted[0]!);
    });
    // Counted after the append's own transaction; an outer caller's transaction may still roll
    // back, so the counter can run ahead of the table, which errs on the side of alerting.
    this.onRecorded?.(entry);
    return entry;
  }

  /**
   * Every entry in [from, to), oldest first, read page by page so an export of years of entries
   * never holds more than one page (the runbook's data processing audit trail).
   */
  async *export(q: { from?: Date; to?: Date; action?: string; pageSize?: number } = {}): AsyncGenerator<AuditEntry> {
    let after = 0;
    for (;;) {
      const conditions = [sql`seq > ${after}`];
      if (q.action) conditions.push(q.action.endsWith('*') ? sql`action LIKE ${q.action.slice(0, -1) + '%'}` : sql`action = ${q.action}`);
      if (q.from) conditions.push(sql`occurred_at >= ${q.from.toISOString()}`);
      if (q.to) conditions.push(sql`occurred_at < ${q.to.toISOString()}`);
      const page = rowsOf<Row>(
        await this.db.execute(sql`SELECT * FROM kernel.audit_log WHERE ${sql.join(conditions, sql` AND `)} ORDER BY seq LIMIT ${q.pageSize ?? 1000}`),
      ).map(toEntry);
      if (page.length === 0) return;
      yield* page;
      after = page.at(-1)!.seq;
    }
  }

  async list(q: AuditQuery): Promise<AuditEntry[]> {
    const conditions = [sql`true`];
    if (q.workspaceId) conditions.push(sql`workspace_id = ${q.workspaceId}`);
    if (q.action) conditions.push(q.action.endsWith('*') ? sql`action LIKE ${q.action.slice(0, -1) + '%'}` : sql`action = ${q.action}`);
    if (q.actorId) conditions.push(sql`actor_id = ${q.actorId}`);
    if (q.from) conditions.push(sql`occurred_at >= ${q.from.toISOString()}`);
    if (q.to) conditions.push(sql`occurred_at < ${q.to.toISOString()}`);
    if (q.before) conditions.push(sql`seq < ${q.before}`);
    const rows = rowsOf<Row>(
      await this.db.execute(sql`SELECT * FROM kernel.audit_log WHERE ${sql.join(conditions, sql` AND `)} ORDER BY seq DESC LIMIT ${q.limit}`),
    );
    return rows.map(toEntry);
  }

  /** The entries with these ids, oldest first (a record's linked entries, e.g. a GDPR request's). */
  async byIds(ids: readonly string[]): Promise<AuditEntry[]> {
    if (!ids.length) return [];
    const list = sql.join(ids.map((id) => sql`${id}`), sql`, `);
    return rowsOf<Row>(await this.db.execute(sql`SELECT * FROM kernel.audit_log WHERE id IN (${list}) ORDER BY seq`)).map(toEntry);
  }

  /**
   * Walks the chain from the oldest entry; returns the first broken link. The oldest remaining
   * entry's prev_hash is taken as the anchor (older entries may have been removed by retention).
   */
  async verify(onProgress?: (checked: number) => void): Promise<{ ok: true; checked: number } | { ok: false; checked: number; brokenAt: { seq: number; id: string; reason: string } }> {
    let prev: string | null = null;
    let after = 0;
    let checked = 0;
    for (;;) {
      const page = rowsOf<Row>(await this.db.execute(sql`SELECT * FROM kernel.audit_log WHERE seq > ${after} ORDER BY seq LIMIT 1000`)).map(toEntry);
      if (page.length === 0) return { ok: true, checked };
      for (const e of page) {
        if (prev !== null && e.prevHash !== prev) {
          return { ok: false, checked, brokenAt: { seq: e.seq, id: e.id, reason: 'prev_hash does not match the hash of the entry before it' } };
        }
        const expected = entryHash(e.prevHash, e);
        if (expected !== e.hash) {
          return { ok: false, checked, brokenAt: { seq: e.seq, id: e.id, reason: 'entry content does not match its hash (modified)' } };
        }
        prev = e.hash;
        after = e.seq;
        checked++;
      }
      onProgress?.(checked);
    }
  }

  /** Retention: removes entries older than 7 years (runbook: audit_logs 7_years). */
  async purgeExpired(): Promise<number> {
    return this.db.transaction(async (tx) => {
      await tx.execute(sql`SELECT set_config('v01t.audit_retention', 'on', true)`);
      const r = rowsOf<{ n: string | number }>(
        await tx.execute(sql`WITH d AS (DELETE FROM kernel.audit_log WHERE occurred_at < now() - interval '7 years' RETURNING 1) SELECT count(*) AS n FROM d`),
      );
      return Number(r[0]?.n ?? 0);
    });
  }
}
