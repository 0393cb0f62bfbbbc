import { z } from 'zod';
import { defineConfig, positiveInt, setting } from '../../kernel/config/index.js';

/** The workflow-engine's settings: run leases (takeover after a worker dies), limits, queue polling, scheduler, retention. */
export const WORKFLOW_CONFIG = defineConfig(
  'workflow-engine',
  {
    WORKFLOW_LEASE_MS: setting(positiveInt.min(1000).max(600_000).default(10_000), { description: "lease of a run being processed; another worker takes the run over when it lapses" }),
    WORKFLOW_WORKSPACE_CONCURRENCY: setting(z.coerce.number().int().min(0).max(100_000).default(100), { description: 'runs of one workspace processed at once (0: no limit)' }),
    WORKFLOW_QUEUE_BATCH: setting(positiveInt.max(500).default(100), { description: 'runs a queue worker fetches at once (fresh runs of pure steps in a fetch are finished by one transaction)' }),
    WORKFLOW_QUEUE_WORKERS: setting(positiveInt.max(16).optional(), { default: '2 on PostgreSQL, 1 on PGlite', description: 'queue workers per process (each fetches and advances its own batch)' }),
    WORKFLOW_POLL_SECONDS: setting(z.coerce.number().min(0.5).max(60).default(0.5), { description: 'queue polling interval' }),
    WORKFLOW_SCHEDULER_TICK_MS: setting(positiveInt.min(100).max(60_000).default(1000), { description: 'period of the schedule and wake-up scheduler' }),
    WORKFLOW_RUN_RETENTION_DAYS: setting(positiveInt.max(3650).default(90), { description: 'finished runs older than this are purged by the weekly cleanup' }),
    WORKFLOW_WEBHOOK_MAX_QUEUED_AGE_MS: setting(z.coerce.number().int().min(0).max(3_600_000).default(2000), {
      description: "backpressure: a webhook that would queue a run is refused (503 `workflow_queue_full`, Retry-After) while its workspace's oldest queued run has waited longer than this (0: never refuse)",
    }),
    WORKFLOW_QUARANTINE_AFTER: setting(positiveInt.max(100).default(3), { description: 'interrupted takeovers (worker crashed or lost its lease) after which a run is failed as `run_quarantined`' }),
  },
  (e) => ({
    leaseMs: e.WORKFLOW_LEASE_MS,
    workspaceConcurrency: e.WORKFLOW_WORKSPACE_CONCURRENCY,
    queueBatch: e.WORKFLOW_QUEUE_BATCH,
    queueWorkers: e.WORKFLOW_QUEUE_WORKERS,
    pollSeconds: e.WORKFLOW_POLL_SECONDS,
    schedulerTickMs: e.WORKFLOW_SCHEDULER_TICK_MS,
    runRetentionDays: e.WORKFLOW_RUN_RETENTION_DAYS,
    quarantineAfter: e.WORKFLOW_QUARANTINE_AFTER,
    webhookMaxQueuedAgeMs: e.WORKFLOW_WEBHOOK_MAX_QUEUED_AGE_MS,
  }),
);
export type WorkflowSettings = ReturnType<typeof WORKFLOW_CONFIG.read>;
