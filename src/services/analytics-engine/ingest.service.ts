import { createHash, randomBytes, randomUUID } from 'node:crypto';
import { AppError } from '../../kernel/errors.js';
import type { Clock } from '../../kernel/clock.js';
import type { AuditLog } from '../../kernel/audit/index.js';
import { fastIncomingEvent, incomingEventSchema, type IncomingEvent } from './schemas.js';
import type { BufferedEvent } from './ingest-buffer.js';
import type { IngestBuffer } from './ingest-buffer.js';
import type { KeyRow, WriteKeysRepository } from './write-keys.repository.js';

const DAY_MS = 86_400_000;
/** Events older than the retention window would be deleted at once: refuse them instead. */
export const RETENTION_DAYS = 3 * 365 + 1;
/** Corrected timestamps further ahead than this are refused (a broken client clock). */
const MAX_FUTURE_MS = DAY_MS;

export interface IngestResult {
  accepted: number;
  duplicates: number;
  errors: { index: number; messageId: string | null; errors: { path: string; message: string }[] }[];
}

/** How long a checked write key is trusted without asking the database again. */
const KEY_CACHE_MS = 5_000;
/** last_used_at is kept to the minute. */
const LAST_USED_RESOLUTION_MS = 60_000;

export const sha256 = (s: string) => createHash('sha256').update(s).digest('hex');

/**
 * Validates a batch event by event, corrects clock skew, drops duplicate messageIds and commits
 * the valid events to the durable buffer. Answers only after the commit (the route's 202).
 */
export class IngestService {
  private pending = { count: 0, at: -Infinity };

  constructor(
    private readonly buffer: IngestBuffer,
    private readonly clock: Clock,
    private readonly opts: { bufferMaxEvents: number },
  ) {}

  /** Pending rows, re-counted at most once a second; the flusher lowers it as it drains. */
  private async pendingEvents(): Promise<number> {
    const now = this.clock.now().getTime();
    if (now - this.pending.at >= 1000 || now < this.pending.at) this.pending = { count: await this.buffer.pendingCount(), at: now };
    return this.pending.count;
  }

  forgetPendingCount(): void {
    this.pending.at = -Infinity;
  }

  async ingest(workspaceId: string, batch: unknown[], batchSentAt?: string): Promise<IngestResult> {
    if ((await this.pendingEvents()) >= this.opts.bufferMaxEvents) {
      throw new AppError('analytics_buffer_full', 'The ingestion buffer is full while the store catches up; retry after the given delay', { retryAfterSeconds: 5 });
    }
    const receivedAt = this.clock.now();
    const errors: IngestResult['errors'] = [];
    const valid: BufferedEvent[] = [];
    batch.forEach((raw, index) => {
      let data = fastIncomingEvent(raw);
      const messageId = raw && typeof raw === 'object' && typeof (raw as { messageId?: unknown }).messageId === 'string' ? (raw as { messageId: string }).messageId : null;
      if (!data) {
        const parsed = incomingEventSchema.safeParse(raw);
        if (!parsed.success) {
          errors.push({ index, messageId, errors: parsed.error.issues.map((i) => ({ path: i.path.join('.') || '(event)', message: i.message })) });
          return;
        }
        data = parsed.data;
      }
      const ts = correctedTime(data, batchSentAt, receivedAt.getTime());
      if (ts > receivedAt.getTime() + MAX_FUTURE_MS) {
        errors.push({ index, messageId, errors: [{ path: 'timestamp', message: 'more than a day in the future after clock-skew correction' }] });
        return;
      }
      if (ts < receivedAt.getTime() - RETENTION_DAYS * DAY_MS) {
        errors.push({ index, messageId, errors: [{ path: 'timestamp', message: 'older than the 3-year retention window' }] });
        return;
      }
      valid.push(normalise(data, ts));
    });
    const inserted = await this.buffer.append(workspaceId, receivedAt, valid);
    this.pending.count += inserted.size;
    return { accepted: inserted.size, duplicates: valid.length - inserted.size, errors };
  }
}

/**
 * The server's view of the event time: the client's timestamp shifted by how far the client's
 * clock was off when it sent the batch (receivedAt - sentAt), as Segment does. Without a
 * timestamp the event happened when it was received.
 */
export function correctedTime(e: Pick<IncomingEvent, 'timestamp' | 'sentAt'>, batchSentAt: string | undefined, receivedAt: number): number {
  if (!e.timestamp) return receivedAt;
  const ts = Date.parse(e.timestamp);
  const sentAt = e.sentAt ?? batchSentAt;
  if (!sentAt) return ts;
  return ts + (receivedAt - Date.parse(sentAt));
}

function normalise(e: IncomingEvent, ts: number): BufferedEvent {
  const event = e.type === 'track' ? e.event! : `$${e.type}`;
  const properties = e.type === 'identify' ? { ...(e.properties ?? {}), ...(e.traits ?? {}) } : (e.properties ?? {});
  return {
    type: e.type,
    event,
    userId: e.userId ?? null,
    anonymousId: e.anonymousId ?? (e.type === 'alias' ? (e.previousId ?? null) : null),
    previousId: e.previousId ?? null,
    ts,
    properties,
    messageId: e.messageId,
  };
}

export interface WriteKeyView {
  id: string;
  name: string;
  prefix: string;
  createdAt: Date;
  lastUsedAt: Date | null;
  revokedAt: Date | null;
}

const toView = (r: KeyRow): WriteKeyView => ({
  id: r.id,
  name: r.name,
  prefix: r.key_prefix,
  createdAt: new Date(r.created_at),
  lastUsedAt: r.last_used_at ? new Date(r.last_used_at) : null,
  revokedAt: r.revoked_at ? new Date(r.revoked_at) : null,
});

/**
 * Workspace write keys (`wk_…`): 32 random bytes shown once, stored as SHA-256 (a random key
 * needs no slow hash). A key authenticates only ingestion into its own workspace.
 */
export class WriteKeyService {
  private readonly recentKeys = new Map<string, { workspaceId: string; at: number }>();

  constructor(
    private readonly repo: WriteKeysRepository,
    private readonly audit: AuditLog,
    private readonly clock: Clock,
  ) {}

  async create(workspaceId: string, name: string, actor: { userId: string; ip: string }): Promise<{ writeKey: WriteKeyView; key: string }> {
    const key = `wk_${randomBytes(32).toString('base64url')}`;
    const id = randomUUID();
    const now = this.clock.now();
    const row = await this.repo.insert({ id, workspaceId, name, keyHash: sha256(key), keyPrefix: key.slice(0, 10), createdBy: actor.userId, createdAt: now.toISOString() });
    await this.audit.record({ action: 'analytics.write_key.created', workspaceId, actorId: actor.userId, actorIp: actor.ip, targetType: 'write_key', targetId: id, data: { name } });
    return { writeKey: toView(row), key };
  }

  async list(workspaceId: string): Promise<WriteKeyView[]> {
    return (await this.repo.list(workspaceId)).map(toView);
  }

  async revoke(workspaceId: string, id: string, actor: { userId: string; ip: string }): Promise<void> {
    const revoked = await this.repo.revoke(workspaceId, id, this.clock.now().toISOString());
    this.recentKeys.clear();
    if (!revoked) throw new AppError('not_found', 'Write key not found');
    await this.audit.record({ action: 'analytics.write_key.revoked', workspaceId, actorId: actor.userId, actorIp: actor.ip, targetType: 'write_key', targetId: id });
  }

  /**
   * The workspace a live key belongs to, or null. A valid key is remembered for a few seconds and
   * its last use written at most once a minute: a busy client sends many batches a second, and a
   * database round trip per batch was a tenth of the embedded ingest path. A revocation clears
   * this process's memory at once; other replicas stop accepting the key within KEY_CACHE_MS.
   */
  async authenticate(key: string): Promise<string | null> {
    if (!/^wk_[A-Za-z0-9_-]{20,100}$/.test(key)) return null;
    const hash = sha256(key);
    const now = this.clock.now().getTime();
    const hit = this.recentKeys.get(hash);
    if (hit && now >= hit.at && now - hit.at < KEY_CACHE_MS) return hit.workspaceId;
    const workspaceId = await this.repo.useKey(hash, new Date(now).toISOString(), new Date(now - LAST_USED_RESOLUTION_MS).toISOString());
    if (workspaceId) this.recentKeys.set(hash, { workspaceId, at: now });
    else this.recentKeys.delete(hash);
    return workspaceId;
  }
}
