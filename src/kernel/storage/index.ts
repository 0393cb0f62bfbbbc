import fs from 'node:fs';
import fsp from 'node:fs/promises';
import path from 'node:path';
import { randomUUID } from 'node:crypto';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { ensurePrivateDirAsync, PRIVATE_FILE_MODE } from '../private-fs.js';
import type * as ClientS3 from '@aws-sdk/client-s3';
import type { S3Client } from '@aws-sdk/client-s3';
import { lazyPackage } from '../lazy-package.js';
import type { S3Encryption } from '../config/types.js';

/** The AWS SDK's S3 client, loaded only when a bucket is configured (ADR 0073). */
export const s3Sdk = lazyPackage<typeof ClientS3>('@aws-sdk/client-s3');

/**
 * The kernel's object storage port: the local filesystem under the data folder (embedded) or an
 * S3 bucket (distributed). Keys are slash-separated relative paths chosen by services
 * (`content/<workspace>/<id>`); they never come from user input unchecked.
 */
export interface ObjectStorage {
  readonly kind: 'fs' | 's3';
  put(key: string, body: Buffer | Readable, opts: { contentType: string; contentLength?: number }): Promise<void>;
  /** The object's bytes as a stream, or null when it does not exist. */
  get(key: string): Promise<{ body: Readable; contentType: string; size: number } | null>;
  head(key: string): Promise<{ contentType: string; size: number } | null>;
  /** Removes the object; absent objects are not an error. */
  delete(key: string): Promise<void>;
  /** Every key stored (backups, ADR 0050), in no particular order. */
  list(): AsyncIterable<string>;
  ping(): Promise<void>;
  close(): Promise<void>;
}

export interface StorageConfig {
  dataDir: string;
  s3?: { bucket: string; endpoint?: string; region: string; accessKeyId?: string; secretAccessKey?: string; forcePathStyle: boolean; prefix: string; sse?: S3Encryption };
}

/**
 * The server-side encryption parameters of a PutObject (or CreateMultipartUpload): SSE-S3 unless
 * told otherwise (S3_SSE), so an object is never written unencrypted by omission. The SDK sends
 * them as `x-amz-server-side-encryption` and `x-amz-server-side-encryption-aws-kms-key-id`.
 */
export function sseParams(sse: S3Encryption | undefined): { ServerSideEncryption?: 'AES256' | 'aws:kms'; SSEKMSKeyId?: string } {
  const mode = sse?.mode ?? 'AES256';
  if (mode === 'none') return {};
  if (mode === 'aws:kms') return { ServerSideEncryption: 'aws:kms', ...(sse?.kmsKeyId ? { SSEKMSKeyId: sse.kmsKeyId } : {}) };
  return { ServerSideEncryption: 'AES256' };
}

const KEY_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._-]*(\/[A-Za-z0-9][A-Za-z0-9._-]*)*$/;

export function assertKey(key: string): void {
  if (!KEY_PATTERN.test(key) || key.length > 512 || key.split('/').some((s) => s === '..' || s === '.')) throw new Error(`invalid object key "${key}"`);
}

export function openObjectStorage(cfg: StorageConfig): ObjectStorage {
  return cfg.s3 ? new S3ObjectStorage(cfg.s3) : new FsObjectStorage(path.join(cfg.dataDir, 'objects'));
}

/** Objects as files; the content type sits in a sidecar so reads need no guessing. */
export class FsObjectStorage implements ObjectStorage {
  readonly kind = 'fs' as const;
  constructor(private readonly root: string) {}

  private file(key: string): string {
    assertKey(key);
    return path.join(this.root, ...key.split('/'));
  }

  async put(key: string, body: Buffer | Readable, opts: { contentType: string }): Promise<void> {
    const file = this.file(key);
    await ensurePrivateDirAsync(path.dirname(file));
    // Write to a temporary name and rename: a crash mid-upload never leaves a truncated object behind.
    const tmp = `${file}.${randomUUID()}.tmp`;
    try {
      await pipeline(Buffer.isBuffer(body) ? Readable.from([body]) : body, fs.createWriteStream(tmp, { mode: PRIVATE_FILE_MODE }));
      await fsp.writeFile(`${file}.meta`, JSON.stringify({ contentType: opts.contentType }), { mode: PRIVATE_FILE_MODE });
      await fsp.rename(tmp, file);
    } catch (err) {
      await fsp.rm(tmp, { force: true });
      throw err;
    }
  }

  async head(key: string): Promise<{ contentType: string; size: number } | null> {
    const file = this.file(key);
    try {
      const st = await fsp.stat(file);
      const meta = JSON.parse(await fsp.readFile(`${file}.meta`, 'utf8')) as { contentType: string };
      return { contentType: meta.contentType, size: st.size };
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
      throw err;
    }
  }

  async get(key: string) {
    const h = await this.head(key);
    if (!h) return null;
    return { ...h, body: fs.createReadStream(this.file(key)) };
  }

  async delete(key: string): Promise<void> {
    const file = this.file(key);
    await fsp.rm(file, { force: true });
    await fsp.rm(`${file}.meta`, { force: true });
  }

  async *list(): AsyncIterable<string> {
    async function* walk(dir: string, base: string): AsyncGenerator<string> {
      let entries: fs.Dirent[];
      try {
        entries = await fsp.readdir(dir, { withFileTypes: true });
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code === 'ENOENT') return;
        throw err;
      }
      for (const e of entries) {
        const rel = base ? `${base}/${e.name}` : e.name;
        if (e.isDirectory()) yield* walk(path.join(dir, e.name), rel);
        else if (e.isFile() && !e.name.endsWith('.meta') && !e.name.endsWith('.tmp')) yield rel;
      }
    }
    yield* walk(this.root, '');
  }

  async ping(): Promise<void> {
    await ensurePrivateDirAsync(this.root);
    await fsp.access(this.root, fs.constants.W_OK);
  }

  async close(): Promise<void> {}
}

export class S3ObjectStorage implements ObjectStorage {
  readonly kind = 's3' as const;
  private readonly client: S3Client;
  constructor(private readonly cfg: NonNullable<StorageConfig['s3']>) {
    this.client = new (s3Sdk().S3Client)({
      region: cfg.region,
      endpoint: cfg.endpoint,
      forcePathStyle: cfg.forcePathStyle,
      // S3-compatible peers (s3rver, Swift s3api, MinIO) mishandle the SDK's default streaming
      // checksum trailers: uploads arrive with aws-chunked framing inside the object.
      requestChecksumCalculation: 'WHEN_REQUIRED',
      responseChecksumValidation: 'WHEN_REQUIRED',
      credentials: cfg.accessKeyId && cfg.secretAccessKey ? { accessKeyId: cfg.accessKeyId, secretAccessKey: cfg.secretAccessKey } : undefined,
    });
  }

  private key(key: string): string {
    assertKey(key);
    return `${this.cfg.prefix}${key}`;
  }

  async put(key: string, body: Buffer | Readable, opts: { contentType: string; contentLength?: number }): Promise<void> {
    // A stream of unknown length cannot be signed for a single PUT; buffer it (uploads are size-limited by callers).
    const payload = Buffer.isBuffer(body) ? body : opts.contentLength === undefined ? await streamToBuffer(body) : body;
    await this.client.send(
      new (s3Sdk().PutObjectCommand)({
        Bucket: this.cfg.bucket,
        Key: this.key(key),
        Body: payload,
        ContentType: opts.contentType,
        ContentLength: Buffer.isBuffer(payload) ? payload.length : opts.contentLength,
        ...sseParams(this.cfg.sse),
      }),
    );
  }

  async head(key: string): Promise<{ contentType: string; size: number } | null> {
    try {
      const r = await this.client.send(new (s3Sdk().HeadObjectCommand)({ Bucket: this.cfg.bucket, Key: this.key(key) }));
      return { contentType: r.ContentType ?? 'application/octet-stream', size: Number(r.ContentLength ?? 0) };
    } catch (err) {
      if (isMissing(err)) return null;
      throw err;
    }
  }

  async get(key: string) {
    try {
      const r = await this.client.send(new (s3Sdk().GetObjectCommand)({ Bucket: this.cfg.bucket, Key: this.key(key) }));
      return { body: r.Body as Readable, contentType: r.ContentType ?? 'application/octet-stream', size: Number(r.ContentLength ?? 0) };
    } catch (err) {
      if (isMissing(err)) return null;
      throw err;
    }
  }

  async delete(key: string): Promise<void> {
    await this.client.send(new (s3Sdk().DeleteObjectCommand)({ Bucket: this.cfg.bucket, Key: this.key(key) }));
  }

  async *list(): AsyncIterable<string> {
    let token: string | undefined;
    do {
      const r = await this.client.send(new (s3Sdk().ListObjectsV2Command)({ Bucket: this.cfg.bucket, Prefix: this.cfg.prefix, ContinuationToken: token }));
      for (const o of r.Contents ?? []) if (o.Key) yield o.Key.slice(this.cfg.prefix.length);
      token = r.IsTruncated ? r.NextContinuationToken : undefined;
    } while (token);
  }

  async ping(): Promise<void> {
    await this.client.send(new (s3Sdk().HeadBucketCommand)({ Bucket: this.cfg.bucket }));
  }

  async close(): Promise<void> {
    this.client.destroy();
  }
}

function isMissing(err: unknown): boolean {
  if (err instanceof s3Sdk().NoSuchKey || err instanceof s3Sdk().NotFound) return true;
  const e = err as { name?: string; $metadata?: { httpStatusCode?: number } };
  return e?.name === 'NotFound' || e?.name === 'NoSuchKey' || e?.$metadata?.httpStatusCode === 404;
}

export async function streamToBuffer(stream: Readable): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of stream) chunks.push(Buffer.isBuffer(c) ? c : Buffer.from(c as Uint8Array));
  return Buffer.concat(chunks);
}
