import type { Clock } from '../../kernel/clock.js';
import type { Transactor, Tx } from '../../kernel/db/transaction.js';
import type { EventName } from '../../kernel/events/catalog.js';
import type { EventPublisher, NewEvent } from '../../kernel/events/envelope.js';
import type { JobScope } from '../../kernel/jobs/wake-queue.js';
import type { Logger } from '../../kernel/telemetry/logger.js';
import { failSpan, runIn, startSpan, withSpan } from '../../kernel/telemetry/tracing.js';
import type { Definition, StepDef } from './definition.js';
import { evaluate, ExpressionError, resolveTemplate, type StepEvaluation } from './expressions.js';
import type { HttpPort, IntegrationPort } from './http-port.js';
import type { WorkflowMetrics } from './metrics.js';
import { TERMINAL, type RunRow, type RunStatus, type Wait, type WorkflowRepository } from './repository.js';
import { NotInOneTransaction, RunGone, RunWrites, startedEvent, type DeferredStart, type FreshPlan } from './run-writes.js';
import { stepRegistry, type StepRegistry } from './steps/index.js';
import { StepError, StepInProgress, type EffectStepModule, type Expressions, type WaitStepModule } from './steps/types.js';
import { uuidV4 } from '../../kernel/crypto/uuid.js';


export interface ExecutorOptions {
  db: Transactor;
  repo: WorkflowRepository;
  clock: Clock;
  events: EventPublisher;
  logger: Logger;
  metrics: WorkflowMetrics;
  http: () => HttpPort;
  integration: () => IntegrationPort | null;
  /** Enqueues a wake-up of the run (a durable job), at `at` or now; inside `tx` when given. */
  wake: (runId: string, at: Date | null, tx?: Tx) => Promise<void>;
  /** This worker's identity for run leases. */
  workerId: string;
  leaseMs: number;
  /** Runs executing at once per workspace (0 = no limit). */
  workspaceConcurrency: number;
  /** A run taken over (its worker crashed or lost the lease) this many times is failed as run_quarantined and never taken again (default 3). */
  quarantineAfter?: number;
  random?: () => number;
  /** The step types this executor runs (default: the engine's registry, steps/index.ts). */
  steps?: StepRegistry;
}

const MAX_STEPS_PER_ADVANCE = 1000;
/** Runs of the normal path advancing in the background per process, and per workspace of them (dispatch). */
const MAX_DETACHED = 64;
const MAX_DETACHED_PER_WORKSPACE = 16;
/** A run over its workspace's share of the background slots is looked at again after this long. */
const DETACHED_RECHECK_MS = 500;
/** A run held back by a concurrency limit is looked at again after this long, or sooner when a slot frees. */
const CONCURRENCY_RECHECK_MS = 1000;
/** A step whose workspace has its share of the expression workers busy is looked at again after this long (same attempt). */
const EXPRESSION_BUSY_RECHECK_MS = 1000;

/**
 * Advances one run as far as it can go: the durable state machine behind every run. Called by
 * the queue worker for each wake-up job. Deterministic steps (transform, condition, emit) are
 * computed in memory and written together with the next side effect or wait, in one
 * transaction; side-effecting steps (http, integration, foreach) record a `running` attempt with
 * its idempotency key *before* acting, so a worker taking over a dead worker's run repeats the
 * same attempt with the same key and the receiver can refuse the duplicate.
 */
export class Executor {
  private readonly random: () => number;
  /** Runs this process is advancing now, and whether another wake-up arrived meanwhile. */
  private readonly active = new Map<string, boolean>();
  /** Runs finished by this process's current advance: finishing cleared the lease already. */
  private readonly finished = new Set<string>();
  /** Definitions by workflow and version: a version never changes once saved. */
  private readonly definitions = new Map<string, Definition>();
  /** Runs advancing in the background (dispatch), in all and per workspace. */
  private readonly detached = new Set<Promise<void>>();
  private readonly detachedBy = new Map<string, number>();
  private readonly steps: StepRegistry;
  /** Told which runs an advance of this process moved, once its transactions committed. */
  private readonly settledListeners = new Set<(runIds: string[]) => void>();
  constructor(private readonly o: ExecutorOptions) {
    this.random = o.random ?? Math.random;
    this.steps = o.steps ?? stepRegistry;
  }

  /** The wake-up time of a wait, brought forward to the run's deadline so a run timeout fires on time. */
  private wakeAt(run: RunRow, until: Date): Date {
    return run.deadlineAt && Date.parse(run.deadlineAt) < until.getTime() ? new Date(run.deadlineAt) : until;
  }

  /**
   * Advances every run that is due now by the injected clock (queued, resumed, a wait or deadline
   * that has come), until none is left: the deterministic seam tests drive with a ManualClock
   * instead of waiting for queue jobs. Production wake-ups come from the queue; this is not needed
   * there except as the safety net (see `repo.due(now, staleMs)`).
   */
  async drain(maxRounds = 50): Promise<number> {
    let advanced = 0;
    for (let round = 0; round < maxRounds; round++) {
      const ids = (await this.o.repo.due(this.o.clock.now())).filter((id) => !this.active.has(id));
      if (!ids.length) break;
      await this.advanceMany(ids);
      advanced += ids.length;
    }
    return advanced;
  }

  /** Calls `listener` with the runs this process advanced (finished or not), after the advance committed. Returns the unsubscribe. */
  onSettled(listener: (runIds: string[]) => void): () => void {
    this.settledListeners.add(listener);
    return () => this.settledListeners.delete(listener);
  }

  private emitSettled(runIds: string[]): void {
    if (runIds.length === 0) return;
    for (const l of this.settledListeners) l(runIds);
  }

  idempotencyKey(runId: string, stepId: string, attempt: number): string {
    return `wf_${runId}_${stepId}_${attempt}`;
  }

  /** Exponential backoff with jitter (half fixed, half random), capped. */
  backoffMs(step: StepDef, attempt: number): number {
    const base = step.retry?.backoffMs ?? 1000;
    const cap = step.retry?.maxBackoffMs ?? 300_000;
    const ceiling = Math.min(cap, base * 2 ** Math.max(0, attempt - 1));
    return Math.round(ceiling / 2 + (this.random() * ceiling) / 2);
  }

  /** `fresh: false`: the caller already tried the fresh-run path for this run (advanceMany), so go straight to the claim. */
  async advance(runId: string, opts: { fresh?: boolean } = {}): Promise<void> {
    // A second wake-up of a run this process is advancing (duplicate job, sweep) must not run it
    // twice at once under the same lease owner: note it and look once more when the first is done.
    if (this.active.has(runId)) {
      this.active.set(runId, true);
      return;
    }
    this.active.set(runId, false);
    try {
      for (let i = 0; i < 10; i++) {
        await this.advanceOnce(runId, i > 0 || opts.fresh !== false);
        if (!this.active.get(runId)) break;
        this.active.set(runId, false);
      }
    } finally {
      this.active.delete(runId);
      this.emitSettled([runId]);
    }
  }

  /**
   * Advances a batch of runs (one queue fetch). Fresh queued runs of only transform, condition and
   * emit steps, without a concurrency limit, are computed in memory from their input and then
   * claimed and finished together: one conditional UPDATE for all of them (still queued, nobody's
   * lease), one INSERT of their attempts and one of their events, in one transaction. A run this
   * does not cover (a wait, a side effect, a failure, another worker got there first) takes the
   * normal path of `advance`, which recomputes: the steps are pure and nothing of it was written.
   */
  async advanceMany(runIds: string[]): Promise<void> {
    const rest = await this.advanceFresh(runIds);
    const results = await Promise.allSettled(rest.map((r) => this.advance(r.id, { fresh: false })));
    const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
    if (failed) throw failed.reason;
  }

  /**
   * The queue worker's entry: like advanceMany, but the runs that take the normal path (a side
   * effect, a wait, an expression that needs a worker process) are advanced in the background, so
   * a slow run never holds the fetch of the next batch (and with it every other workspace's
   * runs). Per process at most MAX_DETACHED run at once (the handler waits for a slot beyond
   * that), and at most MAX_DETACHED_PER_WORKSPACE of one workspace: that workspace's further runs
   * are looked at again a moment later, so its flood cannot take the slots of the others. The
   * job is done once the run is handed over: the run's lease, not the job, keeps it safe (a crash
   * leaves an orphan that the sweep wakes and the next claim takes over, see ADR 0320).
   */
  async dispatch(runIds: string[], within: JobScope = (_id, fn) => fn()): Promise<void> {
    const rest = await this.advanceFresh(runIds, within);
    const now = this.o.clock.now().getTime();
    for (const run of rest) {
      if ((this.detachedBy.get(run.workspaceId) ?? 0) >= MAX_DETACHED_PER_WORKSPACE) {
        await this.o.wake(run.id, new Date(now + DETACHED_RECHECK_MS));
        continue;
      }
      while (this.detached.size >= MAX_DETACHED) await Promise.race(this.detached);
      this.detachedBy.set(run.workspaceId, (this.detachedBy.get(run.workspaceId) ?? 0) + 1);
      const p: Promise<void> = within(run.id, () => this.advance(run.id, { fresh: false }))
        .catch((err) => this.o.logger.error({ err, runId: run.id }, 'advancing a run failed; its lease runs out and the sweep takes it up again'))
        .finally(() => {
          this.detached.delete(p);
          const n = (this.detachedBy.get(run.workspaceId) ?? 1) - 1;
          if (n > 0) this.detachedBy.set(run.workspaceId, n);
          else this.detachedBy.delete(run.workspaceId);
        });
      this.detached.add(p);
    }
  }

  /** Waits for the runs advancing in the background (stop), at most `timeoutMs`. */
  async settle(timeoutMs: number): Promise<void> {
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([Promise.allSettled([...this.detached]), new Promise((r) => (timer = setTimeout(r, timeoutMs)))]);
    clearTimeout(timer);
  }

  /**
   * True when a fresh run of this definition can be computed in memory before it is inserted and
   * inserted finished, with its events, by one statement (pure steps, no concurrency limit, and an
   * event publisher that can write its events within that statement): what `finishStarted` does.
   */
  runsInOneTransaction(def: Definition): boolean {
    return typeof this.o.events.insertWithin === 'function' && !this.limited(def) && this.allPure(def);
  }

  /**
   * Computes runs about to be inserted (a webhook that waits for the result, respond: onCompletion)
   * in memory, as a queue worker would (planFresh) with the definition they were started with: the
   * plans of the runs that can be finished that way, by run id. A run missing from the answer (an
   * expression that needs an isolated worker, a failing step, whose failure is written step by
   * step) is inserted queued instead and goes the normal way.
   */
  async planStarts(runs: { run: RunRow; def: Definition }[]): Promise<Map<string, FreshPlan>> {
    const plans = new Map<string, FreshPlan>();
    for (const { run, def } of runs) {
      const plan = await this.runSpan(run.id, () => this.planFresh(run, def)).catch((err) => {
        this.o.logger.warn({ err, runId: run.id }, 'could not compute a started run in memory; it is queued and advanced step by step');
        return null;
      });
      if (plan) plans.set(run.id, plan);
    }
    return plans;
  }

  /**
   * Inserts planned runs (planStarts) finished, with their attempts and their events (started,
   * signals, outcome, in order per run), in one statement that commits on its own (ADR 0077). A run
   * is inserted only while its workflow is enabled and still at the run's version (and, with a
   * token hash, still answers to that webhook token) and its idempotency key is new; the others,
   * missing from the answer, are written by the caller the normal way. Returns the runs as written.
   */
  async finishStarted(plans: { plan: FreshPlan; tokenHash: string | null }[]): Promise<Map<string, RunRow>> {
    const insertWithin = this.o.events.insertWithin;
    if (!plans.length || !insertWithin) return new Map();
    const now = this.o.clock.now();
    const events = plans.flatMap(({ plan: p }) => [...p.events, this.outcomeEvent(p.run, 'succeeded', null, now.getTime() - p.startedAt.getTime())].map((event) => ({ event, runId: p.run.id })));
    const written = await this.o.repo.insertFinishedRuns(
      plans.map(({ plan: p, tokenHash }) => ({ run: p.run, tokenHash, outputs: p.outputs, output: p.output, stepAttempt: p.stepAttempt, startedAt: p.startedAt, deadlineAt: p.deadlineAt, finishedAt: now })),
      plans.flatMap(({ plan: p }) => p.attempts.map((a) => ({ ...a, runId: p.run.id }))),
      (runIds) =>
        insertWithin.call(
          this.o.events,
          events.map((e) => e.event),
          events.map((e) => e.runId),
          runIds,
        ),
    );
    const done = new Map(written.map((r) => [r.id, r]));
    this.countFresh(new Set(done.keys()));
    this.emitSettled([...done.keys()]);
    return done;
  }

  /** The fresh-run batch of advanceMany; returns the runs left for the normal path. */
  private async advanceFresh(runIds: string[], within: JobScope = (_id, fn) => fn()): Promise<{ id: string; workspaceId: string }[]> {
    const mine: string[] = [];
    for (const id of new Set(runIds)) {
      if (this.active.has(id)) this.active.set(id, true);
      else {
        this.active.set(id, false);
        mine.push(id);
      }
    }
    const rest: { id: string; workspaceId: string }[] = [];
    try {
      const plans: FreshPlan[] = [];
      for (const run of await this.o.repo.runsByIds(mine)) {
        // Finished already (a duplicate or late wake-up): nothing to do.
        if (TERMINAL.has(run.status)) continue;
        const plan = await within(run.id, () => this.runSpan(run.id, () => this.planFresh(run))).catch((err) => {
          this.o.logger.warn({ err, runId: run.id }, 'could not compute a fresh run in memory; advancing it step by step');
          return null;
        });
        if (plan) plans.push(plan);
        else rest.push({ id: run.id, workspaceId: run.workspaceId });
      }
      const done = await this.writeFresh(plans).catch((err) => {
        this.o.logger.warn({ err, runs: plans.length }, 'writing a batch of fresh runs failed; advancing them one by one');
        return new Set<string>();
      });
      for (const p of plans) if (!done.has(p.run.id)) rest.push({ id: p.run.id, workspaceId: p.run.workspaceId });
      this.emitSettled([...done]);
    } finally {
      for (const id of mine) this.active.delete(id);
    }
    return rest;
  }

  /** The in-memory outcome of a fresh run of pure steps, or null when it needs the normal path. */
  private async planFresh(run: RunRow, known?: Definition): Promise<FreshPlan | null> {
    if (run.status !== 'queued' || run.startedAt || run.takeovers > 0) return null;
    const def = known ?? (await this.definition(run.workflowId, run.version));
    if (!def || this.limited(def) || !this.allPure(def)) return null;
    const started = await this.start(run, def);
    try {
      return (await this.runSteps(started.run, def, started.deferred, true)) ?? null;
    } catch (err) {
      if (err instanceof NotInOneTransaction) return null;
      throw err;
    }
  }

  /** Claims and finishes the planned runs in one transaction; returns the ids written (the others were taken or cancelled meanwhile). */
  private async writeFresh(plans: FreshPlan[]): Promise<Set<string>> {
    if (!plans.length) return new Set();
    const done = await this.o.db.transaction((tx) => this.writeFreshIn(plans, tx));
    this.countFresh(done);
    return done;
  }

  private countFresh(done: Set<string>): void {
    if (!done.size) return;
    this.o.metrics.runs.inc({ status: 'started' }, done.size);
    this.o.metrics.runs.inc({ status: 'succeeded' }, done.size);
  }

  /** writeFresh's statements, in `tx`. */
  private async writeFreshIn(plans: FreshPlan[], tx: Tx, stored?: Map<string, RunRow>): Promise<Set<string>> {
    if (!plans.length) return new Set();
    const { repo, clock } = this.o;
    const now = clock.now();
    const written = await repo.finishFresh(
      plans.map((p) => ({ id: p.run.id, status: 'succeeded' as const, outputs: p.outputs, output: p.output, stepAttempt: p.stepAttempt, startedAt: p.startedAt, deadlineAt: p.deadlineAt, finishedAt: now })),
      tx,
      stored,
    );
    const ok = plans.filter((p) => written.has(p.run.id));
    await repo.insertAttemptsOfRuns(ok.flatMap((p) => p.attempts.map((a) => ({ ...a, runId: p.run.id }))), tx);
    // Per run in order: started, its signals, the outcome.
    await this.publishAll(ok.flatMap((p) => [...p.events, this.outcomeEvent(p.run, 'succeeded', null, now.getTime() - p.startedAt.getTime())]), tx);
    return written;
  }

  /** A fresh run computed in memory and written by writeFresh (used by the single-run path too). */
  private async tryInOneTransaction(runId: string): Promise<boolean> {
    const run = await this.o.repo.runById(runId);
    const plan = run ? await this.planFresh(run) : null;
    return plan ? (await this.writeFresh([plan])).has(runId) : false;
  }

  /** A span per advance of a run (tracing on): the steps it runs are its children. */
  private runSpan<T>(runId: string, fn: () => Promise<T>): Promise<T> {
    return withSpan('workflow run', { attributes: { 'v01t.workflow.run.id': runId } }, fn);
  }

  private advanceOnce(runId: string, tryFresh: boolean): Promise<void> {
    return this.runSpan(runId, () => this.advanceOnceTraced(runId, tryFresh));
  }

  private async advanceOnceTraced(runId: string, tryFresh: boolean): Promise<void> {
    const { repo, clock } = this.o;
    if (tryFresh && (await this.tryInOneTransaction(runId))) return;
    const claimed = await repo.claim(runId, this.o.workerId, clock.now(), this.o.leaseMs);
    if (!claimed) {
      // Another live worker holds the run: look again once its lease could have run out.
      const current = await repo.runById(runId);
      if (current && !TERMINAL.has(current.status)) await this.o.wake(runId, new Date(clock.now().getTime() + Math.min(this.o.leaseMs, 2000)));
      return;
    }
    const run = claimed.run;
    if (claimed.takeover) this.o.logger.warn({ runId, takeovers: run.takeovers }, 'took over a run whose worker stopped renewing its lease');
    const heartbeat = setInterval(() => {
      void repo.renew(runId, this.o.workerId, clock.now(), this.o.leaseMs).catch(() => {});
    }, Math.max(50, Math.floor(this.o.leaseMs / 3)));
    heartbeat.unref?.();
    try {
      if (TERMINAL.has(run.status)) return;
      // A poison run (one whose processing keeps killing or losing its worker) must not be taken up
      // after every restart: after N interruptions it fails for good. The fresh-run path takes no
      // lease and so counts nothing, but it only evaluates expressions that are provably cheap.
      if (run.takeovers >= (this.o.quarantineAfter ?? 3)) {
        await this.finish(run, 'failed', null, `run_quarantined: the run's processing was interrupted ${run.takeovers} times (its worker crashed or lost its lease); it is not taken up again`);
        return;
      }
      const def = await this.definition(run.workflowId, run.version);
      if (!def) {
        await this.finish(run, 'failed', null, `definition version ${run.version} not found`);
        return;
      }
      const started = await this.start(run, def);
      if (started.run.status === 'queued') return;
      await this.runSteps(started.run, def, started.deferred);
    } catch (err) {
      if (!(err instanceof RunGone)) throw err;
    } finally {
      clearInterval(heartbeat);
      if (!this.finished.delete(runId)) await repo.release(runId, this.o.workerId).catch(() => {});
    }
  }

  private async definition(workflowId: string, version: number): Promise<Definition | null> {
    const key = `${workflowId}:${version}`;
    const cached = this.definitions.get(key);
    if (cached) return cached;
    const def = await this.o.repo.definition(workflowId, version);
    if (def) {
      if (this.definitions.size >= 1000) this.definitions.clear();
      this.definitions.set(key, def);
    }
    return def;
  }

  /**
   * Whether a concurrency limit applies to runs of this definition. The workflow's own `concurrency`
   * always does. The workspace limit bounds runs that work outside the engine or wait: a definition
   * made only of transform, condition and emit steps runs from queued to finished in one
   * transaction, never holds a slot while others could see it, and is not counted against it.
   */
  private allPure(def: Definition): boolean {
    return def.steps.every((s) => this.steps.get(s.type)?.kind === 'pure');
  }

  private limited(def: Definition): boolean {
    if (def.concurrency !== undefined) return true;
    return this.o.workspaceConcurrency > 0 && !this.allPure(def);
  }

  /**
   * queued → running. With a concurrency limit, decided and written at once under a lock (or the
   * run stays queued). Without one, the start is only computed here and `deferred` is written by
   * the run's first write, so a run of deterministic steps takes one transaction from start to end.
   */
  private async start(run: RunRow, def: Definition): Promise<{ run: RunRow; deferred: DeferredStart | null }> {
    if (run.status !== 'queued') return { run, deferred: null };
    const { repo, clock } = this.o;
    const now = clock.now();
    const first = def.steps[0]!.id;
    const deadline = def.timeoutMs ? new Date(now.getTime() + def.timeoutMs) : null;
    const startedRun: RunRow = { ...run, wait: null, status: 'running', startedAt: run.startedAt ?? now.toISOString(), currentStep: run.currentStep ?? first, deadlineAt: run.deadlineAt ?? deadline?.toISOString() ?? null };
    if (!this.limited(def)) {
      return { run: startedRun, deferred: { startedAt: new Date(startedRun.startedAt!), deadlineAt: startedRun.deadlineAt ? new Date(startedRun.deadlineAt) : null, publishStarted: !run.startedAt } };
    }
    const started = await this.o.db.transaction(async (tx) => {
      // Count and start under a per-workflow / per-workspace lock, so two workers cannot both take the last slot.
      if (def.concurrency !== undefined) await repo.lockKey(`workflow-concurrency:${run.workflowId}`, tx);
      if (this.o.workspaceConcurrency > 0) await repo.lockKey(`workflow-concurrency:ws:${run.workspaceId}`, tx);
      const overWorkflow = def.concurrency !== undefined && (await repo.countActive(run.workflowId, run.id, tx)) >= def.concurrency;
      const overWorkspace = this.o.workspaceConcurrency > 0 && (await repo.countActiveInWorkspace(run.workspaceId, run.id, tx)) >= this.o.workspaceConcurrency;
      if (overWorkflow || overWorkspace) {
        // Stays queued; looked at again when a run of the workspace finishes, or after the re-check interval.
        const until = new Date(now.getTime() + CONCURRENCY_RECHECK_MS);
        await repo.updateRun(run.id, { wait: { kind: 'concurrency', stepId: '', until: until.toISOString() } }, now, tx);
        await this.o.wake(run.id, until, tx);
        return false;
      }
      if (!(await repo.updateRun(run.id, { status: 'running', wait: null, startedAt: run.startedAt ? new Date(run.startedAt) : now, currentStep: run.currentStep ?? first, deadlineAt: run.deadlineAt ? new Date(run.deadlineAt) : deadline }, now, tx))) {
        throw new RunGone();
      }
      if (!run.startedAt) await this.publishStarted(run, tx);
      return true;
    });
    if (!started) return { run, deferred: null };
    if (!run.startedAt) this.o.metrics.runs.inc({ status: 'started' });
    return { run: startedRun, deferred: null };
  }

  private async publishStarted(run: RunRow, ex: Tx): Promise<void> {
    await this.publishAll([startedEvent(run)], ex);
  }

  /** Publishes in order, in one outbox INSERT when the backbone offers publishMany. */
  private async publishAll(events: NewEvent<EventName>[], ex: Tx): Promise<void> {
    const many = (this.o.events as { publishMany?: (e: NewEvent<EventName>[], tx?: Tx) => Promise<unknown> }).publishMany;
    if (many && events.length > 1) await many.call(this.o.events, events, ex);
    else for (const e of events) await this.o.events.publish(e, ex);
  }

  private context(run: RunRow, outputs: Record<string, unknown>) {
    return { input: run.input, steps: Object.fromEntries(Object.entries(outputs).map(([k, v]) => [k, { output: v }])), run: { id: run.id, workflowId: run.workflowId } };
  }

  /** How a step's expressions are evaluated: the workspace's fair share, within the step's and the run's time. */
  private evaluation(run: RunRow, step: StepDef, opts: { inProcessOnly?: boolean; admission?: 'wait' | 'reject' } = {}): StepEvaluation {
    const remaining = run.deadlineAt ? Date.parse(run.deadlineAt) - this.o.clock.now().getTime() : Infinity;
    const timeoutMs = Math.min(step.timeoutMs ?? Infinity, remaining);
    return { workspaceId: run.workspaceId, timeoutMs: Number.isFinite(timeoutMs) ? Math.max(1, timeoutMs) : undefined, inProcessOnly: opts.inProcessOnly, admission: opts.admission ?? 'wait' };
  }

  private nextAfter(def: Definition, step: StepDef): string | null {
    if (step.next) return step.next;
    const i = def.steps.findIndex((s) => s.id === step.id);
    return def.steps[i + 1]?.id ?? null;
  }

  /** Expression helpers for a step: fields named relative to the step (`with.url` → `steps.<id>.with.url`), limits taken when evaluated. */
  private expressions(run: RunRow, step: StepDef, context: unknown, opts: { inProcessOnly?: boolean; admission?: 'wait' | 'reject' } = {}): Expressions {
    return {
      evaluate: (source, field, ctx = context) => evaluate(source, ctx, `steps.${step.id}.${field}`, this.evaluation(run, step, opts)),
      resolve: (value, field, ctx = context) => resolveTemplate(value, ctx, `steps.${step.id}.${field}`, this.evaluation(run, step, opts)),
    };
  }

  /**
   * Runs the run's steps from its position until it waits, fails or ends. Pure steps are computed
   * here and recorded in RunWrites; a wait or side effect first writes them with the run's
   * position. The run was read by the claim (or start): no step re-reads it. A cancellation
   * through the API makes the next write find the run finished (RunGone), and that write comes
   * before any side effect or wait; approvals arrive while the run is waiting and unleased, so
   * the claim of the advance they wake reads them.
   */
  private async runSteps(run: RunRow, def: Definition, deferredStart: DeferredStart | null, oneTransaction = false): Promise<FreshPlan | void> {
    const { repo, clock } = this.o;
    // Computed in memory for one write (oneTransaction): nothing may be written on the way, and no
    // transaction opened (planStarts computes a run not inserted yet). Such a path gives the run back.
    const transaction = <T>(fn: (tx: Tx) => Promise<T>): Promise<T> => (oneTransaction ? Promise.reject(new NotInOneTransaction()) : this.o.db.transaction(fn));
    const w = new RunWrites(
      {
        repo,
        transaction,
        now: () => clock.now(),
        publishAll: (events, ex) => this.publishAll(events, ex),
        countStarted: () => this.o.metrics.runs.inc({ status: 'started' }),
      },
      run,
      deferredStart,
      oneTransaction,
    );

    for (let executed = 0; w.stepId !== null; executed++) {
      if (executed >= MAX_STEPS_PER_ADVANCE) {
        await w.flush();
        return void (await this.finish(run, 'failed', null, `more than ${MAX_STEPS_PER_ADVANCE} steps without a wait: a loop through next?`));
      }
      const now = clock.now();
      if (run.deadlineAt && now.getTime() >= Date.parse(run.deadlineAt)) {
        await w.flush();
        return void (await this.finish(run, 'timed_out', null, `run timeout of ${def.timeoutMs} ms exceeded`));
      }
      const step = def.steps.find((s) => s.id === w.stepId);
      if (!step) {
        await w.flush();
        return void (await this.finish(run, 'failed', null, `step "${w.stepId}" is not in version ${run.version}`));
      }
      const module = this.steps.get(step.type);
      if (!module) {
        await w.flush();
        return void (await this.finish(run, 'failed', null, `steps.${step.id}: unknown step type "${step.type}"`));
      }
      const wait = w.wait;
      if (wait && wait.stepId === step.id && wait.kind === 'retry' && now.getTime() < Date.parse(wait.until)) {
        await w.flush({ status: 'running' });
        return this.o.wake(run.id, this.wakeAt(run, new Date(wait.until)));
      }
      if (wait && wait.kind === 'retry') w.wait = null;

      const attempt = w.attempt;
      const ctx = this.context(run, w.outputs);
      const key = this.idempotencyKey(run.id, step.id, attempt);
      const started = clock.now();
      const t0 = process.hrtime.bigint();
      /** The effect's `running` attempt, once recorded. */
      const effectAttempt: { id?: string } = {};
      // With tracing on: a span per step, active while the step runs (an http step's request is its child).
      const stepSpan = startSpan(`workflow step ${step.id}`, { attributes: { 'v01t.workflow.step.id': step.id, 'v01t.workflow.step.type': step.type, 'v01t.workflow.step.attempt': attempt } });
      try {
        try {
          let output: unknown;
          let next = this.nextAfter(def, step);
          const ran = await runIn(stepSpan?.context, async (): Promise<'stop' | 'next'> => {
            switch (module.kind) {
              case 'pure': {
                // Pure steps hold no attempt open: over the workspace's share they come back later instead of queueing.
                const result = await module.execute({
                  run,
                  step,
                  context: ctx,
                  next,
                  signal: (name, data) => w.recordSignal(name, data, step.id),
                  ...this.expressions(run, step, ctx, { inProcessOnly: oneTransaction, admission: 'reject' }),
                });
                output = result.output;
                if (result.next !== undefined) next = result.next;
                break;
              }
              case 'wait': {
                const outcome = await this.waitStep(run, step, module, w, ctx);
                if (outcome.kind === 'waiting') return 'stop';
                if (outcome.kind === 'failed') {
                  await w.flush({ wait: null });
                  await this.finish(run, 'failed', null, outcome.error);
                  return 'stop';
                }
                output = outcome.output;
                w.wait = null;
                break;
              }
              case 'effect': {
                await w.flush({ status: 'running' });
                output = await this.sideEffect(run, step, module, attempt, key, ctx, effectAttempt);
                break;
              }
            }
            return 'next';
          });
          if (ran === 'stop') return;
          this.o.metrics.stepDuration.observe({ type: step.type }, Number(process.hrtime.bigint() - t0) / 1e9);
          w.recordOutput(step.id, output);
          if (module.kind === 'effect') {
            await transaction(async (tx) => {
              if (effectAttempt.id) await repo.finishAttempt(effectAttempt.id, 'succeeded', output, null, clock.now(), tx);
              if (!(await repo.updateRun(run.id, { outputs: w.outputs, currentStep: next, stepAttempt: 1, wait: null }, clock.now(), tx))) throw new RunGone();
            });
          } else {
            w.recordAttempt({ id: uuidV4(), stepId: step.id, stepType: step.type, attempt, status: 'succeeded', key, input: null, output, error: null, startedAt: started, finishedAt: clock.now() });
          }
          w.stepId = next;
          w.attempt = 1;
        } catch (thrown) {
          if (stepSpan && !(thrown instanceof RunGone) && !(thrown instanceof StepInProgress)) failSpan(stepSpan.span, thrown);
          if (thrown instanceof RunGone) throw thrown;
          // The batched path computes only what runs in process; the run goes the normal way instead.
          if (oneTransaction && thrown instanceof ExpressionError && thrown.code === 'expression_needs_isolation') throw new NotInOneTransaction();
          // The workspace's share of the expression workers is taken (its other runs' slow expressions):
          // the same attempt later, without using up an attempt and without holding this worker.
          const err = thrown instanceof ExpressionError && thrown.code === 'expression_busy' && !oneTransaction ? new StepInProgress(thrown.message, EXPRESSION_BUSY_RECHECK_MS) : thrown;
          if (err instanceof StepInProgress) {
            // Same attempt, same key, later: the attempt stays `running`.
            const until = new Date(clock.now().getTime() + err.afterMs);
            await transaction(async (tx) => {
              await w.flush({ wait: { kind: 'retry', stepId: step.id, until: until.toISOString() }, stepAttempt: attempt, currentStep: step.id }, tx);
              await this.o.wake(run.id, this.wakeAt(run, until), tx);
            });
            return;
          }
          this.o.metrics.stepDuration.observe({ type: step.type }, Number(process.hrtime.bigint() - t0) / 1e9);
          const message = err instanceof ExpressionError ? err.message : `steps.${step.id}: ${(err as Error).message}`;
          const retriable = !(err instanceof ExpressionError) && !(err instanceof StepError && !err.retriable);
          const maxAttempts = step.retry?.maxAttempts ?? 1;
          if (module.kind === 'effect') {
            if (effectAttempt.id) await repo.finishAttempt(effectAttempt.id, 'failed', null, message, clock.now());
          } else {
            w.recordAttempt({ id: uuidV4(), stepId: step.id, stepType: step.type, attempt, status: 'failed', key, input: null, output: null, error: message, startedAt: started, finishedAt: clock.now() });
          }
          if (retriable && attempt < maxAttempts) {
            const until = new Date(clock.now().getTime() + this.backoffMs(step, attempt));
            const retryWait: Wait = { kind: 'retry', stepId: step.id, until: until.toISOString() };
            await transaction(async (tx) => {
              await w.flush({ wait: retryWait, stepAttempt: attempt + 1, currentStep: step.id }, tx);
              await this.o.wake(run.id, this.wakeAt(run, until), tx);
            });
            return;
          }
          await w.flush({ currentStep: step.id, stepAttempt: attempt });
          return void (await this.finish(run, 'failed', null, message));
        }
      } finally {
        stepSpan?.span.end();
      }
    }
    // Nothing written yet: the whole run is handed back for writeFresh.
    if (oneTransaction) return w.plan();
    // Everything since the last write, the position and the outcome: one transaction.
    await transaction(async (tx) => {
      const { position, events } = await w.writePending({ currentStep: null }, tx, true);
      const done = await this.finish({ ...run, outputs: w.outputs }, 'succeeded', w.lastOutput, null, { tx, patch: position, events, releaseWaits: this.limited(def) });
      if (!done) throw new RunGone();
    });
    w.written();
  }

  /** A wait step: resumes the run's wait on this step, or begins one (written with the wake-up in one transaction). */
  private async waitStep(run: RunRow, step: StepDef, module: WaitStepModule, w: RunWrites, ctx: unknown): Promise<{ kind: 'waiting' } | { kind: 'done'; output: unknown } | { kind: 'failed'; error: string }> {
    const now = this.o.clock.now();
    const wait = w.wait;
    if (wait && wait.stepId === step.id) {
      const r = module.resume(wait, now, step);
      if ('waiting' in r) {
        if (r.wakeAt) await this.o.wake(run.id, this.wakeAt(run, r.wakeAt));
        return { kind: 'waiting' };
      }
      return 'error' in r ? { kind: 'failed', error: r.error } : { kind: 'done', output: r.output };
    }
    const begun = await module.begin({ run, step, context: ctx, now, ...this.expressions(run, step, ctx) });
    if ('output' in begun) return { kind: 'done', output: begun.output };
    const until = begun.until;
    const newWait: Wait = { kind: step.type, stepId: step.id, until: until.toISOString() };
    // The wait and its wake-up commit together: a wait holds no worker and survives restarts.
    await this.o.db.transaction(async (tx) => {
      await w.flush({ status: 'waiting', wait: newWait }, tx);
      await this.o.wake(run.id, this.wakeAt(run, until), tx);
    });
    return { kind: 'waiting' };
  }

  /**
   * A side effect: the attempt is recorded `running` with its key before acting (a takeover finds
   * it and repeats the same attempt with the same key), then performed under the step's timeout,
   * cut short by the run's deadline. `attemptRow` receives the attempt's id.
   */
  private async sideEffect(run: RunRow, step: StepDef, module: EffectStepModule, attempt: number, key: string, ctx: unknown, attemptRow: { id?: string }): Promise<unknown> {
    const { repo, clock } = this.o;
    const existing = await repo.attemptFor(run.id, step.id, attempt);
    if (existing) attemptRow.id = existing.id;
    if (existing?.status === 'succeeded') return existing.output;
    const exprs = this.expressions(run, step, ctx);
    const input = (await exprs.resolve(module.attemptInput ? module.attemptInput(step.with) : step.with, 'with')) as Record<string, unknown>;
    if (!existing) {
      attemptRow.id = uuidV4();
      await repo.insertAttempts(run.id, [{ id: attemptRow.id, stepId: step.id, stepType: step.type, attempt, status: 'running', key, input, output: null, error: null, startedAt: clock.now(), finishedAt: null }]);
    }
    const remaining = run.deadlineAt ? Date.parse(run.deadlineAt) - clock.now().getTime() : Infinity;
    const timeoutMs = Math.max(1, Math.min(step.timeoutMs ?? 30_000, remaining));
    const controller = new AbortController();
    const timer = setTimeout(() => controller.abort(), timeoutMs);
    try {
      const work = module.perform({
        run,
        step,
        input,
        key,
        context: ctx,
        signal: controller.signal,
        timeoutMs,
        http: this.o.http,
        integration: this.o.integration,
        module: (type) => this.steps.get(type),
        ...exprs,
      });
      return await Promise.race([
        work,
        new Promise<never>((_, reject) => controller.signal.addEventListener('abort', () => reject(new StepError(`timed out after ${timeoutMs} ms`)), { once: true })),
      ]);
    } finally {
      clearTimeout(timer);
    }
  }

  private outcomeEvent(run: RunRow, status: RunStatus, error: string | null, durationMs: number): NewEvent<EventName> {
    const base = { runId: run.id, workflowId: run.workflowId, workflowVersion: run.version, durationMs };
    return status === 'succeeded'
      ? { name: 'workflow.run.succeeded.v1', workspaceId: run.workspaceId, actorId: run.createdBy, payload: base }
      : { name: 'workflow.run.failed.v1', workspaceId: run.workspaceId, actorId: run.createdBy, payload: { ...base, status: status as 'failed' | 'timed_out' | 'cancelled', error: error ?? status } };
  }

  /**
   * Ends the run: status, output or error (with `patch`, more of the run written in the same
   * statement), the outgoing event and the metric, in one transaction. False when the run had
   * finished already (cancelled meanwhile: the cancellation stands and published its own event).
   */
  async finish(
    run: RunRow,
    status: RunStatus,
    output: unknown,
    error: string | null,
    opts: { tx?: Tx; patch?: Parameters<WorkflowRepository['updateRun']>[1]; events?: NewEvent<EventName>[]; releaseWaits?: boolean } = {},
  ): Promise<boolean> {
    const now = this.o.clock.now();
    const durationMs = run.startedAt ? now.getTime() - Date.parse(run.startedAt) : 0;
    const write = async (ex: Tx) => {
      if (!(await this.o.repo.updateRun(run.id, { ...opts.patch, status, output, error, finishedAt: now, wait: null }, now, ex))) return false;
      // A slot is free: runs of the workspace held back by a concurrency limit are looked at now.
      if (opts.releaseWaits !== false) for (const id of await this.o.repo.releaseConcurrencyWaits(run.workspaceId, now, ex)) await this.o.wake(id, null, ex);
      // The run's earlier events of this transaction (start, signals) first, the outcome last.
      await this.publishAll([...(opts.events ?? []), this.outcomeEvent(run, status, error, durationMs)], ex);
      return true;
    };
    const done = opts.tx ? await write(opts.tx) : await this.o.db.transaction(write);
    if (done) {
      this.o.metrics.runs.inc({ status });
      this.finished.add(run.id);
    }
    return done;
  }
}
