import { createHash, randomUUID } from 'node:crypto';
import type { Readable } from 'node:stream';
import { streamToBuffer } from '../../kernel/storage/index.js';
import type { PublishMedia } from '../integration-hub/contract.js';
import type { Tx } from '../../kernel/db/transaction.js';
import type { Clock } from '../../kernel/clock.js';
import type { ObjectStorage } from '../../kernel/storage/index.js';
import { AppError, notFound } from '../../kernel/errors.js';
import { iso } from './format.js';
import type { MediaRepository, MediaRow } from './media.repository.js';

export const MEDIA_TYPES = ['image/jpeg', 'image/png', 'image/gif', 'image/webp', 'video/mp4', 'application/pdf'] as const;

export interface Media {
  id: string;
  workspaceId: string;
  fileName: string;
  contentType: string;
  sizeBytes: number;
  sha256: string;
  /** Alternative text published with the file (images). */
  altText: string | null;
  uploadedBy: string | null;
  createdAt: string;
}

export const MAX_ALT_TEXT = 1500;

const toMedia = (r: MediaRow): Media => ({
  id: r.id,
  workspaceId: r.workspace_id,
  fileName: r.file_name,
  contentType: r.content_type,
  sizeBytes: Number(r.size_bytes),
  sha256: r.sha256,
  altText: r.alt_text,
  uploadedBy: r.uploaded_by,
  createdAt: iso(r.created_at)!,
});

/** The declared type must match the file's leading bytes: a renamed executable is not an image. */
function sniff(buf: Buffer): string | null {
  const starts = (...b: number[]) => b.every((x, i) => buf[i] === x);
  if (starts(0xff, 0xd8, 0xff)) return 'image/jpeg';
  if (starts(0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a)) return 'image/png';
  if (buf.subarray(0, 6).toString('latin1') === 'GIF87a' || buf.subarray(0, 6).toString('latin1') === 'GIF89a') return 'image/gif';
  if (buf.subarray(0, 4).toString('latin1') === 'RIFF' && buf.subarray(8, 12).toString('latin1') === 'WEBP') return 'image/webp';
  if (buf.subarray(4, 8).toString('latin1') === 'ftyp') return 'video/mp4';
  if (buf.subarray(0, 5).toString('latin1') === '%PDF-') return 'application/pdf';
  return null;
}

function checkAltText(alt: string | undefined): void {
  if (alt !== undefined && alt.length > MAX_ALT_TEXT) throw new AppError('validation_failed', `Alt text is limited to ${MAX_ALT_TEXT} characters`, { errors: [{ path: 'altText', message: `at most ${MAX_ALT_TEXT} characters` }] });
}

export class MediaService {
  constructor(
    private readonly repo: MediaRepository,
    private readonly storage: ObjectStorage,
    private readonly clock: Clock,
    readonly maxBytes: number,
  ) {}

  async upload(workspaceId: string, userId: string | null, file: { fileName: string; contentType: string; data: Buffer; expectedSha256?: string; altText?: string }): Promise<Media> {
    checkAltText(file.altText);
    if (!(MEDIA_TYPES as readonly string[]).includes(file.contentType)) {
      throw new AppError('unsupported_media_type', `Media type ${file.contentType} is not accepted (accepted: ${MEDIA_TYPES.join(', ')})`);
    }
    if (file.data.length === 0) throw new AppError('validation_failed', 'The file is empty', { errors: [{ path: 'file', message: 'empty' }] });
    if (file.data.length > this.maxBytes) throw new AppError('payload_too_large', `Media files are limited to ${this.maxBytes} bytes`);
    const actual = sniff(file.data);
    if (actual !== file.contentType) throw new AppError('unsupported_media_type', `The file's content is not ${file.contentType}`);
    const sha256 = createHash('sha256').update(file.data).digest('hex');
    if (file.expectedSha256 && file.expectedSha256.toLowerCase() !== sha256) {
      throw new AppError('validation_failed', 'The file does not match the given SHA-256 checksum', { errors: [{ path: 'x-checksum-sha256', message: `computed ${sha256}` }] });
    }
    const id = randomUUID();
    const key = `content/${workspaceId}/${id}`;
    await this.storage.put(key, file.data, { contentType: file.contentType, contentLength: file.data.length });
    try {
      await this.repo.insert({
        id,
        workspaceId,
        objectKey: key,
        fileName: file.fileName.slice(0, 255),
        contentType: file.contentType,
        sizeBytes: file.data.length,
        sha256,
        altText: file.altText || null,
        uploadedBy: userId,
        createdAt: this.clock.now().toISOString(),
      });
    } catch (err) {
      await this.storage.delete(key).catch(() => {});
      throw err;
    }
    return this.get(workspaceId, id);
  }

  async get(workspaceId: string, mediaId: string): Promise<Media> {
    const r = await this.repo.get(workspaceId, mediaId);
    if (!r) throw notFound('Media');
    return toMedia(r);
  }

  async setAltText(workspaceId: string, mediaId: string, altText: string | null): Promise<Media> {
    checkAltText(altText ?? undefined);
    const r = await this.repo.setAltText(workspaceId, mediaId, altText || null);
    if (!r) throw notFound('Media');
    return toMedia(r);
  }

  /**
   * The files of a post as the integration-hub publishes them, in the post's order, read through
   * the storage port (fs or S3) and checked against the stored checksum. A file deleted since the
   * post was saved (erasure) is a `media_missing` refusal: the post is not published without it.
   */
  async forPublish(workspaceId: string, ids: string[]): Promise<PublishMedia[]> {
    if (!ids.length) return [];
    const found = await this.repo.many(workspaceId, ids);
    const byId = new Map(found.map((r) => [r.id, r]));
    const out: PublishMedia[] = [];
    for (const id of ids) {
      const r = byId.get(id);
      if (!r) throw new AppError('media_missing', `Media ${id} of this post no longer exists`);
      const obj = await this.storage.get(r.object_key);
      if (!obj) throw new AppError('media_missing', `The file of media ${id} is missing from object storage`);
      const data = await streamToBuffer(obj.body);
      if (createHash('sha256').update(data).digest('hex') !== r.sha256) throw new AppError('media_missing', `The stored file of media ${id} does not match its checksum`);
      out.push({ contentType: r.content_type, filename: r.file_name, size: data.length, sha256: r.sha256, ...(r.alt_text ? { altText: r.alt_text } : {}), data });
    }
    return out;
  }

  async many(workspaceId: string, ids: string[], tx?: Tx): Promise<Map<string, Media>> {
    if (!ids.length) return new Map();
    const r = await this.repo.many(workspaceId, ids, tx);
    return new Map(r.map((x) => [x.id, toMedia(x)]));
  }

  async content(workspaceId: string, mediaId: string): Promise<{ media: Media; body: Readable }> {
    const r = await this.repo.get(workspaceId, mediaId);
    if (!r) throw notFound('Media');
    const obj = await this.storage.get(r.object_key);
    if (!obj) throw new AppError('not_found', 'The media file is missing from object storage');
    return { media: toMedia(r), body: obj.body };
  }

  /** Erasure: removes the user's uploads, rows and objects. */
  async removeOfUser(userId: string): Promise<number> {
    return this.removeObjects(await this.repo.deleteOfUser(userId));
  }

  /** Cleanup: removes uploads older than `before` that no post refers to, rows and objects. */
  async removeUnattached(before: Date): Promise<number> {
    return this.removeObjects(await this.repo.deleteUnattached(before));
  }

  private async removeObjects(keys: string[]): Promise<number> {
    for (const k of keys) await this.storage.delete(k);
    return keys.length;
  }

  async ofUser(userId: string): Promise<Media[]> {
    return (await this.repo.ofUser(userId)).map(toMedia);
  }
}
