import { randomUUID } from 'node:crypto';
import type { PermissionMap } from '../../kernel/auth/permissions.js';
import { eventNames } from '../../kernel/events/index.js';
import { WakeQueue } from '../../kernel/jobs/wake-queue.js';
import { WORKFLOW_CONFIG, type WorkflowSettings } from './config.js';
import type { ServiceContext, ServiceInstance, ServiceModule } from '../../kernel/module.js';
import type { IntegrationHubContract } from '../integration-hub/contract.js';
import type { WorkflowEngineContract } from './contract.js';
import { Executor } from './executor.js';
import type { HttpPort, IntegrationPort } from './http-port.js';
import { workflowMetrics } from './metrics.js';
import { WORKFLOW_MIGRATIONS } from './migrations.js';
import { WorkflowRepository } from './repository.js';
import { workflowRoutes } from './routes.js';
import { WorkflowService } from './service.js';
import { WORKFLOW_EVENTS } from './events.js';
import { WORKFLOW_ERRORS } from './errors.js';
import { publicOnlyRemote } from '../../kernel/http/public-remote.js';

const everyone = ['owner', 'admin', 'developer', 'analyst', 'viewer'] as const;
const developersUp = ['owner', 'admin', 'developer'] as const;

export const WORKFLOW_PERMISSIONS: PermissionMap = {
  'workflows.read': { description: 'See workflows, their versions and runs', roles: everyone },
  'workflows.write': { description: 'Create, edit, enable, disable and delete workflows', roles: developersUp },
  'workflows.run': { description: 'Start, cancel, retry runs and approve or reject approval steps', roles: developersUp },
};

/** The consumer group behind event triggers: it sees every platform event and starts matching workflows. */
export const TRIGGER_CONSUMER_GROUP = 'workflow-engine.triggers';

export interface WorkflowEngineInstance extends ServiceInstance {
  service: WorkflowService;
  executor: Executor;
  queue: WakeQueue;
  contract: WorkflowEngineContract;
}

export const workflowEngineModule: ServiceModule<WorkflowSettings> & { create(ctx: ServiceContext<WorkflowSettings>): WorkflowEngineInstance } = {
  name: 'workflow-engine',
  publicRoutes: ['/v1/workflow-step-types', '/v1/workspaces/:workspaceId/workflows', '/v1/workspaces/:workspaceId/runs', '/hooks/workflows'],
  remote: publicOnlyRemote('workflow-engine', 'V01T_WORKFLOW_ENGINE_URL'),
  schema: 'workflow',
  migrations: WORKFLOW_MIGRATIONS,
  permissions: WORKFLOW_PERMISSIONS,
  events: WORKFLOW_EVENTS,
  errors: WORKFLOW_ERRORS,
  config: WORKFLOW_CONFIG,
  create(ctx) {
    const cfg = ctx.settings;
    const repo = new WorkflowRepository(ctx.db);
    const metrics = workflowMetrics(ctx.metrics, () => repo.queueStats(ctx.clock.now()));
    const queue = new WakeQueue({ queue: 'workflow-run', idKey: 'runId', database: ctx.database, url: ctx.config.db.url, logger: ctx.logger, batchSize: cfg.queueBatch, workers: cfg.queueWorkers, pollingIntervalSeconds: cfg.pollSeconds });
    const http = (): HttpPort => ctx.egress;
    const integration = (): IntegrationPort | null => (ctx.contracts.has('integration-hub') ? ctx.contracts.get<IntegrationHubContract>('integration-hub') : null);
    const executor = new Executor({
      db: ctx.db,
      repo,
      clock: ctx.clock,
      events: ctx.events,
      logger: ctx.logger,
      metrics,
      http,
      integration,
      wake: (runId, at, tx) => queue.wake(runId, at, tx),
      workerId: `${process.pid}-${randomUUID().slice(0, 8)}`,
      leaseMs: cfg.leaseMs,
      workspaceConcurrency: cfg.workspaceConcurrency,
      quarantineAfter: cfg.quarantineAfter,
    });
    const service = new WorkflowService(ctx.db, repo, executor, (runId, at, tx) => queue.wake(runId, at, tx), ctx.events, ctx.audit, ctx.secrets, ctx.clock, metrics, ctx.logger, () => queue.ready(), () => queue.notifyLocal(), (ids, tx) => queue.wakeMany(ids, tx), { maxQueuedAgeMs: cfg.webhookMaxQueuedAgeMs, immediateInStart: ctx.database.kind === 'pglite' });

    // Event triggers: every event of a workspace may start that workspace's event workflows. The
    // handler runs in the bus's delivery transaction and does every read and write (pg-boss enqueue
    // included) through it; pg-boss is started in start(), before the backbone starts consumers.
    // A delivery batch reads the trigger sets of all its (workspace, event name) pairs at once (onEvents); a failing batch is
    // delivered again event by event through the per-event handler, as before.
    const notReady = () => new Error('the workflow run queue is not started yet; the event will be redelivered');
    ctx.events.subscribe(
      TRIGGER_CONSUMER_GROUP,
      eventNames(),
      async (event, { tx }) => {
        if (!event.workspaceId) return;
        if (!queue.isReady()) throw notReady();
        await service.onEvent(event, tx);
      },
      {
        batch: async (events, { tx }) => {
          if (!queue.isReady()) throw notReady();
          await service.onEvents(events, tx);
        },
      },
    );

    const timers: NodeJS.Timeout[] = [];
    let stopping = false;
    const every = (ms: number, what: string, fn: () => Promise<unknown>) => {
      let running = false;
      const t = setInterval(() => {
        if (running || stopping) return;
        running = true;
        fn()
          .catch((err) => ctx.logger.error({ err }, `${what} failed`))
          .finally(() => (running = false));
      }, ms);
      t.unref?.();
      timers.push(t);
    };

    const contract: WorkflowEngineContract = {
      async startRun(workspaceId, workflowId, input, idempotencyKey) {
        const { run } = await service.startRun(workspaceId, workflowId, input, { trigger: 'service', idempotencyKey: idempotencyKey ? `svc:${idempotencyKey}` : null, actor: { userId: null } });
        return { runId: run.id, status: run.status };
      },
      async runStatus(workspaceId, runId) {
        const run = await repo.getRun(workspaceId, runId);
        return run ? { status: run.status, output: run.output, error: run.error } : null;
      },
    };

    return {
      service,
      executor,
      queue,
      contract,
      routes(app) {
        workflowRoutes(app, service);
      },
      async start() {
        stopping = false;
        await queue.work((runIds, within) => executor.dispatch(runIds, within));
        // Runs whose worker died (lease ran out) get a wake-up; the next claim is the takeover.
        every(Math.max(500, Math.floor(cfg.leaseMs / 3)), 'orphaned run sweep', async () => {
          for (const id of await repo.orphaned(ctx.clock.now())) await queue.wake(id, null);
        });
        every(cfg.schedulerTickMs, 'schedule tick', () => service.scheduleTick());
        // Safety net: a run due for more than a minute whose wake-up job was lost (e.g. the queue's
        // job was purged) gets a new one, so no run waits forever. Normally this finds nothing.
        every(Math.max(5_000, cfg.leaseMs), 'overdue run sweep', async () => {
          for (const id of await repo.due(ctx.clock.now(), 60_000, 100)) await queue.wake(id, null);
        });
      },
      async stop() {
        stopping = true;
        for (const t of timers.splice(0)) clearInterval(t);
        await queue.stop();
        // Runs still advancing keep their leases until they end; an unfinished one is taken over after a restart.
        await executor.settle(5000);
      },
      readiness: {
        queue: () => repo.ping(),
      },
      personalData: {
        describes: ['workflow and run authorship (created_by)', 'run inputs and step outputs may contain whatever the workflow processes'],
        exportUser: (userId) => repo.exportUser(userId),
        eraseUser: (userId) => repo.eraseUser(userId),
      },
      retention: [
        {
          name: 'workflow.runs',
          class: 'user_activity_logs',
          keep: `${cfg.runRetentionDays} days after a run finished`,
          purge: (now) => repo.purgeFinishedBefore(new Date(now.getTime() - cfg.runRetentionDays * 86_400_000)),
        },
      ],
    };
  },
};
