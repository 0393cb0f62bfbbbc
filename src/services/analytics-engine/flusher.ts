import type { Clock } from '../../kernel/clock.js';
import type { Logger } from '../../kernel/telemetry/logger.js';
import { STALE_CLAIM_MS, type BufferRepository } from './buffer.repository.js';
import type { EventStore, StoredEvent } from './event-store.js';
import type { ClaimedRow, IngestBuffer } from './ingest-buffer.js';

/**
 * Moves events from the buffer (segment files or the database) to the OLAP store, one claimed
 * batch at a time. A batch is claimed (marked in flight under a batch id), written to the store
 * tagged with its batch id, then completed. If the process dies in between, recovery finds the
 * stale claim, removes whatever part of the batch reached the store, and releases the batch:
 * each event lands exactly once and none is lost.
 */
export class Flusher {
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> | undefined;
  private stopped = true;
  private lock: Promise<unknown> = Promise.resolve();
  private turn = 0;

  /**
   * `buffers`: where events wait. With the file buffer, the database buffer is flushed too: the
   * platform's bus events are written there in the delivery's transaction (exactly once).
   */
  constructor(
    private readonly buffers: IngestBuffer[],
    private readonly identities: BufferRepository,
    private readonly store: EventStore,
    private readonly clock: Clock,
    private readonly logger: Logger,
    private readonly opts: { batchSize: number; intervalMs: number; onFlushed?: (n: number) => void },
  ) {}

  /** Runs fn while no batch of this process is on its way to the store (flushes wait for it). */
  exclusive<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.lock.then(fn, fn);
    this.lock = run.catch(() => undefined);
    return run;
  }

  /** Flushes one batch; returns how many events it moved. */
  flushOnce(): Promise<number> {
    return this.exclusive(() => this.flushBatch());
  }

  private async flushBatch(): Promise<number> {
    // Buffers take turns being asked first, so steady ingestion cannot starve the bus events.
    this.turn = (this.turn + 1) % this.buffers.length;
    for (let i = 0; i < this.buffers.length; i++) {
      const buffer = this.buffers[(this.turn + i) % this.buffers.length]!;
      const claimed = await buffer.claim(this.opts.batchSize, this.clock.now());
      if (claimed) return this.writeBatch(buffer, claimed.batchId, claimed.rows);
    }
    return 0;
  }

  private async writeBatch(buffer: IngestBuffer, batchId: string, rows: ClaimedRow[]): Promise<number> {
    try {
      const events = await this.resolve(rows, batchId);
      await this.store.insert(events);
    } catch (err) {
      // The store refused the batch (down, full): undo any partial write and hand the rows back.
      await this.undo(batchId).catch(() => undefined);
      await buffer.release(batchId);
      throw err;
    }
    await buffer.complete(batchId, this.clock.now());
    this.opts.onFlushed?.(rows.length);
    return rows.length;
  }

  /** Flushes until the buffer has nothing left to hand out. */
  async drain(): Promise<number> {
    let total = 0;
    for (;;) {
      const n = await this.flushOnce();
      total += n;
      if (n === 0) return total;
    }
  }

  /**
   * The loop's share of work: full batches while there are any, ending with the first partial
   * one (so under steady traffic batches fill up for intervalMs instead of going out a few
   * events at a time), or when the loop is being stopped.
   */
  private async flushFullBatches(): Promise<void> {
    while (!this.stopped && (await this.flushOnce()) >= this.opts.batchSize);
  }

  private async undo(batchId: string): Promise<void> {
    if ((await this.store.countBatch(batchId)) > 0) await this.store.deleteBatch(batchId);
  }

  /** Finishes or rolls back batches whose flushing process died (claimed before now - staleMs). */
  recover(staleMs = STALE_CLAIM_MS): Promise<number> {
    return this.exclusive(async () => {
      let n = 0;
      for (const buffer of this.buffers) {
        const stale = await buffer.unfinished(new Date(this.clock.now().getTime() - staleMs));
        for (const { batchId, size } of stale) {
          const stored = await this.store.countBatch(batchId);
          if (stored === size) {
            await buffer.complete(batchId, this.clock.now());
            continue;
          }
          if (stored > 0) await this.store.deleteBatch(batchId);
          await buffer.release(batchId);
          if (stored > 0) this.logger.warn({ batchId, size, partial: stored }, 'released an interrupted analytics flush batch');
        }
        n += stale.length;
      }
      return n;
    });
  }

  /**
   * Links from identify/alias in this batch are recorded first, so events of the same batch
   * already count for the identified user.
   */
  private async resolve(rows: ClaimedRow[], batchId: string): Promise<StoredEvent[]> {
    const links = rows
      .filter((r) => r.payload.type !== 'track' && r.payload.userId && r.payload.anonymousId)
      .map((r) => ({ workspaceId: r.workspaceId, anonymousId: r.payload.anonymousId!, userId: r.payload.userId! }));
    await this.identities.linkIdentities(links, this.clock.now());
    const anonymous = new Map<string, { workspaceId: string; anonymousId: string }>();
    for (const r of rows) if (!r.payload.userId && r.payload.anonymousId) anonymous.set(`${r.workspaceId}|${r.payload.anonymousId}`, { workspaceId: r.workspaceId, anonymousId: r.payload.anonymousId });
    const known = await this.identities.identitiesFor([...anonymous.values()]);
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
        await this.flushFullBatches();
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
