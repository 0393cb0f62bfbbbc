import { createHash, createHmac, randomBytes } from 'node:crypto';
import { sameSecret } from '../../kernel/crypto/compare.js';
import { Cron } from 'croner';
import type { AuditLog } from '../../kernel/audit/index.js';
import type { Clock } from '../../kernel/clock.js';
import type { SecretBox } from '../../kernel/crypto/secret-box.js';
import type { Transactor, Tx } from '../../kernel/db/transaction.js';
import { AppError, notFound } from '../../kernel/errors.js';
import type { EventEnvelope, EventPublisher } from '../../kernel/events/envelope.js';
import type { Logger } from '../../kernel/telemetry/logger.js';
import { definitionWarnings, parseDefinition, type Definition } from './definition.js';
import type { Executor } from './executor.js';
import type { FreshPlan } from './run-writes.js';
import { asJsonb } from '../../kernel/db/jsonb.js';
import { evaluate } from './expressions.js';
import { RunWaiters } from './run-waiters.js';
import type { WorkflowMetrics } from './metrics.js';
import { TERMINAL, type RunListQuery, type RunRow, type RunStatus, type StartGuard, type WorkflowRepository, type WorkflowRow } from './repository.js';
import { uuidV4 } from '../../kernel/crypto/uuid.js';

const hashToken = (token: string) => createHash('sha256').update(token).digest('hex');

export interface Actor {
  userId: string | null;
  ip?: string | null;
}

/** Event-triggered runs started, through workflow events, by event-triggered runs: a cycle between workflows stops here. */
export const MAX_EVENT_CHAIN_DEPTH = 8;

const triggerEventOf = (def: Definition): string | null => (def.trigger.type === 'event' ? def.trigger.event : null);

/** A schedule fire older than this counts as missed (the process was down), not merely late. */
const SCHEDULE_GRACE_MS = 60_000;

/** How often the webhook backpressure re-reads the queue's oldest runs (per process). */
const BACKLOG_READ_MS = 250;

/** Starts written together at most (the rest wait for the next batch). */
const MAX_START_BATCH = 500;

/** Webhook tokens remembered per process (see WorkflowService.webhook); the map starts over when full. */
const MAX_CACHED_HOOKS = 10_000;

/** A webhook workflow as read by its token hash, with the definition of its current version. */
interface HookEntry {
  workflow: WorkflowRow & { webhookSecretEnc: string | null };
  def: Definition | null;
}

/** A start from a cached webhook lookup found the workflow changed (token, version, enabled, deleted): look it up again. */
class StaleWebhook extends Error {}

type StartOpts = {
  trigger: string;
  idempotencyKey?: string | null;
  actor: Actor;
  requireEnabled?: boolean;
  triggerRef?: Record<string, unknown>;
  chainDepth?: number;
  guard?: StartGuard;
  /**
   * Compute the run before its insert and insert it finished, when its workflow is still at this
   * version (a webhook that waits for the result of pure steps, see flushStarts). Only in the group
   * commit; a start written alone is queued as usual.
   */
  finishWith?: { def: Definition; version: number };
};

interface PendingStart {
  id: string;
  workspaceId: string;
  workflowId: string;
  input: unknown;
  opts: StartOpts;
  resolve: (r: { run: RunRow; created: boolean }) => void;
  reject: (err: unknown) => void;
}

export class WorkflowService {
  constructor(
    private readonly db: Transactor,
    private readonly repo: WorkflowRepository,
    private readonly executor: Executor,
    private readonly wake: (runId: string, at: Date | null, tx?: Tx) => Promise<void>,
    private readonly events: EventPublisher,
    private readonly audit: AuditLog,
    private readonly secrets: SecretBox,
    private readonly clock: Clock,
    private readonly metrics: WorkflowMetrics,
    private readonly logger: Logger,
    /** Starts the job layer if needed; called before any transaction that enqueues (on PGlite, starting it inside one would deadlock). */
    private readonly prepareQueue: () => Promise<void> = async () => {},
    /** Called after a transaction that enqueued an immediate wake-up committed: wakes this process's queue worker now instead of at its next poll. */
    private readonly enqueued: () => void = () => {},
    /** Immediate wake-ups of many runs in one statement, inside the caller's transaction. */
    private readonly wakeMany: (runIds: string[], tx: Tx) => Promise<void> = async (ids, tx) => {
      for (const id of ids) await wake(id, null, tx);
    },
    /** Webhook backpressure (see admitQueued); 0 turns it off. */
    /** immediateInStart: finish `respond: "immediately"` webhook runs of pure steps with their start (embedded only, see finishImmediateInStart). */
    private readonly backpressure: { maxQueuedAgeMs: number; immediateInStart?: boolean } = { maxQueuedAgeMs: 0 },
  ) {
    executor.onSettled((ids) => this.waiters.settled(ids));
  }

  /** Runs a webhook caller waits on (respond: onCompletion). */
  private readonly waiters = new RunWaiters((id) => this.repo.runById(id));
  /** Saved definitions by workflow and version: a version never changes once saved. */
  private readonly definitions = new Map<string, Definition>();

  /** Trigger-set reads per delivery transaction (see triggerWorkflows); gone with the transaction object. */
  private readonly triggerReads = new WeakMap<object, Map<string, Promise<WorkflowRow[]>>>();

  /**
   * Webhook workflows by token hash (see webhook). Never trusted alone: a start made from an entry
   * inserts its run only while the workflow still has that token and version (StartGuard), in the
   * insert itself, so a change made by any process is seen by the next start; changes made here
   * also drop the entry at once.
   */
  private readonly hooks = new Map<string, HookEntry>();

  /** Starts waiting for the next group commit (see startRun). */
  private startBatch: PendingStart[] = [];
  private startFlush: 'idle' | 'scheduled' | 'writing' = 'idle';

  async create(workspaceId: string, raw: unknown, actor: Actor) {
    const def = parseDefinition(raw);
    const id = uuidV4();
    const now = this.clock.now();
    const webhook = def.trigger.type === 'webhook' ? this.newWebhook(def.trigger.hmac) : null;
    const secretEnc = webhook?.secret ? await this.secrets.encrypt(webhook.secret, `workflow-webhook:${id}`) : null;
    await this.db.transaction(async (tx) => {
      await this.repo.insertWorkflow(
        {
          id,
          workspaceId,
          name: def.name,
          triggerType: def.trigger.type,
          triggerEvent: triggerEventOf(def),
          webhookTokenHash: webhook ? hashToken(webhook.token) : null,
          webhookSecretEnc: secretEnc,
          createdBy: actor.userId,
          now,
          definition: def,
        },
        tx,
      );
      await this.audit.record({ action: 'workflow.created', workspaceId, actorId: actor.userId, actorIp: actor.ip, targetType: 'workflow', targetId: id, data: { name: def.name } }, tx);
    });
    const workflow = (await this.repo.getWorkflow(workspaceId, id))!;
    return {
      workflow: { ...workflow, definition: def },
      webhook: webhook ? { url: `/hooks/workflows/${webhook.token}`, token: webhook.token, hmacSecret: webhook.secret } : undefined,
      warnings: definitionWarnings(def),
    };
  }

  private newWebhook(hmac: boolean): { token: string; secret: string | null } {
    return { token: randomBytes(32).toString('base64url'), secret: hmac ? randomBytes(32).toString('hex') : null };
  }

  async get(workspaceId: string, id: string) {
    const w = await this.repo.getWorkflow(workspaceId, id);
    if (!w) throw notFound('Workflow');
    const def = await this.repo.definition(id, w.currentVersion);
    return { ...w, definition: def };
  }

  list(workspaceId: string) {
    return this.repo.listWorkflows(workspaceId);
  }

  async update(workspaceId: string, id: string, raw: unknown, actor: Actor) {
    const w = await this.repo.getWorkflow(workspaceId, id);
    if (!w) throw notFound('Workflow');
    const def = parseDefinition(raw);
    const now = this.clock.now();
    let webhook: { token: string; secret: string | null } | null = null;
    // A webhook gets a URL when it first becomes a webhook workflow, or when HMAC is switched on without a secret.
    if (def.trigger.type === 'webhook' && (w.triggerType !== 'webhook' || (def.trigger.hmac && !w.hasWebhookSecret))) webhook = this.newWebhook(def.trigger.hmac);
    const hookSecretEnc = webhook?.secret ? await this.secrets.encrypt(webhook.secret, `workflow-webhook:${id}`) : null;
    const version = await this.db.transaction(async (tx) => {
      const v = await this.repo.addVersion(id, def, actor.userId, now, { type: def.trigger.type, event: triggerEventOf(def) }, tx);
      if (webhook) {
        await this.repo.setWebhook(id, hashToken(webhook.token), hookSecretEnc, tx);
      } else if (def.trigger.type !== 'webhook' && w.triggerType === 'webhook') {
        await this.repo.setWebhook(id, null, null, tx);
      }
      await this.audit.record({ action: 'workflow.updated', workspaceId, actorId: actor.userId, actorIp: actor.ip, targetType: 'workflow', targetId: id, data: { version: v } }, tx);
      return v;
    });
    this.forgetHooks(id);
    const hook = webhook as { token: string; secret: string | null } | null;
    return {
      workflow: { ...(await this.get(workspaceId, id)), version },
      webhook: hook ? { url: `/hooks/workflows/${hook.token}`, token: hook.token, hmacSecret: hook.secret } : undefined,
      warnings: definitionWarnings(def),
    };
  }

  async setEnabled(workspaceId: string, id: string, enabled: boolean, actor: Actor) {
    if (!(await this.repo.setEnabled(workspaceId, id, enabled, this.clock.now()))) throw notFound('Workflow');
    this.forgetHooks(id);
    await this.audit.record({ action: enabled ? 'workflow.enabled' : 'workflow.disabled', workspaceId, actorId: actor.userId, actorIp: actor.ip, targetType: 'workflow', targetId: id });
    return this.get(workspaceId, id);
  }

  async remove(workspaceId: string, id: string, actor: Actor) {
    if (!(await this.repo.softDelete(workspaceId, id, this.clock.now()))) throw notFound('Workflow');
    this.forgetHooks(id);
    await this.audit.record({ action: 'workflow.deleted', workspaceId, actorId: actor.userId, actorIp: actor.ip, targetType: 'workflow', targetId: id });
  }

  async versions(workspaceId: string, id: string) {
    if (!(await this.repo.getWorkflow(workspaceId, id))) throw notFound('Workflow');
    return this.repo.versions(id);
  }

  /**
   * Starts a run pinned to the workflow's current version; the same idempotency key returns the
   * first run. Without a caller's transaction, starts arriving together share one (group commit):
   * one INSERT of their runs and one of their queue jobs, committed before any of them is answered.
   * A start that batch does not settle (a repeated idempotency key, a disabled or unknown workflow,
   * any failure of the batch) is then written on its own, so each caller gets its own answer.
   */
  async startRun(
    workspaceId: string,
    workflowId: string,
    input: unknown,
    opts: StartOpts,
    tx?: Tx,
  ): Promise<{ run: RunRow; created: boolean }> {
    if (tx || opts.triggerRef || opts.chainDepth) return this.startOne(workspaceId, workflowId, input, opts, tx);
    await this.prepareQueue();
    return new Promise((resolve, reject) => {
      this.startBatch.push({ workspaceId, workflowId, input, opts, id: uuidV4(), resolve, reject });
      this.scheduleStarts();
    });
  }

  private scheduleStarts(): void {
    if (this.startFlush !== 'idle' || !this.startBatch.length) return;
    this.startFlush = 'scheduled';
    // Whatever arrives until the next turn of the event loop (and while a batch is being written) goes in one batch.
    setImmediate(() => void this.flushStarts());
  }

  private async flushStarts(): Promise<void> {
    this.startFlush = 'writing';
    const batch = this.startBatch.splice(0, MAX_START_BATCH);
    try {
      const now = this.clock.now();
      // Runs a webhook caller waits for (respond: onCompletion, pure steps) are computed before their
      // insert and inserted finished, with their attempts and events, by one statement that commits
      // on its own (ADR 0077): one round trip, no queue pick-up between the caller and its answer.
      // Any the executor cannot finish that way is queued with the others, in one transaction.
      const finishing = batch.filter((b) => b.opts.finishWith);
      const plans = finishing.length ? await this.executor.planStarts(finishing.map((b) => ({ run: this.startingRun(b, now), def: b.opts.finishWith!.def }))) : new Map<string, FreshPlan>();
      const [finished, queued] = await Promise.all([
        this.executor
          .finishStarted(finishing.flatMap((b) => (plans.has(b.id) ? [{ plan: plans.get(b.id)!, tokenHash: b.opts.guard?.tokenHash ?? null }] : [])))
          .catch((err: unknown) => {
            this.logger.debug({ err, starts: plans.size }, 'inserting a batch of finished runs failed; writing each start on its own');
            return new Map<string, RunRow>();
          }),
        this.insertQueued(
          batch.filter((b) => !plans.has(b.id)),
          now,
        ),
      ]);
      if (finished.size + queued.size) this.metrics.runs.inc({ status: 'queued' }, finished.size + queued.size);
      if (queued.size) this.enqueued();
      for (const b of batch) {
        // A run finished here is answered as it was written (RETURNING), status succeeded.
        const run = finished.get(b.id) ?? queued.get(b.id);
        if (run) b.resolve({ run, created: true });
        else this.startOne(b.workspaceId, b.workflowId, b.input, b.opts).then(b.resolve, b.reject);
      }
    } finally {
      this.startFlush = 'idle';
      this.scheduleStarts();
    }
  }

  /** Starts of a batch inserted queued, with their immediate wake-ups, in one transaction; empty when it failed (each is then written on its own). */
  private async insertQueued(batch: PendingStart[], now: Date): Promise<Map<string, RunRow>> {
    if (!batch.length) return new Map();
    try {
      return await this.db.transaction(async (ex) => {
        const rows = await this.repo.insertRuns(
          batch.map((b) => ({ id: b.id, workspaceId: b.workspaceId, workflowId: b.workflowId, trigger: b.opts.trigger, input: b.input ?? {}, idempotencyKey: b.opts.idempotencyKey ?? null, createdBy: b.opts.actor.userId, now, guard: b.opts.guard })),
          ex,
        );
        await this.wakeMany(
          rows.map((r) => r.id),
          ex,
        );
        return new Map(rows.map((r) => [r.id, r]));
      });
    } catch (err) {
      this.logger.debug({ err, starts: batch.length }, 'a batch of run starts failed; writing each on its own');
      return new Map();
    }
  }

  /**
   * The run a start would insert (insertRuns), as its row would read back: queued at the version it
   * was started for, its input as jsonb gives it back. It is computed from before it exists.
   */
  private startingRun(b: PendingStart, now: Date): RunRow {
    return {
      id: b.id,
      workspaceId: b.workspaceId,
      workflowId: b.workflowId,
      version: b.opts.finishWith!.version,
      status: 'queued',
      trigger: b.opts.trigger,
      input: asJsonb(b.input ?? {}),
      outputs: {},
      output: null,
      currentStep: null,
      stepAttempt: 0,
      wait: null,
      error: null,
      idempotencyKey: b.opts.idempotencyKey ?? null,
      takeovers: 0,
      createdBy: b.opts.actor.userId,
      createdAt: now.toISOString(),
      startedAt: null,
      finishedAt: null,
      deadlineAt: null,
      triggerRef: null,
      chainDepth: 0,
    };
  }

  /** One start in its own (or the caller's) transaction. */
  private async startOne(
    workspaceId: string,
    workflowId: string,
    input: unknown,
    opts: StartOpts,
    tx?: Tx,
  ): Promise<{ run: RunRow; created: boolean }> {
    if (!tx) await this.prepareQueue();
    const write = async (ex: Tx) => {
      // One statement in the common case: the run is inserted only for an enabled workflow of the workspace, at its current version.
      const r = await this.repo.insertRun(
        { id: uuidV4(), workspaceId, workflowId, trigger: opts.trigger, input: input ?? {}, idempotencyKey: opts.idempotencyKey ?? null, createdBy: opts.actor.userId, now: this.clock.now(), triggerRef: opts.triggerRef, chainDepth: opts.chainDepth, guard: opts.guard },
        ex,
      );
      if (r === null) {
        if (opts.guard) throw new StaleWebhook();
        const w = await this.repo.getWorkflow(workspaceId, workflowId, ex);
        if (!w) throw notFound('Workflow');
        throw new AppError('conflict', 'the workflow is disabled');
      }
      if (r.created) await this.wake(r.run.id, null, ex);
      return r;
    };
    const result = tx ? await write(tx) : await this.db.transaction(write);
    if (result.created) {
      this.metrics.runs.inc({ status: 'queued' });
      if (!tx) this.enqueued();
    }
    return result;
  }

  async getRun(workspaceId: string, runId: string) {
    const run = await this.repo.getRun(workspaceId, runId);
    if (!run) throw notFound('Run');
    return { ...run, steps: await this.repo.attempts(runId) };
  }

  async listRuns(workspaceId: string, q: Omit<RunListQuery, 'workspaceId' | 'before'> & { cursor?: string }) {
    let before: { createdAt: string; id: string } | undefined;
    if (q.cursor) {
      try {
        const [createdAt, id] = JSON.parse(Buffer.from(q.cursor, 'base64url').toString('utf8')) as [string, string];
        if (Number.isNaN(Date.parse(createdAt)) || !/^[0-9a-f-]{36}$/.test(id)) throw new Error('bad');
        before = { createdAt, id };
      } catch {
        throw new AppError('bad_request', 'invalid cursor');
      }
    }
    const runs = await this.repo.listRuns({ workspaceId, workflowId: q.workflowId, status: q.status, trigger: q.trigger, from: q.from, to: q.to, awaiting: q.awaiting, before, limit: q.limit + 1 });
    const page = runs.slice(0, q.limit);
    const last = page[page.length - 1];
    const nextCursor = runs.length > q.limit && last ? Buffer.from(JSON.stringify([last.createdAt, last.id])).toString('base64url') : null;
    return { runs: page, nextCursor };
  }

  async cancel(workspaceId: string, runId: string, actor: Actor) {
    await this.prepareQueue();
    const run = await this.db.transaction(async (tx) => {
      const r = await this.repo.transition(workspaceId, runId, ['queued', 'running', 'waiting'], { status: 'cancelled', error: 'cancelled', wait: null, finishedAt: this.clock.now() }, this.clock.now(), tx);
      if (!r) return null;
      const durationMs = r.startedAt ? this.clock.now().getTime() - Date.parse(r.startedAt) : 0;
      await this.events.publish(
        { name: 'workflow.run.failed.v1', workspaceId, actorId: actor.userId, payload: { runId, workflowId: r.workflowId, workflowVersion: r.version, status: 'cancelled', error: 'cancelled', durationMs } },
        tx,
      );
      await this.audit.record({ action: 'workflow.run.cancelled', workspaceId, actorId: actor.userId, actorIp: actor.ip, targetType: 'workflow_run', targetId: runId }, tx);
      // Its concurrency slot is free now.
      for (const id of await this.repo.releaseConcurrencyWaits(workspaceId, this.clock.now(), tx)) await this.wake(id, null, tx);
      return r;
    });
    if (!run) return this.conflictOrMissing(workspaceId, runId, 'only a queued, running or waiting run can be cancelled');
    this.metrics.runs.inc({ status: 'cancelled' });
    return this.getRun(workspaceId, runId);
  }

  /** Resumes a failed or timed-out run from the step that failed, with a fresh attempt. */
  async retry(workspaceId: string, runId: string, actor: Actor) {
    await this.prepareQueue();
    const ok = await this.db.transaction(async (tx) => {
      const current = await this.repo.getRun(workspaceId, runId, tx);
      if (!current || !['failed', 'timed_out'].includes(current.status)) return false;
      const nextAttempt = current.currentStep ? (await this.repo.attemptFor(runId, current.currentStep, current.stepAttempt, tx))?.status === 'failed' ? current.stepAttempt + 1 : current.stepAttempt : 1;
      await this.repo.updateRun(runId, { status: 'running', error: null, wait: null, stepAttempt: Math.max(1, nextAttempt), deadlineAt: null }, this.clock.now(), tx, { reopen: true });
      await this.wake(runId, null, tx);
      await this.audit.record({ action: 'workflow.run.retried', workspaceId, actorId: actor.userId, actorIp: actor.ip, targetType: 'workflow_run', targetId: runId }, tx);
      return true;
    });
    if (!ok) return this.conflictOrMissing(workspaceId, runId, 'only a failed or timed-out run can be retried');
    return this.getRun(workspaceId, runId);
  }

  async decide(workspaceId: string, runId: string, approved: boolean, comment: string | null, actor: Actor) {
    await this.prepareQueue();
    const ok = await this.db.transaction(async (tx) => {
      const run = await this.repo.getRun(workspaceId, runId, tx);
      if (!run || run.status !== 'waiting' || run.wait?.kind !== 'approval' || run.wait.decision) return false;
      if (this.clock.now().getTime() >= Date.parse(run.wait.until)) return false;
      const wait = { ...run.wait, decision: { approved, by: actor.userId, comment, at: this.clock.now().toISOString() } };
      await this.repo.updateRun(runId, { wait, status: 'running' }, this.clock.now(), tx);
      await this.wake(runId, null, tx);
      await this.audit.record({ action: approved ? 'workflow.run.approved' : 'workflow.run.rejected', workspaceId, actorId: actor.userId, actorIp: actor.ip, targetType: 'workflow_run', targetId: runId, data: { step: run.wait.stepId } }, tx);
      return true;
    });
    if (!ok) return this.conflictOrMissing(workspaceId, runId, 'the run is not waiting for an approval (or the approval expired)');
    return this.getRun(workspaceId, runId);
  }

  private async conflictOrMissing(workspaceId: string, runId: string, detail: string): Promise<never> {
    if (!(await this.repo.getRun(workspaceId, runId))) throw notFound('Run');
    throw new AppError('conflict', detail);
  }

  /**
   * Webhook trigger: the token names the workflow; HMAC-SHA256 of the raw body when the workflow
   * requires it. The token's workflow and definition come from this process's cache when it has
   * them (no read per call); the run's insert then checks that the workflow still has this token
   * and version, and when it does not, the call starts over from the database.
   */
  async webhook(token: string, rawBody: string, signature: string | undefined, idempotencyKey: string | undefined) {
    const tokenHash = hashToken(token);
    const cached = this.hooks.get(tokenHash);
    if (cached) {
      try {
        return await this.webhookWith(cached, rawBody, signature, idempotencyKey, { tokenHash, version: cached.workflow.currentVersion });
      } catch (err) {
        if (!(err instanceof StaleWebhook)) throw err;
        this.hooks.delete(tokenHash);
      }
    }
    const w = await this.repo.workflowByWebhook(tokenHash);
    if (!w || w.triggerType !== 'webhook') throw notFound('Webhook');
    const entry: HookEntry = { workflow: w, def: await this.savedDefinition(w.id, w.currentVersion) };
    if (w.enabled) {
      if (this.hooks.size >= MAX_CACHED_HOOKS) this.hooks.clear();
      this.hooks.set(tokenHash, entry);
    }
    return this.webhookWith(entry, rawBody, signature, idempotencyKey);
  }

  private async webhookWith(entry: HookEntry, rawBody: string, signature: string | undefined, idempotencyKey: string | undefined, guard?: StartGuard) {
    const { workflow: w, def } = entry;
    if (w.webhookSecretEnc) {
      const secret = await this.secrets.decrypt(w.webhookSecretEnc, `workflow-webhook:${w.id}`);
      const expected = `sha256=${createHmac('sha256', secret).update(rawBody).digest('hex')}`;
      if (!sameSecret(signature, expected)) throw new AppError('unauthenticated', 'missing or invalid X-V01T-Signature (sha256=HMAC of the body)');
    }
    let input: unknown = {};
    if (rawBody.trim()) {
      try {
        input = JSON.parse(rawBody);
      } catch {
        throw new AppError('invalid_json', 'the webhook body must be JSON');
      }
    }
    const trigger = def?.trigger.type === 'webhook' ? def.trigger : null;
    const respond = trigger?.respond ?? 'immediately';
    const finishWith = respond === 'onCompletion' && def && this.executor.runsInOneTransaction(def) ? { def, version: w.currentVersion } : this.finishImmediateInStart(respond, def, w.currentVersion);
    if (!finishWith) await this.admitQueued(w.workspaceId);
    const { run } = await this.startRun(w.workspaceId, w.id, input, { trigger: 'webhook', idempotencyKey: idempotencyKey ? `webhook:${idempotencyKey}` : null, actor: { userId: null }, guard, finishWith });
    return { run, respond, responseTimeoutMs: trigger?.responseTimeoutMs ?? 10_000 };
  }

  /**
   * A `respond: "immediately"` webhook whose steps are all pure (and no concurrency limit) commits its
   * run finished with its start too, through the same group-commit path as onCompletion
   * (Executor.finishStarted): no queue job, no fetch, no second transaction. The caller is still
   * answered 202 once the start committed; the run is then already succeeded. A run that would fail,
   * retry or needs a worker process is queued as before, in the same transaction (ADR 0076).
   * Embedded (PGlite) only: there every statement runs on this thread and the queue's fetch,
   * read and second transaction are the cost. On PostgreSQL the queued path keeps the start and
   * the finish on two connections at once, and measured as fast or faster at 50 connections.
   */
  private finishImmediateInStart(respond: string, def: Definition | null, version: number): StartOpts['finishWith'] {
    return this.backpressure.immediateInStart === true && respond === 'immediately' && def && this.executor.runsInOneTransaction(def) ? { def, version } : undefined;
  }

  /** The oldest due queued run per workspace, as last read, and the read under way. */
  private backlog: { readAt: number; oldest: Map<string, number> } | null = null;
  private backlogRead: Promise<void> | undefined;

  /**
   * Backpressure for webhooks that queue their run: refused with 503 `workflow_queue_full` and
   * Retry-After while the workspace's oldest run queued and due has waited longer than
   * WORKFLOW_WEBHOOK_MAX_QUEUED_AGE_MS, so a backlog cannot keep growing for as long as a load
   * lasts and a run that is accepted is run within about that long. The ages are read at most
   * every BACKLOG_READ_MS per process (one grouped statement, served from the index on status).
   * A webhook that waits for its result (respond: onCompletion) is not queued and not refused:
   * its caller waits, which is backpressure enough.
   */
  private async admitQueued(workspaceId: string): Promise<void> {
    const max = this.backpressure.maxQueuedAgeMs;
    if (max <= 0) return;
    const now = this.clock.now().getTime();
    if (!this.backlog || now - this.backlog.readAt >= BACKLOG_READ_MS || now < this.backlog.readAt) {
      this.backlogRead ??= this.repo
        .oldestQueuedByWorkspace()
        .then((oldest) => {
          this.backlog = { readAt: now, oldest };
        })
        .finally(() => (this.backlogRead = undefined));
      await this.backlogRead;
    }
    const oldest = this.backlog?.oldest.get(workspaceId);
    if (oldest !== undefined && now - oldest > max) {
      this.metrics.webhooksRefused.inc();
      throw new AppError('workflow_queue_full', `runs of this workspace have waited ${Math.round((now - oldest) / 1000)} s in the queue (the limit is ${max} ms); the run was not started, retry later`, { retryAfterSeconds: 1 });
    }
  }

  /** Drops this process's cached webhook lookups of a workflow (it changed here). */
  private forgetHooks(workflowId: string): void {
    for (const [hash, e] of this.hooks) if (e.workflow.id === workflowId) this.hooks.delete(hash);
  }

  /** The run once finished (succeeded, failed, cancelled, timed out), or null if `timeoutMs` passes first. */
  awaitRun(runId: string, timeoutMs: number): Promise<RunRow | null> {
    return this.waiters.wait(runId, timeoutMs);
  }

  private async savedDefinition(workflowId: string, version: number): Promise<Definition | null> {
    const key = `${workflowId}:${version}`;
    const cached = this.definitions.get(key);
    if (cached) return cached;
    const def = (await this.repo.definition(workflowId, version)) as Definition | null;
    if (def) {
      if (this.definitions.size >= 1000) this.definitions.clear();
      this.definitions.set(key, def);
    }
    return def;
  }

  /**
   * One scheduler pass: for each schedule workflow, the newest due fire time since the last recorded
   * fire. Fires are claimed by inserting (workflow, fire time) — the primary key lets exactly one
   * replica win each tick. Older fires missed while down follow the workflow's missedFires policy.
   */
  async scheduleTick(now: Date = this.clock.now()): Promise<number> {
    await this.prepareQueue();
    let fired = 0;
    for (const w of await this.repo.listByTrigger('schedule')) {
      try {
        const def = (await this.repo.definition(w.id, w.currentVersion)) as Definition | null;
        if (!def || def.trigger.type !== 'schedule') continue;
        const cron = new Cron(def.trigger.cron, { timezone: def.trigger.timezone, paused: true });
        const anchor = (await this.repo.lastFire(w.id)) ?? new Date(w.updatedAt);
        let due: Date | null = null;
        let next = cron.nextRun(anchor);
        for (let i = 0; next && next.getTime() <= now.getTime() && i < 10_000; i++) {
          due = next;
          next = cron.nextRun(next);
        }
        cron.stop();
        if (!due) continue;
        const missed = now.getTime() - due.getTime() > SCHEDULE_GRACE_MS;
        const fire = !missed || def.trigger.missedFires === 'fire_once';
        await this.db.transaction(async (tx) => {
          if (!(await this.repo.recordFire(w.id, due!, tx))) return;
          if (!fire) return;
          await this.startRun(w.workspaceId, w.id, { scheduledAt: due!.toISOString(), missed }, { trigger: 'schedule', idempotencyKey: `schedule:${due!.toISOString()}`, actor: { userId: null } }, tx);
          fired++;
        });
      } catch (err) {
        this.logger.error({ err, workflowId: w.id }, 'schedule tick failed for a workflow');
      }
    }
    return fired;
  }

  /**
   * Event trigger: called by the workflow-engine's consumer group for every platform event, inside
   * the bus's delivery transaction `tx` (every read and write goes through it: on PGlite there is
   * one connection). Starts a run of each enabled workflow of the event's workspace whose current
   * version triggers on this event name and whose filter is truthy, with the event as input.
   * Idempotent per (event id, workflow): the run's idempotency key is `event:<event id>`, so a
   * redelivered event finds the first run. A workflow is never started by its own run's events, and
   * a chain of event-triggered runs stops after MAX_EVENT_CHAIN_DEPTH.
   */
  async onEvent(event: EventEnvelope, tx: Tx): Promise<RunRow[]> {
    if (!event.workspaceId) return [];
    const candidates = await this.triggerWorkflows(event.workspaceId, event.name, tx);
    if (!candidates.length) return [];
    const payload = (event.payload ?? {}) as Record<string, unknown>;
    let depth = 0;
    if (event.name.startsWith('workflow.') && typeof payload.runId === 'string') {
      const source = await this.repo.runById(payload.runId, tx);
      depth = (source?.chainDepth ?? 0) + 1;
      if (depth > MAX_EVENT_CHAIN_DEPTH) {
        this.logger.warn({ eventId: event.id, name: event.name, runId: payload.runId, depth }, 'event-triggered workflow chain too deep: not starting further runs');
        return [];
      }
    }
    const started: RunRow[] = [];
    for (const w of candidates) {
      if (payload.workflowId === w.id && typeof payload.runId === 'string') continue;
      const def = await this.repo.definition(w.id, w.currentVersion, tx);
      if (!def || def.trigger.type !== 'event' || def.trigger.event !== event.name) continue;
      if (def.trigger.filter) {
        let pass: unknown;
        try {
          pass = await evaluate(def.trigger.filter, event, 'trigger.filter', { workspaceId: event.workspaceId });
        } catch (err) {
          // A filter that fails on this event's shape does not match it; one workflow's filter must not hold up the others.
          // The message only (bounded by the guard): never the event or the expression's values.
          this.logger.warn({ error: (err as Error).message, workflowId: w.id, eventId: event.id }, 'event trigger filter failed; not starting a run');
          continue;
        }
        if (!pass) continue;
      }
      const { run, created } = await this.startRun(
        event.workspaceId,
        w.id,
        event,
        {
          trigger: 'event',
          idempotencyKey: `event:${event.id}`,
          actor: { userId: null },
          triggerRef: { type: 'event', eventId: event.id, eventName: event.name, occurredAt: event.occurredAt },
          chainDepth: depth,
        },
        tx,
      );
      if (created) started.push(run);
    }
    return started;
  }

  /**
   * A delivery batch's events (the trigger group's batch handler): the trigger sets of all its
   * (workspace, event name) pairs are read in one statement into the transaction's memo, then each
   * event is handled in order as onEvent would alone. Same trigger sets as the per-name reads
   * (as of the batch's first read), one statement instead of one per name (ADR 0076).
   */
  async onEvents(events: EventEnvelope[], tx: Tx): Promise<void> {
    let memo = this.triggerReads.get(tx);
    if (!memo) this.triggerReads.set(tx, (memo = new Map()));
    const pairs = new Map<string, { workspaceId: string; name: string }>();
    for (const e of events) {
      const key = e.workspaceId ? `${e.workspaceId} ${e.name}` : null;
      if (key && !memo.has(key)) pairs.set(key, { workspaceId: e.workspaceId!, name: e.name });
    }
    if (pairs.size) {
      const rows = await this.repo.eventWorkflowsOf([...pairs.values()], tx);
      for (const [key, p] of pairs) memo.set(key, Promise.resolve(rows.filter((w) => w.workspaceId === p.workspaceId && w.triggerEvent === p.name)));
    }
    for (const e of events) await this.onEvent(e, tx);
  }

  /**
   * The event workflows of (workspace, event name), read once per delivery transaction: the bus
   * hands a batch of events to the handler in one transaction, and 200 events of one workspace
   * need one lookup per name, not 200. Within a batch the trigger set is as of its first read
   * (a workflow enabled meanwhile counts from the next batch on, as it would a moment later anyway).
   */
  private triggerWorkflows(workspaceId: string, name: string, tx: Tx): Promise<WorkflowRow[]> {
    let memo = this.triggerReads.get(tx);
    if (!memo) this.triggerReads.set(tx, (memo = new Map()));
    const key = `${workspaceId} ${name}`;
    let rows = memo.get(key);
    if (!rows) memo.set(key, (rows = this.repo.eventWorkflows(workspaceId, name, tx)));
    return rows;
  }

  isTerminal(status: RunStatus): boolean {
    return TERMINAL.has(status);
  }
}
