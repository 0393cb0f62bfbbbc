import { randomUUID } from 'node:crypto';
import type { Transactor, Tx } from '../../kernel/db/transaction.js';
import type { Clock } from '../../kernel/clock.js';
import type { AuditLog } from '../../kernel/audit/index.js';
import type { EventPublisher } from '../../kernel/events/envelope.js';
import { AppError, notFound, type FieldError } from '../../kernel/errors.js';
import { iso } from './format.js';
import type { Channel, ChannelsService } from './channels.js';
import type { MediaService } from './media.js';
import type { CampaignsRepository } from './campaigns.repository.js';
import type { PostContent, PostRow, PostStatus, PostsRepository, TargetRow, TargetStatus } from './posts.repository.js';
import { formatWall, instantOf, isValidTimeZone, localDay, occurrences, parseRrule, parseWallTime, resolveScheduledAt, wallTimeAt } from './time.js';

export type { PostStatus, TargetStatus } from './posts.repository.js';

export interface Target {
  id: string;
  channelId: string;
  dueAt: string;
  status: TargetStatus;
  attempts: number;
  nextAttemptAt: string | null;
  externalId: string | null;
  url: string | null;
  errorCode: string | null;
  error: string | null;
  lateBySeconds: number | null;
  publishedAt: string | null;
}

export interface Post {
  id: string;
  workspaceId: string;
  campaignId: string | null;
  authorId: string | null;
  title: string | null;
  body: string;
  link: string | null;
  mediaIds: string[];
  channels: { channelId: string; body: string | null }[];
  status: PostStatus;
  /** The lifecycle as one word: the post's status, or once scheduled what its targets say. */
  state: PostStatus | 'publishing' | 'published' | 'partially_published' | 'failed';
  timezone: string;
  scheduledAt: string | null;
  rrule: string | null;
  review: { comment: string | null; by: string | null; at: string | null };
  targets: Target[];
  createdAt: string;
  updatedAt: string;
}

export interface PostInput {
  title?: string | null;
  body: string;
  link?: string | null;
  mediaIds?: string[];
  channels: { channelId: string; body?: string | null }[];
  campaignId?: string | null;
  timezone?: string;
}

export type ScheduleInput = { mode: 'at'; scheduledAt: string; timezone?: string; rrule?: string | null } | { mode: 'now' } | { mode: 'queue' };

export interface Actor {
  userId: string;
  ip?: string;
}

const pgUuidArray = (v: string[] | string): string[] => (Array.isArray(v) ? v : v.replace(/^\{|\}$/g, '').split(',').filter(Boolean));

export const toTarget = (r: TargetRow): Target => ({
  id: r.id,
  channelId: r.channel_id,
  dueAt: iso(r.due_at)!,
  status: r.status,
  attempts: r.attempts,
  nextAttemptAt: iso(r.next_attempt_at),
  externalId: r.external_id,
  url: r.external_url,
  errorCode: r.error_code,
  error: r.error,
  lateBySeconds: r.late_by_seconds,
  publishedAt: iso(r.published_at),
});

function stateOf(status: PostStatus, targets: Target[]): Post['state'] {
  if (status !== 'scheduled' || !targets.length) return status;
  const s = new Set(targets.map((t) => t.status));
  if (s.has('publishing')) return 'publishing';
  if (s.has('scheduled')) return 'scheduled';
  if (s.has('published') && (s.has('failed') || s.has('skipped'))) return 'partially_published';
  if (s.has('published')) return 'published';
  return 'failed';
}

/** What a post's row stores of its input, with the defaults of an omitted field. */
const contentOf = (input: PostInput): PostContent => ({
  title: input.title ?? null,
  body: input.body,
  link: input.link ?? null,
  mediaIds: input.mediaIds ?? [],
  campaignId: input.campaignId ?? null,
  timezone: input.timezone ?? 'UTC',
});

const DAY = 86_400_000;
const CALENDAR_MAX_DAYS = 92;

export class PostsService {
  constructor(
    private readonly db: Transactor,
    private readonly repo: PostsRepository,
    private readonly campaigns: CampaignsRepository,
    private readonly clock: Clock,
    private readonly channels: ChannelsService,
    private readonly media: MediaService,
    private readonly audit: AuditLog,
    private readonly events: EventPublisher,
  ) {}

  // --- settings ---------------------------------------------------------------------------

  async settings(workspaceId: string, tx?: Tx): Promise<{ requireApproval: boolean }> {
    return { requireApproval: (await this.repo.requireApproval(workspaceId, tx)) ?? false };
  }

  async updateSettings(workspaceId: string, actor: Actor, patch: { requireApproval: boolean }): Promise<{ requireApproval: boolean }> {
    await this.db.transaction(async (tx) => {
      await this.repo.saveSettings(workspaceId, patch.requireApproval, this.clock.now().toISOString(), tx);
      await this.audit.record({ action: 'content.settings.updated', workspaceId, actorId: actor.userId, actorIp: actor.ip, targetType: 'content_settings', targetId: workspaceId, data: patch }, tx);
    });
    return this.settings(workspaceId);
  }

  // --- posts ------------------------------------------------------------------------------

  async get(workspaceId: string, postId: string, tx?: Tx): Promise<Post> {
    const p = await this.repo.get(workspaceId, postId, tx);
    if (!p) throw notFound('Post');
    return (await this.hydrate([p], tx))[0]!;
  }

  async list(workspaceId: string, filter: { campaignId?: string; status?: PostStatus; limit: number; before?: string }): Promise<Post[]> {
    return this.hydrate(await this.repo.list(workspaceId, filter));
  }

  private async hydrate(posts: PostRow[], tx?: Tx): Promise<Post[]> {
    if (!posts.length) return [];
    const { channels: chans, targets } = await this.repo.channelsAndTargets(
      posts.map((p) => p.id),
      tx,
    );
    return posts.map((p) => {
      const t = targets.filter((x) => x.post_id === p.id).map(toTarget);
      return {
        id: p.id,
        workspaceId: p.workspace_id,
        campaignId: p.campaign_id,
        authorId: p.author_id,
        title: p.title,
        body: p.body,
        link: p.link,
        mediaIds: pgUuidArray(p.media_ids),
        channels: chans.filter((c) => c.post_id === p.id).map((c) => ({ channelId: c.channel_id, body: c.body_override })),
        status: p.status,
        state: stateOf(p.status, t),
        timezone: p.timezone,
        scheduledAt: p.scheduled_local,
        rrule: p.rrule,
        review: { comment: p.review_comment, by: p.reviewed_by, at: iso(p.reviewed_at) },
        targets: t,
        createdAt: iso(p.created_at)!,
        updatedAt: iso(p.updated_at)!,
      };
    });
  }

  /** Checks the post against every channel's limits; one pointed error per offending channel. */
  private async validate(workspaceId: string, input: PostInput, db: Tx): Promise<Map<string, Channel>> {
    const errors: FieldError[] = [];
    const ids = input.channels.map((c) => c.channelId);
    if (new Set(ids).size !== ids.length) errors.push({ path: 'channels', message: 'a channel is listed twice' });
    const channels = await this.channels.many(workspaceId, ids, db);
    const mediaIds = input.mediaIds ?? [];
    const media = await this.media.many(workspaceId, mediaIds, db);
    mediaIds.forEach((m, i) => {
      if (!media.has(m)) errors.push({ path: `mediaIds.${i}`, message: 'media not found in this workspace' });
    });
    if (input.campaignId) {
      if (!(await this.campaigns.exists(workspaceId, input.campaignId, db))) errors.push({ path: 'campaignId', message: 'campaign not found in this workspace' });
    }
    input.channels.forEach((c, i) => {
      const ch = channels.get(c.channelId);
      if (!ch) {
        errors.push({ path: `channels.${i}.channelId`, message: 'channel not found in this workspace' });
        return;
      }
      const text = c.body ?? input.body;
      const len = [...text].length;
      const label = `channel "${ch.name}" (${ch.connector})`;
      if (len > ch.limits.maxTextLength) errors.push({ path: `channels.${i}`, message: `${label}: text is ${len} characters, the limit is ${ch.limits.maxTextLength}` });
      if (len === 0) errors.push({ path: `channels.${i}`, message: `${label}: text is empty` });
      if (mediaIds.length > ch.limits.maxMedia) errors.push({ path: `channels.${i}`, message: `${label}: ${mediaIds.length} media attached, the limit is ${ch.limits.maxMedia}` });
      const badTypes = [...new Set([...media.values()].map((m) => m.contentType).filter((t) => !ch.limits.mediaTypes.includes(t)))];
      if (badTypes.length) errors.push({ path: `channels.${i}`, message: `${label}: media type ${badTypes.join(', ')} not accepted` });
    });
    if (input.timezone !== undefined && !isValidTimeZone(input.timezone)) errors.push({ path: 'timezone', message: 'not an IANA time zone' });
    if (errors.length) throw new AppError('validation_failed', `The post does not fit ${errors.length === 1 ? 'a channel' : 'its channels'}: ${errors.map((e) => e.message).join('; ')}`, { errors });
    return channels;
  }

  async create(workspaceId: string, actor: Actor, input: PostInput): Promise<Post> {
    const id = randomUUID();
    const now = this.clock.now().toISOString();
    await this.db.transaction(async (tx) => {
      await this.validate(workspaceId, input, tx);
      await this.repo.insert({ id, workspaceId, authorId: actor.userId, now, ...contentOf(input) }, tx);
      await this.repo.replaceChannels(id, input.channels, tx);
    });
    return this.get(workspaceId, id);
  }

  /** Locks the post row; refuses once any target started publishing (the provider may already have it). */
  private async lockEditable(tx: Tx, workspaceId: string, postId: string): Promise<PostRow> {
    const p = await this.repo.lock(workspaceId, postId, tx);
    if (!p) throw notFound('Post');
    if (p.status === 'cancelled') throw new AppError('conflict', 'The post is cancelled');
    if (await this.repo.hasPublishingTarget(postId, tx)) throw new AppError('conflict', 'Publishing has started; the post can no longer be changed');
    if (!p.rrule) {
      if (await this.repo.hasFinishedTarget(postId, tx)) throw new AppError('conflict', 'The post was already published (or failed) on a channel; create a new post instead');
    }
    return p;
  }

  async update(workspaceId: string, postId: string, actor: Actor, patch: Partial<PostInput>): Promise<Post> {
    await this.db.transaction(async (tx) => {
      const p = await this.lockEditable(tx, workspaceId, postId);
      const current = await this.get(workspaceId, postId, tx);
      const next: PostInput = {
        title: patch.title !== undefined ? patch.title : current.title,
        body: patch.body ?? current.body,
        link: patch.link !== undefined ? patch.link : current.link,
        mediaIds: patch.mediaIds ?? current.mediaIds,
        channels: patch.channels ?? current.channels,
        campaignId: patch.campaignId !== undefined ? patch.campaignId : current.campaignId,
        timezone: patch.timezone ?? current.timezone,
      };
      await this.validate(workspaceId, next, tx);
      const { requireApproval } = await this.settings(workspaceId, tx);
      // An approval covers the content that was reviewed; changed content goes back to draft.
      const contentChanged = ['title', 'body', 'link', 'mediaIds', 'channels'].some((k) => (patch as Record<string, unknown>)[k] !== undefined);
      const backToDraft = requireApproval && contentChanged && (p.status === 'approved' || p.status === 'scheduled' || p.status === 'in_review');
      const now = this.clock.now().toISOString();
      await this.repo.updateContent(postId, contentOf(next), backToDraft ? 'draft' : p.status, now, tx);
      if (patch.channels) await this.repo.replaceChannels(postId, next.channels, tx);
      if (backToDraft || patch.channels) {
        // Targets of removed channels (or of a post sent back for review) must not go out.
        await this.repo.deleteScheduledTargets(postId, tx, backToDraft ? undefined : next.channels.map((c) => c.channelId));
      }
      if (backToDraft) await this.audit.record({ action: 'content.post.approval_reset', workspaceId, actorId: actor.userId, actorIp: actor.ip, targetType: 'post', targetId: postId, data: {} }, tx);
    });
    return this.get(workspaceId, postId);
  }

  async remove(workspaceId: string, postId: string): Promise<void> {
    await this.db.transaction(async (tx) => {
      await this.lockEditable(tx, workspaceId, postId);
      await this.repo.delete(postId, tx);
    });
  }

  // --- approvals --------------------------------------------------------------------------

  async submit(workspaceId: string, postId: string, actor: Actor): Promise<Post> {
    await this.db.transaction(async (tx) => {
      const p = await this.lockEditable(tx, workspaceId, postId);
      if (p.status !== 'draft') throw new AppError('conflict', `Only drafts can be submitted for review (the post is ${p.status})`);
      await this.repo.setStatus(postId, 'in_review', this.clock.now().toISOString(), tx);
      await this.audit.record({ action: 'content.post.submitted', workspaceId, actorId: actor.userId, actorIp: actor.ip, targetType: 'post', targetId: postId, data: {} }, tx);
    });
    return this.get(workspaceId, postId);
  }

  async review(workspaceId: string, postId: string, actor: Actor, decision: 'approve' | 'reject', comment: string | null): Promise<Post> {
    await this.db.transaction(async (tx) => {
      const p = await this.lockEditable(tx, workspaceId, postId);
      if (p.status !== 'in_review') throw new AppError('conflict', `Only posts in review can be ${decision === 'approve' ? 'approved' : 'rejected'} (the post is ${p.status})`);
      const now = this.clock.now().toISOString();
      await this.repo.setReview(postId, decision === 'approve' ? 'approved' : 'draft', comment, actor.userId, now, tx);
      await this.audit.record(
        { action: decision === 'approve' ? 'content.post.approved' : 'content.post.rejected', workspaceId, actorId: actor.userId, actorIp: actor.ip, targetType: 'post', targetId: postId, data: { comment } },
        tx,
      );
    });
    return this.get(workspaceId, postId);
  }

  // --- scheduling -------------------------------------------------------------------------

  async schedule(workspaceId: string, postId: string, actor: Actor, input: ScheduleInput): Promise<Post> {
    await this.db.transaction(async (tx) => {
      const p = await this.lockEditable(tx, workspaceId, postId);
      const { requireApproval } = await this.settings(workspaceId, tx);
      const allowed: PostStatus[] = requireApproval ? ['approved', 'scheduled'] : ['draft', 'approved', 'scheduled'];
      if (!allowed.includes(p.status)) {
        throw new AppError('conflict', requireApproval ? `This workspace requires approval before scheduling (the post is ${p.status})` : `A post that is ${p.status} cannot be scheduled`);
      }
      const post = await this.get(workspaceId, postId, tx);
      const channelIds = post.channels.map((c) => c.channelId);
      if (!channelIds.length) throw new AppError('validation_failed', 'The post has no channel', { errors: [{ path: 'channels', message: 'at least one channel' }] });
      // Re-validate: a channel's limits may have changed since the post was saved.
      const channels = await this.validate(workspaceId, { ...post, channels: post.channels }, tx);
      // Serialise schedulers of these channels so two posts cannot take the same queue slot.
      await this.channels.lock(channelIds, tx);
      // A reschedule replaces what has not started; published history of a recurring post stays.
      await this.repo.deleteScheduledTargets(postId, tx);

      const now = this.clock.now().getTime();
      const due = new Map<string, number>();
      let timezone = post.timezone;
      let scheduledLocal: string | null = null;
      let rrule: string | null = null;
      if (input.mode === 'now') {
        for (const id of channelIds) due.set(id, now);
      } else if (input.mode === 'queue') {
        for (const id of channelIds) {
          const [slot] = await this.channels.freeSlots(workspaceId, id, 1, tx);
          if (slot === undefined) throw new AppError('conflict', `Channel "${channels.get(id)!.name}" has no free queue slot in the next 8 weeks (add queue slots)`);
          due.set(id, slot);
        }
      } else {
        timezone = input.timezone ?? post.timezone;
        if (!isValidTimeZone(timezone)) throw new AppError('validation_failed', `Unknown time zone "${timezone}"`, { errors: [{ path: 'timezone', message: 'not an IANA time zone' }] });
        const at = resolveScheduledAt(input.scheduledAt, timezone);
        if (at === null) throw new AppError('validation_failed', 'scheduledAt must be a local date-time (2026-03-29T09:00) or an ISO instant', { errors: [{ path: 'scheduledAt', message: 'invalid date-time' }] });
        if (at < now - 60_000) throw new AppError('validation_failed', 'scheduledAt is in the past', { errors: [{ path: 'scheduledAt', message: 'in the past' }] });
        scheduledLocal = formatWall(wallTimeAt(at, timezone));
        let first = at;
        if (input.rrule) {
          if (!parseRrule(input.rrule)) throw new AppError('validation_failed', 'rrule is not a valid RRULE (FREQ=HOURLY or slower, without DTSTART)', { errors: [{ path: 'rrule', message: 'invalid RRULE' }] });
          rrule = input.rrule.replace(/^RRULE:/i, '');
          const [o] = occurrences(rrule, wallTimeAt(at, timezone), timezone, Math.max(at, now) - 1, 1);
          if (o === undefined) throw new AppError('validation_failed', 'The RRULE has no occurrence from scheduledAt on', { errors: [{ path: 'rrule', message: 'no occurrence' }] });
          first = o;
        }
        for (const id of channelIds) due.set(id, first);
      }
      const nowIso = new Date(now).toISOString();
      const created: { targetId: string; channelId: string; channel: string; dueAt: string }[] = [];
      for (const [channelId, at] of due) {
        const targetId = randomUUID();
        const dueAt = new Date(at).toISOString();
        await this.repo.insertTarget({ id: targetId, workspaceId, postId, channelId, dueAt, now: nowIso }, tx);
        created.push({ targetId, channelId, channel: channels.get(channelId)!.connector, dueAt });
      }
      await this.repo.markScheduled(postId, { timezone, scheduledLocal, rrule }, nowIso, tx);
      await this.events.publish(
        { name: 'content.post.scheduled.v1', workspaceId, actorId: actor.userId, payload: { postId, campaignId: post.campaignId, targets: created, recurring: rrule !== null } },
        tx,
      );
    });
    return this.get(workspaceId, postId);
  }

  /** Sends a failed (or skipped) channel target again, now; the provider's last error is cleared. */
  async retry(workspaceId: string, postId: string, targetId: string, actor: Actor): Promise<Post> {
    await this.db.transaction(async (tx) => {
      const p = await this.repo.lock(workspaceId, postId, tx);
      if (!p) throw notFound('Post');
      if (p.status !== 'scheduled') throw new AppError('conflict', `Only a scheduled post's failed channel can be retried (the post is ${p.status})`);
      const now = this.clock.now().toISOString();
      const was = await this.repo.retryTarget(workspaceId, postId, targetId, now, tx);
      if (was === null) throw notFound('Target');
      if (was !== 'scheduled') throw new AppError('conflict', `Only a failed or skipped channel can be retried (it is ${was})`);
      await this.audit.record({ action: 'content.post.retried', workspaceId, actorId: actor.userId, actorIp: actor.ip, targetType: 'post', targetId: postId, data: { targetId } }, tx);
    });
    return this.get(workspaceId, postId);
  }

  async cancel(workspaceId: string, postId: string, actor: Actor): Promise<Post> {
    await this.db.transaction(async (tx) => {
      await this.lockEditable(tx, workspaceId, postId);
      const now = this.clock.now().toISOString();
      await this.repo.cancel(postId, now, tx);
      await this.audit.record({ action: 'content.post.cancelled', workspaceId, actorId: actor.userId, actorIp: actor.ip, targetType: 'post', targetId: postId, data: {} }, tx);
    });
    return this.get(workspaceId, postId);
  }

  /**
   * After an occurrence of a recurring post finished, the next one is scheduled (in the
   * caller's transaction; the unique (post, channel, due_at) makes a repeat harmless).
   */
  async scheduleNextOccurrence(tx: Tx, target: { postId: string; channelId: string; workspaceId: string; dueAt: Date }): Promise<void> {
    const p = await this.repo.recurrence(target.postId, tx);
    if (!p?.rrule || !p.scheduled_local || p.status !== 'scheduled') return;
    const start = parseWallTime(p.scheduled_local);
    if (!start) return;
    const [next] = occurrences(p.rrule, start, p.timezone, Math.max(target.dueAt.getTime(), this.clock.now().getTime() - 1), 1);
    if (next === undefined) return;
    await this.repo.insertOccurrence(
      { id: randomUUID(), workspaceId: target.workspaceId, postId: target.postId, channelId: target.channelId, dueAt: new Date(next).toISOString(), now: this.clock.now().toISOString() },
      tx,
    );
  }

  // --- calendar ---------------------------------------------------------------------------

  /** A missing `from` is today in `tz`; a missing `to` is six days after `from`. */
  defaultRange(from: string | undefined, to: string | undefined, tz: string): { from: string; to: string } {
    if (!isValidTimeZone(tz)) throw new AppError('validation_failed', `Unknown time zone "${tz}"`, { errors: [{ path: 'tz', message: 'not an IANA time zone' }] });
    const start = from ?? localDay(this.clock.now().getTime(), tz);
    const w = parseWallTime(`${start}T00:00`);
    const end = to ?? (w ? new Date(Date.UTC(w.year, w.month - 1, w.day + 6)).toISOString().slice(0, 10) : start);
    return { from: start, to: end };
  }

  async calendar(workspaceId: string, fromDay: string, toDay: string, tz: string) {
    if (!isValidTimeZone(tz)) throw new AppError('validation_failed', `Unknown time zone "${tz}"`, { errors: [{ path: 'tz', message: 'not an IANA time zone' }] });
    const from = parseWallTime(`${fromDay}T00:00`);
    const to = parseWallTime(`${toDay}T00:00`);
    if (!from || !to) throw new AppError('validation_failed', 'from and to are dates (YYYY-MM-DD)', { errors: [{ path: 'from', message: 'invalid date' }] });
    const days = Math.round((Date.UTC(to.year, to.month - 1, to.day) - Date.UTC(from.year, from.month - 1, from.day)) / DAY) + 1;
    if (days < 1 || days > CALENDAR_MAX_DAYS) throw new AppError('validation_failed', `The range must cover 1 to ${CALENDAR_MAX_DAYS} days`, { errors: [{ path: 'to', message: 'range' }] });
    const start = instantOf(from, tz);
    const endDate = new Date(Date.UTC(to.year, to.month - 1, to.day + 1));
    const end = instantOf({ year: endDate.getUTCFullYear(), month: endDate.getUTCMonth() + 1, day: endDate.getUTCDate(), hour: 0, minute: 0, second: 0 }, tz);
    const r = await this.repo.calendar(workspaceId, new Date(start).toISOString(), new Date(end).toISOString());
    const byDay = new Map<string, Map<string, { postId: string; title: string | null; excerpt: string; campaignId: string | null; at: string; localTime: string; channels: unknown[] }>>();
    for (let d = 0; d < days; d++) {
      const date = new Date(Date.UTC(from.year, from.month - 1, from.day + d)).toISOString().slice(0, 10);
      byDay.set(date, new Map());
    }
    for (const t of r) {
      const at = new Date(t.due_at).getTime();
      const day = localDay(at, tz);
      const bucket = byDay.get(day);
      if (!bucket) continue;
      const key = `${t.post_id}|${at}`;
      let entry = bucket.get(key);
      if (!entry) {
        entry = { postId: t.post_id, title: t.title, excerpt: [...t.body].slice(0, 140).join(''), campaignId: t.campaign_id, at: new Date(at).toISOString(), localTime: formatWall(wallTimeAt(at, tz)).slice(11, 16), channels: [] };
        bucket.set(key, entry);
      }
      entry.channels.push({ channelId: t.channel_id, channelName: t.channel_name, connector: t.connector, targetId: t.id, status: t.status, url: t.external_url, error: t.error, lateBySeconds: t.late_by_seconds });
    }
    return { timezone: tz, from: fromDay, to: toDay, days: [...byDay].map(([date, posts]) => ({ date, posts: [...posts.values()] })) };
  }

  // --- personal data ----------------------------------------------------------------------

  async ofAuthor(userId: string): Promise<Post[]> {
    return this.hydrate(await this.repo.ofAuthor(userId));
  }

  /** Deletes the user's posts (user content is kept until the user is deleted); reviews by them lose the name. */
  async eraseAuthor(userId: string): Promise<{ posts: number; reviews: number }> {
    return this.db.transaction(async (tx) => {
      const counts = await this.repo.eraseAuthor(userId, tx);
      await this.campaigns.forgetCreator(userId, tx);
      return counts;
    });
  }
}
