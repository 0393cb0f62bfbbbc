import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import { createHash, randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FsObjectStorage, S3ObjectStorage, streamToBuffer, type ObjectStorage } from './index.js';
import { startS3rver, type RunningS3rver } from '../../../test/helpers/s3rver.js';

let s3: RunningS3rver;
const dirs: string[] = [];

beforeAll(async () => {
  s3 = await startS3rver(['v01t-test']);
});
afterAll(async () => {
  await s3?.close();
  for (const d of dirs) fs.rmSync(d, { recursive: true, force: true });
});

const adapters: [string, () => ObjectStorage][] = [
  [
    'fs',
    () => {
      const d = fs.mkdtempSync(path.join(os.tmpdir(), 'v01t-objects-'));
      dirs.push(d);
      return new FsObjectStorage(d);
    },
  ],
  ['s3 (s3rver)', () => new S3ObjectStorage({ bucket: 'v01t-test', endpoint: s3.endpoint, region: 'us-east-1', accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER', forcePathStyle: true, prefix: 'media/' })],
];

describe.each(adapters)('object storage contract: %s', (_name, make) => {
  it('stores a buffer and reads back the same bytes and type', async () => {
    const store = make();
    await store.ping();
    const body = randomBytes(70_000);
    await store.put('ws/a/one.png', body, { contentType: 'image/png' });
    expect(await store.head('ws/a/one.png')).toEqual({ contentType: 'image/png', size: body.length });
    const got = await store.get('ws/a/one.png');
    expect(got?.contentType).toBe('image/png');
    expect((await streamToBuffer(got!.body)).equals(body)).toBe(true);
    await store.close();
  });

  it('stores a stream of known length byte-exact (no checksum trailer framing in the object)', async () => {
    const store = make();
    const body = randomBytes(300_000);
    const stream = Readable.from([body.subarray(0, 100_000), body.subarray(100_000)]);
    await store.put('ws/b/two.bin', stream, { contentType: 'application/octet-stream', contentLength: body.length });
    const got = await streamToBuffer((await store.get('ws/b/two.bin'))!.body);
    expect(createHash('sha256').update(got).digest('hex')).toBe(createHash('sha256').update(body).digest('hex'));
    await store.close();
  });

  it('answers null for missing objects and deletes idempotently', async () => {
    const store = make();
    expect(await store.get('ws/none')).toBeNull();
    expect(await store.head('ws/none')).toBeNull();
    await store.put('ws/c', Buffer.from('x'), { contentType: 'text/plain' });
    await store.delete('ws/c');
    await store.delete('ws/c');
    expect(await store.head('ws/c')).toBeNull();
    await store.close();
  });

  it('refuses keys that could escape the namespace', async () => {
    const store = make();
    await expect(store.put('../etc/passwd', Buffer.from('x'), { contentType: 'text/plain' })).rejects.toThrow(/invalid object key/);
    await expect(store.get('a/../../b')).rejects.toThrow(/invalid object key/);
    await store.close();
  });
});
