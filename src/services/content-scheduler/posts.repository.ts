import { sql } from 'drizzle-orm';
import type { Db, DbExecutor } from '../../kernel/db/database.js';
import { rows } from '../../kernel/db/rows.js';

export type PostStatus = 'draft' | 'in_review' | 'approved' | 'scheduled' | 'cancelled';
export type TargetStatus = 'scheduled' | 'publishing' | 'published' | 'failed' | 'cancelled' | 'skipped';

export interface PostRow {
  id: string;
  workspace_id: string;
  campaign_id: string | null;
  author_id: string | null;
  title: string | null;
  body: string;
  link: string | null;
  media_ids: string[] | string;
  status: PostStatus;
  timezone: string;
  scheduled_local: string | null;
  rrule: string | null;
  review_comment: string | null;
  reviewed_by: string | null;
  reviewed_at: Date | null;
  created_at: Date;
  updated_at: Date;
}

export interface TargetRow {
  id: string;
  post_id: string;
  channel_id: string;
  due_at: Date;
  status: TargetStatus;
  attempts: number;
  next_attempt_at: Date | null;
  external_id: string | null;
  external_url: string | null;
  error_code: string | null;
  error: string | null;
  late_by_seconds: number | null;
  published_at: Date | null;
}

export type CalendarRow = TargetRow & { workspace_id: string; title: string | null; body: string; campaign_id: string | null; post_status: PostStatus; channel_name: string; connector: string };

/** The editable content of a post as stored. */
export interface PostContent {
  title: string | null;
  body: string;
  link: string | null;
  mediaIds: string[];
  campaignId: string | null;
  timezone: string;
}

/** content.settings, content.posts, content.post_channels and the scheduling side of content.targets. */
export class PostsRepository {
  constructor(private readonly db: Db) {}

  // --- settings ---------------------------------------------------------------------------

  async requireApproval(workspaceId: string, ex: DbExecutor = this.db): Promise<boolean | null> {
    const [r] = await rows<{ require_approval: boolean }>(ex, sql`SELECT require_approval FROM content.settings WHERE workspace_id = ${workspaceId}`);
    return r?.require_approval ?? null;
  }

  async saveSettings(workspaceId: string, requireApproval: boolean, now: string, tx: DbExecutor): Promise<void> {
    await tx.execute(sql`INSERT INTO content.settings (workspace_id, require_approval, updated_at) VALUES (${workspaceId}, ${requireApproval}, ${now})
        ON CONFLICT (workspace_id) DO UPDATE SET require_approval = EXCLUDED.require_approval, updated_at = EXCLUDED.updated_at`);
  }

  // --- posts ------------------------------------------------------------------------------

  async get(workspaceId: string, postId: string, ex: DbExecutor = this.db): Promise<PostRow | null> {
    const [p] = await rows<PostRow>(ex, sql`SELECT * FROM content.posts WHERE workspace_id = ${workspaceId} AND id = ${postId}`);
    return p ?? null;
  }

  async list(workspaceId: string, filter: { campaignId?: string; status?: PostStatus; limit: number; before?: string }): Promise<PostRow[]> {
    return rows<PostRow>(
      this.db,
      sql`SELECT * FROM content.posts WHERE workspace_id = ${workspaceId}
        ${filter.campaignId ? sql`AND campaign_id = ${filter.campaignId}` : sql``}
        ${filter.status ? sql`AND status = ${filter.status}` : sql``}
        ${filter.before ? sql`AND created_at < ${filter.before}` : sql``}
        ORDER BY created_at DESC LIMIT ${filter.limit}`,
    );
  }

  async ofAuthor(userId: string): Promise<PostRow[]> {
    return rows<PostRow>(this.db, sql`SELECT * FROM content.posts WHERE author_id = ${userId} ORDER BY created_at`);
  }

  /** The channels and the targets of the given posts (two reads, whatever the number of posts). */
  async channelsAndTargets(postIds: string[], ex: DbExecutor = this.db) {
    const ids = postIds.join(',');
    const channels = await rows<{ post_id: string; channel_id: string; body_override: string | null }>(
      ex,
      sql`SELECT post_id, channel_id, body_override FROM content.post_channels WHERE post_id = ANY(string_to_array(${ids}, ',')::uuid[]) ORDER BY channel_id`,
    );
    const targets = await rows<TargetRow>(ex, sql`SELECT * FROM content.targets WHERE post_id = ANY(string_to_array(${ids}, ',')::uuid[]) ORDER BY due_at, channel_id`);
    return { channels, targets };
  }

  async insert(p: PostContent & { id: string; workspaceId: string; authorId: string; now: string }, tx: DbExecutor): Promise<void> {
    await tx.execute(sql`
        INSERT INTO content.posts (id, workspace_id, campaign_id, author_id, title, body, link, media_ids, status, timezone, created_at, updated_at)
        VALUES (${p.id}, ${p.workspaceId}, ${p.campaignId}, ${p.authorId}, ${p.title}, ${p.body}, ${p.link},
                string_to_array(${p.mediaIds.join(',')}, ',')::uuid[], 'draft', ${p.timezone}, ${p.now}, ${p.now})`);
  }

  async replaceChannels(postId: string, channels: { channelId: string; body?: string | null }[], tx: DbExecutor): Promise<void> {
    await tx.execute(sql`DELETE FROM content.post_channels WHERE post_id = ${postId}`);
    for (const c of channels) {
      await tx.execute(sql`INSERT INTO content.post_channels (post_id, channel_id, body_override) VALUES (${postId}, ${c.channelId}, ${c.body ?? null})`);
    }
  }

  async lock(workspaceId: string, postId: string, tx: DbExecutor): Promise<PostRow | null> {
    const [p] = await rows<PostRow>(tx, sql`SELECT * FROM content.posts WHERE workspace_id = ${workspaceId} AND id = ${postId} FOR UPDATE`);
    return p ?? null;
  }

  async hasPublishingTarget(postId: string, tx: DbExecutor): Promise<boolean> {
    const [busy] = await rows<{ status: string }>(tx, sql`SELECT status FROM content.targets WHERE post_id = ${postId} AND status = 'publishing' LIMIT 1`);
    return busy !== undefined;
  }

  async hasFinishedTarget(postId: string, tx: DbExecutor): Promise<boolean> {
    const [done] = await rows(tx, sql`SELECT 1 FROM content.targets WHERE post_id = ${postId} AND status IN ('published', 'failed', 'skipped') LIMIT 1`);
    return done !== undefined;
  }

  async updateContent(postId: string, c: PostContent, status: PostStatus, now: string, tx: DbExecutor): Promise<void> {
    await tx.execute(sql`
        UPDATE content.posts SET title = ${c.title}, body = ${c.body}, link = ${c.link},
          media_ids = string_to_array(${c.mediaIds.join(',')}, ',')::uuid[], campaign_id = ${c.campaignId}, timezone = ${c.timezone},
          status = ${status}, updated_at = ${now}
        WHERE id = ${postId}`);
  }

  /**
   * Deletes the post's targets that have not started: all of them, or (`keepChannels`) those of
   * channels no longer listed.
   */
  async deleteScheduledTargets(postId: string, tx: DbExecutor, keepChannels?: string[]): Promise<void> {
    await tx.execute(sql`DELETE FROM content.targets WHERE post_id = ${postId} AND status = 'scheduled'
          ${keepChannels === undefined ? sql`` : sql`AND NOT (channel_id = ANY(string_to_array(${keepChannels.join(',')}, ',')::uuid[]))`}`);
  }

  async delete(postId: string, tx: DbExecutor): Promise<void> {
    await tx.execute(sql`DELETE FROM content.posts WHERE id = ${postId}`);
  }

  async setStatus(postId: string, status: PostStatus, now: string, tx: DbExecutor): Promise<void> {
    await tx.execute(sql`UPDATE content.posts SET status = ${status}, updated_at = ${now} WHERE id = ${postId}`);
  }

  async setReview(postId: string, status: PostStatus, comment: string | null, reviewer: string, now: string, tx: DbExecutor): Promise<void> {
    await tx.execute(sql`UPDATE content.posts SET status = ${status}, review_comment = ${comment}, reviewed_by = ${reviewer}, reviewed_at = ${now}, updated_at = ${now} WHERE id = ${postId}`);
  }

  async insertTarget(t: { id: string; workspaceId: string; postId: string; channelId: string; dueAt: string; now: string }, tx: DbExecutor): Promise<void> {
    await tx.execute(sql`INSERT INTO content.targets (id, workspace_id, post_id, channel_id, due_at, status, updated_at)
          VALUES (${t.id}, ${t.workspaceId}, ${t.postId}, ${t.channelId}, ${t.dueAt}, 'scheduled', ${t.now})`);
  }

  /** Puts a failed or skipped target of the post back in line, due now, with fresh attempts; false when none matched. */
  async retryTarget(workspaceId: string, postId: string, targetId: string, now: string, tx: DbExecutor): Promise<TargetStatus | null> {
    const [cur] = await rows<{ status: TargetStatus }>(tx, sql`SELECT status FROM content.targets WHERE workspace_id = ${workspaceId} AND post_id = ${postId} AND id = ${targetId} FOR UPDATE`);
    if (!cur) return null;
    if (cur.status !== 'failed' && cur.status !== 'skipped') return cur.status;
    await tx.execute(sql`UPDATE content.targets SET status = 'scheduled', due_at = ${now}, next_attempt_at = NULL, attempts = 0, error_code = NULL, error = NULL,
          late_by_seconds = NULL, claimed_by = NULL, lease_until = NULL, updated_at = ${now} WHERE id = ${targetId}`);
    return 'scheduled';
  }

  async markScheduled(postId: string, s: { timezone: string; scheduledLocal: string | null; rrule: string | null }, now: string, tx: DbExecutor): Promise<void> {
    await tx.execute(sql`UPDATE content.posts SET status = 'scheduled', timezone = ${s.timezone}, scheduled_local = ${s.scheduledLocal}, rrule = ${s.rrule}, updated_at = ${now} WHERE id = ${postId}`);
  }

  async cancel(postId: string, now: string, tx: DbExecutor): Promise<void> {
    await tx.execute(sql`UPDATE content.targets SET status = 'cancelled', updated_at = ${now} WHERE post_id = ${postId} AND status = 'scheduled'`);
    await tx.execute(sql`UPDATE content.posts SET status = 'cancelled', updated_at = ${now} WHERE id = ${postId}`);
  }

  async recurrence(postId: string, tx: DbExecutor): Promise<{ rrule: string | null; scheduled_local: string | null; timezone: string; status: string } | null> {
    const [p] = await rows<{ rrule: string | null; scheduled_local: string | null; timezone: string; status: string }>(
      tx,
      sql`SELECT rrule, scheduled_local, timezone, status FROM content.posts WHERE id = ${postId}`,
    );
    return p ?? null;
  }

  /** The next occurrence's target, if the channel is still on the post; a repeat is harmless (unique post, channel, due_at). */
  async insertOccurrence(t: { id: string; workspaceId: string; postId: string; channelId: string; dueAt: string; now: string }, tx: DbExecutor): Promise<void> {
    await tx.execute(sql`INSERT INTO content.targets (id, workspace_id, post_id, channel_id, due_at, status, updated_at)
      SELECT ${t.id}, ${t.workspaceId}, ${t.postId}, ${t.channelId}, ${t.dueAt}, 'scheduled', ${t.now}
      WHERE EXISTS (SELECT 1 FROM content.post_channels WHERE post_id = ${t.postId} AND channel_id = ${t.channelId})
      ON CONFLICT (post_id, channel_id, due_at) DO NOTHING`);
  }

  async calendar(workspaceId: string, from: string, to: string): Promise<CalendarRow[]> {
    return rows<CalendarRow>(
      this.db,
      sql`SELECT t.*, p.title, p.body, p.campaign_id, p.status AS post_status, c.name AS channel_name, c.connector
        FROM content.targets t JOIN content.posts p ON p.id = t.post_id JOIN content.channels c ON c.id = t.channel_id
        WHERE t.workspace_id = ${workspaceId} AND t.due_at >= ${from} AND t.due_at < ${to} AND t.status <> 'cancelled'
        ORDER BY t.due_at, t.post_id, c.name`,
    );
  }

  /** Erasure: deletes the user's posts and removes their name from reviews; counts of each. */
  async eraseAuthor(userId: string, tx: DbExecutor): Promise<{ posts: number; reviews: number }> {
    const posts = await rows(tx, sql`DELETE FROM content.posts WHERE author_id = ${userId} RETURNING id`);
    const reviews = await rows(tx, sql`UPDATE content.posts SET reviewed_by = NULL WHERE reviewed_by = ${userId} RETURNING id`);
    return { posts: posts.length, reviews: reviews.length };
  }
}
