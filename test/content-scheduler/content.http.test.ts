import { sql } from 'drizzle-orm';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { createTestPlatform, type TestPlatform } from '../helpers/platform.js';
import { addMember, bearer, createWorkspace, problem, signup, type TestUser } from '../helpers/api.js';
import { startFakeChannel, webhookChannel, type FakeChannel } from './fake-channel.js';
import type { ContentInstance } from '../../src/services/content-scheduler/index.js';
import type { IntegrationHubContract } from '../../src/services/integration-hub/contract.js';
import { idempotencyKeyOf } from '../../src/services/content-scheduler/publisher.js';

let t: TestPlatform;
let f: FakeChannel;
let owner: TestUser;
let dev: TestUser;
let ws: string;
let channelId: string;
let connectionId: string;

const content = () => t.platform.instances.get('content-scheduler') as ContentInstance;
const runPublisher = () => content().services.publisher.runOnce();
const api = (user: TestUser) => ({
  get: (url: string) => t.inject({ method: 'GET', url: `/v1/workspaces/${ws}${url}`, headers: bearer(user.token) }),
  post: (url: string, payload: unknown = {}) => t.inject({ method: 'POST', url: `/v1/workspaces/${ws}${url}`, headers: bearer(user.token), payload: payload as object }),
  patch: (url: string, payload: unknown) => t.inject({ method: 'PATCH', url: `/v1/workspaces/${ws}${url}`, headers: bearer(user.token), payload: payload as object }),
  put: (url: string, payload: unknown) => t.inject({ method: 'PUT', url: `/v1/workspaces/${ws}${url}`, headers: bearer(user.token), payload: payload as object }),
});

async function createPost(body: Record<string, unknown>, user = owner) {
  const res = await api(user).post('/posts', { body: 'Hello world', channels: [{ channelId }], ...body });
  expect(res.statusCode, res.body).toBe(201);
  return res.json().post as { id: string };
}

async function outbox(name: string): Promise<Record<string, unknown>[]> {
  const r = (await t.platform.ctx.db.execute(sql`SELECT payload FROM kernel.outbox WHERE name = ${name} ORDER BY seq`)) as unknown as { rows: { payload: Record<string, unknown> }[] };
  return r.rows.map((x) => (typeof x.payload === 'string' ? JSON.parse(x.payload) : x.payload));
}

beforeAll(async () => {
  t = await createTestPlatform({ V01T_EGRESS_ALLOW: '127.0.0.1', CONTENT_PUBLISH_MAX_ATTEMPTS: '3' });
  t.clock.set(new Date('2026-06-01T10:00:00Z'));
  f = await startFakeChannel(() => t.clock.now().getTime());
  owner = await signup(t, 'Content Owner');
  dev = await signup(t, 'Content Dev');
  ws = await createWorkspace(t, owner, 'Content');
  await addMember(t, ws, owner, dev, 'developer');
  ({ channelId, connectionId } = await webhookChannel(t, owner, ws, f.url));
}, 60_000);

afterAll(async () => {
  await t?.close();
  await f?.close();
});

beforeEach(() => {
  f.answers.length = 0;
});

describe('channels', () => {
  it('binds only connections whose connector can publish, within the provider limits', async () => {
    const http = await t.inject({ method: 'POST', url: `/v1/workspaces/${ws}/connections`, headers: bearer(owner.token), payload: { connector: 'http', name: 'plain http', config: { baseUrl: 'http://127.0.0.1:9' } } });
    if (http.statusCode === 201) {
      const res = await api(owner).post('/channels', { connectionId: http.json().connection.id, name: 'x', timezone: 'UTC' });
      expect(problem(res).code).toBe('validation_failed');
      expect(res.body).toMatch(/cannot publish/);
    }
    const tooMuch = await api(owner).post('/channels', { connectionId, name: 'x', timezone: 'UTC', limits: { maxMedia: 15 } });
    expect(problem(tooMuch).errors?.[0]).toEqual({ path: 'limits.maxMedia', message: 'webhook accepts at most 10 media' });
    const badTz = await api(owner).post('/channels', { connectionId, name: 'x', timezone: 'Mars/Olympus' });
    expect(problem(badTz).code).toBe('validation_failed');
    const unknown = await api(owner).post('/channels', { connectionId: '00000000-0000-4000-8000-000000000000', name: 'x', timezone: 'UTC' });
    expect(problem(unknown).errors?.[0]?.path).toBe('connectionId');
    expect(problem(await api(dev).post('/channels', { connectionId, name: 'x', timezone: 'UTC' })).code).toBe('forbidden');
  });
});

describe('posts and channel limits', () => {
  it('names each channel whose limits the post breaks', async () => {
    const short = await webhookChannel(t, owner, ws, f.url, { name: 'Short', limits: { maxTextLength: 10, maxMedia: 0 } });
    const res = await api(owner).post('/posts', { body: 'This text is longer than ten characters', channels: [{ channelId }, { channelId: short.channelId }] });
    const p = problem(res);
    expect(p.code).toBe('validation_failed');
    expect(p.errors).toEqual([{ path: 'channels.1', message: expect.stringContaining('channel "Short" (webhook): text is 39 characters, the limit is 10') }]);
    // A per-channel override that fits is accepted.
    const ok = await api(owner).post('/posts', { body: 'This text is longer than ten characters', channels: [{ channelId }, { channelId: short.channelId, body: 'Short one' }] });
    expect(ok.statusCode, ok.body).toBe(201);
    expect(ok.json().post.channels).toHaveLength(2);
    await api(owner).post(`/posts/${ok.json().post.id}/cancel`);
    await t.inject({ method: 'DELETE', url: `/v1/workspaces/${ws}/channels/${short.channelId}`, headers: bearer(owner.token) });
  });

  it('checks media count and type against the channel', async () => {
    const png = Buffer.concat([Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]), Buffer.alloc(100, 1)]);
    const up = await uploadMedia(png, 'image/png', 'a.png');
    expect(up.statusCode, up.body).toBe(201);
    const noMedia = await webhookChannel(t, owner, ws, f.url, { name: 'Text only', limits: { maxMedia: 0 } });
    const res = await api(owner).post('/posts', { body: 'pic', mediaIds: [up.json().media.id], channels: [{ channelId: noMedia.channelId }] });
    expect(problem(res).errors?.[0]?.message).toMatch(/1 media attached, the limit is 0/);
    const pngOnly = await webhookChannel(t, owner, ws, f.url, { name: 'Jpeg only', limits: { mediaTypes: ['image/jpeg'] } });
    const res2 = await api(owner).post('/posts', { body: 'pic', mediaIds: [up.json().media.id], channels: [{ channelId: pngOnly.channelId }] });
    expect(problem(res2).errors?.[0]?.message).toMatch(/media type image\/png not accepted/);
    // Within the limits: scheduled and published with the file (media-publish.test.ts checks the bytes per provider).
    const withMedia = await api(owner).post('/posts', { body: 'pic', mediaIds: [up.json().media.id], channels: [{ channelId }] });
    expect(withMedia.statusCode, withMedia.body).toBe(201);
    const sched = await api(owner).post(`/posts/${withMedia.json().post.id}/schedule`, { mode: 'now' });
    expect(sched.statusCode, sched.body).toBe(200);
    expect(await runPublisher()).toMatchObject({ published: 1 });
    expect((await api(owner).get(`/posts/${withMedia.json().post.id}`)).json().post.status).toBe('published');
  });
});

async function uploadMedia(data: Buffer, type: string, name: string, headers: Record<string, string> = {}) {
  const boundary = '----v01tboundary';
  const payload = Buffer.concat([
    Buffer.from(`--${boundary}\r\nContent-Disposition: form-data; name="file"; filename="${name}"\r\nContent-Type: ${type}\r\n\r\n`),
    data,
    Buffer.from(`\r\n--${boundary}--\r\n`),
  ]);
  return t.inject({ method: 'POST', url: `/v1/workspaces/${ws}/media`, headers: { ...bearer(owner.token), 'content-type': `multipart/form-data; boundary=${boundary}`, ...headers }, payload });
}

describe('media upload (local filesystem adapter)', () => {
  it('stores the file with its SHA-256 and serves the same bytes', async () => {
    const jpeg = Buffer.concat([Buffer.from([0xff, 0xd8, 0xff, 0xe0]), Buffer.alloc(5000, 7)]);
    const { createHash } = await import('node:crypto');
    const sha = createHash('sha256').update(jpeg).digest('hex');
    const res = await uploadMedia(jpeg, 'image/jpeg', 'photo.jpg', { 'x-checksum-sha256': sha });
    expect(res.statusCode, res.body).toBe(201);
    expect(res.json().media).toMatchObject({ contentType: 'image/jpeg', sizeBytes: jpeg.length, sha256: sha, fileName: 'photo.jpg' });
    const got = await t.inject({ method: 'GET', url: `/v1/workspaces/${ws}/media/${res.json().media.id}/content`, headers: bearer(owner.token) });
    expect(got.statusCode).toBe(200);
    expect(got.rawPayload.equals(jpeg)).toBe(true);
    expect(content().services.storage.kind).toBe('fs');
  });

  it('refuses wrong checksums, disguised and unaccepted types', async () => {
    const jpeg = Buffer.concat([Buffer.from([0xff, 0xd8, 0xff, 0xe0]), Buffer.alloc(10, 7)]);
    expect(problem(await uploadMedia(jpeg, 'image/jpeg', 'a.jpg', { 'x-checksum-sha256': 'a'.repeat(64) })).code).toBe('validation_failed');
    expect(problem(await uploadMedia(Buffer.from('MZ not an image'), 'image/png', 'a.png')).code).toBe('unsupported_media_type');
    expect(problem(await uploadMedia(Buffer.from('<svg/>'), 'image/svg+xml', 'a.svg')).code).toBe('unsupported_media_type');
  });
});

describe('approvals', () => {
  it('requires approval when the workspace says so; approvers by role; decisions audited', async () => {
    expect(problem(await api(dev).put('/content/settings', { requireApproval: true })).code).toBe('forbidden');
    expect((await api(owner).put('/content/settings', { requireApproval: true })).json().settings.requireApproval).toBe(true);
    const post = await createPost({ body: 'Needs a look' }, dev);
    const early = await api(dev).post(`/posts/${post.id}/schedule`, { mode: 'now' });
    expect(problem(early).code).toBe('conflict');
    expect(early.body).toMatch(/requires approval/);
    expect((await api(dev).post(`/posts/${post.id}/submit`)).json().post.status).toBe('in_review');
    expect(problem(await api(dev).post(`/posts/${post.id}/approve`, { comment: 'self' })).code).toBe('forbidden');
    const rejected = await api(owner).post(`/posts/${post.id}/reject`, { comment: 'Fix the typo' });
    expect(rejected.json().post).toMatchObject({ status: 'draft', review: { comment: 'Fix the typo', by: owner.id } });
    await api(dev).patch(`/posts/${post.id}`, { body: 'Needs a look, fixed' });
    await api(dev).post(`/posts/${post.id}/submit`);
    const approved = await api(owner).post(`/posts/${post.id}/approve`, { comment: 'Ship it' });
    expect(approved.json().post.status).toBe('approved');
    // Changing approved content sends it back to draft.
    expect((await api(dev).patch(`/posts/${post.id}`, { body: 'Sneaky change' })).json().post.status).toBe('draft');
    await api(dev).post(`/posts/${post.id}/submit`);
    await api(owner).post(`/posts/${post.id}/approve`, {});
    const scheduled = await api(dev).post(`/posts/${post.id}/schedule`, { mode: 'at', scheduledAt: '2026-06-02T09:00', timezone: 'Europe/Paris' });
    expect(scheduled.statusCode, scheduled.body).toBe(200);
    expect(scheduled.json().post.targets[0].dueAt).toBe('2026-06-02T07:00:00.000Z');
    const audit = await t.platform.ctx.audit.list({ workspaceId: ws, limit: 50 });
    const actions = audit.map((e) => `${e.action}:${(e.data as { comment?: string }).comment ?? ''}`);
    expect(actions).toEqual(expect.arrayContaining(['content.post.rejected:Fix the typo', 'content.post.approved:Ship it', 'content.settings.updated:']));
    await api(dev).post(`/posts/${post.id}/cancel`);
    await api(owner).put('/content/settings', { requireApproval: false });
  });
});

describe('scheduling, queue and calendar', () => {
  it('reads scheduledAt in the given zone, refuses the past, and reschedules until publishing', async () => {
    const post = await createPost({ body: 'Local time' });
    const past = await api(owner).post(`/posts/${post.id}/schedule`, { mode: 'at', scheduledAt: '2026-06-01T08:00', timezone: 'UTC' });
    expect(problem(past).errors?.[0]?.path).toBe('scheduledAt');
    const gap = await api(owner).post(`/posts/${post.id}/schedule`, { mode: 'at', scheduledAt: '2027-03-28T02:30', timezone: 'Europe/Berlin' });
    expect(gap.json().post.targets[0].dueAt).toBe('2027-03-28T01:30:00.000Z');
    expect(gap.json().post.scheduledAt).toBe('2027-03-28T03:30:00');
    const again = await api(owner).post(`/posts/${post.id}/schedule`, { mode: 'at', scheduledAt: '2026-06-03T12:00:00Z' });
    expect(again.json().post.targets.map((x: { dueAt: string }) => x.dueAt)).toEqual(['2026-06-03T12:00:00.000Z']);
    const cancelled = await api(owner).post(`/posts/${post.id}/cancel`);
    expect(cancelled.json().post.targets[0].status).toBe('cancelled');
    expect(problem(await api(owner).post(`/posts/${post.id}/schedule`, { mode: 'now' })).code).toBe('conflict');
  });

  it('takes the next free queue slot in the channel zone', async () => {
    // Monday 09:00 and Wednesday 17:30 in Tokyo; now is Monday 2026-06-01 19:00 Tokyo.
    const q = await webhookChannel(t, owner, ws, f.url, { name: 'Queue', timezone: 'Asia/Tokyo', queueSlots: [{ weekday: 1, time: '09:00' }, { weekday: 3, time: '17:30' }] });
    const slots = (await api(owner).get(`/channels/${q.channelId}/queue?count=2`)).json().slots;
    expect(slots).toEqual(['2026-06-03T08:30:00.000Z', '2026-06-08T00:00:00.000Z']);
    const due: string[] = [];
    for (let i = 0; i < 3; i++) {
      const p = await createPost({ body: `queued ${i}`, channels: [{ channelId: q.channelId }] });
      const r = await api(owner).post(`/posts/${p.id}/schedule`, { mode: 'queue' });
      due.push(r.json().post.targets[0].dueAt);
    }
    expect(due).toEqual(['2026-06-03T08:30:00.000Z', '2026-06-08T00:00:00.000Z', '2026-06-10T08:30:00.000Z']);
    const cal = await api(owner).get('/calendar?from=2026-06-03&to=2026-06-10&tz=Asia/Tokyo');
    expect(cal.statusCode, cal.body).toBe(200);
    const days = cal.json().days as { date: string; posts: { localTime: string; channels: { status: string }[] }[] }[];
    expect(days).toHaveLength(8);
    expect(days.find((d) => d.date === '2026-06-03')!.posts.map((p) => p.localTime)).toContain('17:30');
    expect(days.find((d) => d.date === '2026-06-08')!.posts.map((p) => p.localTime)).toContain('09:00');
    // The same instant is on 2026-06-07 in Los Angeles.
    const la = (await api(owner).get('/calendar?from=2026-06-07&to=2026-06-07&tz=America/Los_Angeles')).json();
    expect(la.days[0].posts.map((p: { localTime: string }) => p.localTime)).toContain('17:00');
    await t.inject({ method: 'DELETE', url: `/v1/workspaces/${ws}/channels/${q.channelId}`, headers: bearer(owner.token) });
  });
});

describe('publisher', () => {
  it('publishes a due target once, with the provider id, and never again', async () => {
    const campaign = (await api(owner).post('/campaigns', { name: 'Launch', goal: 'Reach', startsOn: '2026-06-01', endsOn: '2026-06-14' })).json().campaign;
    const post = await createPost({ body: 'Now!', campaignId: campaign.id });
    await api(owner).post(`/posts/${post.id}/schedule`, { mode: 'now' });
    const before = f.deliveries.length;
    const s = await runPublisher();
    expect(s).toMatchObject({ claimed: 1, published: 1 });
    const got = (await api(owner).get(`/posts/${post.id}`)).json().post;
    expect(got.status).toBe('published');
    expect(got.targets[0]).toMatchObject({ status: 'published', attempts: 1, externalId: `pub_${idempotencyKeyOf(got.targets[0].id)}`, lateBySeconds: 0 });
    expect(f.deliveries.length - before).toBe(1);
    expect((await runPublisher()).claimed).toBe(0);
    const progress = (await api(owner).get(`/campaigns/${campaign.id}`)).json().campaign;
    expect(progress.progress).toEqual({ posts: 1, scheduled: 0, published: 1, failed: 0 });
    expect(progress.launchedAt).not.toBeNull();
    expect((await outbox('content.post.published.v1')).some((p) => p.postId === post.id && p.channel === 'webhook')).toBe(true);
    expect((await outbox('content.campaign.launched.v1')).map((p) => p.campaignId)).toContain(campaign.id);
    expect((await outbox('content.post.scheduled.v1')).some((p) => p.postId === post.id)).toBe(true);
    const metrics = (await t.inject({ method: 'GET', url: '/metrics' })).body;
    expect(metrics).toMatch(/content_publish_total\{[^}]*channel_type="webhook"[^}]*status="published"[^}]*\} [1-9]/);
    expect(metrics).toMatch(/content_publish_lateness_seconds_count\{[^}]*channel_type="webhook"/);
    expect(metrics).toMatch(/content_due_unpublished\{[^}]*\} 0/);
  });

  it('retries a transient failure with backoff and fails a permanent one with the reason', async () => {
    const flaky = await createPost({ body: 'flaky' });
    await api(owner).post(`/posts/${flaky.id}/schedule`, { mode: 'now' });
    f.answers.push(503, 503, 503); // the hub's egress retries once itself: two answers per attempt
    expect(await runPublisher()).toMatchObject({ claimed: 1, retried: 1 });
    let tg = (await api(owner).get(`/posts/${flaky.id}`)).json().post.targets[0];
    expect(tg).toMatchObject({ status: 'scheduled', attempts: 1, errorCode: expect.stringMatching(/provider_error|egress/) });
    expect(Date.parse(tg.nextAttemptAt) - t.clock.now().getTime()).toBeGreaterThanOrEqual(27_000);
    expect((await runPublisher()).claimed).toBe(0); // not before the backoff
    t.clock.advance(60_000);
    f.answers.length = 0;
    expect(await runPublisher()).toMatchObject({ published: 1 });
    tg = (await api(owner).get(`/posts/${flaky.id}`)).json().post.targets[0];
    expect(tg).toMatchObject({ status: 'published', attempts: 2 });

    const refused = await createPost({ body: 'refused' });
    await api(owner).post(`/posts/${refused.id}/schedule`, { mode: 'now' });
    f.answers.push(400);
    expect(await runPublisher()).toMatchObject({ failed: 1 });
    const p = (await api(owner).get(`/posts/${refused.id}`)).json().post;
    expect(p.status).toBe('failed');
    expect(p.targets[0]).toMatchObject({ status: 'failed', attempts: 1, errorCode: 'provider_error', externalId: null });
    expect(p.targets[0].error).toMatch(/400/);
    expect((await outbox('content.post.failed.v1')).find((x) => x.postId === refused.id)).toMatchObject({ outcome: 'failed', errorCode: 'provider_error' });
  });

  it('retries a failed channel on request, once, and only in its own workspace', async () => {
    const post = await createPost({ body: 'retry me' });
    await api(owner).post(`/posts/${post.id}/schedule`, { mode: 'now' });
    f.answers.push(400);
    expect(await runPublisher()).toMatchObject({ failed: 1 });
    const failed = (await api(owner).get(`/posts/${post.id}`)).json().post;
    const targetId = failed.targets[0].id as string;
    expect(failed.targets[0]).toMatchObject({ status: 'failed', errorCode: 'provider_error' });
    // Another workspace cannot see (or retry) the target; a reader role cannot retry.
    const stranger = await signup(t, 'Retry Stranger');
    const other = await createWorkspace(t, stranger, 'Other');
    const foreign = await t.inject({ method: 'POST', url: `/v1/workspaces/${other}/posts/${post.id}/targets/${targetId}/retry`, headers: bearer(stranger.token), payload: {} });
    expect(problem(foreign).code).toBe('not_found');
    const outsider = await t.inject({ method: 'POST', url: `/v1/workspaces/${ws}/posts/${post.id}/targets/${targetId}/retry`, headers: bearer(stranger.token), payload: {} });
    expect([403, 404]).toContain(outsider.statusCode);
    const unknown = await api(owner).post(`/posts/${post.id}/targets/00000000-0000-4000-8000-000000000000/retry`);
    expect(problem(unknown).code).toBe('not_found');

    const retried = await api(owner).post(`/posts/${post.id}/targets/${targetId}/retry`);
    expect(retried.statusCode, retried.body).toBe(200);
    expect(retried.json().post).toMatchObject({ status: 'scheduled', targets: [{ id: targetId, status: 'scheduled', attempts: 0, error: null, errorCode: null }] });
    expect(Date.parse(retried.json().post.targets[0].dueAt)).toBe(t.clock.now().getTime());
    const before = f.deliveries.filter((d) => d.text === 'retry me').length;
    expect(await runPublisher()).toMatchObject({ published: 1 });
    expect(f.deliveries.filter((d) => d.text === 'retry me').length).toBe(before + 1);
    expect((await api(owner).get(`/posts/${post.id}`)).json().post.status).toBe('published');
    // A published channel is not retried.
    expect(problem(await api(owner).post(`/posts/${post.id}/targets/${targetId}/retry`)).code).toBe('conflict');
  });

  it('gives up after the configured attempts', async () => {
    const post = await createPost({ body: 'always down' });
    await api(owner).post(`/posts/${post.id}/schedule`, { mode: 'now' });
    for (let i = 0; i < 3; i++) {
      f.answers.push(503, 503, 503, 503);
      await runPublisher();
      t.clock.advance(10 * 60_000);
    }
    f.answers.length = 0;
    const tg = (await api(owner).get(`/posts/${post.id}`)).json().post.targets[0];
    expect(tg).toMatchObject({ status: 'failed', attempts: 3 });
    expect(tg.error).toMatch(/gave up after 3 attempts/);
  });

  it('re-checks a target stuck in publishing through the hub instead of sending it again', async () => {
    const post = await createPost({ body: 'crash after send' });
    const sched = (await api(owner).post(`/posts/${post.id}/schedule`, { mode: 'now' })).json().post;
    const targetId = sched.targets[0].id as string;
    // A worker claimed the target, the provider got it, and the worker died before recording.
    const hub = t.platform.ctx.contracts.get<IntegrationHubContract>('integration-hub');
    await hub.publish(ws, connectionId, { text: 'crash after send' }, idempotencyKeyOf(targetId));
    const lease = new Date(t.clock.now().getTime() + 120_000).toISOString();
    await t.platform.ctx.db.execute(sql`UPDATE content.targets SET status = 'publishing', attempts = 1, claimed_by = 'dead-worker', lease_until = ${lease} WHERE id = ${targetId}`);
    const sent = f.deliveries.filter((d) => d.text === 'crash after send').length;
    expect(sent).toBe(1);
    expect((await runPublisher()).claimed).toBe(0); // lease still held
    t.clock.advance(121_000);
    expect(await runPublisher()).toMatchObject({ claimed: 1, rechecked: 1, published: 1 });
    expect(f.deliveries.filter((d) => d.text === 'crash after send').length).toBe(1);
    const tg = (await api(owner).get(`/posts/${post.id}`)).json().post.targets[0];
    expect(tg).toMatchObject({ status: 'published', attempts: 2, externalId: `pub_${idempotencyKeyOf(targetId)}` });
    // Edits are refused once publishing started or finished.
    expect(problem(await api(owner).patch(`/posts/${post.id}`, { body: 'too late' })).code).toBe('conflict');
  });

  it('publishes posts missed while down late (lateBySeconds) or skips them, per channel policy', async () => {
    const skipper = await webhookChannel(t, owner, ws, f.url, { name: 'Skipper', latePolicy: 'skip', lateGraceSeconds: 600 });
    const post = await createPost({ body: 'missed', channels: [{ channelId }, { channelId: skipper.channelId }] });
    const at = new Date(t.clock.now().getTime() + 60_000).toISOString();
    await api(owner).post(`/posts/${post.id}/schedule`, { mode: 'at', scheduledAt: at });
    t.clock.advance(60_000 + 2 * 3600_000); // down for two hours
    expect(await runPublisher()).toMatchObject({ published: 1, skipped: 1 });
    const p = (await api(owner).get(`/posts/${post.id}`)).json().post;
    const byChannel = Object.fromEntries(p.targets.map((x: { channelId: string }) => [x.channelId, x]));
    expect(byChannel[channelId]).toMatchObject({ status: 'published', lateBySeconds: 7200 });
    expect(byChannel[skipper.channelId]).toMatchObject({ status: 'skipped', errorCode: 'missed' });
    expect(p.status).toBe('partially_published');
    await t.inject({ method: 'DELETE', url: `/v1/workspaces/${ws}/channels/${skipper.channelId}`, headers: bearer(owner.token) });
  });

  it('schedules the next occurrence of a recurring post after each one, on the local wall clock', async () => {
    t.clock.set(new Date('2026-10-23T12:00:00Z'));
    // Sessions expired over the jump: sign in again.
    const login = await t.inject({ method: 'POST', url: '/v1/auth/login', payload: { email: owner.email, password: owner.password } });
    expect(login.statusCode, login.body).toBe(200);
    owner.token = login.json().token;
    const post = await createPost({ body: 'daily' });
    const r = await api(owner).post(`/posts/${post.id}/schedule`, { mode: 'at', scheduledAt: '2026-10-24T09:00', timezone: 'Europe/Berlin', rrule: 'FREQ=DAILY;COUNT=3' });
    expect(r.json().post.targets.map((x: { dueAt: string }) => x.dueAt)).toEqual(['2026-10-24T07:00:00.000Z']);
    const dues: string[] = [];
    for (let i = 0; i < 4; i++) {
      t.clock.set(new Date(Date.parse('2026-10-24T07:00:00Z') + i * 86_400_000 + 3600_000));
      await runPublisher();
    }
    const p = (await api(owner).get(`/posts/${post.id}`)).json().post;
    for (const x of p.targets) dues.push(`${x.dueAt} ${x.status}`);
    // Across the fall-back on 2026-10-25, 09:00 Berlin moves from 07:00Z to 08:00Z.
    expect(dues).toEqual(['2026-10-24T07:00:00.000Z published', '2026-10-25T08:00:00.000Z published', '2026-10-26T08:00:00.000Z published']);
    expect(problem(await api(owner).post(`/posts/${post.id}/schedule`, { mode: 'at', scheduledAt: '2026-10-27T09:00', rrule: 'FREQ=SECONDLY' })).errors?.[0]?.path).toBe('rrule');
  });
});

describe('personal data', () => {
  it('exports and erases the posts a user authored', async () => {
    const me = await signup(t, 'Author Gone');
    await addMember(t, ws, owner, me, 'developer');
    await createPost({ body: 'mine' }, me);
    const handler = t.platform.personalData.get('content-scheduler')!;
    const exported = await handler.exportUser(me.id);
    expect((exported.posts as { body: string }[]).map((p) => p.body)).toEqual(['mine']);
    expect(await handler.eraseUser(me.id)).toMatchObject({ posts: 1 });
    expect((await handler.exportUser(me.id)).posts).toEqual([]);
  });
});
