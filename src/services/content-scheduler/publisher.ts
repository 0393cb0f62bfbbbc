import os from 'node:os';
import { createHash, randomUUID } from 'node:crypto';
import client from 'prom-client';
import type { Transactor, Tx } from '../../kernel/db/transaction.js';
import type { Clock } from '../../kernel/clock.js';
import type { Logger } from '../../kernel/telemetry/logger.js';
import type { EventPublisher, NewEvent } from '../../kernel/events/envelope.js';
import { AppError } from '../../kernel/errors.js';
import type { IntegrationHubContract, PublishMedia, PublishResult } from '../integration-hub/contract.js';
import type { CampaignsRepository } from './campaigns.repository.js';
import type { ClaimedTargetRow, PublisherRepository, PublishedValues } from './publisher.repository.js';
import { withSpan } from '../../kernel/telemetry/tracing.js';

/** Codes after which the same request may succeed later (conflict: the hub is still publishing this key); the rest are refusals for good. */
const TRANSIENT_CODES = new Set(['conflict', 'egress_timeout', 'egress_failed', 'egress_rate_limited', 'egress_circuit_open', 'service_unavailable', 'rate_limited', 'internal_error']);

export function isTransient(err: unknown): boolean {
  if (!(err instanceof AppError)) return true; // an unexpected failure: retrying with the same idempotency key is safe
  if (TRANSIENT_CODES.has(err.code)) return true;
  if (err.code === 'provider_error') {
    const status = Number(err.extra.providerStatus ?? err.extra.status ?? 0);
    return status === 429 || status >= 500;
  }
  return false;
}

export const idempotencyKeyOf = (targetId: string) => `content-target:${targetId}`;

export interface PublisherOptions {
  batch: number;
  concurrency: number;
  leaseSeconds: number;
  maxAttempts: number;
  intervalMs: number;
  /**
   * Claim ahead: a pass also claims the targets due within this many ms and sends each at its due
   * time, so the work is in hand when the time comes instead of waiting for the next pass (0: only
   * targets already due). Capped at half the lease, so a claimed target is sent well inside it.
   */
  lookaheadMs?: number;
  /** Waits this many ms (until a claimed-ahead target is due); tests pass one that moves their clock. */
  sleep?: (ms: number) => Promise<void>;
  workerId?: string;
  /** Reads a post's media (bytes through the storage port) for publishing; throws media_missing when one is gone. */
  loadMedia?: (workspaceId: string, mediaIds: string[]) => Promise<PublishMedia[]>;
}

/** Outcomes are recorded in one transaction per this many (group commit), and at the end of each pass. */
const RECORD_BATCH = 50;

export interface PublisherMetrics {
  publishTotal: client.Counter<'channel_type' | 'status'>;
  lateness: client.Histogram<'channel_type'>;
}

export function registerPublisherMetrics(registry: client.Registry, dueUnpublished: () => Promise<number>): PublisherMetrics {
  const publishTotal = new client.Counter({
    name: 'content_publish_total',
    help: 'Publication attempts by channel type and outcome (published, retry, failed, skipped)',
    labelNames: ['channel_type', 'status'] as const,
    registers: [registry],
  });
  const lateness = new client.Histogram({
    name: 'content_publish_lateness_seconds',
    help: 'Seconds between a target being due and its confirmed publication',
    labelNames: ['channel_type'] as const,
    buckets: [0.25, 0.5, 1, 2, 5, 10, 30, 60, 300, 900, 3600, 21_600, 86_400],
    registers: [registry],
  });
  new client.Gauge({
    name: 'content_due_unpublished',
    help: 'Targets whose time has come that are not published yet (scheduled or publishing)',
    registers: [registry],
    async collect() {
      this.set(await dueUnpublished());
    },
  });
  return { publishTotal, lateness };
}

type ClaimedRow = Omit<ClaimedTargetRow, 'media_ids'> & { media_ids: string[]; recheck: boolean };

const wallClockSleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

type Outcome =
  | { kind: 'published'; result: PublishResult; at: Date }
  | { kind: 'retry'; code: string; message: string; delayMs?: number; countsAsAttempt: boolean }
  | { kind: 'failed'; code: string; message: string }
  | { kind: 'skipped'; code: string; message: string };

export interface RunSummary {
  claimed: number;
  published: number;
  retried: number;
  failed: number;
  skipped: number;
  rechecked: number;
}

/**
 * Claims due targets with FOR UPDATE SKIP LOCKED (any number of replicas), publishes each
 * through the integration-hub with an idempotency key per target, and records only what the
 * provider confirmed. See ARCHITECTURE.md beside this file.
 */
export class Publisher {
  readonly workerId: string;
  private timer: NodeJS.Timeout | null = null;
  private readonly running = new Set<Promise<unknown>>();
  private stopped = true;
  private readonly lookaheadMs: number;
  private readonly sleep: (ms: number) => Promise<void>;

  constructor(
    private readonly db: Transactor,
    private readonly repo: PublisherRepository,
    private readonly campaigns: CampaignsRepository,
    private readonly clock: Clock,
    private readonly hub: () => IntegrationHubContract,
    private readonly events: EventPublisher,
    private readonly nextOccurrence: (tx: Tx, t: { postId: string; channelId: string; workspaceId: string; dueAt: Date }) => Promise<void>,
    private readonly metrics: PublisherMetrics,
    private readonly logger: Logger,
    private readonly opts: PublisherOptions,
  ) {
    this.workerId = opts.workerId ?? `${os.hostname()}:${process.pid}:${randomUUID().slice(0, 8)}`;
    this.lookaheadMs = Math.min(opts.lookaheadMs ?? 0, (opts.leaseSeconds * 1000) / 2);
    this.sleep = opts.sleep ?? wallClockSleep;
  }

  start(): void {
    if (!this.stopped) return;
    this.stopped = false;
    // Passes overlap by at most one: once a full pass has handed out its last target, the next pass
    // claims while the first one's last publishes are still in flight (no idle tail per pass).
    // Claiming ahead, a pass holds targets until they are due: the next pass is timed from this
    // one's claim instead of its end (else what falls due meanwhile would wait for a claim), so up
    // to lookahead / interval + 1 passes (at most 16) run at once, each holding what falls due in one interval.
    // A full batch is a backlog, not a look-ahead: it chains as above (at most two passes).
    const passesAhead = Math.min(16, Math.ceil(this.lookaheadMs / this.opts.intervalMs) + 1);
    const launch = () => {
      if (this.stopped) return;
      let chained = false;
      const next = (delayMs: number) => {
        if (chained || this.stopped) return;
        chained = true;
        this.timer = setTimeout(launch, delayMs);
      };
      const pass: Promise<unknown> = this.runOnce({
        onClaimed: (claimed) => this.lookaheadMs > 0 && claimed > 0 && claimed < this.opts.batch && this.running.size < passesAhead && next(this.opts.intervalMs),
        onDispatched: (claimed) => claimed >= this.opts.batch && this.running.size < 2 && next(0),
      })
        // A full batch means more is due: go again at once instead of waiting for the interval.
        .then((s) => next(s.claimed >= this.opts.batch ? 0 : this.opts.intervalMs))
        .catch((err) => {
          this.logger.error({ err }, 'publisher run failed');
          next(this.opts.intervalMs);
        })
        .finally(() => this.running.delete(pass));
      this.running.add(pass);
    };
    this.timer = setTimeout(launch, 0);
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    await Promise.allSettled([...this.running]);
  }

  /**
   * One pass: re-check expired leases, claim due targets, publish them `concurrency` at a time and
   * record the outcomes in groups (one transaction per RECORD_BATCH outcomes, see record()).
   */
  async runOnce(opts: { onClaimed?: (claimed: number) => void; onDispatched?: (claimed: number) => void } = {}): Promise<RunSummary> {
    const summary: RunSummary = { claimed: 0, published: 0, retried: 0, failed: 0, skipped: 0, rechecked: 0 };
    const claimed = await this.claim();
    summary.claimed = claimed.length;
    opts.onClaimed?.(claimed.length);
    summary.rechecked = claimed.filter((c) => c.recheck).length;
    let pending: { t: ClaimedRow; outcome: Outcome }[] = [];
    let recording: Promise<void> = Promise.resolve();
    const flush = () => {
      const group = pending;
      pending = [];
      // One recorder at a time: groups are written in order, each in its own transaction.
      recording = recording.then(async () => {
        const done = await this.record(group);
        group.forEach((g, k) => {
          if (done[k]) summary[g.outcome.kind === 'retry' ? 'retried' : g.outcome.kind]++;
        });
      });
    };
    let i = 0;
    const worker = async () => {
      while (i < claimed.length) {
        const t = claimed[i++]!;
        if (i === claimed.length) opts.onDispatched?.(claimed.length);
        // Claimed ahead: sent at its time, not before (targets come in the order they may go out).
        const wait = new Date(t.run_at).getTime() - this.clock.now().getTime();
        if (wait > 0) await this.sleep(wait);
        // With tracing on: a span per publishing attempt (the hub's outbound call is its child).
        const outcome = await withSpan('publish post', { attributes: { 'v01t.post.target.id': t.id, 'v01t.workspace.id': t.workspace_id, 'v01t.connection.id': t.connection_id } }, async (span) => {
          const o = await this.attempt(t);
          span?.setAttribute('v01t.publish.outcome', o.kind);
          return o;
        });
        // Read `pending` only now: a flush during the attempt has handed the previous array to the recorder.
        pending.push({ t, outcome });
        if (pending.length >= RECORD_BATCH) flush();
      }
    };
    await Promise.all(Array.from({ length: Math.min(this.opts.concurrency, claimed.length) }, worker));
    if (pending.length) flush();
    await recording;
    return summary;
  }

  private async claim(): Promise<ClaimedRow[]> {
    const now = this.clock.now();
    const nowIso = now.toISOString();
    const lease = new Date(now.getTime() + this.opts.leaseSeconds * 1000).toISOString();
    const dueBy = new Date(now.getTime() + this.lookaheadMs).toISOString();
    // A target whose lease ran out was being published by a worker that died or hung: it is
    // taken over and re-checked through the hub with the same idempotency key, which answers
    // with the first confirmed result instead of publishing again.
    const expired = await this.repo.claimExpired(this.workerId, nowIso, lease, this.opts.batch);
    const room = this.opts.batch - expired.length;
    const due = room > 0 ? await this.repo.claimDue(this.workerId, nowIso, lease, room, dueBy) : [];
    const ids = [...expired, ...due];
    if (!ids.length) return [];
    const recheck = new Set(expired);
    // In the order they may go out (the statement's ORDER BY run_at): a re-check is due already.
    const details = await this.repo.claimed(this.workerId, ids);
    return details.map((d) => ({ ...d, media_ids: d.media_ids ? d.media_ids.split(',') : [], recurring: Boolean(d.recurring), recheck: recheck.has(d.id) }));
  }

  private async attempt(t: ClaimedRow): Promise<Outcome> {
    const now = this.clock.now().getTime();
    const lateMs = now - new Date(t.due_at).getTime();
    // Only a first attempt can be "missed": a retry is late because the provider failed, not because we were down.
    if (!t.recheck && t.attempts === 1 && t.late_policy === 'skip' && lateMs > t.late_grace_seconds * 1000) {
      return { kind: 'skipped', code: 'missed', message: `Missed by ${Math.round(lateMs / 1000)} s (more than the channel's ${t.late_grace_seconds} s grace); the channel skips late posts` };
    }
    try {
      let media: PublishMedia[] | undefined;
      if (t.media_ids.length) {
        if (!this.opts.loadMedia) throw new AppError('media_missing', 'This publisher cannot read media');
        media = await this.opts.loadMedia(t.workspace_id, t.media_ids);
      }
      const result = await this.hub().publish(t.workspace_id, t.connection_id, { text: t.body_override ?? t.body, title: t.title ?? undefined, link: t.link ?? undefined, ...(media ? { media } : {}) }, idempotencyKeyOf(t.id));
      if (!result || typeof result.externalId !== 'string' || !result.externalId) {
        return { kind: 'failed', code: 'unconfirmed', message: 'The provider did not return an id for the published item; not counted as published' };
      }
      // published_at is when the provider confirmed, not when the outcome reached the database.
      return { kind: 'published', result, at: this.clock.now() };
    } catch (err) {
      const code = err instanceof AppError ? err.code : 'unexpected_error';
      const message = err instanceof Error ? err.message : String(err);
      // Our own throttles (the hub's per-connection rate limit, an open breaker, another holder of
      // the key) say nothing about the provider: wait as told without using up an attempt.
      if (code === 'egress_rate_limited' || code === 'egress_circuit_open' || code === 'conflict') {
        const after = err instanceof AppError ? Number(err.extra.retryAfterSeconds ?? 0) * 1000 : 0;
        return { kind: 'retry', code, message, delayMs: Math.max(after, code === 'conflict' ? 30_000 : 1_000), countsAsAttempt: false };
      }
      if (isTransient(err) && t.attempts < this.opts.maxAttempts) return { kind: 'retry', code, message, countsAsAttempt: true };
      return { kind: 'failed', code, message: isTransient(err) ? `${message} (gave up after ${t.attempts} attempts)` : message };
    }
  }

  /** Exponential backoff from 30 s, capped at 30 min, with a per-target spread so failures do not retry in lockstep. */
  backoffMs(targetId: string, attempts: number): number {
    const base = Math.min(30_000 * 2 ** (attempts - 1), 30 * 60_000);
    const spread = createHash('sha256').update(targetId).digest().readUInt16BE(0) / 65_535;
    return Math.round(base * (0.9 + 0.2 * spread));
  }

  /**
   * Records a group of outcomes in one transaction (group commit): the published ones with one
   * UPDATE over all of them, each guarded by `status = 'publishing' AND claimed_by = me`, then
   * their events; the others one by one. A target whose row this worker no longer holds is left
   * to its new holder. If the group's transaction fails, each outcome is recorded on its own so
   * one bad row cannot hold back the rest; an outcome that still cannot be written leaves its
   * target in `publishing`, and the lease takeover re-checks it through the hub (never re-sent).
   */
  private async record(group: { t: ClaimedRow; outcome: Outcome }[]): Promise<boolean[]> {
    let done: boolean[];
    try {
      done = await this.db.transaction(async (tx) => {
        const result = new Array<boolean>(group.length).fill(false);
        const published = group.map((g, k) => ({ ...g, k })).filter((g) => g.outcome.kind === 'published');
        if (published.length) {
          const nowIso = this.clock.now().toISOString();
          const values = published.map(({ t, outcome }) => publishedValues(t, outcome as Extract<Outcome, { kind: 'published' }>));
          const held = new Set(await this.repo.markPublishedMany(this.workerId, values, nowIso, tx));
          const mine = published.filter(({ t }) => held.has(t.id));
          const events = mine.map(({ t, outcome }) => this.publishedEvent(t, outcome as Extract<Outcome, { kind: 'published' }>));
          if (this.events.publishMany) await this.events.publishMany(events, tx);
          else for (const e of events) await this.events.publish(e, tx);
          for (const { t, k } of mine) {
            await this.afterPublished(tx, t);
            result[k] = true;
          }
        }
        for (const [k, g] of group.entries()) if (g.outcome.kind !== 'published') result[k] = await this.finishIn(tx, g.t, g.outcome);
        return result;
      });
    } catch (err) {
      this.logger.warn({ err, size: group.length }, 'recording a group of outcomes failed; recording them one by one');
      done = [];
      for (const g of group) {
        done.push(
          await this.db
            .transaction((tx) => this.finishIn(tx, g.t, g.outcome))
            .catch((e: unknown) => {
              this.logger.error({ err: e, targetId: g.t.id }, 'outcome not recorded; the lease takeover will re-check the target');
              return false;
            }),
        );
      }
    }
    group.forEach((g, k) => this.observe(g.t, g.outcome, done[k]!));
    return done;
  }

  /** Records one outcome in `tx` if this worker still holds the target; false when the lease was lost meanwhile. */
  private async finishIn(tx: Tx, t: ClaimedRow, outcome: Outcome): Promise<boolean> {
    const now = this.clock.now();
    const nowIso = now.toISOString();
    if (outcome.kind === 'published') {
      const values = publishedValues(t, outcome);
      if (!(await this.repo.markPublished(this.workerId, values, nowIso, tx))) return false;
      await this.events.publish(this.publishedEvent(t, outcome, values.late), tx);
      await this.afterPublished(tx, t);
      return true;
    }
    if (outcome.kind === 'retry') {
      const next = new Date(now.getTime() + (outcome.delayMs ?? this.backoffMs(t.id, t.attempts))).toISOString();
      return this.repo.markRetry(this.workerId, t.id, { next, countsAsAttempt: outcome.countsAsAttempt, code: outcome.code, message: outcome.message.slice(0, 2000) }, nowIso, tx);
    }
    if (!(await this.repo.markFinished(this.workerId, t.id, { status: outcome.kind, code: outcome.code, message: outcome.message.slice(0, 2000) }, nowIso, tx))) return false;
    await this.events.publish(
      {
        name: 'content.post.failed.v1',
        workspaceId: t.workspace_id,
        actorId: t.author_id,
        payload: { postId: t.post_id, campaignId: t.campaign_id, targetId: t.id, channelId: t.channel_id, channel: t.connector, outcome: outcome.kind, errorCode: outcome.code, error: outcome.message.slice(0, 2000), attempts: t.attempts },
      },
      tx,
    );
    if (t.recurring) await this.nextOccurrence(tx, { postId: t.post_id, channelId: t.channel_id, workspaceId: t.workspace_id, dueAt: new Date(t.due_at) });
    return true;
  }

  private publishedEvent(t: ClaimedRow, outcome: Extract<Outcome, { kind: 'published' }>, late = lateSeconds(outcome.at, t.due_at)): NewEvent<'content.post.published.v1'> {
    return {
      name: 'content.post.published.v1',
      workspaceId: t.workspace_id,
      actorId: t.author_id,
      payload: { postId: t.post_id, channel: t.connector, campaignId: t.campaign_id, targetId: t.id, channelId: t.channel_id, externalId: outcome.result.externalId, url: outcome.result.url ?? null, lateBySeconds: late },
    };
  }

  /** In the transaction that marked the target published (after its event): the campaign launch, the next occurrence. */
  private async afterPublished(tx: Tx, t: ClaimedRow): Promise<void> {
    if (t.campaign_id) {
      const launched = await this.campaigns.launch(t.campaign_id, this.clock.now().toISOString(), tx);
      if (launched) {
        await this.events.publish({ name: 'content.campaign.launched.v1', workspaceId: t.workspace_id, actorId: t.author_id, payload: { campaignId: t.campaign_id, name: launched.name, channels: launched.connectors } }, tx);
      }
    }
    if (t.recurring) await this.nextOccurrence(tx, { postId: t.post_id, channelId: t.channel_id, workspaceId: t.workspace_id, dueAt: new Date(t.due_at) });
  }

  private observe(t: ClaimedRow, outcome: Outcome, done: boolean): void {
    if (done) {
      this.metrics.publishTotal.inc({ channel_type: t.connector, status: outcome.kind });
      if (outcome.kind === 'published') this.metrics.lateness.observe({ channel_type: t.connector }, Math.max(0, (outcome.at.getTime() - new Date(t.due_at).getTime()) / 1000));
      if (outcome.kind !== 'published') this.logger.info({ targetId: t.id, outcome: outcome.kind, code: outcome.code }, 'content target not published');
    } else {
      this.logger.warn({ targetId: t.id, outcome: outcome.kind, code: outcome.kind === 'published' ? null : outcome.code, message: outcome.kind === 'published' ? null : outcome.message }, 'lease lost before the outcome was recorded; the next holder re-checks the target');
    }
  }
}

const lateSeconds = (at: Date, dueAt: Date | string) => Math.max(0, Math.floor((at.getTime() - new Date(dueAt).getTime()) / 1000));

const publishedValues = (t: ClaimedRow, o: Extract<Outcome, { kind: 'published' }>): PublishedValues => ({
  id: t.id,
  external_id: o.result.externalId,
  external_url: o.result.url ?? null,
  published_at: o.at.toISOString(),
  late: lateSeconds(o.at, t.due_at),
});
