import { randomUUID } from 'node:crypto';
import type { Clock } from '../../kernel/clock.js';
import type { Logger } from '../../kernel/telemetry/logger.js';
import type { BufferRepository, ClaimedRow } from './buffer.repository.js';
import type { EventStore, StoredEvent } from './event-store.js';

/** A claimed batch untouched this long is taken to belong to a dead process. */
const STALE_CLAIM_MS = 60_000;

/**
 * Moves events from the PostgreSQL buffer to the OLAP store, one claimed batch at a time.
 * A batch is claimed (state 'flushing', a batch id) in one transaction, written to the store
 * tagged with its batch id, then marked flushed. If the process dies in between, recovery finds
 * the stale claim, removes whatever part of the batch reached the store, and releases the rows:
 * each event lands exactly once and none is lost.
 */
export class Flusher {
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> | undefined;
  private stopped = true;

  constructor(
    private readonly buffer: BufferRepository,
    private readonly store: EventStore,
    private readonly clock: Clock,
    private readonly logger: Logger,
    private readonly opts: { batchSize: number; intervalMs: number; onFlushed?: (n: number) => void },
  ) {}

  /** Flushes one batch; returns how many events it moved. */
  async flushOnce(): Promise<number> {
    const batchId = randomUUID();
    const rows = await this.buffer.claim(batchId, this.opts.batchSize, this.clock.now());
    if (rows.length === 0) return 0;
    try {
      const events = await this.resolve(rows, batchId);
      await this.store.insert(events);
    } catch (err) {
      // The store refused the batch (down, full): undo any partial write and hand the rows back.
      await this.undo(batchId).catch(() => undefined);
      await this.buffer.release(batchId);
      throw err;
    }
    await this.buffer.markFlushed(batchId, this.clock.now());
    this.opts.onFlushed?.(rows.length);
    return rows.length;
  }

  /** Flushes until the buffer is empty. */
  async drain(): Promise<number> {
    let total = 0;
    for (;;) {
      const n = await this.flushOnce();
      total += n;
      if (n < this.opts.batchSize) return total;
    }
  }

  private async undo(batchId: string): Promise<void> {
    if ((await this.store.countBatch(batchId)) > 0) await this.store.deleteBatch(batchId);
  }

  /** Finishes or rolls back batches whose flushing process died (claimed before now - staleMs). */
  async recover(staleMs = STALE_CLAIM_MS): Promise<number> {
    const stale = await this.buffer.staleBatches(new Date(this.clock.now().getTime() - staleMs));
    for (const { batchId, size } of stale) {
      const stored = await this.store.countBatch(batchId);
      if (stored === size) {
        await this.buffer.markFlushed(batchId, this.clock.now());
        continue;
      }
      if (stored > 0) await this.store.deleteBatch(batchId);
      await this.buffer.release(batchId);
      this.logger.warn({ batchId, size, partial: stored }, 'released an interrupted analytics flush batch');
    }
    return stale.length;
  }

  /**
   * Links from identify/alias in this batch are recorded first, so events of the same batch
   * already count for the identified user.
   */
  private async resolve(rows: ClaimedRow[], batchId: string): Promise<StoredEvent[]> {
    const links = rows
      .filter((r) => r.payload.type !== 'track' && r.payload.userId && r.payload.anonymousId)
      .map((r) => ({ workspaceId: r.workspaceId, anonymousId: r.payload.anonymousId!, userId: r.payload.userId! }));
    await this.buffer.linkIdentities(links, this.clock.now());
    const anonymous = rows.filter((r) => !r.payload.userId && r.payload.anonymousId).map((r) => ({ workspaceId: r.workspaceId, anonymousId: r.payload.anonymousId! }));
    const known = await this.buffer.identitiesFor(anonymous);
    return rows.map((r) => {
      const p = r.payload;
      const linked = p.anonymousId ? known.get(`${r.workspaceId}|${p.anonymousId}`) : undefined;
      return {
        workspaceId: r.workspaceId,
        event: p.event,
        personId: p.userId ?? linked ?? `anon:${p.anonymousId}`,
        userId: p.userId ?? '',
        anonymousId: p.anonymousId ?? '',
        ts: p.ts,
        messageId: p.messageId,
        properties: p.properties,
        receivedAt: r.receivedAt.getTime(),
        batchId,
      };
    });
  }

  start(): void {
    if (!this.stopped) return;
    this.stopped = false;
    let lastRecovery = -Infinity;
    const tick = async () => {
      try {
        if (Date.now() - lastRecovery > STALE_CLAIM_MS) {
          lastRecovery = Date.now();
          await this.recover();
        }
        await this.drain();
      } catch (err) {
        this.logger.error({ err }, 'analytics flush failed; events stay buffered and are retried');
      }
    };
    const schedule = () => {
      if (this.stopped) return;
      this.timer = setTimeout(() => {
        this.running = tick().finally(schedule);
      }, this.opts.intervalMs);
      this.timer.unref?.();
    };
    this.running = tick().finally(schedule);
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    await this.running?.catch(() => undefined);
  }
}
