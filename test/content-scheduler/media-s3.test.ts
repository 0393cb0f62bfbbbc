import { createHash } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestPlatform, type TestPlatform } from '../helpers/platform.js';
import { bearer, createWorkspace, signup, type TestUser } from '../helpers/api.js';
import { startS3rver, type RunningS3rver } from '../helpers/s3rver.js';
import { streamToBuffer } from '../../src/kernel/storage/index.js';
import type { ContentInstance } from '../../src/services/content-scheduler/index.js';

/** The media API with S3_BUCKET set: the same upload lands in a real S3 HTTP API (s3rver). */
describe('media upload (S3 adapter against s3rver)', () => {
  let s3: RunningS3rver;
  let t: TestPlatform;
  let owner: TestUser;
  let ws: string;

  beforeAll(async () => {
    s3 = await startS3rver(['v01t-media']);
    t = await createTestPlatform({ S3_BUCKET: 'v01t-media', S3_ENDPOINT: s3.endpoint, S3_ACCESS_KEY_ID: 'S3RVER', S3_SECRET_ACCESS_KEY: 'S3RVER', S3_PREFIX: 'tenant-a/', CONTENT_MEDIA_MAX_BYTES: '200000' });
    owner = await signup(t, 'S3 Owner');
    ws = await createWorkspace(t, owner, 'S3');
  }, 60_000);
  afterAll(async () => {
    await t?.close();
    await s3?.close();
  });

  const upload = (data: Buffer, type: string) => {
    const boundary = 'b0undary';
    const payload = Buffer.concat([Buffer.from(`--${boundary}\r\nContent-Disposition: form-data; name="file"; filename="clip.mp4"\r\nContent-Type: ${type}\r\n\r\n`), data, Buffer.from(`\r\n--${boundary}--\r\n`)]);
    return t.inject({ method: 'POST', url: `/v1/workspaces/${ws}/media`, headers: { ...bearer(owner.token), 'content-type': `multipart/form-data; boundary=${boundary}` }, payload });
  };

  it('stores the bytes in the bucket and serves them back with the checksum', async () => {
    const mp4 = Buffer.concat([Buffer.from([0, 0, 0, 0x18]), Buffer.from('ftypmp42'), Buffer.alloc(150_000, 3)]);
    const res = await upload(mp4, 'video/mp4');
    expect(res.statusCode, res.body).toBe(201);
    const m = res.json().media;
    expect(m.sha256).toBe(createHash('sha256').update(mp4).digest('hex'));
    const storage = (t.platform.instances.get('content-scheduler') as ContentInstance).services.storage;
    expect(storage.kind).toBe('s3');
    const obj = await storage.get(`content/${ws}/${m.id}`);
    expect(obj?.contentType).toBe('video/mp4');
    expect((await streamToBuffer(obj!.body)).equals(mp4)).toBe(true);
    const got = await t.inject({ method: 'GET', url: `/v1/workspaces/${ws}/media/${m.id}/content`, headers: bearer(owner.token) });
    expect(got.rawPayload.equals(mp4)).toBe(true);
    expect(got.headers['x-checksum-sha256']).toBe(m.sha256);
    const ready = await t.inject({ method: 'GET', url: '/ready' });
    expect(ready.statusCode, ready.body).toBe(200);
  });

  it('refuses files over the configured size with 413', async () => {
    const big = Buffer.concat([Buffer.from([0, 0, 0, 0x18]), Buffer.from('ftypmp42'), Buffer.alloc(250_000, 3)]);
    const res = await upload(big, 'video/mp4');
    expect(res.statusCode).toBe(413);
    expect(res.json().code).toBe('payload_too_large');
  });
});
