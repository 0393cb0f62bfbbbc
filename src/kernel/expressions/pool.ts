import { spawn, type ChildProcess } from 'node:child_process';
import { createRequire } from 'node:module';
import { CHILD_PROGRAM, SUPERVISOR_PROGRAM } from './child.js';
import { ExpressionLimitError } from './errors.js';

export interface PoolOptions {
  /** Worker processes at most (spawned on demand, replaced after a kill or crash). */
  size: number;
  /** Heap cap of each worker process (V8 old generation), in MB. */
  memoryMb: number;
  /** Tasks of one key (a workspace) queued or running at once when the caller asks to be refused rather than wait. */
  maxQueuedPerKey: number;
}

export interface PoolTask {
  /** Fair-share key (the workspace): the queue serves keys round robin. */
  key: string;
  source: string;
  /** The input as JSON text (undefined: no input). */
  context: string | undefined;
  /** Running time allowed once a worker has it. */
  limitMs: number;
  /** Epoch ms by which it must have ended, queue wait included (the caller's step or run deadline, or a bound on waiting). */
  deadline: number;
  maxDepth: number;
  maxResultBytes: number;
  /** 'reject': refuse with expression_busy when the key has maxQueuedPerKey tasks already. */
  admission: 'wait' | 'reject';
}

interface Job extends PoolTask {
  id?: number;
  /** When a worker took it (charged to its key's usage when it ends). */
  startedAt?: number;
  resolve: (json: string) => void;
  reject: (err: Error) => void;
}

interface Supervisor {
  proc: ChildProcess;
  gone: boolean;
}

interface Worker {
  wid: number;
  /** Started and loaded: only then is it handed a task (its start-up does not count against a time limit). */
  ready: boolean;
  sup: Supervisor;
  job: Job | null;
  timer: NodeJS.Timeout | null;
  /** Set when the pool killed it (timeout) or it exited: never handed another job. */
  gone: boolean;
}

/** A worker's answer (child.ts). */
interface Answer {
  id: number;
  ok: boolean;
  json?: string;
  code?: string;
  message?: string;
}

let jsonataEntry: string | undefined;
function jsonataPath(): string {
  jsonataEntry ??= createRequire(import.meta.url).resolve('jsonata');
  return jsonataEntry;
}

/**
 * A small pool of expression worker processes (started and killed through one supervisor
 * process, see SUPERVISOR_PROGRAM) with a fair queue: tasks wait per key and the key that has
 * used the least worker time goes next, so one workspace with a thousand slow expressions delays another's next
 * expression by at most one running task, not by its whole backlog. A task that runs past its
 * deadline gets its worker killed (SIGKILL) and replaced; a worker that dies (out of memory) fails
 * its task with `expression_too_large`. Idle workers do not keep the process alive.
 */
export class ExpressionPool {
  private readonly workers: Worker[] = [];
  private readonly queues = new Map<string, Job[]>();
  /**
   * Worker time each key with work in the pool has used (ms, charged when a task ends); the key
   * that used the least goes next, so a workspace of slow expressions does not get more worker
   * time than one of quick ones (a key arriving starts at the least usage present, not at zero).
   */
  private readonly usage = new Map<string, number>();
  /** Tasks running per key (the tie-break: fewer running goes first). */
  private readonly running = new Map<string, number>();
  /** Queued + running tasks per key. */
  private readonly load = new Map<string, number>();
  private nextId = 1;
  private nextWorker = 1;
  private inFlight = 0;
  private sup: Supervisor | null = null;
  private closed = false;

  constructor(private readonly o: PoolOptions) {}

  run(task: PoolTask): Promise<string> {
    if (this.closed) return Promise.reject(new ExpressionLimitError('expression_failed', 'the expression workers are shut down'));
    const load = this.load.get(task.key) ?? 0;
    if (task.admission === 'reject' && load >= this.o.maxQueuedPerKey) {
      return Promise.reject(new ExpressionLimitError('expression_busy', `this workspace already has ${load} expressions waiting for an isolated worker`));
    }
    return new Promise<string>((resolve, reject) => {
      const job: Job = { ...task, resolve, reject };
      this.load.set(task.key, load + 1);
      if (!this.usage.has(task.key)) this.usage.set(task.key, this.usage.size ? Math.min(...this.usage.values()) : 0);
      let q = this.queues.get(task.key);
      if (!q) this.queues.set(task.key, (q = []));
      q.push(job);
      this.dispatch();
    });
  }

  /** Workers alive now (for tests and metrics). */
  size(): number {
    return this.workers.length;
  }

  async close(): Promise<void> {
    this.closed = true;
    for (const w of this.workers.splice(0)) {
      const job = w.job;
      this.release(w);
      this.kill(w);
      job?.reject(new ExpressionLimitError('expression_failed', 'the expression workers are shut down'));
    }
    if (this.sup && !this.sup.gone) this.sup.proc.kill('SIGKILL');
    this.sup = null;
    for (const q of this.queues.values()) for (const j of q.splice(0)) j.reject(new ExpressionLimitError('expression_failed', 'the expression workers are shut down'));
    this.queues.clear();
    this.usage.clear();
    this.running.clear();
    this.load.clear();
  }

  private done(job: Job): void {
    if (job.startedAt !== undefined) {
      this.usage.set(job.key, (this.usage.get(job.key) ?? 0) + (Date.now() - job.startedAt));
      const r = (this.running.get(job.key) ?? 1) - 1;
      if (r > 0) this.running.set(job.key, r);
      else this.running.delete(job.key);
    }
    const n = (this.load.get(job.key) ?? 1) - 1;
    if (n <= 0) {
      this.load.delete(job.key);
      this.usage.delete(job.key);
    } else this.load.set(job.key, n);
  }

  private nextJob(): Job | null {
    while (this.queues.size) {
      let key = '';
      let best = Infinity;
      let bestRunning = Infinity;
      for (const k of this.queues.keys()) {
        const used = this.usage.get(k) ?? 0;
        const running = this.running.get(k) ?? 0;
        if (used < best || (used === best && running < bestRunning)) {
          best = used;
          bestRunning = running;
          key = k;
        }
      }
      const q = this.queues.get(key)!;
      const job = q.shift()!;
      if (!q.length) this.queues.delete(key);
      if (Date.now() >= job.deadline) {
        this.done(job);
        job.reject(new ExpressionLimitError('expression_timeout', 'no expression worker became free before the deadline'));
        continue;
      }
      return job;
    }
    return null;
  }

  private dispatch(): void {
    while (this.queues.size) {
      const w = this.workers.find((x) => x.ready && !x.job && !x.gone);
      if (!w) {
        // Start one more unless enough are starting for the tasks waiting; ready() dispatches again.
        let starting = this.workers.filter((x) => !x.ready && !x.gone).length;
        const waiting = [...this.queues.values()].reduce((n, q) => n + q.length, 0);
        while (this.workers.length < this.o.size && starting < waiting) {
          this.spawn();
          starting++;
        }
        return;
      }
      const job = this.nextJob();
      if (!job) return;
      this.assign(w, job);
    }
  }

  private supervisor(): Supervisor {
    if (this.sup && !this.sup.gone) return this.sup;
    const proc = spawn(
      process.execPath,
      ['--max-old-space-size=32', '-e', SUPERVISOR_PROGRAM, JSON.stringify({ execPath: process.execPath, args: [`--max-old-space-size=${this.o.memoryMb}`, '--max-semi-space-size=4', '-e', CHILD_PROGRAM, jsonataPath()] })],
      // No environment: neither it nor the workers need anything of it, and they must not hold the platform's secrets.
      { env: {}, stdio: ['ignore', 'ignore', 'ignore', 'ipc'], serialization: 'json' },
    );
    const sup: Supervisor = { proc, gone: false };
    proc.unref();
    (proc.channel as { unref?: () => void } | undefined)?.unref?.();
    proc.on('message', (m: { op: string; wid: number; r?: Answer; why?: string }) => {
      const w = this.workers.find((x) => x.wid === m.wid);
      if (!w) return;
      if (m.op === 'result' && (m.r as { ready?: boolean } | undefined)?.ready) {
        w.ready = true;
        this.dispatch();
      } else if (m.op === 'result' && m.r) this.answered(w, m.r);
      else if (m.op === 'exit') this.lost(w, m.why ?? 'exited');
    });
    const down = () => {
      if (sup.gone) return;
      sup.gone = true;
      for (const w of [...this.workers]) if (w.sup === sup) this.lost(w, 'lost its supervisor');
    };
    proc.on('exit', down);
    proc.on('error', down);
    this.sup = sup;
    return sup;
  }

  private spawn(): Worker {
    const sup = this.supervisor();
    const w: Worker = { wid: this.nextWorker++, ready: false, sup, job: null, timer: null, gone: false };
    this.workers.push(w);
    sup.proc.send({ op: 'spawn', wid: w.wid }, (err) => {
      if (err) this.lost(w, `could not be started: ${err.message}`);
    });
    return w;
  }

  private answered(w: Worker, m: Answer): void {
    const job = w.job;
    if (!job || job.id !== m.id) return;
    this.release(w);
    this.done(job);
    if (m.ok) job.resolve(m.json ?? 'null');
    else job.reject(new ExpressionLimitError((m.code as ExpressionLimitError['code']) ?? 'expression_failed', m.message ?? 'the expression failed'));
    this.dispatch();
  }

  /** The worker exited (out of memory, killed, or its supervisor died): its job, if any, fails. */
  private lost(w: Worker, why: string): void {
    if (w.gone) return;
    w.gone = true;
    this.remove(w);
    const job = w.job;
    if (job) {
      this.release(w);
      this.done(job);
      job.reject(
        w.sup.gone
          ? new ExpressionLimitError('expression_failed', `the expression's worker ${why}`)
          : new ExpressionLimitError('expression_too_large', `the expression's worker ${why} (memory limit ${this.o.memoryMb} MB)`),
      );
    }
    this.dispatch();
  }

  private assign(w: Worker, job: Job): void {
    job.id = this.nextId++;
    job.startedAt = Date.now();
    this.running.set(job.key, (this.running.get(job.key) ?? 0) + 1);
    w.job = job;
    this.outstanding(+1);
    w.timer = setTimeout(() => {
      if (w.job !== job) return;
      w.gone = true;
      this.release(w);
      this.remove(w);
      this.kill(w);
      this.done(job);
      job.reject(timeoutError(job));
      this.dispatch();
    }, Math.max(1, Math.min(job.limitMs, job.deadline - Date.now())));
    w.sup.proc.send({ op: 'task', wid: w.wid, task: { id: job.id, source: job.source, context: job.context, maxDepth: job.maxDepth, maxResultBytes: job.maxResultBytes } }, (err) => {
      if (err) this.lost(w, `could not be reached: ${err.message}`);
    });
  }

  /** The supervisor's channel keeps this process alive only while an evaluation is out. */
  private outstanding(delta: number): void {
    this.inFlight += delta;
    const channel = this.sup?.proc.channel as { ref?: () => void; unref?: () => void } | undefined;
    if (this.inFlight > 0) channel?.ref?.();
    else channel?.unref?.();
  }

  private release(w: Worker): void {
    if (w.timer) clearTimeout(w.timer);
    w.timer = null;
    if (w.job) this.outstanding(-1);
    w.job = null;
  }

  private remove(w: Worker): void {
    const i = this.workers.indexOf(w);
    if (i >= 0) this.workers.splice(i, 1);
  }

  private kill(w: Worker): void {
    w.gone = true;
    if (!w.sup.gone) w.sup.proc.send({ op: 'kill', wid: w.wid }, () => {});
  }
}

function timeoutError(job: PoolTask): ExpressionLimitError {
  return new ExpressionLimitError('expression_timeout', `the expression ran longer than ${job.limitMs} ms`);
}
