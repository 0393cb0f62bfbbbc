import { randomUUID } from 'node:crypto';
import { sql } from 'drizzle-orm';
import type { Db } from '../../kernel/db/database.js';
import { rows } from '../../kernel/db/rows.js';

export type RunKind = 'backup' | 'drill' | 'retention' | 'prune';

export interface BackupRun {
  kind: RunKind;
  startedAt: Date;
  finishedAt: Date;
  ok: boolean;
  backupId?: string | null;
  bytes?: number | null;
  rtoSeconds?: number | null;
  rpoSeconds?: number | null;
  details?: Record<string, unknown>;
  error?: string | null;
}

type Raw = { kind: RunKind; started_at: string | Date; finished_at: string | Date; ok: boolean; backup_id: string | null; bytes: string | number | null; rto_seconds: number | null; rpo_seconds: number | null; details: Record<string, unknown> | string; error: string | null };

const toRun = (r: Raw): BackupRun => ({
  kind: r.kind,
  startedAt: new Date(r.started_at),
  finishedAt: new Date(r.finished_at),
  ok: r.ok,
  backupId: r.backup_id,
  bytes: r.bytes === null ? null : Number(r.bytes),
  rtoSeconds: r.rto_seconds === null ? null : Number(r.rto_seconds),
  rpoSeconds: r.rpo_seconds === null ? null : Number(r.rpo_seconds),
  details: typeof r.details === 'string' ? (JSON.parse(r.details) as Record<string, unknown>) : r.details,
  error: r.error,
});

/** ops.backup_runs and ops.schedule_slots (ADR 0050). */
export class BackupRunsRepository {
  constructor(private readonly db: Db) {}

  async record(run: BackupRun): Promise<void> {
    await this.db.execute(sql`
      INSERT INTO ops.backup_runs (id, kind, started_at, finished_at, ok, backup_id, bytes, rto_seconds, rpo_seconds, details, error)
      VALUES (${randomUUID()}, ${run.kind}, ${run.startedAt.toISOString()}, ${run.finishedAt.toISOString()}, ${run.ok}, ${run.backupId ?? null}, ${run.bytes ?? null},
              ${run.rtoSeconds ?? null}, ${run.rpoSeconds ?? null}, ${JSON.stringify(run.details ?? {})}::jsonb, ${run.error ?? null})`);
  }

  /** The newest run of a kind, successful only unless `anyResult`. */
  async latest(kind: RunKind, anyResult = false): Promise<BackupRun | undefined> {
    const [r] = await rows<Raw>(
      this.db,
      anyResult
        ? sql`SELECT * FROM ops.backup_runs WHERE kind = ${kind} ORDER BY finished_at DESC LIMIT 1`
        : sql`SELECT * FROM ops.backup_runs WHERE kind = ${kind} AND ok ORDER BY finished_at DESC LIMIT 1`,
    );
    return r ? toRun(r) : undefined;
  }

  async recent(limit: number): Promise<BackupRun[]> {
    return (await rows<Raw>(this.db, sql`SELECT * FROM ops.backup_runs ORDER BY finished_at DESC LIMIT ${limit}`)).map(toRun);
  }

  /**
   * Claims the run of `job` for `slot` (the schedule's due time): true for exactly one caller across
   * replicas, under a transaction-scoped advisory lock; false when the slot was already claimed.
   */
  async claimSlot(job: string, slot: Date): Promise<boolean> {
    return this.db.transaction(async (tx) => {
      await tx.execute(sql`SELECT pg_advisory_xact_lock(hashtextextended(${`v01t.schedule.${job}`}, 0))`);
      const [cur] = await rows<{ slot: string | Date }>(tx, sql`SELECT slot FROM ops.schedule_slots WHERE job = ${job}`);
      if (cur && new Date(cur.slot).getTime() >= slot.getTime()) return false;
      await tx.execute(sql`INSERT INTO ops.schedule_slots (job, slot) VALUES (${job}, ${slot.toISOString()}) ON CONFLICT (job) DO UPDATE SET slot = EXCLUDED.slot`);
      return true;
    });
  }

  async lastSlot(job: string): Promise<Date | undefined> {
    const [cur] = await rows<{ slot: string | Date }>(this.db, sql`SELECT slot FROM ops.schedule_slots WHERE job = ${job}`);
    return cur ? new Date(cur.slot) : undefined;
  }
}
