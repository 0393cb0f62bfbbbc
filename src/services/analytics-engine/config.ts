import path from 'node:path';
import { z } from 'zod';
import { defineConfig, positiveInt, setting } from '../../kernel/config/index.js';

/** The analytics-engine's settings: OLAP store, ingestion buffer, business KPIs. */
export const ANALYTICS_CONFIG = defineConfig(
  'analytics-engine',
  {
    ANALYTICS_STORE: setting(z.enum(['duckdb', 'clickhouse']).optional(), { default: 'clickhouse when CLICKHOUSE_URL is set, else duckdb', description: 'the OLAP adapter' }),
    CLICKHOUSE_URL: setting(z.url().optional(), { secret: true, description: '`http://user:password@host:8123/database`' }),
    ANALYTICS_DUCKDB_PATH: setting(z.string().min(1).optional(), {
      default: 'V01T_DATA_DIR/analytics.duckdb (:memory: when V01T_EPHEMERAL)',
      description: 'DuckDB file; one process only (DuckDB is embedded-only)',
    }),
    ANALYTICS_BUFFER: setting(z.enum(['file', 'database']).optional(), {
      default: 'file without DATABASE_URL, else database',
      description: 'where accepted events wait for the store: fsync\'d segment files (one process) or the database table (replicas)',
    }),
    ANALYTICS_BUFFER_DIR: setting(z.string().min(1).optional(), {
      default: 'V01T_DATA_DIR/analytics-buffer (a temporary folder when V01T_EPHEMERAL)',
      description: 'segment folder of the file buffer',
    }),
    ANALYTICS_BUFFER_MAX_EVENTS: setting(positiveInt.default(500_000), { description: 'pending buffered events before ingestion answers 429' }),
    ANALYTICS_FLUSH_INTERVAL_MS: setting(positiveInt.max(60_000).default(1_000), { description: 'flush loop period' }),
    ANALYTICS_FLUSH_BATCH: setting(positiveInt.max(100_000).default(10_000), { description: 'events flushed to the store at once' }),
    ANALYTICS_PLATFORM_WORKSPACE_ID: setting(z.uuid().optional(), { description: "workspace of the platform's own sign-ups and subscriptions, behind the KPI gauges (NaN without it)" }),
    ANALYTICS_KPI_REFRESH_SECONDS: setting(positiveInt.default(60), { description: 'how often the gauges and the error rate are recomputed' }),
  },
  (e, kernel) => ({
    store: e.ANALYTICS_STORE ?? (e.CLICKHOUSE_URL ? ('clickhouse' as const) : ('duckdb' as const)),
    clickhouseUrl: e.CLICKHOUSE_URL,
    /** DuckDB file (':memory:' when ephemeral). */
    duckdbPath: e.ANALYTICS_DUCKDB_PATH ?? (kernel.db.ephemeral ? ':memory:' : path.join(kernel.dataDir, 'analytics.duckdb')),
    bufferMaxEvents: e.ANALYTICS_BUFFER_MAX_EVENTS,
    /** Where accepted events wait for the store: fsync'd segment files (one process) or the database (replicas). */
    buffer: e.ANALYTICS_BUFFER ?? (kernel.db.url ? ('database' as const) : ('file' as const)),
    /** Segment folder of the file buffer; unset when ephemeral (a temporary folder per process). */
    bufferDir: e.ANALYTICS_BUFFER_DIR ?? (kernel.db.ephemeral ? undefined : path.join(kernel.dataDir, 'analytics-buffer')),
    flushIntervalMs: e.ANALYTICS_FLUSH_INTERVAL_MS,
    flushBatch: e.ANALYTICS_FLUSH_BATCH,
    /** The workspace holding the platform's own business events (sign-ups, subscriptions) behind the KPI gauges. */
    platformWorkspaceId: e.ANALYTICS_PLATFORM_WORKSPACE_ID,
    kpiRefreshSeconds: e.ANALYTICS_KPI_REFRESH_SECONDS,
  }),
  { check: (e) => (e.ANALYTICS_STORE === 'clickhouse' && !e.CLICKHOUSE_URL ? [{ variable: 'CLICKHOUSE_URL', message: 'required when ANALYTICS_STORE=clickhouse' }] : []) },
);
export type AnalyticsSettings = ReturnType<typeof ANALYTICS_CONFIG.read>;
