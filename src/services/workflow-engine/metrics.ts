import client from 'prom-client';
import type { CoreMetrics } from '../../kernel/telemetry/metrics.js';

export interface WorkflowMetrics {
  runs: client.Counter<'status'>;
  stepDuration: client.Histogram<'type'>;
  webhooksRefused: client.Counter;
}

export function workflowMetrics(metrics: CoreMetrics, queueStats: () => Promise<{ depth: number; oldestAgeSeconds: number }>): WorkflowMetrics {
  const registers = [metrics.registry];
  let pending: Promise<{ depth: number; oldestAgeSeconds: number }> | undefined;
  // One query per scrape serves both gauges.
  const read = () => {
    pending ??= queueStats()
      .catch(() => ({ depth: 0, oldestAgeSeconds: 0 }))
      .finally(() => setTimeout(() => (pending = undefined), 0));
    return pending;
  };
  new client.Gauge({
    name: 'workflow_queue_depth',
    help: 'Workflow runs queued and not yet started',
    registers,
    async collect() {
      this.set((await read()).depth);
    },
  });
  new client.Gauge({
    name: 'workflow_oldest_queued_age_seconds',
    help: 'Age of the oldest queued workflow run, in seconds (0 when none)',
    registers,
    async collect() {
      this.set((await read()).oldestAgeSeconds);
    },
  });
  return {
    runs: new client.Counter({ name: 'workflow_runs_total', help: 'Workflow runs by status reached (started, succeeded, failed, cancelled, timed_out)', labelNames: ['status'], registers }),
    webhooksRefused: new client.Counter({ name: 'workflow_webhooks_refused_total', help: 'Webhook calls refused by backpressure (503 workflow_queue_full: the workspace\'s queued runs waited too long)', registers }),
    stepDuration: new client.Histogram({
      name: 'workflow_step_duration_seconds',
      help: 'Duration of workflow step attempts, by step type',
      labelNames: ['type'],
      buckets: [0.0005, 0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5, 30],
      registers,
    }),
  };
}
