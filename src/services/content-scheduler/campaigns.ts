import { randomUUID } from 'node:crypto';
import { sql } from 'drizzle-orm';
import type { Db } from '../../kernel/db/database.js';
import type { Clock } from '../../kernel/clock.js';
import type { EventPublisher } from '../../kernel/events/envelope.js';
import { AppError, notFound } from '../../kernel/errors.js';
import { rows, iso } from './db.js';

export interface Campaign {
  id: string;
  name: string;
  goal: string;
  startsOn: string;
  endsOn: string;
  createdBy: string | null;
  createdAt: string;
  launchedAt: string | null;
  /** Per channel target: scheduled (incl. publishing), published, failed (incl. skipped); posts counts the posts. */
  progress: { posts: number; scheduled: number; published: number; failed: number };
}

interface CampaignRow {
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

const day = (v: string | Date) => (typeof v === 'string' ? v.slice(0, 10) : v.toISOString().slice(0, 10));

const SELECT = sql`SELECT c.*, 
    (SELECT count(*) FROM content.posts p WHERE p.campaign_id = c.id) AS posts,
    (SELECT count(*) FROM content.targets t JOIN content.posts p ON p.id = t.post_id WHERE p.campaign_id = c.id AND t.status IN ('scheduled', 'publishing')) AS scheduled,
    (SELECT count(*) FROM content.targets t JOIN content.posts p ON p.id = t.post_id WHERE p.campaign_id = c.id AND t.status = 'published') AS published,
    (SELECT count(*) FROM content.targets t JOIN content.posts p ON p.id = t.post_id WHERE p.campaign_id = c.id AND t.status IN ('failed', 'skipped')) AS failed
  FROM content.campaigns c`;

const toCampaign = (r: CampaignRow): Campaign => ({
  id: r.id,
  name: r.name,
  goal: r.goal,
  startsOn: day(r.starts_on),
  endsOn: day(r.ends_on),
  createdBy: r.created_by,
  createdAt: iso(r.created_at)!,
  launchedAt: iso(r.launched_at),
  progress: { posts: Number(r.posts), scheduled: Number(r.scheduled), published: Number(r.published), failed: Number(r.failed) },
});

export interface CampaignInput {
  name: string;
  goal?: string;
  startsOn: string;
  endsOn: string;
}

export class CampaignsService {
  constructor(
    private readonly db: Db,
    private readonly clock: Clock,
    private readonly events: EventPublisher,
  ) {}

  async list(workspaceId: string): Promise<Campaign[]> {
    return (await rows<CampaignRow>(this.db, sql`${SELECT} WHERE c.workspace_id = ${workspaceId} ORDER BY c.starts_on DESC, c.created_at DESC`)).map(toCampaign);
  }

  async get(workspaceId: string, campaignId: string): Promise<Campaign> {
    const [r] = await rows<CampaignRow>(this.db, sql`${SELECT} WHERE c.workspace_id = ${workspaceId} AND c.id = ${campaignId}`);
    if (!r) throw notFound('Campaign');
    return toCampaign(r);
  }

  async create(workspaceId: string, userId: string, input: CampaignInput): Promise<Campaign> {
    if (input.endsOn < input.startsOn) throw new AppError('validation_failed', 'endsOn is before startsOn', { errors: [{ path: 'endsOn', message: 'before startsOn' }] });
    const id = randomUUID();
    await this.db.transaction(async (tx) => {
      await tx.execute(sql`INSERT INTO content.campaigns (id, workspace_id, name, goal, starts_on, ends_on, created_by, created_at)
        VALUES (${id}, ${workspaceId}, ${input.name}, ${input.goal ?? ''}, ${input.startsOn}, ${input.endsOn}, ${userId}, ${this.clock.now().toISOString()})`);
      await this.events.publish({ name: 'content.campaign.created.v1', workspaceId, actorId: userId, payload: { campaignId: id, name: input.name, startsOn: input.startsOn, endsOn: input.endsOn } }, tx);
    });
    return this.get(workspaceId, id);
  }

  async update(workspaceId: string, campaignId: string, patch: Partial<CampaignInput>): Promise<Campaign> {
    const c = await this.get(workspaceId, campaignId);
    const next = { name: patch.name ?? c.name, goal: patch.goal ?? c.goal, startsOn: patch.startsOn ?? c.startsOn, endsOn: patch.endsOn ?? c.endsOn };
    if (next.endsOn < next.startsOn) throw new AppError('validation_failed', 'endsOn is before startsOn', { errors: [{ path: 'endsOn', message: 'before startsOn' }] });
    await this.db.execute(sql`UPDATE content.campaigns SET name = ${next.name}, goal = ${next.goal}, starts_on = ${next.startsOn}, ends_on = ${next.endsOn} WHERE workspace_id = ${workspaceId} AND id = ${campaignId}`);
    return this.get(workspaceId, campaignId);
  }
}
