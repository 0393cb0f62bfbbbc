import { Cron } from 'croner';
import { BackupRunsRepository } from '../services/ops/backup-runs.repository.js';
import { backupSettings, createBackup, pruneBackups, runDrill } from './backup.js';
import { runRetention } from './retention.js';
import type { Platform } from './platform.js';

export type ScheduledJob = 'backup' | 'drill' | 'retention';

/**
 * The in-platform schedules (ADR 0050): the daily backup then the prune (BACKUP_SCHEDULE), the
 * monthly restore drill (BACKUP_DRILL_SCHEDULE), the weekly retention cleanup (RETENTION_SCHEDULE),
 * all in UTC. Each due time ("slot") is claimed in ops.schedule_slots under an advisory lock, so one
 * replica runs it; a platform that was down at a slot runs it once when it is back. A new install
 * starts counting from its first tick (no run for slots before it existed).
 */
export class BackupScheduler {
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<unknown> | undefined;
  private readonly repo: BackupRunsRepository;

  constructor(
    private readonly p: Platform,
    private readonly opts: { tickMs?: number } = {},
  ) {
    this.repo = new BackupRunsRepository(p.database.orm);
  }

  private jobs(): { job: ScheduledJob; cron: string; run: () => Promise<unknown> }[] {
    const s = backupSettings(this.p.config);
    return [
      {
        job: 'backup',
        cron: s.schedule,
        run: async () => {
          const index = await createBackup(this.p);
          const pruned = await pruneBackups(this.p.config, { dryRun: false });
          this.p.logger.info({ backup: index.id, bytes: index.bytes, pruned: pruned.pruned.length }, 'scheduled backup done');
        },
      },
      {
        job: 'drill',
        cron: s.drillSchedule,
        run: async () => {
          const r = await runDrill(this.p);
          this.p.logger[r.ok ? 'info' : 'error']({ drill: r }, r.ok ? 'restore drill passed' : 'restore drill FAILED');
        },
      },
      {
        job: 'retention',
        cron: s.retentionSchedule,
        run: async () => {
          const r = await runRetention(this.p);
          this.p.logger.info({ byClass: r.byClass, notified: r.notified }, 'retention cleanup done');
        },
      },
    ];
  }

  /** Runs every job whose latest slot at `now` was not claimed yet; returns the jobs this call ran. */
  async runDue(now = this.p.ctx.clock.now()): Promise<ScheduledJob[]> {
    const ran: ScheduledJob[] = [];
    for (const j of this.jobs()) {
      const cron = new Cron(j.cron, { timezone: 'UTC', paused: true });
      const last = await this.repo.lastSlot(j.job);
      if (!last) {
        // First tick of this install: start counting from here.
        await this.repo.claimSlot(j.job, now);
        continue;
      }
      // The latest slot not after now (missed slots collapse into one run).
      let slot: Date | null = null;
      for (let next = cron.nextRun(last); next && next.getTime() <= now.getTime(); next = cron.nextRun(next)) slot = next;
      if (!slot || !(await this.repo.claimSlot(j.job, slot))) continue;
      try {
        await j.run();
      } catch (err) {
        this.p.logger.error({ err, job: j.job }, 'scheduled job failed');
      }
      ran.push(j.job);
    }
    return ran;
  }

  start(): void {
    if (!backupSettings(this.p.config).schedulesEnabled) return;
    this.timer = setInterval(() => {
      if (this.running) return;
      this.running = this.runDue()
        .catch((err) => this.p.logger.error({ err }, 'backup schedules tick failed'))
        .finally(() => {
          this.running = undefined;
        });
    }, this.opts.tickMs ?? 60_000);
    this.timer.unref();
  }

  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    await this.running;
  }
}
