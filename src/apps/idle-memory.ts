import { performance, type EventLoopUtilization } from 'node:perf_hooks';
import v8 from 'node:v8';
import vm from 'node:vm';

/**
 * Gives memory back to the system once the process goes idle after work (its start, a burst of
 * load), as V8's own memory reducer would if it ran for a server (ADR 0078).
 *
 * A start grows V8's young generation to its maximum (two 32 MB semi-spaces, bin/v01t.js) and
 * leaves start-up garbage in the old one; V8 keeps both resident (~45 MB of an empty young
 * generation at idle) because nothing asks it to shrink them: its memory reducer did not run in
 * 30 s of idling. One memory-reducing collection (V8's "last resort" flavour: full, compacting,
 * shrinking the young generation to 1 MB) gives that back. It runs only when the main thread was
 * idle over the last interval (its CPU share below `idleBelow`, 25 %: the idle platform's pollers
 * take 5–18 %, a loaded one 50–100 %; ADR 0085), the heap has grown by `growthBytes`
 * since the last one, and a busy interval came between (the start counts as one): a busy process
 * never takes it, an idle one once after each busy period, not over and over while it idles (its
 * pollers' survivors regrow the heap by ~17 MB within 30 s and a poll now and then keeps the loop
 * busy for a second: with a 16 MB threshold that brought a collection every ~30 s; 32 MB does not). It pauses the event loop for the collection (240–370 ms measured at load
 * average 4–5, ~50 MB of heap); a request arriving then waits that long, once. While idle the young
 * generation is held at its size (ADR 0095: otherwise the pollers' survivors doubled it back to its
 * 32 MB semi-spaces within minutes); under load it grows back to its maximum as before.
 */
export interface IdleMemoryProbe {
  /**
   * How busy the main thread was since the previous call (0–1): its CPU time over the wall time
   * (the event loop's utilisation where Node cannot tell a thread's CPU time).
   */
  busy(): number;
  /** Bytes of V8 heap resident now. */
  heapResident(): number;
  /** A full, memory-reducing collection. */
  reduce(): void;
  /**
   * Holds the young generation at its size (true) or lets it grow again as V8 sees fit (false).
   * Optional: a probe without it leaves the young generation to V8.
   */
  holdYoung?(hold: boolean): void;
}

export interface IdleMemoryReduction {
  beforeBytes: number;
  afterBytes: number;
  ms: number;
}

export interface IdleMemoryReducerOptions {
  probe?: IdleMemoryProbe;
  intervalMs?: number;
  idleBelow?: number;
  growthBytes?: number;
  onReduce?: (r: IdleMemoryReduction) => void;
}

type GcFunction = (options?: { type?: 'major' | 'minor'; execution?: 'sync' | 'async'; flavor?: 'regular' | 'last-resort' }) => void;

/**
 * V8's `gc()`, taken from a fresh context so that the main context's global does not get one (as
 * `--expose-gc` would give every module). undefined where V8 refuses the flag at run time.
 */
function v8Gc(): GcFunction | undefined {
  try {
    v8.setFlagsFromString('--expose-gc');
    return vm.runInNewContext('gc') as GcFunction;
  } catch {
    return undefined;
  } finally {
    v8.setFlagsFromString('--no-expose-gc');
  }
}

/**
 * The main thread's CPU share since the previous call. Not the event loop's utilisation: that counts
 * wall time, and on a machine whose cores are shared the idle platform's pollers (~20 PGlite
 * statements a second, 5–10 % of a core) stretch to 10–35 % of the wall time while their thread
 * waits for a core, so an idle process at load average 5–6 never looked idle to a 10 % threshold
 * and kept its start's ~45 MB of young generation (ADR 0085). CPU time is what the thread did,
 * whatever the machine's load. undefined where Node has no per-thread CPU time (before 22.19/23.9).
 */
function threadCpuShare(): (() => number) | undefined {
  if (typeof process.threadCpuUsage !== 'function') return undefined;
  let lastCpu = process.threadCpuUsage();
  let lastWall = performance.now();
  return () => {
    const cpu = process.threadCpuUsage();
    const wall = performance.now();
    const share = (cpu.user - lastCpu.user + cpu.system - lastCpu.system) / 1000 / Math.max(1, wall - lastWall);
    lastCpu = cpu;
    lastWall = wall;
    return share;
  };
}

/** The event loop's utilisation since the previous call (where threadCpuShare is unavailable). */
function loopUtilisation(): () => number {
  let last: EventLoopUtilization = performance.eventLoopUtilization();
  return () => {
    const now = performance.eventLoopUtilization();
    const delta = performance.eventLoopUtilization(now, last);
    last = now;
    return delta.utilization;
  };
}

/** The probe of this process: the main thread's CPU share, V8's resident heap, a last-resort collection. */
export function processProbe(): IdleMemoryProbe {
  const busy = threadCpuShare() ?? loopUtilisation();
  let gc: GcFunction | undefined | null = null;
  return {
    busy,
    heapResident: () => v8.getHeapStatistics().total_physical_size,
    reduce() {
      if (gc === null) gc = v8Gc();
      gc?.({ type: 'major', execution: 'sync', flavor: 'last-resort' });
    },
    holdYoung: youngGenerationHold(),
  };
}

const GROWTH_FACTOR = '--semi-space-growth-factor';

/**
 * V8 grows the young generation (doubling its semi-spaces) each time the bytes surviving its
 * scavenges since the last growth exceed its capacity, and shrinks it only in a full collection.
 * An idle process's pollers keep a few hundred kB alive across each of their ~2 scavenges a
 * second, so after the idle reduction took it to 1 MB it doubled back towards its 32 MB maximum
 * within a minute (ADR 0095). V8 reads its growth factor when it grows: 1 holds the young generation
 * at its size, V8's default (2) lets it grow again. Left alone when the command line or NODE_OPTIONS
 * chose a factor. undefined if V8 refuses the flag.
 */
function youngGenerationHold(): ((hold: boolean) => void) | undefined {
  if (process.execArgv.some((a) => a.startsWith(GROWTH_FACTOR)) || (process.env.NODE_OPTIONS ?? '').includes(GROWTH_FACTOR)) return undefined;
  let held = false;
  return (hold) => {
    if (hold === held) return;
    v8.setFlagsFromString(`${GROWTH_FACTOR}=${hold ? 1 : 2}`);
    held = hold;
  };
}

export class IdleMemoryReducer {
  private readonly probe: IdleMemoryProbe;
  private readonly intervalMs: number;
  private readonly idleBelow: number;
  private readonly growthBytes: number;
  private readonly onReduce?: (r: IdleMemoryReduction) => void;
  /** The resident heap after the last reduction (0 before the first: a start is growth). */
  private baseline = 0;
  /** A busy interval since the last reduction (the start is one). */
  private sawBusy = true;
  private timer?: NodeJS.Timeout;

  constructor(opts: IdleMemoryReducerOptions = {}) {
    this.probe = opts.probe ?? processProbe();
    this.intervalMs = opts.intervalMs ?? 1000;
    this.idleBelow = opts.idleBelow ?? 0.25;
    this.growthBytes = opts.growthBytes ?? 32 * 1024 * 1024;
    this.onReduce = opts.onReduce;
  }

  /**
   * One look. A busy interval lets the young generation grow; an idle one holds it at its size, and
   * reduces if it follows a busy one and the heap grew by `growthBytes` since the last reduction.
   */
  check(): IdleMemoryReduction | undefined {
    if (this.probe.busy() >= this.idleBelow) {
      this.sawBusy = true;
      this.probe.holdYoung?.(false);
      return undefined;
    }
    this.probe.holdYoung?.(true);
    if (!this.sawBusy) return undefined;
    const beforeBytes = this.probe.heapResident();
    if (beforeBytes - this.baseline < this.growthBytes) return undefined;
    const started = performance.now();
    this.probe.reduce();
    const ms = performance.now() - started;
    const afterBytes = this.probe.heapResident();
    this.baseline = afterBytes;
    this.sawBusy = false;
    // The collection itself kept the loop busy: not counted as the next interval's load.
    this.probe.busy();
    const reduction = { beforeBytes, afterBytes, ms };
    this.onReduce?.(reduction);
    return reduction;
  }

  start(): void {
    if (this.timer) return;
    this.probe.busy(); // the interval starts now
    this.timer = setInterval(() => this.check(), this.intervalMs);
    this.timer.unref();
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
  }
}
