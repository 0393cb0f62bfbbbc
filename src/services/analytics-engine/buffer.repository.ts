import { randomUUID } from 'node:crypto';
import type { Database, RawClient } from '../../kernel/db/database.js';
import type { BufferedEvent, ClaimedRow, IngestBuffer } from './ingest-buffer.js';

/** A claimed batch untouched this long is taken to belong to a dead process. */
export const STALE_CLAIM_MS = 60_000;

/**
 * SQL of the database ingestion buffer (the distributed shape's: safe with several replicas) and
 * of the identity links (used with either buffer); works on PGlite and PostgreSQL alike.
 */
export class BufferRepository implements IngestBuffer {
  readonly kind = 'database' as const;
  constructor(private readonly db: Database) {}

  /** Inserts events, skipping messageIds already seen in the workspace; returns the ids inserted. */
  async append(workspaceId: string, receivedAt: Date, events: BufferedEvent[]): Promise<Set<string>> {
    if (events.length === 0) return new Set();
    const rows = await this.db.query<{ message_id: string }>(
      `INSERT INTO analytics.event_buffer (workspace_id, message_id, received_at, payload)
       SELECT $1::uuid, m, $2::timestamptz, p::jsonb FROM unnest($3::text[], $4::text[]) AS u(m, p)
       ON CONFLICT (workspace_id, message_id) DO NOTHING
       RETURNING message_id`,
      [workspaceId, receivedAt.toISOString(), events.map((e) => e.messageId), events.map((e) => JSON.stringify(e))],
    );
    return new Set(rows.map((r) => r.message_id));
  }

  async pendingCount(): Promise<number> {
    const [row] = await this.db.query<{ n: string | number }>(`SELECT count(*) AS n FROM analytics.event_buffer WHERE state = 'pending'`);
    return Number(row?.n ?? 0);
  }

  /** Claims up to `limit` pending rows for one flush batch (replicas skip each other's rows). */
  async claim(limit: number, now: Date): Promise<{ batchId: string; rows: ClaimedRow[] } | null> {
    const batchId = randomUUID();
    const rows = await this.claimRows(batchId, limit, now);
    return rows.length ? { batchId, rows } : null;
  }

  private async claimRows(batchId: string, limit: number, now: Date): Promise<ClaimedRow[]> {
    return this.db.withTransaction(async (c) => {
      const rows = await c.query<{ seq: string | number; workspace_id: string; received_at: Date | string; payload: BufferedEvent | string }>(
        `WITH picked AS (
           SELECT seq FROM analytics.event_buffer WHERE state = 'pending' ORDER BY seq LIMIT $1 FOR UPDATE SKIP LOCKED
         )
         UPDATE analytics.event_buffer b SET state = 'flushing', batch_id = $2, claimed_at = $3
         FROM picked WHERE b.seq = picked.seq
         RETURNING b.seq, b.workspace_id, b.received_at, b.payload`,
        [limit, batchId, now.toISOString()],
      );
      return rows
        .map((r) => ({
          seq: Number(r.seq),
          workspaceId: r.workspace_id,
          receivedAt: new Date(r.received_at),
          payload: (typeof r.payload === 'string' ? JSON.parse(r.payload) : r.payload) as BufferedEvent,
        }))
        .sort((a, b) => a.seq - b.seq);
    });
  }

  async complete(batchId: string, now: Date): Promise<void> {
    await this.db.query(`UPDATE analytics.event_buffer SET state = 'flushed', flushed_at = $2 WHERE batch_id = $1 AND state = 'flushing'`, [batchId, now.toISOString()]);
  }

  async release(batchId: string): Promise<void> {
    await this.db.query(`UPDATE analytics.event_buffer SET state = 'pending', batch_id = NULL, claimed_at = NULL WHERE batch_id = $1 AND state = 'flushing'`, [batchId]);
  }

  /** Batches claimed before `before` and never finished (the flushing process died). */
  async unfinished(before: Date): Promise<{ batchId: string; size: number }[]> {
    const rows = await this.db.query<{ batch_id: string; n: string | number }>(
      `SELECT batch_id, count(*) AS n FROM analytics.event_buffer WHERE state = 'flushing' AND claimed_at < $1 GROUP BY batch_id`,
      [before.toISOString()],
    );
    return rows.map((r) => ({ batchId: r.batch_id, size: Number(r.n) }));
  }

  async linkIdentities(links: { workspaceId: string; anonymousId: string; userId: string }[], now: Date, client?: RawClient): Promise<void> {
    if (links.length === 0) return;
    const q = client ?? this.db;
    await q.query(
      `INSERT INTO analytics.identities (workspace_id, anonymous_id, user_id, linked_at)
       SELECT w::uuid, a, u, $4::timestamptz FROM unnest($1::text[], $2::text[], $3::text[]) AS x(w, a, u)
       ON CONFLICT (workspace_id, anonymous_id) DO UPDATE SET user_id = EXCLUDED.user_id, linked_at = EXCLUDED.linked_at`,
      [links.map((l) => l.workspaceId), links.map((l) => l.anonymousId), links.map((l) => l.userId), now.toISOString()],
    );
  }

  async identitiesFor(pairs: { workspaceId: string; anonymousId: string }[]): Promise<Map<string, string>> {
    const out = new Map<string, string>();
    if (pairs.length === 0) return out;
    const rows = await this.db.query<{ workspace_id: string; anonymous_id: string; user_id: string }>(
      `SELECT i.workspace_id, i.anonymous_id, i.user_id FROM analytics.identities i
       JOIN unnest($1::uuid[], $2::text[]) AS x(w, a) ON i.workspace_id = x.w AND i.anonymous_id = x.a`,
      [pairs.map((p) => p.workspaceId), pairs.map((p) => p.anonymousId)],
    );
    for (const r of rows) out.set(`${r.workspace_id}|${r.anonymous_id}`, r.user_id);
    return out;
  }

  /** Flushed rows older than the dedupe window; pending rows are never touched. */
  async purgeDedupe(before: Date): Promise<number> {
    const rows = await this.db.query(`DELETE FROM analytics.event_buffer WHERE state = 'flushed' AND flushed_at < $1 RETURNING seq`, [before.toISOString()]);
    return rows.length;
  }

  async eventsOfUser(userId: string): Promise<Record<string, unknown>[]> {
    return this.db.query(
      `SELECT workspace_id AS "workspaceId", message_id AS "messageId", received_at AS "receivedAt", payload FROM analytics.event_buffer WHERE payload->>'userId' = $1 ORDER BY seq`,
      [userId],
    );
  }

  async identitiesOfUser(userId: string): Promise<Record<string, unknown>[]> {
    return this.db.query(`SELECT workspace_id AS "workspaceId", anonymous_id AS "anonymousId", linked_at AS "linkedAt" FROM analytics.identities WHERE user_id = $1`, [userId]);
  }

  /**
   * Erases a user's buffered events (pending ones included: they never reach the store). Flushed
   * rows of the user go too: the store's erasure removes their events, so no dedupe is owed to them.
   */
  async eraseUser(userId: string, anonymousIds: string[]): Promise<number> {
    const deleted = await this.db.query(
      `DELETE FROM analytics.event_buffer WHERE payload->>'userId' = $1 OR (payload->>'anonymousId') = ANY($2::text[]) RETURNING seq`,
      [userId, anonymousIds],
    );
    return deleted.length;
  }

  async eraseIdentities(userId: string): Promise<number> {
    const ids = await this.db.query(`DELETE FROM analytics.identities WHERE user_id = $1 RETURNING anonymous_id`, [userId]);
    return ids.length;
  }

  async close(): Promise<void> {}
}
