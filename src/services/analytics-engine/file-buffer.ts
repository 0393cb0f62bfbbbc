import fs from 'node:fs';
import fsp, { type FileHandle } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { randomUUID } from 'node:crypto';
import { AppError } from '../../kernel/errors.js';
import type { Logger } from '../../kernel/telemetry/logger.js';
import { ensurePrivateDirAsync, PRIVATE_FILE_MODE } from '../../kernel/private-fs.js';
import type { BufferedEvent, ClaimedRow, IngestBuffer } from './ingest-buffer.js';
// Registers the analytics-engine's codes (analytics_buffer_unavailable) wherever this buffer is used alone.
import './errors.js';

const DAY = 86_400_000;
/** A segment is sealed (handed to the flusher) at this size even if the flusher is slow to ask. */
const SEGMENT_MAX_BYTES = 64 * 1024 * 1024;
/** /ready fails below this much free space on the buffer's disk: the next group commit may not fit. */
const READY_MIN_FREE_BYTES = 1024 * 1024;
/** Events of unflushed segments kept in memory as well as on disk, across all segments. */
const MAX_IN_MEMORY_EVENTS = 200_000;
const SEGMENT_FILE = /^(\d{12})-([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})\.seg$/;

/** One line of a segment: the accepted events of one request. */
interface SegmentRecord {
  w: string;
  r: number;
  e: BufferedEvent[];
}

interface Segment {
  seq: number;
  /** Also the batch id its rows carry in the store. */
  id: string;
  file: string;
  events: number;
  bytes: number;
  handle?: FileHandle;
  /** The segment's content, kept while it is small enough (spares the flusher a read and parse). */
  records?: SegmentRecord[];
  claimedAt?: number;
  /** Found on disk at start: part of it may already be in the store until recovery says otherwise. */
  suspect?: boolean;
}

/**
 * messageIds seen within the dedupe window, per workspace, with the day they were received (so
 * the window slides by dropping old days). Rebuilt at start from the segments on disk and the
 * store's recent rows: a cache of durable facts, never the only copy.
 */
export class RecentMessageIds {
  private readonly byWorkspace = new Map<string, Map<string, number>>();

  has(workspaceId: string, messageId: string): boolean {
    return this.byWorkspace.get(workspaceId)?.has(messageId) ?? false;
  }

  add(workspaceId: string, messageId: string, receivedAtMs: number): void {
    let ids = this.byWorkspace.get(workspaceId);
    if (!ids) this.byWorkspace.set(workspaceId, (ids = new Map()));
    ids.set(messageId, Math.floor(receivedAtMs / DAY));
  }

  delete(workspaceId: string, messageId: string): void {
    this.byWorkspace.get(workspaceId)?.delete(messageId);
  }

  /** Forgets ids received on days that ended at or before `beforeMs`; returns how many. */
  purge(beforeMs: number): number {
    let n = 0;
    for (const [ws, ids] of this.byWorkspace) {
      for (const [id, day] of ids) {
        if ((day + 1) * DAY <= beforeMs) {
          ids.delete(id);
          n++;
        }
      }
      if (ids.size === 0) this.byWorkspace.delete(ws);
    }
    return n;
  }

  get size(): number {
    let n = 0;
    for (const ids of this.byWorkspace.values()) n += ids.size;
    return n;
  }
}

/** Parses a segment's text; a last line without its newline is a write that was never acknowledged. */
export function parseSegment(text: string): { records: SegmentRecord[]; corrupt: number; tornTail: boolean } {
  const records: SegmentRecord[] = [];
  let corrupt = 0;
  let start = 0;
  for (;;) {
    const nl = text.indexOf('\n', start);
    if (nl < 0) break;
    const line = text.slice(start, nl);
    start = nl + 1;
    if (!line) continue;
    try {
      const r = JSON.parse(line) as SegmentRecord;
      if (typeof r.w === 'string' && typeof r.r === 'number' && Array.isArray(r.e)) records.push(r);
      else corrupt++;
    } catch {
      corrupt++;
    }
  }
  return { records, corrupt, tornTail: start < text.length };
}

interface QueuedWrite {
  line: string;
  record: SegmentRecord;
  resolve: () => void;
  reject: (err: unknown) => void;
}

export interface FileBufferOptions {
  /** The segment folder; undefined = a temporary folder removed on close (ephemeral mode). */
  dir?: string;
  logger: Logger;
  now: () => number;
  /** A segment is sealed once it holds this many events (the flusher's batch size). */
  segmentEvents: number;
  /** The store's messageIds received since a time: rebuilds the dedupe window at start. */
  storedMessageIds: (sinceMs: number) => Promise<{ workspaceId: string; messageId: string; receivedAt: number }[]>;
  dedupeWindowMs: number;
}

/**
 * The embedded ingestion buffer: append-only segment files in the data folder. A request's
 * accepted events become one JSON line; concurrent requests share one write + fdatasync (group
 * commit) and are answered only after it. The flusher takes sealed segments one at a time; a
 * segment is deleted only after its rows are in the store, tagged with the segment id, so a
 * crash at any point is recovered exactly once (see Flusher.recover). One process only: the
 * distributed shape uses the database buffer.
 */
export class FileBuffer implements IngestBuffer {
  readonly kind = 'file' as const;
  private readonly sealed: Segment[] = [];
  private current: Segment | undefined;
  private nextSeq = 1;
  private pending = 0;
  private inMemory = 0;
  private queue: QueuedWrite[] = [];
  private writeScheduled = false;
  private tail: Promise<unknown> = Promise.resolve();
  private broken: Error | undefined;
  private closed = false;

  private constructor(
    private readonly dir: string,
    private readonly removeOnClose: boolean,
    private readonly opts: FileBufferOptions,
    readonly recent: RecentMessageIds,
  ) {}

  static async open(opts: FileBufferOptions): Promise<FileBuffer> {
    const dir = opts.dir ?? fs.mkdtempSync(path.join(os.tmpdir(), 'v01t-analytics-buffer-'));
    await ensurePrivateDirAsync(dir);
    const buffer = new FileBuffer(dir, !opts.dir, opts, new RecentMessageIds());
    await buffer.load();
    return buffer;
  }

  /** Segments left by an earlier process are replayed: counted, their messageIds remembered, and held for recovery. */
  private async load(): Promise<void> {
    const files = (await fsp.readdir(this.dir)).filter((f) => SEGMENT_FILE.test(f)).sort();
    for (const name of files) {
      const [, seq, id] = SEGMENT_FILE.exec(name)!;
      const file = path.join(this.dir, name);
      const { records, corrupt, tornTail } = parseSegment(await fsp.readFile(file, 'utf8'));
      if (corrupt || tornTail) this.opts.logger.warn({ file, corrupt, tornTail }, 'analytics buffer segment had unreadable lines (writes that were never acknowledged); they are skipped');
      let events = 0;
      for (const r of records) {
        for (const e of r.e) this.recent.add(r.w, e.messageId, r.r);
        events += r.e.length;
      }
      this.nextSeq = Math.max(this.nextSeq, Number(seq) + 1);
      if (events === 0) {
        await fsp.rm(file, { force: true });
        continue;
      }
      this.sealed.push({ seq: Number(seq), id: id!, file, events, bytes: 0, suspect: true });
      this.pending += events;
    }
  }

  private storedIds?: Promise<void>;
  /**
   * The messageIds already in the store (within the dedupe window), read once, by the first append:
   * the store (DuckDB) opens on first use, not at start (ADR 0065). Appends wait for it, so no event
   * is accepted without the duplicate check; a failed read is tried again by the next append.
   */
  private loadStoredIds(): Promise<void> {
    this.storedIds ??= (async () => {
      const since = this.opts.now() - this.opts.dedupeWindowMs;
      for (const r of await this.opts.storedMessageIds(since)) this.recent.add(r.workspaceId, r.messageId, r.receivedAt);
    })().catch((err: unknown) => {
      this.storedIds = undefined;
      this.opts.logger.error({ err }, 'analytics: the stored messageIds cannot be read for the duplicate check');
      throw new AppError('analytics_buffer_unavailable', 'The ingestion buffer cannot check for duplicates until the analytics store opens; retry later', { retryAfterSeconds: 30 });
    });
    return this.storedIds;
  }

  /** Runs fn after every earlier exclusive operation (writes, sealing, rewriting). */
  private exclusive<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.tail.then(fn, fn);
    this.tail = run.catch(() => undefined);
    return run;
  }

  async append(workspaceId: string, receivedAt: Date, events: BufferedEvent[]): Promise<Set<string>> {
    if (this.broken) throw new AppError('analytics_buffer_unavailable', 'The ingestion buffer cannot store events until it is repaired; retry later', { retryAfterSeconds: 30 });
    if (this.closed) throw new Error('the analytics buffer is closed');
    await this.loadStoredIds();
    const at = receivedAt.getTime();
    const accepted: BufferedEvent[] = [];
    for (const e of events) {
      if (this.recent.has(workspaceId, e.messageId)) continue;
      // Marked at once, so a concurrent request (or a repeat in this batch) with the same id is a duplicate.
      this.recent.add(workspaceId, e.messageId, at);
      accepted.push(e);
    }
    if (accepted.length === 0) return new Set();
    const record: SegmentRecord = { w: workspaceId, r: at, e: accepted };
    const line = `${JSON.stringify(record)}\n`;
    try {
      await new Promise<void>((resolve, reject) => {
        this.queue.push({ line, record, resolve, reject });
        if (!this.writeScheduled) {
          this.writeScheduled = true;
          void this.exclusive(() => this.writeQueued());
        }
      });
    } catch (err) {
      for (const e of accepted) this.recent.delete(workspaceId, e.messageId);
      throw err;
    }
    return new Set(accepted.map((e) => e.messageId));
  }

  /** One write and one fdatasync for everything queued (group commit). */
  private async writeQueued(): Promise<void> {
    this.writeScheduled = false;
    const group = this.queue.splice(0);
    if (group.length === 0) return;
    try {
      if (this.broken) throw this.broken;
      const seg = this.current ?? (this.current = await this.newSegment());
      const data = Buffer.from(group.map((g) => g.line).join(''), 'utf8');
      const offset = seg.bytes;
      try {
        let written = 0;
        while (written < data.length) written += (await seg.handle!.write(data, written, data.length - written)).bytesWritten;
        await seg.handle!.datasync();
      } catch (err) {
        // Take the unacknowledged bytes back out, so a retry of these events is not a duplicate on replay.
        try {
          await seg.handle!.truncate(offset);
          await seg.handle!.datasync();
        } catch (truncateErr) {
          this.broken = new Error(`analytics buffer segment ${seg.file} is in an unknown state: ${(truncateErr as Error).message}`);
        }
        throw err;
      }
      const n = group.reduce((s, g) => s + g.record.e.length, 0);
      seg.bytes += data.length;
      seg.events += n;
      this.pending += n;
      // The flusher takes a segment this process wrote from memory, up to a bound; else it reads the file.
      if (seg.records && this.inMemory + n <= MAX_IN_MEMORY_EVENTS) {
        for (const g of group) seg.records.push(g.record);
        this.inMemory += n;
      } else if (seg.records) {
        this.inMemory -= seg.events - n;
        seg.records = undefined;
      }
      for (const g of group) g.resolve();
      if (seg.events >= this.opts.segmentEvents || seg.bytes >= SEGMENT_MAX_BYTES) await this.sealCurrent();
    } catch (err) {
      // A full disk (ENOSPC, EDQUOT), an I/O error or a broken segment is an outage to retry, not a
      // bug: 503 with Retry-After, and the next write tries again once space is back (no restart).
      this.opts.logger.warn({ err, dir: this.dir }, 'analytics buffer write failed; the requests were refused with 503');
      const refusal = new AppError('analytics_buffer_unavailable', `The ingestion buffer could not store the events (${(err as NodeJS.ErrnoException).code ?? 'write failed'}); nothing was kept, retry later`, { retryAfterSeconds: 5 });
      for (const g of group) g.reject(refusal);
    }
  }

  /** /ready: fails while the buffer is broken or its disk has less than READY_MIN_FREE_BYTES free. */
  async readiness(): Promise<void> {
    if (this.broken) throw this.broken;
    const { bavail, bsize } = await fsp.statfs(this.dir);
    const free = Number(bavail) * Number(bsize);
    if (free < READY_MIN_FREE_BYTES) throw new Error(`the buffer disk is full (${free} bytes free in ${this.dir})`);
  }

  private async newSegment(): Promise<Segment> {
    const seq = this.nextSeq++;
    const id = randomUUID();
    const file = path.join(this.dir, `${String(seq).padStart(12, '0')}-${id}.seg`);
    const handle = await fsp.open(file, 'a', PRIVATE_FILE_MODE);
    await syncDir(this.dir);
    return { seq, id, file, events: 0, bytes: 0, handle, records: [] };
  }

  private async sealCurrent(): Promise<void> {
    const seg = this.current;
    if (!seg) return;
    this.current = undefined;
    await seg.handle?.close();
    seg.handle = undefined;
    if (seg.events > 0) this.sealed.push(seg);
    else await fsp.rm(seg.file, { force: true });
  }

  async pendingCount(): Promise<number> {
    return this.pending;
  }

  async claim(_limit: number, now: Date): Promise<{ batchId: string; rows: ClaimedRow[] } | null> {
    const seg = await this.exclusive(async () => {
      const free = () => this.sealed.find((s) => !s.suspect && s.claimedAt === undefined);
      if (!free() && this.current && this.current.events > 0) await this.sealCurrent();
      const s = free();
      if (s) s.claimedAt = now.getTime();
      return s;
    });
    if (!seg) return null;
    return { batchId: seg.id, rows: await this.rowsOf(seg) };
  }

  private async rowsOf(seg: Segment): Promise<ClaimedRow[]> {
    const records = seg.records ?? parseSegment(await fsp.readFile(seg.file, 'utf8')).records;
    const rows: ClaimedRow[] = [];
    for (const r of records) {
      const receivedAt = new Date(r.r);
      for (const e of r.e) rows.push({ seq: rows.length, workspaceId: r.w, receivedAt, payload: e });
    }
    return rows;
  }

  async complete(batchId: string): Promise<void> {
    await this.exclusive(async () => {
      const i = this.sealed.findIndex((s) => s.id === batchId);
      if (i < 0) return;
      const [seg] = this.sealed.splice(i, 1);
      await fsp.rm(seg!.file, { force: true });
      this.pending -= seg!.events;
      if (seg!.records) this.inMemory -= seg!.events;
    });
  }

  async release(batchId: string): Promise<void> {
    const seg = this.sealed.find((s) => s.id === batchId);
    if (seg) {
      seg.claimedAt = undefined;
      seg.suspect = false;
    }
  }

  async unfinished(before: Date): Promise<{ batchId: string; size: number }[]> {
    return this.sealed.filter((s) => s.suspect || (s.claimedAt !== undefined && s.claimedAt < before.getTime())).map((s) => ({ batchId: s.id, size: s.events }));
  }

  async purgeDedupe(before: Date): Promise<number> {
    return this.recent.purge(before.getTime());
  }

  async eventsOfUser(userId: string): Promise<Record<string, unknown>[]> {
    const segments = await this.exclusive(async () => [...this.sealed, ...(this.current ? [this.current] : [])]);
    const out: Record<string, unknown>[] = [];
    for (const seg of segments) {
      const text = await fsp.readFile(seg.file, 'utf8').catch(() => '');
      for (const r of parseSegment(text).records) {
        for (const e of r.e) if (e.userId === userId) out.push({ workspaceId: r.w, messageId: e.messageId, receivedAt: new Date(r.r), payload: e });
      }
    }
    return out;
  }

  /**
   * Rewrites every segment without the user's events (a new file, fsync'd, renamed over the old
   * one). The caller keeps the flusher out meanwhile, so no segment is half-way to the store.
   */
  async eraseUser(userId: string, anonymousIds: string[]): Promise<number> {
    const anon = new Set(anonymousIds);
    const matches = (e: BufferedEvent) => e.userId === userId || (e.anonymousId !== null && anon.has(e.anonymousId));
    return this.exclusive(async () => {
      await this.sealCurrent();
      let removed = 0;
      for (const seg of [...this.sealed]) {
        const records = seg.records ?? parseSegment(await fsp.readFile(seg.file, 'utf8')).records;
        let dropped = 0;
        const kept = records.map((r) => {
          const e = r.e.filter((ev) => !matches(ev));
          dropped += r.e.length - e.length;
          return { ...r, e };
        });
        if (dropped === 0) continue;
        removed += dropped;
        if (seg.records) {
          this.inMemory -= seg.events;
          seg.records = undefined;
        }
        seg.events -= dropped;
        this.pending -= dropped;
        if (seg.events === 0) {
          await fsp.rm(seg.file, { force: true });
          this.sealed.splice(this.sealed.indexOf(seg), 1);
          continue;
        }
        const tmp = `${seg.file}.tmp`;
        const text = kept.filter((r) => r.e.length > 0).map((r) => `${JSON.stringify(r)}\n`).join('');
        const h = await fsp.open(tmp, 'w', PRIVATE_FILE_MODE);
        try {
          await h.writeFile(text, 'utf8');
          await h.datasync();
        } finally {
          await h.close();
        }
        await fsp.rename(tmp, seg.file);
        await syncDir(this.dir);
      }
      return removed;
    });
  }

  async close(): Promise<void> {
    this.closed = true;
    await this.exclusive(async () => {
      await this.current?.handle?.close();
      this.current = undefined;
    });
    if (this.removeOnClose) await fsp.rm(this.dir, { recursive: true, force: true });
  }
}

/** Makes a new or renamed file's directory entry durable. */
async function syncDir(dir: string): Promise<void> {
  const h = await fsp.open(dir, 'r');
  try {
    await h.sync();
  } finally {
    await h.close();
  }
}
