import os from 'node:os';
import { createHash, randomUUID } from 'node:crypto';
import { sql } from 'drizzle-orm';
import client from 'prom-client';
import type { Db, DbExecutor } from '../../kernel/db/database.js';
import type { Clock } from '../../kernel/clock.js';
import type { Logger } from '../../kernel/telemetry/logger.js';
import type { EventPublisher, NewEvent } from '../../kernel/events/envelope.js';
import { AppError } from '../../kernel/errors.js';
import type { IntegrationHubContract, PublishMedia, PublishResult } from '../integration-hub/contract.js';
import { rows } from './db.js';

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

interface ClaimedRow {
  id: string;
  workspace_id: string;
  post_id: string;
  channel_id: string;
  due_at: Date;
  attempts: number;
  status: string;
  recheck: boolean;
  connection_id: string;
  connector: string;
  late_policy: 'publish_late' | 'skip';
  late_grace_seconds: number;
  title: string | null;
  body: string;
  link: string | null;
  media_ids: string[];
  recurring: boolean;
  body_override: string | null;
  campaign_id: string | null;
  author_id: string | null;
}

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

  constructor(
    private readonly db: Db,
    private readonly clock: Clock,
    private readonly hub: () => IntegrationHubContract,
    private readonly events: EventPublisher,
    private readonly nextOccurrence: (tx: DbExecutor, t: { postId: string; channelId: string; workspaceId: string; dueAt: Date }) => Promise<void>,
    private readonly metrics: PublisherMetrics,
    private readonly logger: Logger,
    private readonly opts: PublisherOptions,
  ) {
    this.workerId = opts.workerId ?? `${os.hostname()}:${process.pid}:${randomUUID().slice(0, 8)}`;
  }

  start(): void {
    if (!this.stopped) return;
    this.stopped = false;
    // Passes overlap by at most one: once a full pass has handed out its last target, the next pass
    // claims while the first one's last publishes are still in flight (no idle tail per pass).
    const launch = () => {
      if (this.stopped) return;
      let chained = false;
      const next = (delayMs: number) => {
        if (chained || this.stopped) return;
        chained = true;
        this.timer = setTimeout(launch, delayMs);
      };
      const pass: Promise<unknown> = this.runOnce({ onDispatched: (claimed) => claimed >= this.opts.batch && this.running.size < 2 && next(0) })
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
  async runOnce(opts: { onDispatched?: (claimed: number) => void } = {}): Promise<RunSummary> {
    const summary: RunSummary = { claimed: 0, published: 0, retried: 0, failed: 0, skipped: 0, rechecked: 0 };
    const claimed = await this.claim();
    summary.claimed = claimed.length;
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
        const outcome = await this.attempt(t);
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
    // A target whose lease ran out was being published by a worker that died or hung: it is
    // taken over and re-checked through the hub with the same idempotency key, which answers
    // with the first confirmed result instead of publishing again.
    const expired = await rows<{ id: string }>(
      this.db,
      sql`UPDATE content.targets t SET lease_until = ${lease}, claimed_by = ${this.workerId}, attempts = t.attempts + 1, updated_at = ${nowIso}
        FROM (SELECT id FROM content.targets WHERE status = 'publishing' AND lease_until < ${nowIso} ORDER BY lease_until LIMIT ${this.opts.batch} FOR UPDATE SKIP LOCKED) d
        WHERE t.id = d.id RETURNING t.id`,
    );
    const room = this.opts.batch - expired.length;
    const due =
      room > 0
        ? await rows<{ id: string }>(
            this.db,
            sql`UPDATE content.targets t SET status = 'publishing', lease_until = ${lease}, claimed_by = ${this.workerId}, attempts = t.attempts + 1, updated_at = ${nowIso}
              FROM (SELECT id FROM content.targets WHERE status = 'scheduled' AND COALESCE(next_attempt_at, due_at) <= ${nowIso}
                    ORDER BY COALESCE(next_attempt_at, due_at) LIMIT ${room} FOR UPDATE SKIP LOCKED) d
              WHERE t.id = d.id RETURNING t.id`,
          )
        : [];
    const ids = [...expired.map((e) => e.id), ...due.map((d) => d.id)];
    if (!ids.length) return [];
    const recheck = new Set(expired.map((e) => e.id));
    const details = await rows<Omit<ClaimedRow, 'recheck' | 'media_ids'> & { media_ids: string | null }>(
      this.db,
      sql`SELECT t.id, t.workspace_id, t.post_id, t.channel_id, t.due_at, t.attempts, t.status,
               c.connection_id, c.connector, c.late_policy, c.late_grace_seconds,
               p.title, p.body, p.link, array_to_string(p.media_ids, ',') AS media_ids, (p.rrule IS NOT NULL) AS recurring, p.campaign_id, p.author_id, pc.body_override
        FROM content.targets t
        JOIN content.channels c ON c.id = t.channel_id
        JOIN content.posts p ON p.id = t.post_id
        LEFT JOIN content.post_channels pc ON pc.post_id = t.post_id AND pc.channel_id = t.channel_id
        WHERE t.id = ANY(string_to_array(${ids.join(',')}, ',')::uuid[]) AND t.claimed_by = ${this.workerId}`,
    );
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
          const values = published.map(({ t, outcome }) => {
            const o = outcome as Extract<Outcome, { kind: 'published' }>;
            return { id: t.id, external_id: o.result.externalId, external_url: o.result.url ?? null, published_at: o.at.toISOString(), late: lateSeconds(o.at, t.due_at) };
          });
          const updated = await rows<{ id: string }>(
            tx,
            sql`UPDATE content.targets t SET status = 'published', external_id = v.external_id, external_url = v.external_url, published_at = v.published_at, late_by_seconds = v.late,
                  lease_until = NULL, next_attempt_at = NULL, error_code = NULL, error = NULL, updated_at = ${nowIso}
                FROM jsonb_to_recordset(${JSON.stringify(values)}::jsonb) AS v(id uuid, external_id text, external_url text, published_at timestamptz, late integer)
                WHERE t.id = v.id AND t.status = 'publishing' AND t.claimed_by = ${this.workerId} RETURNING t.id`,
          );
          const held = new Set(updated.map((u) => u.id));
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
  private async finishIn(tx: DbExecutor, t: ClaimedRow, outcome: Outcome): Promise<boolean> {
    const now = this.clock.now();
    const nowIso = now.toISOString();
    const held = sql`id = ${t.id} AND status = 'publishing' AND claimed_by = ${this.workerId}`;
    if (outcome.kind === 'published') {
      const late = lateSeconds(outcome.at, t.due_at);
      const r = await rows(
        tx,
        sql`UPDATE content.targets SET status = 'published', external_id = ${outcome.result.externalId}, external_url = ${outcome.result.url ?? null}, published_at = ${outcome.at.toISOString()},
          late_by_seconds = ${late}, lease_until = NULL, next_attempt_at = NULL, error_code = NULL, error = NULL, updated_at = ${nowIso} WHERE ${held} RETURNING id`,
      );
      if (!r.length) return false;
      await this.events.publish(this.publishedEvent(t, outcome, late), tx);
      await this.afterPublished(tx, t);
      return true;
    }
    if (outcome.kind === 'retry') {
      const next = new Date(now.getTime() + (outcome.delayMs ?? this.backoffMs(t.id, t.attempts))).toISOString();
      const r = await rows(
        tx,
        sql`UPDATE content.targets SET status = 'scheduled', next_attempt_at = ${next}, attempts = attempts - ${outcome.countsAsAttempt ? 0 : 1}, lease_until = NULL, error_code = ${outcome.code}, error = ${outcome.message.slice(0, 2000)}, updated_at = ${nowIso} WHERE ${held} RETURNING id`,
      );
      return r.length > 0;
    }
    const r = await rows(
      tx,
      sql`UPDATE content.targets SET status = ${outcome.kind}, lease_until = NULL, next_attempt_at = NULL, error_code = ${outcome.code}, error = ${outcome.message.slice(0, 2000)}, updated_at = ${nowIso} WHERE ${held} RETURNING id`,
    );
    if (!r.length) return false;
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
  private async afterPublished(tx: DbExecutor, t: ClaimedRow): Promise<void> {
    if (t.campaign_id) {
      const nowIso = this.clock.now().toISOString();
      const [launched] = await rows<{ name: string }>(tx, sql`UPDATE content.campaigns SET launched_at = ${nowIso} WHERE id = ${t.campaign_id} AND launched_at IS NULL RETURNING name`);
      if (launched) {
        const chans = await rows<{ connector: string }>(
          tx,
          sql`SELECT DISTINCT c.connector FROM content.posts p JOIN content.post_channels pc ON pc.post_id = p.id JOIN content.channels c ON c.id = pc.channel_id WHERE p.campaign_id = ${t.campaign_id} ORDER BY c.connector`,
        );
        await this.events.publish({ name: 'content.campaign.launched.v1', workspaceId: t.workspace_id, actorId: t.author_id, payload: { campaignId: t.campaign_id, name: launched.name, channels: chans.map((c) => c.connector) } }, tx);
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

export async function countDueUnpublished(db: Db, now: Date): Promise<number> {
  const [r] = await rows<{ n: string | number }>(db, sql`SELECT count(*) AS n FROM content.targets WHERE status IN ('scheduled', 'publishing') AND due_at <= ${now.toISOString()}`);
  return Number(r?.n ?? 0);
}
