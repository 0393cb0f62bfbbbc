import { randomUUID } from 'node:crypto';
import type { Transactor } from '../../kernel/db/transaction.js';
import type { Clock } from '../../kernel/clock.js';
import type { EventPublisher } from '../../kernel/events/envelope.js';
import { AppError, notFound } from '../../kernel/errors.js';
import type { CampaignRow, CampaignsRepository } from './campaigns.repository.js';
import { iso } from './format.js';

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

const day = (v: string | Date) => (typeof v === 'string' ? v.slice(0, 10) : v.toISOString().slice(0, 10));

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
    private readonly db: Transactor,
    private readonly repo: CampaignsRepository,
    private readonly clock: Clock,
    private readonly events: EventPublisher,
  ) {}

  async list(workspaceId: string): Promise<Campaign[]> {
    return (await this.repo.list(workspaceId)).map(toCampaign);
  }

  async get(workspaceId: string, campaignId: string): Promise<Campaign> {
    const r = await this.repo.get(workspaceId, campaignId);
    if (!r) throw notFound('Campaign');
    return toCampaign(r);
  }

  async create(workspaceId: string, userId: string, input: CampaignInput): Promise<Campaign> {
    if (input.endsOn < input.startsOn) throw new AppError('validation_failed', 'endsOn is before startsOn', { errors: [{ path: 'endsOn', message: 'before startsOn' }] });
    const id = randomUUID();
    await this.db.transaction(async (tx) => {
      await this.repo.insert({ id, workspaceId, name: input.name, goal: input.goal ?? '', startsOn: input.startsOn, endsOn: input.endsOn, createdBy: userId, createdAt: this.clock.now().toISOString() }, tx);
      await this.events.publish({ name: 'content.campaign.created.v1', workspaceId, actorId: userId, payload: { campaignId: id, name: input.name, startsOn: input.startsOn, endsOn: input.endsOn } }, tx);
    });
    return this.get(workspaceId, id);
  }

  async update(workspaceId: string, campaignId: string, patch: Partial<CampaignInput>): Promise<Campaign> {
    const c = await this.get(workspaceId, campaignId);
    const next = { name: patch.name ?? c.name, goal: patch.goal ?? c.goal, startsOn: patch.startsOn ?? c.startsOn, endsOn: patch.endsOn ?? c.endsOn };
    if (next.endsOn < next.startsOn) throw new AppError('validation_failed', 'endsOn is before startsOn', { errors: [{ path: 'endsOn', message: 'before startsOn' }] });
    await this.repo.update(workspaceId, campaignId, next);
    return this.get(workspaceId, campaignId);
  }
}
