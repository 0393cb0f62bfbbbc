import { createHash } from 'node:crypto';
import fs from 'node:fs';
import fsp from 'node:fs/promises';
import path from 'node:path';
import { PassThrough, Readable, Transform, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { PRIVATE_FILE_MODE } from '../private-fs.js';
import { aad, BackupKeyError, decryptor, encryptor, keyFingerprint, open, seal } from './crypto.js';
import type { BackupTarget } from './target.js';

/**
 * The backup format (ADR 0050), version 1. A backup `<id>/` holds:
 * - `index.json`, plain: id, time, kind, size, the key's fingerprint, the sealed manifest;
 * - `files/<n>.bin`: each captured file, AES-256-GCM under the backup key (IV and tag in the manifest);
 * - `master-key.json` only with --include-master-key: the master key wrapped under a passphrase.
 * The manifest (encrypted: it names tables and media) lists every file with its bytes and SHA-256.
 */
export const FORMAT = 1;

export interface ManifestFile {
  /** Logical path: database/pglite.tar.gz, analytics/analytics.duckdb, media/<key>, ... */
  path: string;
  object: string;
  bytes: number;
  sha256: string;
  iv: string;
  tag: string;
  meta?: Record<string, string>;
}

export interface Manifest {
  format: number;
  id: string;
  version: string;
  kind: 'embedded' | 'distributed';
  startedAt: string;
  finishedAt: string;
  migrations: string[];
  rowCounts: Record<string, number>;
  files: ManifestFile[];
  notes: string[];
}

export interface BackupIndex {
  format: number;
  id: string;
  createdAt: string;
  kind: 'embedded' | 'distributed';
  bytes: number;
  files: number;
  keyFingerprint: string;
  masterKeyIncluded: boolean;
  manifest: { iv: string; tag: string; data: string };
}

export type Progress = (done: number, total: number | undefined, file: string) => void;

/** Counts and hashes what passes through. */
function tap(): Transform & { bytes: number; digest(): string } {
  const hash = createHash('sha256');
  const t = new Transform({
    transform(chunk: Buffer, _enc, cb) {
      hash.update(chunk);
      (t as unknown as { bytes: number }).bytes += chunk.length;
      cb(null, chunk);
    },
  }) as Transform & { bytes: number; digest(): string };
  t.bytes = 0;
  t.digest = () => hash.digest('hex');
  return t;
}

export class BackupWriter {
  readonly files: ManifestFile[] = [];
  private n = 0;
  bytes = 0;
  constructor(
    readonly dir: string,
    readonly id: string,
    private readonly key: Buffer,
    private readonly progress?: Progress,
  ) {}

  /** Encrypts one file into the backup as it streams by. */
  async add(logical: string, source: Readable | Buffer, meta?: Record<string, string>): Promise<void> {
    const object = `files/${String(++this.n).padStart(6, '0')}.bin`;
    const target = path.join(this.dir, 'files', `${String(this.n).padStart(6, '0')}.bin`);
    await fsp.mkdir(path.dirname(target), { recursive: true, mode: 0o700 });
    const { iv, cipher } = encryptor(this.key, aad(this.id, logical));
    const t = tap();
    const before = this.bytes;
    t.on('data', () => this.progress?.(before + t.bytes, undefined, logical));
    await pipeline(Buffer.isBuffer(source) ? Readable.from([source]) : source, t, cipher, fs.createWriteStream(target, { mode: PRIVATE_FILE_MODE }));
    this.bytes += t.bytes;
    this.files.push({ path: logical, object, bytes: t.bytes, sha256: t.digest(), iv: iv.toString('base64'), tag: cipher.getAuthTag().toString('base64'), ...(meta ? { meta } : {}) });
  }

  async addFile(logical: string, file: string, meta?: Record<string, string>): Promise<void> {
    await this.add(logical, fs.createReadStream(file), meta);
  }

  /** Seals the manifest and writes the index; the folder is then ready to publish. */
  async finish(manifest: Omit<Manifest, 'files' | 'format' | 'id'>, extra: { masterKey?: Record<string, unknown> } = {}): Promise<BackupIndex> {
    const full: Manifest = { format: FORMAT, id: this.id, ...manifest, files: this.files };
    if (extra.masterKey) await fsp.writeFile(path.join(this.dir, 'master-key.json'), JSON.stringify(extra.masterKey, null, 2), { mode: PRIVATE_FILE_MODE });
    const index: BackupIndex = {
      format: FORMAT,
      id: this.id,
      createdAt: manifest.startedAt,
      kind: manifest.kind,
      bytes: this.bytes,
      files: this.files.length,
      keyFingerprint: keyFingerprint(this.key),
      masterKeyIncluded: Boolean(extra.masterKey),
      manifest: seal(this.key, aad(this.id, 'manifest'), Buffer.from(JSON.stringify(full))),
    };
    await fsp.writeFile(path.join(this.dir, 'index.json'), JSON.stringify(index, null, 2), { mode: PRIVATE_FILE_MODE });
    return index;
  }
}

async function readAll(stream: Readable): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of stream) chunks.push(Buffer.isBuffer(c) ? c : Buffer.from(c as Uint8Array));
  return Buffer.concat(chunks);
}

export class BackupNotFoundError extends Error {}
export class BackupCorruptError extends Error {}

export async function readIndex(target: BackupTarget, id: string): Promise<BackupIndex> {
  let text: Buffer;
  try {
    text = await readAll(await target.read(id, 'index.json'));
  } catch {
    throw new BackupNotFoundError(`no backup ${id} in ${target.description}`);
  }
  try {
    const index = JSON.parse(text.toString('utf8')) as BackupIndex;
    if (index.format !== FORMAT || index.id !== id) throw new Error('format');
    return index;
  } catch {
    throw new BackupCorruptError(`backup ${id}: index.json is not a v01t backup index (format ${FORMAT})`);
  }
}

export async function readMasterKeyWrap(target: BackupTarget, id: string): Promise<Record<string, unknown>> {
  return JSON.parse((await readAll(await target.read(id, 'master-key.json'))).toString('utf8')) as Record<string, unknown>;
}

/** Decrypts the manifest; a key with another fingerprint is named before anything is tried. */
export function openManifest(index: BackupIndex, key: Buffer): Manifest {
  const fp = keyFingerprint(key);
  if (fp !== index.keyFingerprint) {
    throw new BackupKeyError(`backup ${index.id} was encrypted with the key ${index.keyFingerprint}, but the configured backup key is ${fp} (set BACKUP_KEY, or V01T_MASTER_KEY, to the key in use when it was made)`);
  }
  return JSON.parse(open(key, aad(index.id, 'manifest'), index.manifest, `the manifest of backup ${index.id}`).toString('utf8')) as Manifest;
}

/**
 * Streams one file out of the backup, decrypted, into `sink`; rejects (BackupCorruptError) when
 * its tag, size or SHA-256 do not match. The sink has seen the bytes by then: callers verify first.
 */
export async function extract(target: BackupTarget, id: string, key: Buffer, file: ManifestFile, sink: Writable = new PassThrough().resume(), progress?: (n: number) => void): Promise<void> {
  const t = tap();
  if (progress) t.on('data', () => progress(t.bytes));
  try {
    await pipeline(await target.read(id, file.object), decryptor(key, aad(id, file.path), Buffer.from(file.iv, 'base64'), Buffer.from(file.tag, 'base64')), t, sink);
  } catch (err) {
    if ((err as Error).message?.includes('authenticate')) throw new BackupCorruptError(`${file.path}: authentication failed (the file was altered or is damaged)`);
    throw new BackupCorruptError(`${file.path}: ${(err as Error).message}`);
  }
  if (t.bytes !== file.bytes || t.digest() !== file.sha256) throw new BackupCorruptError(`${file.path}: ${t.bytes} bytes with SHA-256 ${t.digest()}, the manifest says ${file.bytes} bytes with ${file.sha256}`);
}
