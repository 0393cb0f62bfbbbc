import fs from 'node:fs';
import fsp from 'node:fs/promises';
import path from 'node:path';
import type { Readable } from 'node:stream';
import type { S3Client } from '@aws-sdk/client-s3';
import { ensurePrivateDirAsync } from '../private-fs.js';
import { s3Sdk, sseParams } from '../storage/index.js';
import type { S3Encryption } from '../config/types.js';

/**
 * Where backups live (BACKUP_TARGET): a local folder or an S3 bucket/prefix. A backup is a folder
 * `<id>/` of files; it is written to a local staging folder first and published whole (a rename,
 * or an upload whose `index.json` goes last), so a listing never shows half a backup.
 */
export interface BackupTarget {
  readonly description: string;
  /** A folder to assemble backup `id` in (on the same file system for a local target). */
  staging(id: string): Promise<string>;
  publish(id: string, staged: string): Promise<void>;
  /** Ids of complete backups (those with an index.json). */
  list(): Promise<string[]>;
  read(id: string, file: string): Promise<Readable>;
  remove(id: string): Promise<void>;
  close(): Promise<void>;
}

export const BACKUP_ID = /^\d{8}T\d{6}Z-[0-9a-f]{6}$/;

export function assertBackupId(id: string): void {
  if (!BACKUP_ID.test(id)) throw new Error(`not a backup id (YYYYMMDDTHHMMSSZ-xxxxxx): ${id}`);
}

async function* walk(dir: string, base = ''): AsyncGenerator<string> {
  for (const e of await fsp.readdir(dir, { withFileTypes: true })) {
    const rel = base ? `${base}/${e.name}` : e.name;
    if (e.isDirectory()) yield* walk(path.join(dir, e.name), rel);
    else if (e.isFile()) yield rel;
  }
}

export class LocalBackupTarget implements BackupTarget {
  constructor(readonly root: string) {}
  get description() {
    return this.root;
  }
  async staging(id: string) {
    assertBackupId(id);
    const dir = path.join(this.root, `.${id}.partial`);
    await fsp.rm(dir, { recursive: true, force: true });
    await ensurePrivateDirAsync(dir);
    return dir;
  }
  async publish(id: string, staged: string) {
    await fsp.rename(staged, path.join(this.root, id));
  }
  async list() {
    if (!fs.existsSync(this.root)) return [];
    const names = await fsp.readdir(this.root);
    return names.filter((n) => BACKUP_ID.test(n) && fs.existsSync(path.join(this.root, n, 'index.json'))).sort();
  }
  async read(id: string, file: string) {
    assertBackupId(id);
    const p = path.join(this.root, id, ...file.split('/'));
    await fsp.access(p);
    return fs.createReadStream(p);
  }
  async remove(id: string) {
    assertBackupId(id);
    await fsp.rm(path.join(this.root, id), { recursive: true, force: true });
  }
  async close() {}
}

export interface S3TargetConfig {
  bucket: string;
  prefix: string;
  endpoint?: string;
  region: string;
  accessKeyId?: string;
  secretAccessKey?: string;
  forcePathStyle: boolean;
  /** Local folder for assembling a backup before upload. */
  stagingDir: string;
  /** Server-side encryption of every uploaded file (S3_SSE; SSE-S3 when unset). The files are AES-256-GCM encrypted by v01t before upload as well. */
  sse?: S3Encryption;
}

export class S3BackupTarget implements BackupTarget {
  private readonly client: S3Client;
  constructor(private readonly cfg: S3TargetConfig) {
    this.client = new (s3Sdk().S3Client)({
      region: cfg.region,
      endpoint: cfg.endpoint,
      forcePathStyle: cfg.forcePathStyle,
      requestChecksumCalculation: 'WHEN_REQUIRED',
      responseChecksumValidation: 'WHEN_REQUIRED',
      credentials: cfg.accessKeyId && cfg.secretAccessKey ? { accessKeyId: cfg.accessKeyId, secretAccessKey: cfg.secretAccessKey } : undefined,
    });
  }
  get description() {
    return `s3://${this.cfg.bucket}/${this.cfg.prefix}`;
  }
  async staging(id: string) {
    assertBackupId(id);
    const dir = path.join(this.cfg.stagingDir, `.${id}.partial`);
    await fsp.rm(dir, { recursive: true, force: true });
    await ensurePrivateDirAsync(dir);
    return dir;
  }
  async publish(id: string, staged: string) {
    const files: string[] = [];
    for await (const f of walk(staged)) if (f !== 'index.json') files.push(f);
    for (const f of [...files, 'index.json']) {
      const p = path.join(staged, ...f.split('/'));
      const size = (await fsp.stat(p)).size;
      await this.client.send(new (s3Sdk().PutObjectCommand)({ Bucket: this.cfg.bucket, Key: `${this.cfg.prefix}${id}/${f}`, Body: fs.createReadStream(p), ContentLength: size, ContentType: 'application/octet-stream', ...sseParams(this.cfg.sse) }));
    }
    await fsp.rm(staged, { recursive: true, force: true });
  }
  private async keys(prefix: string): Promise<string[]> {
    const out: string[] = [];
    let token: string | undefined;
    do {
      const r = await this.client.send(new (s3Sdk().ListObjectsV2Command)({ Bucket: this.cfg.bucket, Prefix: prefix, ContinuationToken: token }));
      for (const o of r.Contents ?? []) if (o.Key) out.push(o.Key);
      token = r.IsTruncated ? r.NextContinuationToken : undefined;
    } while (token);
    return out;
  }
  async list() {
    const ids = new Set<string>();
    for (const k of await this.keys(this.cfg.prefix)) {
      const [id, file] = k.slice(this.cfg.prefix.length).split('/');
      if (id && BACKUP_ID.test(id) && file === 'index.json') ids.add(id);
    }
    return [...ids].sort();
  }
  async read(id: string, file: string) {
    assertBackupId(id);
    const r = await this.client.send(new (s3Sdk().GetObjectCommand)({ Bucket: this.cfg.bucket, Key: `${this.cfg.prefix}${id}/${file}` }));
    return r.Body as Readable;
  }
  async remove(id: string) {
    assertBackupId(id);
    // index.json first: a half-removed backup is no longer listed.
    const keys = (await this.keys(`${this.cfg.prefix}${id}/`)).sort((a, b) => Number(b.endsWith('/index.json')) - Number(a.endsWith('/index.json')));
    // One by one: DeleteObjects needs a Content-MD5 some S3-compatible servers insist on.
    for (const Key of keys) await this.client.send(new (s3Sdk().DeleteObjectCommand)({ Bucket: this.cfg.bucket, Key }));
  }
  async close() {
    this.client.destroy();
  }
}
