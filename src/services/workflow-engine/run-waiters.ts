import { TERMINAL, type RunRow } from './repository.js';

/** The first look again after this long, doubling up to POLL_MAX_MS (a run finished by another process). */
const POLL_FIRST_MS = 20;
const POLL_MAX_MS = 250;

/**
 * Waits for runs to finish, for a webhook that answers with the run's result (`respond:
 * onCompletion`). A run this process advances wakes its waiters as soon as the advance committed
 * (Executor.onSettled); a run another process (replica) advances is seen by reading it again, at
 * growing intervals. Either way the answer is the run as stored, never a value passed in memory.
 */
export class RunWaiters {
  private readonly waiting = new Map<string, Set<() => void>>();

  constructor(private readonly read: (runId: string) => Promise<RunRow | null>) {}

  /** Wakes the waiters of these runs (call after the transaction that advanced them committed). */
  settled(runIds: Iterable<string>): void {
    for (const id of runIds) for (const wake of this.waiting.get(id) ?? []) wake();
  }

  /** The run once it is in a terminal status, or null when `timeoutMs` passes first. */
  async wait(runId: string, timeoutMs: number): Promise<RunRow | null> {
    const deadline = Date.now() + timeoutMs;
    let wake: () => void = () => {};
    let poll = POLL_FIRST_MS;
    const set = this.waiting.get(runId) ?? new Set<() => void>();
    this.waiting.set(runId, set);
    const listener = () => wake();
    set.add(listener);
    try {
      for (;;) {
        const run = await this.read(runId);
        if (run && TERMINAL.has(run.status)) return run;
        const left = deadline - Date.now();
        if (left <= 0) return null;
        let timer: NodeJS.Timeout | undefined;
        await new Promise<void>((resolve) => {
          wake = resolve;
          timer = setTimeout(resolve, Math.min(poll, left));
        });
        clearTimeout(timer);
        poll = Math.min(poll * 2, POLL_MAX_MS);
      }
    } finally {
      set.delete(listener);
      if (set.size === 0) this.waiting.delete(runId);
    }
  }
}
