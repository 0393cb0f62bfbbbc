/**
 * Callers in this process that wait on an answer right now (ADR 0090): a webhook with `respond:
 * "onCompletion"` while its run is started and read back. Background work that may wait a little
 * (the event relay's gather pause) waits longer while any is in flight, so that fewer threads and
 * database backends compete for the cores with the answers. Process-wide, as the cores are.
 */
let inFlight = 0;

export const foreground = {
  /** Runs `work` counted as a caller waiting on an answer until it settles. */
  async during<T>(work: () => Promise<T>): Promise<T> {
    inFlight++;
    try {
      return await work();
    } finally {
      inFlight--;
    }
  },
  /** Whether any caller waits on an answer now. */
  busy(): boolean {
    return inFlight > 0;
  },
};
