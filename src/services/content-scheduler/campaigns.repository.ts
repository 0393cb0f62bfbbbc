import { sql } from 'drizzle-orm';
import type { Db, DbExecutor } from '../../kernel/db/database.js';
import { rows } from '../../kernel/db/rows.js';

export interface CampaignRow {
  id: string;
  name: string;
  goal: string;
  starts_on: string | Date;
  ends_on: string | Date;
  created_by: string | null;
  created_at: Date;
  launched_at: Date | null;
  posts: string | number;
  scheduled: string | number;
  published: string | number;
  failed: string | number;
}

/** A campaign with its progress: per-status counts of its posts' targets. */
const SELECT = sql`SELECT c.*, 
    (SELECT count(*) FROM content.posts p WHERE p.campaign_id = c.id) AS posts,
    (SELECT count(*) FROM content.targets t JOIN content.posts p ON p.id = t.post_id WHERE p.campaign_id = c.id AND t.status IN ('scheduled', 'publishing')) AS scheduled,
    (SELECT count(*) FROM content.targets t JOIN content.posts p ON p.id = t.post_id WHERE p.campaign_id = c.id AND t.status = 'published') AS published,
    (SELECT count(*) FROM content.targets t JOIN content.posts p ON p.id = t.post_id WHERE p.campaign_id = c.id AND t.status IN ('failed', 'skipped')) AS failed
  FROM content.campaigns c`;

export class CampaignsRepository {
  constructor(private readonly db: Db) {}

  async list(workspaceId: string): Promise<CampaignRow[]> {
    return rows<CampaignRow>(this.db, sql`${SELECT} WHERE c.workspace_id = ${workspaceId} ORDER BY c.starts_on DESC, c.created_at DESC`);
  }

  async get(workspaceId: string, campaignId: string): Promise<CampaignRow | null> {
    const [r] = await rows<CampaignRow>(this.db, sql`${SELECT} WHERE c.workspace_id = ${workspaceId} AND c.id = ${campaignId}`);
    return r ?? null;
  }

  async exists(workspaceId: string, campaignId: string, ex: DbExecutor = this.db): Promise<boolean> {
    const [c] = await rows(ex, sql`SELECT 1 FROM content.campaigns WHERE workspace_id = ${workspaceId} AND id = ${campaignId}`);
    return c !== undefined;
  }

  async insert(
    c: { id: string; workspaceId: string; name: string; goal: string; startsOn: string; endsOn: string; createdBy: string; createdAt: string },
    tx: DbExecutor = this.db,
  ): Promise<void> {
    await tx.execute(sql`INSERT INTO content.campaigns (id, workspace_id, name, goal, starts_on, ends_on, created_by, created_at)
        VALUES (${c.id}, ${c.workspaceId}, ${c.name}, ${c.goal}, ${c.startsOn}, ${c.endsOn}, ${c.createdBy}, ${c.createdAt})`);
  }

  async update(workspaceId: string, campaignId: string, v: { name: string; goal: string; startsOn: string; endsOn: string }): Promise<void> {
    await this.db.execute(sql`UPDATE content.campaigns SET name = ${v.name}, goal = ${v.goal}, starts_on = ${v.startsOn}, ends_on = ${v.endsOn} WHERE workspace_id = ${workspaceId} AND id = ${campaignId}`);
  }

  /**
   * Marks the campaign launched unless it already was; on the first launch returns its name and
   * the connectors of its posts' channels (for the launch event), else null.
   */
  async launch(campaignId: string, now: string, tx: DbExecutor): Promise<{ name: string; connectors: string[] } | null> {
    const [launched] = await rows<{ name: string }>(tx, sql`UPDATE content.campaigns SET launched_at = ${now} WHERE id = ${campaignId} AND launched_at IS NULL RETURNING name`);
    if (!launched) return null;
    const chans = await rows<{ connector: string }>(
      tx,
      sql`SELECT DISTINCT c.connector FROM content.posts p JOIN content.post_channels pc ON pc.post_id = p.id JOIN content.channels c ON c.id = pc.channel_id WHERE p.campaign_id = ${campaignId} ORDER BY c.connector`,
    );
    return { name: launched.name, connectors: chans.map((c) => c.connector) };
  }

  /** Erasure: the campaigns a user created lose the name. */
  async forgetCreator(userId: string, tx: DbExecutor): Promise<void> {
    await tx.execute(sql`UPDATE content.campaigns SET created_by = NULL WHERE created_by = ${userId}`);
  }
}
