import { z } from 'zod';
import type { App } from '../../kernel/http/server.js';
import type { DbReportRepository } from './db-report.repository.js';
import { problemResponses } from '../../kernel/http/problem.js';
import { buildDbReport } from './db-report.js';
import type { OpsSettings } from './config.js';

const section = <T extends z.ZodType>(row: T) => z.object({ available: z.boolean(), reason: z.string().optional(), rows: z.array(row) });
const statement = z.object({ queryid: z.string(), calls: z.number(), total_ms: z.number(), mean_ms: z.number(), rows: z.number(), query: z.string() });
const table = z.object({
  schemaname: z.string(),
  tablename: z.string(),
  seq_scan: z.number(),
  idx_scan: z.number().nullable(),
  n_live_tup: z.number(),
  n_dead_tup: z.number(),
  last_vacuum: z.string().nullable(),
  last_autovacuum: z.string().nullable(),
  last_analyze: z.string().nullable(),
});
const index = z.object({ schemaname: z.string(), tablename: z.string(), indexname: z.string(), idx_scan: z.number(), idx_tup_read: z.number(), idx_tup_fetch: z.number(), bytes: z.number(), unique: z.boolean() });
export const dbReportSchema = z.object({
  database: z.object({ kind: z.enum(['pglite', 'postgres']), version: z.string() }),
  statementsByTotalTime: section(statement),
  statementsByMeanTime: section(statement),
  tables: section(table),
  indexUsage: section(index),
  unusedIndexes: section(index),
  connections: z.object({ available: z.boolean(), reason: z.string().optional(), server: z.number(), database: z.number(), max: z.number(), usedRatio: z.number() }),
  generatedAt: z.string(),
});

/** GET /v1/ops/db/report: the runbook's database queries for operators (platform admins, or the ops workspace's members with ops.read). */
export function dbReportRoutes(app: App, deps: { reports: DbReportRepository; settings: OpsSettings }): void {
  app.get('/v1/ops/db/report', {
    config: { permission: 'ops.read', workspace: () => deps.settings.workspaceId, platformAdmins: 'pass' },
    schema: {
      tags: ['operations'],
      summary: 'Database report: top statements (pg_stat_statements) by total and mean time, tables by dead tuples with seq vs index scans, unused indexes, connections vs max_connections',
      querystring: z.object({ limit: z.coerce.number().int().min(1).max(100).default(10) }),
      response: { ...problemResponses(403), 200: dbReportSchema },
    },
    handler: async (req) => buildDbReport(deps.reports, { limit: req.query.limit }),
  });
}
