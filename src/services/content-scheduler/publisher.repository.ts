import { sql } from 'drizzle-orm';
import type { Db, DbExecutor } from '../../kernel/db/database.js';
import { rows } from '../../kernel/db/rows.js';

/** A claimed target with what publishing it needs (channel, post, per-channel copy). */
export interface ClaimedTargetRow {
  id: string;
  workspace_id: string;
  post_id: string;
  channel_id: string;
  due_at: Date;
  /** When this attempt may go out: the retry time if any, else the due time (claims may run ahead of it). */
  run_at: Date;
  attempts: number;
  status: string;
  connection_id: string;
  connector: string;
  late_policy: 'publish_late' | 'skip';
  late_grace_seconds: number;
  title: string | null;
  body: string;
  link: string | null;
  /** Comma-separated uuids (array_to_string), null when none. */
  media_ids: string | null;
  recurring: boolean;
  body_override: string | null;
  campaign_id: string | null;
  author_id: string | null;
}

export interface PublishedValues {
  id: string;
  external_id: string;
  external_url: string | null;
  published_at: string;
  late: number;
}

/**
 * The publisher's side of content.targets: claims (FOR UPDATE SKIP LOCKED, any number of
 * replicas) and outcomes, each write guarded by `status = 'publishing' AND claimed_by = worker`.
 * See ARCHITECTURE.md beside this file.
 */
export class PublisherRepository {
  constructor(private readonly db: Db) {}

  /** Takes over up to `limit` targets whose lease ran out; they stay `publishing` and are re-checked. */
  async claimExpired(workerId: string, nowIso: string, lease: string, limit: number): Promise<string[]> {
    const expired = await rows<{ id: string }>(
      this.db,
      sql`UPDATE content.targets t SET lease_until = ${lease}, claimed_by = ${workerId}, attempts = t.attempts + 1, updated_at = ${nowIso}
        FROM (SELECT id FROM content.targets WHERE status = 'publishing' AND lease_until < ${nowIso} ORDER BY lease_until LIMIT ${limit} FOR UPDATE SKIP LOCKED) d
        WHERE t.id = d.id RETURNING t.id`,
    );
    return expired.map((e) => e.id);
  }

  /**
   * Claims up to `limit` targets due by `dueByIso` (now, or a little ahead of it: the publisher's
   * look-ahead), earliest first.
   */
  async claimDue(workerId: string, nowIso: string, lease: string, limit: number, dueByIso: string = nowIso): Promise<string[]> {
    const due = await rows<{ id: string }>(
      this.db,
      sql`UPDATE content.targets t SET status = 'publishing', lease_until = ${lease}, claimed_by = ${workerId}, attempts = t.attempts + 1, updated_at = ${nowIso}
              FROM (SELECT id FROM content.targets WHERE status = 'scheduled' AND COALESCE(next_attempt_at, due_at) <= ${dueByIso}
                    ORDER BY COALESCE(next_attempt_at, due_at) LIMIT ${limit} FOR UPDATE SKIP LOCKED) d
              WHERE t.id = d.id RETURNING t.id`,
    );
    return due.map((d) => d.id);
  }

  /** The claimed targets this worker still holds, with their channel and post, in the order they may go out. */
  async claimed(workerId: string, ids: string[]): Promise<ClaimedTargetRow[]> {
    return rows<ClaimedTargetRow>(
      this.db,
      sql`SELECT t.id, t.workspace_id, t.post_id, t.channel_id, t.due_at, COALESCE(t.next_attempt_at, t.due_at) AS run_at, t.attempts, t.status,
               c.connection_id, c.connector, c.late_policy, c.late_grace_seconds,
               p.title, p.body, p.link, array_to_string(p.media_ids, ',') AS media_ids, (p.rrule IS NOT NULL) AS recurring, p.campaign_id, p.author_id, pc.body_override
        FROM content.targets t
        JOIN content.channels c ON c.id = t.channel_id
        JOIN content.posts p ON p.id = t.post_id
        LEFT JOIN content.post_channels pc ON pc.post_id = t.post_id AND pc.channel_id = t.channel_id
        WHERE t.id = ANY(string_to_array(${ids.join(',')}, ',')::uuid[]) AND t.claimed_by = ${workerId}
        ORDER BY run_at`,
    );
  }

  /** Marks a group published in one statement; returns the ids this worker still held. */
  async markPublishedMany(workerId: string, values: PublishedValues[], nowIso: string, tx: DbExecutor): Promise<string[]> {
    const updated = await rows<{ id: string }>(
      tx,
      sql`UPDATE content.targets t SET status = 'published', external_id = v.external_id, external_url = v.external_url, published_at = v.published_at, late_by_seconds = v.late,
                  lease_until = NULL, next_attempt_at = NULL, error_code = NULL, error = NULL, updated_at = ${nowIso}
                FROM jsonb_to_recordset(${JSON.stringify(values)}::jsonb) AS v(id uuid, external_id text, external_url text, published_at timestamptz, late integer)
                WHERE t.id = v.id AND t.status = 'publishing' AND t.claimed_by = ${workerId} RETURNING t.id`,
    );
    return updated.map((u) => u.id);
  }

  /** Each `mark*` answers whether this worker still held the target (false: the lease was lost meanwhile). */
  async markPublished(workerId: string, v: PublishedValues, nowIso: string, tx: DbExecutor): Promise<boolean> {
    const r = await rows(
      tx,
      sql`UPDATE content.targets SET status = 'published', external_id = ${v.external_id}, external_url = ${v.external_url}, published_at = ${v.published_at},
          late_by_seconds = ${v.late}, lease_until = NULL, next_attempt_at = NULL, error_code = NULL, error = NULL, updated_at = ${nowIso} WHERE ${held(v.id, workerId)} RETURNING id`,
    );
    return r.length > 0;
  }

  /** Back to `scheduled` at `next`; an attempt that did not count is given back. */
  async markRetry(workerId: string, targetId: string, r: { next: string; countsAsAttempt: boolean; code: string; message: string }, nowIso: string, tx: DbExecutor): Promise<boolean> {
    const u = await rows(
      tx,
      sql`UPDATE content.targets SET status = 'scheduled', next_attempt_at = ${r.next}, attempts = attempts - ${r.countsAsAttempt ? 0 : 1}, lease_until = NULL, error_code = ${r.code}, error = ${r.message}, updated_at = ${nowIso} WHERE ${held(targetId, workerId)} RETURNING id`,
    );
    return u.length > 0;
  }

  async markFinished(workerId: string, targetId: string, r: { status: 'failed' | 'skipped'; code: string; message: string }, nowIso: string, tx: DbExecutor): Promise<boolean> {
    const u = await rows(
      tx,
      sql`UPDATE content.targets SET status = ${r.status}, lease_until = NULL, next_attempt_at = NULL, error_code = ${r.code}, error = ${r.message}, updated_at = ${nowIso} WHERE ${held(targetId, workerId)} RETURNING id`,
    );
    return u.length > 0;
  }

  async countDueUnpublished(now: Date): Promise<number> {
    const [r] = await rows<{ n: string | number }>(this.db, sql`SELECT count(*) AS n FROM content.targets WHERE status IN ('scheduled', 'publishing') AND due_at <= ${now.toISOString()}`);
    return Number(r?.n ?? 0);
  }
}

const held = (targetId: string, workerId: string) => sql`id = ${targetId} AND status = 'publishing' AND claimed_by = ${workerId}`;
