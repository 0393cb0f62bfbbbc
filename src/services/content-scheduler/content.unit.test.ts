import { describe, expect, it } from 'vitest';
import { ManualClock } from '../../kernel/clock.js';
import type { AuditLog } from '../../kernel/audit/index.js';
import type { Transactor, Tx } from '../../kernel/db/transaction.js';
import type { EventPublisher } from '../../kernel/events/envelope.js';
import { AppError } from '../../kernel/errors.js';
import type { IntegrationHubContract } from '../integration-hub/contract.js';
import { CampaignsService } from './campaigns.js';
import type { CampaignsRepository } from './campaigns.repository.js';
import { ChannelsService } from './channels.js';
import type { ChannelRow, ChannelsRepository } from './channels.repository.js';
import type { MediaService } from './media.js';
import { PostsService } from './posts.js';
import type { PostRow, PostStatus, PostsRepository } from './posts.repository.js';

/** Services against fake repositories: no database, the transaction is a token passed along. */
const TX = { fake: 'tx' } as unknown as Tx;
const transactor: Transactor = { transaction: (fn) => fn(TX) };
const fake = <T>(impl: Partial<T>) => impl as T;
const WS = '00000000-0000-4000-8000-000000000001';
const USER = '00000000-0000-4000-8000-000000000002';
const POST = '00000000-0000-4000-8000-000000000003';

function recordingEvents() {
  const published: { name: string; tx: unknown }[] = [];
  const events = fake<EventPublisher>({ publish: async (e, tx) => (published.push({ name: e.name, tx }), e as never) });
  return { events, published };
}

describe('CampaignsService (fake repository)', () => {
  it('writes the campaign and its created event in one transaction, and refuses an end before the start without writing', async () => {
    const inserted: { name: string; tx: unknown }[] = [];
    const repo = fake<CampaignsRepository>({
      insert: async (c, tx) => void inserted.push({ name: c.name, tx }),
      get: async (_ws, id) => ({ id, name: 'Launch', goal: '', starts_on: '2026-06-01', ends_on: '2026-06-30', created_by: USER, created_at: new Date(), launched_at: null, posts: '2', scheduled: 1, published: '1', failed: 0 }),
    });
    const { events, published } = recordingEvents();
    const svc = new CampaignsService(transactor, repo, new ManualClock('2026-05-01T00:00:00Z'), events);

    await expect(svc.create(WS, USER, { name: 'Bad', startsOn: '2026-06-30', endsOn: '2026-06-01' })).rejects.toMatchObject({ code: 'validation_failed' });
    expect(inserted).toEqual([]);

    const c = await svc.create(WS, USER, { name: 'Launch', startsOn: '2026-06-01', endsOn: '2026-06-30' });
    expect(inserted).toEqual([{ name: 'Launch', tx: TX }]);
    expect(published).toEqual([{ name: 'content.campaign.created.v1', tx: TX }]);
    expect(c.progress).toEqual({ posts: 2, scheduled: 1, published: 1, failed: 0 });
  });
});

describe('ChannelsService (fake repository)', () => {
  const channel: ChannelRow = {
    id: 'ch-1',
    workspace_id: WS,
    connection_id: 'conn-1',
    connector: 'mastodon',
    name: 'Main',
    timezone: 'Europe/Berlin',
    max_text_length: 500,
    max_media: 4,
    media_types: '{image/png,image/jpeg}',
    queue_slots: JSON.stringify([{ weekday: 1, time: '09:00' }, { weekday: 3, time: '09:00' }]),
    late_policy: 'publish_late',
    late_grace_seconds: 3600,
    created_at: new Date(),
    updated_at: new Date(),
  };

  it('skips queue slots a live target already holds, in the channel time zone', async () => {
    // Monday 2026-06-01 08:00 Berlin (06:00 UTC): the next slots are Mon 09:00, Wed 09:00, Mon 09:00 ...
    const clock = new ManualClock('2026-06-01T06:00:00Z');
    let asked: { after: string; until: string } | undefined;
    const repo = fake<ChannelsRepository>({
      get: async () => channel,
      takenSlots: async (_id, after, until) => ((asked = { after, until }), [new Date('2026-06-01T07:00:00Z')]),
    });
    const svc = new ChannelsService(transactor, repo, clock, () => fake<IntegrationHubContract>({}));
    const free = await svc.freeSlots(WS, 'ch-1', 2);
    expect(free.map((ms) => new Date(ms).toISOString())).toEqual(['2026-06-03T07:00:00.000Z', '2026-06-08T07:00:00.000Z']);
    expect(asked?.after).toBe('2026-06-01T06:00:00.000Z');
    expect((await svc.get(WS, 'ch-1')).limits.mediaTypes).toEqual(['image/png', 'image/jpeg']);
  });

  it('answers not_found for a channel the repository does not have', async () => {
    const svc = new ChannelsService(transactor, fake<ChannelsRepository>({ get: async () => null }), new ManualClock(), () => fake<IntegrationHubContract>({}));
    await expect(svc.get(WS, 'nope')).rejects.toMatchObject({ code: 'not_found' });
  });
});

describe('PostsService (fake repository)', () => {
  const postRow = (status: PostStatus): PostRow => ({
    id: POST,
    workspace_id: WS,
    campaign_id: null,
    author_id: USER,
    title: null,
    body: 'hello',
    link: null,
    media_ids: '{}',
    status,
    timezone: 'UTC',
    scheduled_local: null,
    rrule: null,
    review_comment: null,
    reviewed_by: null,
    reviewed_at: null,
    created_at: new Date('2026-05-01T00:00:00Z'),
    updated_at: new Date('2026-05-01T00:00:00Z'),
  });

  function setup(opts: { status: PostStatus; publishing?: boolean }) {
    let status = opts.status;
    const writes: string[] = [];
    const audited: { action: string; tx: unknown }[] = [];
    const repo = fake<PostsRepository>({
      lock: async () => postRow(status),
      get: async () => postRow(status),
      hasPublishingTarget: async () => opts.publishing ?? false,
      hasFinishedTarget: async () => false,
      setStatus: async (_id, s, _now, tx) => {
        expect(tx).toBe(TX);
        writes.push(`status=${s}`);
        status = s;
      },
      channelsAndTargets: async () => ({ channels: [{ post_id: POST, channel_id: 'ch-1', body_override: null }], targets: [] }),
    });
    const audit = fake<AuditLog>({ record: async (e, tx) => (audited.push({ action: e.action, tx }), {} as never) });
    const svc = new PostsService(transactor, repo, fake<CampaignsRepository>({}), new ManualClock(), fake<ChannelsService>({}), fake<MediaService>({}), audit, recordingEvents().events);
    return { svc, writes, audited };
  }

  it('submits a draft for review: status and audit entry in the same transaction', async () => {
    const { svc, writes, audited } = setup({ status: 'draft' });
    const p = await svc.submit(WS, POST, { userId: USER });
    expect(p.status).toBe('in_review');
    expect(p.channels).toEqual([{ channelId: 'ch-1', body: null }]);
    expect(writes).toEqual(['status=in_review']);
    expect(audited).toEqual([{ action: 'content.post.submitted', tx: TX }]);
  });

  it('refuses to change a post once a target is publishing, and only drafts can be submitted', async () => {
    const busy = setup({ status: 'scheduled', publishing: true });
    const err = await busy.svc.submit(WS, POST, { userId: USER }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(AppError);
    expect(err).toMatchObject({ code: 'conflict', message: expect.stringMatching(/Publishing has started/) });
    expect(busy.writes).toEqual([]);

    const approved = setup({ status: 'approved' });
    await expect(approved.svc.submit(WS, POST, { userId: USER })).rejects.toMatchObject({ code: 'conflict', message: expect.stringMatching(/Only drafts/) });
    expect(approved.audited).toEqual([]);
  });
});
