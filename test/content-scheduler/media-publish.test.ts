import { createHash, randomBytes } from 'node:crypto';
import { sql } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestPlatform, type TestPlatform } from '../helpers/platform.js';
import { bearer, createWorkspace, problem, signup, type TestUser } from '../helpers/api.js';
import { startS3rver, type RunningS3rver } from '../helpers/s3rver.js';
import { startFakes, type Fakes } from '../integration-hub/fakes.js';
import type { ContentInstance } from '../../src/services/content-scheduler/index.js';

/**
 * Posts with media published end to end: uploaded through the media API (stored by the fs or the
 * S3 adapter), scheduled, claimed by the publisher, read back through the storage port and sent by
 * the integration-hub to local fakes of Mastodon, Bluesky, Discord and Slack, which check the bytes.
 */
const sha = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');
const png = (size: number) => Buffer.concat([Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]), randomBytes(size - 8)]);
const mp4 = (size: number) => Buffer.concat([Buffer.from([0, 0, 0, 0x18]), Buffer.from('ftypmp42'), randomBytes(size - 12)]);

describe.each([
  ['local filesystem', 'fs'],
  ['S3 (s3rver)', 's3'],
] as const)('media published through the integration-hub, stored on %s', (_label, adapter) => {
  let t: TestPlatform;
  let f: Fakes;
  let s3: RunningS3rver | undefined;
  let owner: TestUser;
  let ws: string;
  const channels: Record<string, string> = {};

  const api = {
    post: (url: string, payload: unknown = {}) => t.inject({ method: 'POST', url: `/v1/workspaces/${ws}${url}`, headers: bearer(owner.token), payload: payload as object }),
    patch: (url: string, payload: unknown) => t.inject({ method: 'PATCH', url: `/v1/workspaces/${ws}${url}`, headers: bearer(owner.token), payload: payload as object }),
    get: (url: string) => t.inject({ method: 'GET', url: `/v1/workspaces/${ws}${url}`, headers: bearer(owner.token) }),
  };
  const content = () => t.platform.instances.get('content-scheduler') as ContentInstance;

  /** multipart/form-data with an optional altText field before the file. */
  async function upload(data: Buffer, type: string, name: string, altText?: string): Promise<{ id: string; sha256: string; altText: string | null }> {
    const boundary = '----v01tmedia';
    const parts = [
      ...(altText !== undefined ? [Buffer.from(`--${boundary}\r\nContent-Disposition: form-data; name="altText"\r\n\r\n${altText}\r\n`)] : []),
      Buffer.from(`--${boundary}\r\nContent-Disposition: form-data; name="file"; filename="${name}"\r\nContent-Type: ${type}\r\n\r\n`),
      data,
      Buffer.from(`\r\n--${boundary}--\r\n`),
    ];
    const res = await t.inject({ method: 'POST', url: `/v1/workspaces/${ws}/media`, headers: { ...bearer(owner.token), 'content-type': `multipart/form-data; boundary=${boundary}` }, payload: Buffer.concat(parts) });
    expect(res.statusCode, res.body).toBe(201);
    return res.json().media;
  }

  async function channel(connector: string, credentials: unknown, config: unknown): Promise<string> {
    const c = await t.inject({ method: 'POST', url: `/v1/workspaces/${ws}/connections`, headers: bearer(owner.token), payload: { connector, name: connector, credentials, config } });
    expect(c.statusCode, c.body).toBe(201);
    const ch = await api.post('/channels', { connectionId: c.json().connection.id, name: connector, timezone: 'UTC' });
    expect(ch.statusCode, ch.body).toBe(201);
    return ch.json().channel.id;
  }

  async function targets(postId: string) {
    const r = (await t.platform.ctx.db.execute(
      sql`SELECT c.connector, t.status, t.external_id, t.error_code, t.error FROM content.targets t JOIN content.channels c ON c.id = t.channel_id WHERE t.post_id = ${postId} ORDER BY c.connector`,
    )) as unknown as { rows: { connector: string; status: string; external_id: string | null; error_code: string | null; error: string | null }[] };
    return r.rows;
  }

  beforeAll(async () => {
    f = await startFakes();
    const env: Record<string, string> = { V01T_EGRESS_ALLOW: '127.0.0.1' };
    if (adapter === 's3') {
      s3 = await startS3rver(['v01t-media']);
      Object.assign(env, { S3_BUCKET: 'v01t-media', S3_ENDPOINT: s3.endpoint, S3_ACCESS_KEY_ID: 'S3RVER', S3_SECRET_ACCESS_KEY: 'S3RVER' });
    }
    t = await createTestPlatform(env);
    owner = await signup(t, 'Media Owner');
    ws = await createWorkspace(t, owner, 'Media');
    channels.mastodon = await channel('mastodon', { accessToken: 'masto-token' }, { instanceUrl: `${f.base}/masto` });
    channels.bluesky = await channel('bluesky', { identifier: 'v01t.bsky.social', appPassword: 'abcd-efgh-ijkl-mnop' }, { serviceUrl: `${f.base}/bsky` });
    channels.discord = await channel('discord', { webhookUrl: `${f.base}/discord/api/webhooks/123/tok` }, {});
    channels.slack = await channel('slack', { type: 'bot_token', token: 'xoxb-good' }, { channel: 'C123', baseUrl: `${f.base}/slack/api` });
    channels.github = await channel('github', { type: 'token', token: 'ghp_abc' }, { owner: 'o', repo: 'r', baseUrl: `${f.base}/gh` });
  }, 60_000);

  afterAll(async () => {
    await t?.close();
    await f?.close();
    await s3?.close();
  });

  it('stores on the configured adapter and keeps alt text (multipart field or PATCH)', async () => {
    expect(content().services.storage.kind).toBe(adapter);
    const a = await upload(png(2_000), 'image/png', 'a.png', 'First alt');
    expect(a.altText).toBe('First alt');
    const patched = await api.patch(`/media/${a.id}`, { altText: 'Better alt' });
    expect(patched.statusCode, patched.body).toBe(200);
    expect(patched.json().media.altText).toBe('Better alt');
    expect(problem(await api.patch(`/media/${a.id}`, { altText: 'x'.repeat(1501) })).code).toBe('validation_failed');
  });

  it('publishes a post with two images on Mastodon, Bluesky, Discord and Slack: the providers get the bytes and alt texts', async () => {
    const img1 = png(60_000);
    const img2 = png(5_000);
    const m1 = await upload(img1, 'image/png', 'chart.png', 'Weekly sign-ups, rising');
    const m2 = await upload(img2, 'image/png', 'logo.png');
    await api.patch(`/media/${m2.id}`, { altText: 'The v01t logo' });
    const four = ['bluesky', 'discord', 'mastodon', 'slack'];
    const created = await api.post('/posts', { body: 'Launch day', mediaIds: [m1.id, m2.id], channels: four.map((c) => ({ channelId: channels[c] })) });
    expect(created.statusCode, created.body).toBe(201);
    const postId = created.json().post.id as string;
    const sched = await api.post(`/posts/${postId}/schedule`, { mode: 'now' });
    expect(sched.statusCode, sched.body).toBe(200);
    const before = f.uploads.length;
    const run = await content().services.publisher.runOnce();
    expect(run).toMatchObject({ claimed: 4, published: 4 });
    const rows = await targets(postId);
    expect(rows.map((r) => [r.connector, r.status])).toEqual(four.map((c) => [c, 'published']));
    expect(rows.every((r) => r.external_id)).toBe(true);
    const got = f.uploads.slice(before);
    for (const provider of four) {
      const mine = got.filter((u) => u.provider === provider);
      expect(
        mine.map((u) => [u.sha256, u.size, u.altText]),
        provider,
      ).toEqual([
        [sha(img1), img1.length, 'Weekly sign-ups, rising'],
        [sha(img2), img2.length, 'The v01t logo'],
      ]);
    }
    // The media ids the status references are the ones just uploaded; the Bluesky post embeds both blobs.
    const status = JSON.parse([...f.calls].reverse().find((c) => c.path === '/masto/api/v1/statuses')!.body);
    expect(status.media_ids).toEqual(got.filter((u) => u.provider === 'mastodon').map((u) => u.id));
    const record = JSON.parse([...f.calls].reverse().find((c) => c.path === '/bsky/xrpc/com.atproto.repo.createRecord')!.body).record;
    expect(record.embed.images.map((i: { alt: string }) => i.alt)).toEqual(['Weekly sign-ups, rising', 'The v01t logo']);
  });

  it('enforces media count and types per channel when saving, naming the channel', async () => {
    const video = await upload(mp4(3_000), 'video/mp4', 'clip.mp4');
    const bsky = await api.post('/posts', { body: 'clip', mediaIds: [video.id], channels: [{ channelId: channels.bluesky }, { channelId: channels.mastodon }] });
    const p = problem(bsky);
    expect(p.code).toBe('validation_failed');
    expect(p.errors).toHaveLength(1);
    expect(p.errors?.[0]?.message).toMatch(/bluesky.*media type video\/mp4 not accepted/);
    const five = await Promise.all([1, 2, 3, 4, 5].map((i) => upload(png(1_000), 'image/png', `p${i}.png`)));
    const tooMany = problem(await api.post('/posts', { body: 'gallery', mediaIds: five.map((m) => m.id), channels: [{ channelId: channels.bluesky }, { channelId: channels.discord }] }));
    expect(tooMany.errors?.map((e) => e.message)).toEqual([expect.stringMatching(/bluesky.*5 media attached, the limit is 4/)]);
    const gh = problem(await api.post('/posts', { body: 'issue', mediaIds: [five[0]!.id], channels: [{ channelId: channels.github }] }));
    expect(gh.errors?.[0]?.message).toMatch(/github.*1 media attached, the limit is 0/);
  });

  it('fails a target whose media file disappeared (media_missing) instead of publishing without it', async () => {
    const m = await upload(png(1_000), 'image/png', 'gone.png');
    const created = await api.post('/posts', { body: 'soon gone', mediaIds: [m.id], channels: [{ channelId: channels.discord }] });
    const postId = created.json().post.id as string;
    expect((await api.post(`/posts/${postId}/schedule`, { mode: 'now' })).statusCode).toBe(200);
    await content().services.storage.delete(`content/${ws}/${m.id}`);
    const calls = f.calls.length;
    await content().services.publisher.runOnce();
    expect(await targets(postId)).toEqual([expect.objectContaining({ connector: 'discord', status: 'failed', error_code: 'media_missing' })]);
    expect(f.calls.length).toBe(calls);
  });
});
