import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import { createHash, randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FsObjectStorage, S3ObjectStorage, streamToBuffer, type ObjectStorage } from './index.js';
import { S3BackupTarget } from '../backup/target.js';
import { loadConfig } from '../config/index.js';
import { startS3rver, type RunningS3rver } from '../../../test/helpers/s3rver.js';
import { startRecordingProxy } from '../../../test/helpers/recording-proxy.js';

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

describe('S3 server-side encryption (S3_SSE) on the wire', () => {
  const puts = (requests: { method: string; url: string; headers: Record<string, unknown> }[]) => requests.filter((r) => r.method === 'PUT');
  const sseHeaders = (h: Record<string, unknown>) => ({ sse: h['x-amz-server-side-encryption'], key: h['x-amz-server-side-encryption-aws-kms-key-id'] });

  it('the configuration asks for SSE-S3 unless told otherwise, and refuses a KMS key without aws:kms', () => {
    const base = { S3_BUCKET: 'v01t-test' };
    expect(loadConfig(base).storage.s3?.sse).toEqual({ mode: 'AES256', kmsKeyId: undefined });
    expect(loadConfig({ ...base, S3_SSE: 'aws:kms', S3_SSE_KMS_KEY_ID: 'alias/v01t' }).storage.sse).toEqual({ mode: 'aws:kms', kmsKeyId: 'alias/v01t' });
    expect(() => loadConfig({ ...base, S3_SSE_KMS_KEY_ID: 'alias/v01t' })).toThrow(/S3_SSE_KMS_KEY_ID: applies only with S3_SSE=aws:kms/);
    expect(() => loadConfig({ ...base, S3_SSE: 'aes' })).toThrow(/S3_SSE/);
  });

  it.each([
    ['default (SSE-S3)', undefined, { sse: 'AES256', key: undefined }],
    ['aws:kms with a key', { mode: 'aws:kms' as const, kmsKeyId: 'arn:aws:kms:eu-west-1:111122223333:key/v01t-media' }, { sse: 'aws:kms', key: 'arn:aws:kms:eu-west-1:111122223333:key/v01t-media' }],
    ['aws:kms with the aws/s3 key', { mode: 'aws:kms' as const }, { sse: 'aws:kms', key: undefined }],
    ['none', { mode: 'none' as const }, { sse: undefined, key: undefined }],
  ])('media uploads send %s', async (_name, sse, expected) => {
    const proxy = await startRecordingProxy(s3.endpoint);
    const store = new S3ObjectStorage({ bucket: 'v01t-test', endpoint: proxy.endpoint, region: 'us-east-1', accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER', forcePathStyle: true, prefix: 'sse/', sse });
    try {
      await store.put('ws/buffer.png', randomBytes(1000), { contentType: 'image/png' });
      await store.put('ws/stream.bin', Readable.from([randomBytes(500)]), { contentType: 'application/octet-stream', contentLength: 500 });
      await store.put('ws/unknown-length.bin', Readable.from([randomBytes(10)]), { contentType: 'application/octet-stream' });
      expect(puts(proxy.requests)).toHaveLength(3);
      for (const r of puts(proxy.requests)) expect(sseHeaders(r.headers)).toEqual(expected);
      // Reads carry no SSE-S3/KMS header (only SSE-C would); the object still reads back.
      expect((await store.head('ws/buffer.png'))?.size).toBe(1000);
    } finally {
      await store.close();
      await proxy.close();
    }
  });

  it('every file of a backup published to S3 is uploaded with the same encryption', async () => {
    const proxy = await startRecordingProxy(s3.endpoint);
    const staging = fs.mkdtempSync(path.join(os.tmpdir(), 'v01t-sse-staging-'));
    dirs.push(staging);
    const target = new S3BackupTarget({ bucket: 'v01t-test', prefix: 'backups/', endpoint: proxy.endpoint, region: 'us-east-1', accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER', forcePathStyle: true, stagingDir: staging, sse: { mode: 'aws:kms', kmsKeyId: 'alias/v01t-backups' } });
    try {
      const id = '20261203T093000Z-abcdef';
      const dir = await target.staging(id);
      fs.mkdirSync(path.join(dir, 'media'), { recursive: true });
      fs.writeFileSync(path.join(dir, 'db.bin'), randomBytes(2000));
      fs.writeFileSync(path.join(dir, 'media', 'a.bin'), randomBytes(100));
      fs.writeFileSync(path.join(dir, 'index.json'), '{}');
      await target.publish(id, dir);
      expect(puts(proxy.requests).map((r) => new URL(r.url, 'http://x').pathname)).toEqual(['/v01t-test/backups/20261203T093000Z-abcdef/db.bin', '/v01t-test/backups/20261203T093000Z-abcdef/media/a.bin', '/v01t-test/backups/20261203T093000Z-abcdef/index.json'].sort((a, b) => Number(a.endsWith('index.json')) - Number(b.endsWith('index.json'))));
      expect(puts(proxy.requests)).toHaveLength(3);
      for (const r of puts(proxy.requests)) expect(sseHeaders(r.headers)).toEqual({ sse: 'aws:kms', key: 'alias/v01t-backups' });
      expect(await target.list()).toContain(id);
    } finally {
      await target.close();
      await proxy.close();
    }
  });
});
