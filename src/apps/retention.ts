import { RETENTION_CLASSES, type RetentionClass } from '../kernel/module.js';
import type { IntegrationHubContract } from '../services/integration-hub/contract.js';
import { BackupRunsRepository } from '../services/ops/backup-runs.repository.js';
import { OPS_CONFIG } from '../services/ops/config.js';
import type { Platform } from './platform.js';

export interface RetentionSummary {
  ranAt: string;
  rules: { name: string; class: RetentionClass; keep: string; deleted: number; error?: string }[];
  /** Rows deleted per retention class (runbook data_retention). */
  byClass: Record<RetentionClass, number>;
  notified?: string;
}

/**
 * The retention cleanup (runbook automated_cleanup, `v01t retention run` and weekly at
 * RETENTION_SCHEDULE): every service's rules, rows deleted counted per class, the summary recorded
 * (metrics v01t_retention_*) and sent to RETENTION_NOTIFY_CONNECTION_ID when set.
 */
export async function runRetention(p: Platform): Promise<RetentionSummary> {
  const started = p.ctx.clock.now();
  const rules = [...[...p.instances.values()].flatMap((i) => i.retention ?? []), p.events.retentionRule()];
  const summary: RetentionSummary = { ranAt: started.toISOString(), rules: [], byClass: Object.fromEntries(RETENTION_CLASSES.map((c) => [c, 0])) as Record<RetentionClass, number> };
  for (const rule of rules) {
    try {
      const deleted = await rule.purge(started);
      summary.rules.push({ name: rule.name, class: rule.class, keep: rule.keep, deleted });
      summary.byClass[rule.class] += deleted;
    } catch (err) {
      p.logger.error({ err, rule: rule.name }, 'retention rule failed');
      summary.rules.push({ name: rule.name, class: rule.class, keep: rule.keep, deleted: 0, error: (err as Error).message.slice(0, 500) });
    }
  }
  summary.notified = await notify(p, summary).catch((err: unknown) => {
    p.logger.warn({ err }, 'retention summary could not be sent');
    return `failed: ${(err as Error).message}`.slice(0, 300);
  });
  const ok = summary.rules.every((r) => !r.error);
  if (p.ops) {
    await new BackupRunsRepository(p.database.orm)
      .record({ kind: 'retention', startedAt: started, finishedAt: p.ctx.clock.now(), ok, details: { ...summary } })
      .catch((err: unknown) => p.logger.warn({ err }, 'could not record the retention run'));
  }
  return summary;
}

async function notify(p: Platform, summary: RetentionSummary): Promise<string | undefined> {
  if (!Object.hasOwn(p.config.settings, OPS_CONFIG.key)) return undefined;
  const ops = OPS_CONFIG.read(p.config);
  const connectionId = ops.backup.notifyConnectionId;
  if (!connectionId) return undefined;
  if (!ops.workspaceId) return 'skipped: V01T_OPS_WORKSPACE_ID is not set';
  if (!p.ctx.contracts.has('integration-hub')) return 'skipped: the integration-hub does not run in this process';
  const hub = p.ctx.contracts.get<IntegrationHubContract>('integration-hub');
  const connection = (await hub.listConnections(ops.workspaceId)).find((c) => c.id === connectionId);
  if (!connection) return `skipped: no connection ${connectionId} in the ops workspace`;
  const total = Object.values(summary.byClass).reduce((a, b) => a + b, 0);
  const key = `retention-${summary.ranAt}`;
  const lines = [
    `Retention cleanup of ${summary.ranAt}: ${total} rows deleted.`,
    '',
    ...RETENTION_CLASSES.map((c) => `${c}: ${summary.byClass[c]}`),
    '',
    ...summary.rules.map((r) => `${r.name} (${r.class}, keep ${r.keep}): ${r.error ? `FAILED ${r.error}` : r.deleted}`),
  ];
  if (connection.connector === 'webhook') {
    await hub.runAction(ops.workspaceId, connectionId, 'send', { type: 'v01t.retention.summary.v1', id: key, data: { ...summary, total } });
  } else if (connection.connector === 'email') {
    await hub.publish(ops.workspaceId, connectionId, { title: `v01t retention cleanup: ${total} rows deleted`, text: lines.join('\n') }, key);
  } else {
    return `skipped: connection ${connectionId} is a ${connection.connector} connection (email or webhook expected)`;
  }
  return `sent through ${connection.connector} connection ${connectionId}`;
}
