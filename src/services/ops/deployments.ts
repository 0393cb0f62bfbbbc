import { sql, type SQL } from 'drizzle-orm';
import { z } from 'zod';
import type { Db } from '../../kernel/db/database.js';
import { rowsOf } from '../../kernel/db/rows.js';
import type { AuditLog } from '../../kernel/audit/index.js';
import type { Deployment, EnvironmentStats } from './contract.js';
import { AppError } from '../../kernel/errors.js';

/** The audit action of a deployment recorded by `v01t deploy record` (the deployment history). */
export const DEPLOYMENT_ACTION = 'deploy.recorded';
export const DEPLOYMENT_RESULTS = ['success', 'failed', 'rolled_back'] as const;

/** What a deployment record carries; the CLI (`v01t deploy record`) and the API validate with it. */
export const deploymentInput = z.object({
  version: z.string().regex(/^[\w.+-]{1,128}$/, 'a version or image tag (letters, digits, . _ + -; at most 128)'),
  environment: z.string().regex(/^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/, 'an environment name such as production or production-green (lower case, digits, -)'),
  result: z.enum(DEPLOYMENT_RESULTS),
  notes: z.string().max(1000).optional(),
});
export type DeploymentInput = z.infer<typeof deploymentInput>;


/**
 * The deployment history: entries of the hash-chained audit log (action deploy.recorded), so it is
 * tamper-evident and kept as long as the audit log (7 years). One implementation for
 * `v01t deploy record`, `POST /v1/ops/deployments` and `GET /v1/ops/deployments`.
 */
export class DeploymentHistory {
  constructor(
    private readonly db: Db,
    private readonly audit: AuditLog,
  ) {}

  /** Validates like the API does; a bad field is a validation_failed AppError naming it (flagPrefix "--" for the CLI). */
  static parse(input: unknown, flagPrefix = 'body.'): DeploymentInput {
    const r = deploymentInput.safeParse(input);
    if (r.success) return r.data;
    const errors = r.error.issues.map((i) => ({ path: `${flagPrefix}${i.path.join('.')}`, message: i.message }));
    throw new AppError('validation_failed', errors.map((e) => `${e.path}: ${e.message}`).join('; '), { errors });
  }

  async record(input: DeploymentInput, by: { via: 'cli' | 'ci' | 'api'; actorId?: string | null; ip?: string | null }): Promise<Deployment> {
    const d = DeploymentHistory.parse(input);
    const entry = await this.audit.record({
      action: DEPLOYMENT_ACTION,
      actorId: by.actorId ?? null,
      actorIp: by.ip ?? null,
      targetType: 'deployment',
      targetId: d.version,
      data: { version: d.version, environment: d.environment, result: d.result, via: by.via, ...(d.notes ? { notes: d.notes } : {}) },
    });
    return toDeployment({ id: entry.id, occurred_at: entry.occurredAt, actor_id: entry.actorId, data: entry.data as Record<string, string> });
  }

  /** Deployments counted by environment and result (the v01t_deployments_total series). */
  /** Audit log entries of one action (the compliance gauges). */
  async countAction(action: string): Promise<number> {
    const [r] = rowsOf<{ n: string | number }>(await this.db.execute(sql`SELECT count(*) AS n FROM kernel.audit_log WHERE action = ${action}`));
    return Number(r?.n ?? 0);
  }

  async counts(): Promise<{ environment: string; result: string; count: number }[]> {
    const rows = rowsOf<{ environment: string | null; result: string | null; n: string | number }>(
      await this.db.execute(
        sql`SELECT data->>'environment' AS environment, data->>'result' AS result, count(*) AS n FROM kernel.audit_log WHERE action = ${DEPLOYMENT_ACTION} GROUP BY 1, 2`,
      ),
    );
    return rows.map((r) => ({ environment: r.environment ?? 'unknown', result: r.result ?? 'unknown', count: Number(r.n) }));
  }

  /** Newest first, optionally one environment, paged by audit sequence; with per-environment success rates. */
  async history(q: { environment?: string; before?: number; limit: number }): Promise<{ deployments: (Deployment & { seq: number })[]; environments: EnvironmentStats[]; nextCursor: number | null }> {
    const where: SQL[] = [sql`action = ${DEPLOYMENT_ACTION}`];
    if (q.environment) where.push(sql`data->>'environment' = ${q.environment}`);
    if (q.before) where.push(sql`seq < ${q.before}`);
    const rows = rowsOf<{ seq: string | number; id: string; occurred_at: string | Date; actor_id: string | null; data: Record<string, string> }>(
      await this.db.execute(sql`SELECT seq, id, occurred_at, actor_id, data FROM kernel.audit_log WHERE ${sql.join(where, sql` AND `)} ORDER BY seq DESC LIMIT ${q.limit}`),
    );
    const stats = rowsOf<{ environment: string | null; total: string | number; success: string | number; failed: string | number; rolled_back: string | number }>(
      await this.db.execute(sql`
        SELECT data->>'environment' AS environment, count(*) AS total,
               count(*) FILTER (WHERE data->>'result' = 'success') AS success,
               count(*) FILTER (WHERE data->>'result' = 'failed') AS failed,
               count(*) FILTER (WHERE data->>'result' = 'rolled_back') AS rolled_back
        FROM kernel.audit_log WHERE action = ${DEPLOYMENT_ACTION} ${q.environment ? sql`AND data->>'environment' = ${q.environment}` : sql``}
        GROUP BY 1 ORDER BY 1`),
    );
    const last = rowsOf<{ environment: string | null; occurred_at: string | Date; data: Record<string, string> }>(
      await this.db.execute(sql`
        SELECT DISTINCT ON (data->>'environment') data->>'environment' AS environment, occurred_at, data
        FROM kernel.audit_log WHERE action = ${DEPLOYMENT_ACTION} ORDER BY data->>'environment', seq DESC`),
    );
    const lastOf = new Map(last.map((l) => [l.environment ?? 'unknown', l]));
    return {
      deployments: rows.map((r) => ({ seq: Number(r.seq), ...toDeployment(r) })),
      environments: stats.map((s) => {
        const env = s.environment ?? 'unknown';
        const total = Number(s.total);
        const l = lastOf.get(env);
        return {
          environment: env,
          total,
          success: Number(s.success),
          failed: Number(s.failed),
          rolledBack: Number(s.rolled_back),
          successRate: total ? Number(s.success) / total : 0,
          lastDeployment: l ? { version: l.data.version ?? '', result: l.data.result ?? 'unknown', recordedAt: new Date(l.occurred_at) } : null,
        };
      }),
      nextCursor: rows.length === q.limit ? Number(rows.at(-1)!.seq) : null,
    };
  }
}

function toDeployment(r: { id: string; occurred_at: string | Date; actor_id: string | null; data: Record<string, string> }): Deployment {
  return {
    id: r.id,
    recordedAt: new Date(r.occurred_at),
    version: r.data.version ?? '',
    environment: r.data.environment ?? 'unknown',
    result: r.data.result ?? 'unknown',
    notes: r.data.notes ?? null,
    via: r.data.via ?? 'cli',
    actorId: r.actor_id,
  };
}
