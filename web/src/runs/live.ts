/**
 * Live updates of a run page by polling with backoff (docs/adr/0035-live-runs-and-schema-forms.md).
 *
 * A run that just changed is polled again soon (`baseMs`); every poll that finds it unchanged waits
 * `factor` times longer, up to `maxMs`, so a run waiting hours for an approval costs one request
 * every `maxMs` instead of one a second. A change (a new attempt, a new status) resets the delay.
 * A final run is never polled again.
 */
export interface BackoffOptions {
  baseMs: number;
  factor: number;
  maxMs: number;
}

export const RUN_BACKOFF: BackoffOptions = { baseMs: 500, factor: 1.6, maxMs: 10_000 };

export const FINAL_STATUSES: ReadonlySet<string> = new Set(['succeeded', 'failed', 'cancelled', 'timed_out']);

export const isFinal = (status: string): boolean => FINAL_STATUSES.has(status);

/** The wait before the next poll after `unchangedPolls` polls in a row saw nothing new. */
export function backoffDelay(unchangedPolls: number, o: BackoffOptions = RUN_BACKOFF): number {
  const n = Math.max(0, Math.floor(unchangedPolls));
  return Math.min(o.maxMs, Math.round(o.baseMs * o.factor ** n));
}

/** What changes when a run makes progress: its status, step, wait and each attempt's state. */
export function runFingerprint(run: { status: string; currentStep: string | null; stepAttempt: number; wait: unknown; steps?: { id: string; status: string; finishedAt: string | null }[] }): string {
  return JSON.stringify([run.status, run.currentStep, run.stepAttempt, run.wait, (run.steps ?? []).map((s) => [s.id, s.status, s.finishedAt])]);
}

/**
 * The poll schedule of one run page: `next(run)` after each answer gives the delay before the next
 * poll, or false once the run is final (TanStack Query's refetchInterval takes either).
 */
export class PollSchedule {
  private last: string | null = null;
  private unchanged = 0;
  private seenAnswer: number | undefined;
  constructor(private readonly o: BackoffOptions = RUN_BACKOFF) {}

  /**
   * `answeredAt` (the query's dataUpdatedAt) tells answers apart: the query library asks for the
   * interval on every render too, and only a new answer may move the schedule.
   */
  next(run: Parameters<typeof runFingerprint>[0] | undefined, answeredAt?: number): number | false {
    if (!run) return backoffDelay(0, this.o);
    if (isFinal(run.status)) return false;
    if (answeredAt !== undefined && answeredAt === this.seenAnswer) return backoffDelay(this.unchanged, this.o);
    this.seenAnswer = answeredAt;
    const fp = runFingerprint(run);
    if (fp === this.last) this.unchanged += 1;
    else {
      this.last = fp;
      this.unchanged = 0;
    }
    return backoffDelay(this.unchanged, this.o);
  }

  /** After the user acted (approve, retry): expect a change soon. */
  reset(): void {
    this.unchanged = 0;
    this.last = null;
    this.seenAnswer = undefined;
  }
}

/** "1.2 s", "3 min 4 s": how long a step or run took (or has been taking). */
export function duration(fromIso: string | null, toIso: string | null, now: number = Date.now()): string {
  if (!fromIso) return '—';
  const ms = Math.max(0, (toIso ? Date.parse(toIso) : now) - Date.parse(fromIso));
  if (ms < 1000) return `${ms} ms`;
  if (ms < 60_000) return `${(ms / 1000).toFixed(1)} s`;
  const min = Math.floor(ms / 60_000);
  if (min < 60) return `${min} min ${Math.round((ms % 60_000) / 1000)} s`;
  return `${Math.floor(min / 60)} h ${min % 60} min`;
}
