import type { Tx } from '../../kernel/db/transaction.js';
import type { EventName } from '../../kernel/events/catalog.js';
import type { NewEvent } from '../../kernel/events/envelope.js';
import type { NewAttempt, RunRow, RunStatus, Wait, WorkflowRepository } from './repository.js';

/** A start computed without a write (no concurrency limit applies), written with the run's first write. */
export interface DeferredStart {
  startedAt: Date;
  deadlineAt: Date | null;
  publishStarted: boolean;
}

/** The run not written yet: the pure steps since the last write, the signals they emitted, where the run stands. */
export interface RunPosition {
  status?: RunStatus;
  wait?: Wait | null;
  currentStep?: string | null;
  stepAttempt?: number;
}

/** A fresh run of pure steps computed from its input to its end, not written yet (written by Executor.writeFresh). */
export interface FreshPlan {
  run: RunRow;
  outputs: Record<string, unknown>;
  output: unknown;
  stepAttempt: number;
  attempts: NewAttempt[];
  /** The started event and the emitted signals, in order (the outcome is added when written). */
  events: NewEvent<EventName>[];
  startedAt: Date;
  deadlineAt: Date | null;
}

/** The one-transaction path met something it does not handle (or lost the race for the run): take the normal path. */
export class NotInOneTransaction extends Error {}

/** The run was finished elsewhere (cancelled through the API) while this worker advanced it. */
export class RunGone extends Error {}

export interface RunWritesDeps {
  repo: WorkflowRepository;
  /** Runs `fn` in a new transaction. */
  transaction<T>(fn: (tx: Tx) => Promise<T>): Promise<T>;
  now(): Date;
  /** Publishes in order (one outbox INSERT where the backbone can). */
  publishAll(events: NewEvent<EventName>[], ex: Tx): Promise<void>;
  /** Counted once the deferred start is written. */
  countStarted(): void;
}

/**
 * Everything one advance of a run has computed but not written: the deferred start, the attempts
 * of pure steps, the signals they emitted, the outputs and the run's position (current step,
 * attempt, wait). Pure steps are only recorded here; the next side effect, wait or end writes
 * them together with the position in one transaction (`flush`, or `final` for the outcome). The
 * executor reads and moves the position (`stepId`, `attempt`, `wait`) as it steps through.
 */
export class RunWrites {
  readonly outputs: Record<string, unknown>;
  /** The step to run next (null: the run is at its end). */
  stepId: string | null;
  attempt: number;
  /** The wait the run is in (from the claim), or null. */
  wait: Wait | null;
  /** The output of the last step that finished. */
  lastOutput: unknown = null;
  private attempts: NewAttempt[] = [];
  private signals: { signal: string; data: unknown; stepId: string }[] = [];

  constructor(
    private readonly deps: RunWritesDeps,
    readonly run: RunRow,
    private deferredStart: DeferredStart | null,
    /** The batched fresh-run path (ADR 0311): only the final write may happen, as a plan. */
    readonly oneTransaction: boolean,
  ) {
    this.outputs = { ...run.outputs };
    this.stepId = run.currentStep;
    this.attempt = Math.max(1, run.stepAttempt);
    this.wait = run.wait;
  }

  /** An attempt of a pure step (written with the next write). */
  recordAttempt(a: NewAttempt): void {
    this.attempts.push(a);
  }

  /** A `workflow.signal.v1` of an emit step (published with the next write). */
  recordSignal(signal: string, data: unknown, stepId: string): void {
    this.signals.push({ signal, data, stepId });
  }

  /** A step finished with `output`. */
  recordOutput(stepId: string, output: unknown): void {
    this.outputs[stepId] = output;
    this.lastOutput = output;
  }

  /** The started event (when the start is deferred) and the signals, in order. */
  private events(): NewEvent<EventName>[] {
    const { run } = this;
    const events: NewEvent<EventName>[] = this.deferredStart?.publishStarted ? [startedEvent(run)] : [];
    for (const s of this.signals) {
      events.push({ name: 'workflow.signal.v1', workspaceId: run.workspaceId, payload: { signal: s.signal, data: s.data, runId: run.id, workflowId: run.workflowId, stepId: s.stepId } });
    }
    return events;
  }

  /**
   * Writes the attempts (and, unless `final`, the events) inside `ex`; returns the run's position to
   * write with them, and the events for the outcome's write to publish (final).
   */
  async writePending(extra: RunPosition, ex: Tx, final = false) {
    // In one transaction only the final write happens: anything earlier means a failure path.
    if (this.oneTransaction && !final) throw new NotInOneTransaction();
    const events = this.events();
    await this.deps.repo.insertAttempts(this.run.id, this.attempts, ex);
    if (!final) await this.deps.publishAll(events, ex);
    const d = this.deferredStart;
    return {
      events,
      position: {
        outputs: this.outputs,
        currentStep: extra.currentStep === undefined ? this.stepId : extra.currentStep,
        stepAttempt: extra.stepAttempt ?? this.attempt,
        wait: extra.wait === undefined ? this.wait : extra.wait,
        ...(d ? { status: 'running' as RunStatus, startedAt: d.startedAt, deadlineAt: d.deadlineAt } : {}),
        ...(extra.status ? { status: extra.status } : {}),
      },
    };
  }

  /** After the transaction of writePending committed. */
  written(): void {
    if (this.deferredStart?.publishStarted) this.deps.countStarted();
    this.attempts = [];
    this.signals = [];
    this.deferredStart = null;
  }

  /** Writes what was computed so far with the run's position (in `tx`, or a transaction of its own); RunGone when the run had finished meanwhile. */
  async flush(extra: RunPosition = {}, tx?: Tx): Promise<void> {
    const write = async (ex: Tx) => {
      if (!(await this.deps.repo.updateRun(this.run.id, (await this.writePending(extra, ex)).position, this.deps.now(), ex))) throw new RunGone();
    };
    if (tx) await write(tx);
    else await this.deps.transaction(write);
    this.written();
  }

  /** The whole run as computed in memory, for the batched write (one transaction path). */
  plan(): FreshPlan {
    if (!this.deferredStart) throw new NotInOneTransaction();
    return {
      run: this.run,
      outputs: this.outputs,
      output: this.lastOutput,
      stepAttempt: this.attempt,
      attempts: this.attempts,
      events: this.events(),
      startedAt: this.deferredStart.startedAt,
      deadlineAt: this.deferredStart.deadlineAt,
    };
  }
}

export function startedEvent(run: RunRow): NewEvent<EventName> {
  return { name: 'workflow.run.started.v1', workspaceId: run.workspaceId, actorId: run.createdBy, payload: { runId: run.id, workflowId: run.workflowId, workflowVersion: run.version, trigger: run.trigger } };
}
