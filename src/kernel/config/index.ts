import { createRequire } from 'node:module';
import path from 'node:path';
import type Holidays from 'date-holidays';
import { z } from 'zod';
import { isTimeZone } from '../time/zones.js';

/** Every service v01t can run; `V01T_SERVICES` and `v01t serve` pick from these. */
export const SERVICE_NAMES = [
  'orchestrator',
  'workflow-engine',
  'integration-hub',
  'content-scheduler',
  'analytics-engine',
  'gamification',
] as const;
export type ServiceName = (typeof SERVICE_NAMES)[number];

const bool = z
  .enum(['true', 'false', '1', '0', 'yes', 'no'])
  .transform((v) => v === 'true' || v === '1' || v === 'yes');

const port = z.coerce.number().int().min(0).max(65535);
const positiveInt = z.coerce.number().int().positive();

/** TRUST_PROXY: unset/false = use the socket address; true = trust X-Forwarded-For; or a list of CIDRs/hops. */
const trustProxy = z.string().transform((v, ctx): boolean | string | number => {
  const s = v.trim();
  if (['', 'false', '0', 'no'].includes(s)) return false;
  if (['true', '1', 'yes'].includes(s)) return true;
  if (/^\d+$/.test(s)) return Number(s);
  if (!/^[0-9a-fA-F.:/,\s]+$/.test(s)) {
    ctx.addIssue({ code: 'custom', message: 'expected true, false, a hop count or a comma-separated list of IPs/CIDRs' });
    return z.NEVER;
  }
  return s;
});

/** date-holidays, loaded only when V01T_OPS_HOLIDAYS is set (its data takes ~100 ms to load). */
let holidaysLib: typeof Holidays | undefined;
const loadHolidays = () => (holidaysLib ??= createRequire(import.meta.url)('date-holidays') as typeof Holidays);

/** V01T_OPS_HOLIDAYS: COUNTRY[-STATE[-REGION]] (ISO 3166-1/-2 style, e.g. DE, DE-BY, US-LA-NO) known to date-holidays. */
const opsHolidays = z.string().transform((v, ctx): { country: string; state?: string; region?: string } => {
  const [country = '', state, region, ...rest] = v.trim().toUpperCase().split('-');
  const fail = (message: string) => {
    ctx.addIssue({ code: 'custom', message });
    return z.NEVER;
  };
  if (rest.length > 0 || !/^[A-Z]{2}$/.test(country)) return fail('expected COUNTRY[-STATE[-REGION]], e.g. DE, DE-BY or US-LA-NO');
  const hd = new (loadHolidays())();
  if (!Object.hasOwn(hd.getCountries(), country)) return fail(`unknown country code "${country}" (date-holidays knows no holidays for it)`);
  if (state === undefined) return { country };
  const states = hd.getStates(country) ?? {};
  if (!Object.hasOwn(states, state)) return fail(`unknown state "${state}" of ${country} (known: ${Object.keys(states).join(', ') || 'none'})`);
  if (region === undefined) return { country, state };
  const regions = hd.getRegions(country, state) ?? {};
  if (!Object.hasOwn(regions, region)) return fail(`unknown region "${region}" of ${country}-${state} (known: ${Object.keys(regions).join(', ') || 'none'})`);
  return { country, state, region };
});

/** V01T_OPS_EXTRA_HOLIDAYS: comma-separated calendar dates (YYYY-MM-DD) that are no business day either. */
const opsExtraHolidays = z.string().transform((v, ctx): string[] => {
  const dates = v.split(/[,\s]+/).map((d) => d.trim()).filter(Boolean);
  for (const d of dates) {
    const m = /^(\d{4})-(\d{2})-(\d{2})$/.exec(d);
    const real = m && new Date(Date.UTC(+m[1]!, +m[2]! - 1, +m[3]!)).toISOString().slice(0, 10) === d;
    if (!real) {
      ctx.addIssue({ code: 'custom', message: `"${d}" is not a calendar date YYYY-MM-DD` });
      return z.NEVER;
    }
  }
  return [...new Set(dates)].sort();
});

const envSchema = z.object({
  NODE_ENV: z.enum(['development', 'production', 'test']).default('development'),
  HOST: z.string().min(1).default('127.0.0.1'),
  PORT: port.default(8080),
  V01T_DATA_DIR: z.string().min(1).default('./data'),
  V01T_SERVICES: z
    .string()
    .optional()
    .transform((v, ctx) => {
      if (!v || v.trim() === '' || v.trim() === 'all') return [...SERVICE_NAMES];
      const names = v.split(',').map((s) => s.trim()).filter(Boolean);
      for (const n of names) {
        if (!(SERVICE_NAMES as readonly string[]).includes(n)) {
          ctx.addIssue({ code: 'custom', message: `unknown service "${n}" (known: ${SERVICE_NAMES.join(', ')})` });
          return z.NEVER;
        }
      }
      return names as ServiceName[];
    }),
  V01T_PUBLIC_URL: z.url().optional(),
  /** Where the built web app lives (default: dist/web of the installation). */
  V01T_WEB_DIR: z.string().min(1).optional(),
  DATABASE_URL: z
    .string()
    .regex(/^postgres(ql)?:\/\//, 'must be a postgres:// or postgresql:// URL')
    .optional(),
  DATABASE_POOL_MAX: positiveInt.max(1000).default(10),
  DATABASE_STATEMENT_TIMEOUT_MS: positiveInt.default(30_000),
  REDIS_URL: z
    .string()
    .regex(/^rediss?:\/\//, 'must be a redis:// or rediss:// URL')
    .optional(),
  REDIS_KEY_PREFIX: z.string().regex(/^[\w:.-]{1,64}$/).default('v01t:'),
  V01T_EPHEMERAL: bool.default(false),
  PGLITE_SHARED_BUFFERS: z.string().regex(/^\d+(kB|MB|GB)$/, 'a size like 16MB').default('16MB'),
  LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
  TRUST_PROXY: trustProxy.default(false),
  BODY_LIMIT_BYTES: positiveInt.default(1024 * 1024),
  SESSION_TTL_HOURS: positiveInt.max(24 * 90).default(24 * 14),
  SHUTDOWN_TIMEOUT_MS: positiveInt.default(10_000),
  LOGIN_MAX_FAILURES_PER_IP: positiveInt.default(10),
  LOGIN_FAILURE_WINDOW_SECONDS: positiveInt.default(15 * 60),
  LOGIN_BLOCK_SECONDS: positiveInt.default(15 * 60),
  LOGIN_MAX_PER_IP_PER_MINUTE: positiveInt.default(60),
  SIGNUP_MAX_PER_IP_PER_HOUR: positiveInt.default(20),
  SIGNUP_ENABLED: bool.default(true),
  V01T_INTERNAL_TOKEN: z.string().min(32, 'must be at least 32 characters').optional(),
  V01T_ORCHESTRATOR_URL: z.url().optional(),
  V01T_INTEGRATION_HUB_URL: z.url().optional(),
  MIGRATE_ON_START: bool.default(true),
  ARGON2_MEMORY_KIB: positiveInt.min(1024).default(19_456),
  ARGON2_TIME_COST: positiveInt.max(10).default(2),
  V01T_MASTER_KEY: z.string().optional(),
  V01T_MASTER_KEY_PREVIOUS: z.string().optional(),
  ANALYTICS_STORE: z.enum(['duckdb', 'clickhouse']).optional(),
  CLICKHOUSE_URL: z.url().optional(),
  ANALYTICS_DUCKDB_PATH: z.string().min(1).optional(),
  ANALYTICS_BUFFER_MAX_EVENTS: positiveInt.default(500_000),
  ANALYTICS_FLUSH_INTERVAL_MS: positiveInt.max(60_000).default(1_000),
  ANALYTICS_FLUSH_BATCH: positiveInt.max(100_000).default(10_000),
  ANALYTICS_BUFFER: z.enum(['file', 'database']).optional(),
  ANALYTICS_BUFFER_DIR: z.string().min(1).optional(),
  ANALYTICS_PLATFORM_WORKSPACE_ID: z.uuid().optional(),
  ANALYTICS_KPI_REFRESH_SECONDS: positiveInt.default(60),
  V01T_EGRESS_ALLOW: z.string().optional(),
  EGRESS_TIMEOUT_MS: positiveInt.max(300_000).default(10_000),
  EGRESS_MAX_RESPONSE_BYTES: positiveInt.default(5 * 1024 * 1024),
  EGRESS_RATE_PER_S: positiveInt.max(100_000).default(10),
  EGRESS_RATE_BURST: positiveInt.max(100_000).default(20),
  V01T_EVENT_BUS: z.enum(['postgres', 'kafka']).optional(),
  V01T_EVENT_POLL_MS: positiveInt.max(60_000).default(200),
  V01T_EVENT_MAX_ATTEMPTS: positiveInt.max(100).default(5),
  KAFKA_BROKERS: z
    .string()
    .regex(/^[^\s,]+:\d+(,[^\s,]+:\d+)*$/, 'must be a comma-separated list of host:port')
    .optional(),
  KAFKA_CLIENT_ID: z.string().min(1).default('v01t'),
  KAFKA_TOPIC_PREFIX: z.string().regex(/^[A-Za-z0-9._-]{0,100}$/).default('v01t.'),
  KAFKA_TOPIC_PARTITIONS: positiveInt.max(1000).default(3),
  WORKFLOW_LEASE_MS: positiveInt.min(1000).max(600_000).default(10_000),
  WORKFLOW_WORKSPACE_CONCURRENCY: z.coerce.number().int().min(0).max(100_000).default(100),
  WORKFLOW_QUEUE_BATCH: positiveInt.max(500).default(20),
  /** Queue workers per process (each fetches and advances its own batch); default 2 on PostgreSQL, 1 on PGlite (one connection). */
  WORKFLOW_QUEUE_WORKERS: positiveInt.max(16).optional(),
  WORKFLOW_POLL_SECONDS: z.coerce.number().min(0.5).max(60).default(0.5),
  WORKFLOW_SCHEDULER_TICK_MS: positiveInt.min(100).max(60_000).default(1000),
  WORKFLOW_RUN_RETENTION_DAYS: positiveInt.max(3650).default(90),
  /** A run whose processing was interrupted (worker crashed or lost its lease) this many times is failed as run_quarantined. */
  WORKFLOW_QUARANTINE_AFTER: positiveInt.max(100).default(3),
  EXPRESSION_TIMEOUT_MS: positiveInt.min(10).max(60_000).default(1000),
  EXPRESSION_MEMORY_MB: positiveInt.min(16).max(4096).default(64),
  EXPRESSION_MAX_RESULT_BYTES: positiveInt.min(1024).max(64 * 1024 * 1024).default(1024 * 1024),
  EXPRESSION_MAX_DEPTH: positiveInt.min(10).max(10_000).default(500),
  EXPRESSION_MAX_LENGTH: positiveInt.min(100).max(1_000_000).default(20_000),
  EXPRESSION_WORKERS: positiveInt.max(64).default(2),
  EXPRESSION_MAX_QUEUED_PER_WORKSPACE: positiveInt.max(10_000).default(8),
  S3_BUCKET: z.string().regex(/^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/, 'an S3 bucket name').optional(),
  S3_ENDPOINT: z.url().optional(),
  S3_REGION: z.string().min(1).default('us-east-1'),
  S3_ACCESS_KEY_ID: z.string().min(1).optional(),
  S3_SECRET_ACCESS_KEY: z.string().min(1).optional(),
  S3_FORCE_PATH_STYLE: bool.optional(),
  S3_PREFIX: z.string().regex(/^([A-Za-z0-9._-]+\/)*$/, 'empty or a path ending in /').default(''),
  CONTENT_MEDIA_MAX_BYTES: positiveInt.default(25 * 1024 * 1024),
  CONTENT_PUBLISHER_INTERVAL_MS: positiveInt.max(60_000).default(1_000),
  CONTENT_PUBLISHER_BATCH: positiveInt.max(10_000).default(100),
  CONTENT_PUBLISHER_CONCURRENCY: positiveInt.max(256).default(16),
  CONTENT_PUBLISH_LEASE_SECONDS: positiveInt.max(86_400).default(120),
  CONTENT_PUBLISH_MAX_ATTEMPTS: positiveInt.max(100).default(6),
  V01T_ALERTMANAGER_TOKEN: z.string().min(32, 'must be at least 32 characters').optional(),
  V01T_DEPLOY_TOKEN: z.string().min(32, 'must be at least 32 characters').optional(),
  V01T_OPS_WORKSPACE_ID: z.uuid().optional(),
  V01T_OPS_TICK_SECONDS: positiveInt.max(3600).default(30),
  V01T_OPS_TIMEZONE: z.string().refine(isTimeZone, 'an IANA time zone, e.g. Europe/Berlin').default('UTC'),
  V01T_OPS_HOLIDAYS: opsHolidays.optional(),
  V01T_OPS_EXTRA_HOLIDAYS: opsExtraHolidays.optional(),
  V01T_STATUS_PAGE_TITLE: z.string().min(1).max(100).default('v01t status'),
});

export type Config = {
  env: 'development' | 'production' | 'test';
  http: { host: string; port: number; bodyLimit: number; trustProxy: boolean | string | number; publicUrl?: string; webDir?: string };
  services: ServiceName[];
  /** True when V01T_SERVICES named services (a missing one is then an error, not skipped). */
  servicesExplicit: boolean;
  dataDir: string;
  db: { url?: string; ephemeral: boolean; pgliteSharedBuffers: string; poolMax: number; statementTimeoutMs: number; migrateOnStart: boolean };
  redis: { url?: string; keyPrefix: string };
  log: { level: string };
  auth: {
    sessionTtlHours: number;
    signupEnabled: boolean;
    loginMaxFailuresPerIp: number;
    loginFailureWindowSeconds: number;
    loginBlockSeconds: number;
    /** Sign-in attempts, right or wrong, from one address per minute (each costs an argon2 check). */
    loginMaxPerIpPerMinute: number;
    /** Sign-ups from one address per hour (each costs an argon2 hash). */
    signupMaxPerIpPerHour: number;
    argon2: { memoryCost: number; timeCost: number };
  };
  shutdownTimeoutMs: number;
  /** The distributed shape: the shared token of the internal APIs, and where the orchestrator and the integration-hub answer them. */
  internal: { token?: string; orchestratorUrl?: string; integrationHubUrl?: string };
  secrets: { masterKey?: string; previousKeys?: string };
  /** analytics-engine: OLAP store, ingestion buffer, business KPIs. */
  analytics: {
    store: 'duckdb' | 'clickhouse';
    clickhouseUrl?: string;
    /** DuckDB file (':memory:' when ephemeral). */
    duckdbPath: string;
    bufferMaxEvents: number;
    /** Where accepted events wait for the store: fsync'd segment files (one process) or the database (replicas). */
    buffer: 'file' | 'database';
    /** Segment folder of the file buffer; unset when ephemeral (a temporary folder per process). */
    bufferDir?: string;
    flushIntervalMs: number;
    flushBatch: number;
    /** The workspace holding the platform's own business events (sign-ups, subscriptions) behind the KPI gauges. */
    platformWorkspaceId?: string;
    kpiRefreshSeconds: number;
  };
  /** Outbound HTTP (integration-hub egress guard). */
  egress: {
    allow: string[];
    timeoutMs: number;
    maxResponseBytes: number;
    /** Token bucket per connection and process: requests per second and burst (EGRESS_RATE_PER_S, EGRESS_RATE_BURST). */
    rateLimit: { perSecond: number; burst: number };
  };
  profile: 'embedded' | 'distributed';
  /** Object storage: the data folder (default) or an S3 bucket when S3_BUCKET is set. */
  storage: { s3?: { bucket: string; endpoint?: string; region: string; accessKeyId?: string; secretAccessKey?: string; forcePathStyle: boolean; prefix: string } };
  /** content-scheduler: media limits and the publisher. */
  content: { mediaMaxBytes: number; publisherIntervalMs: number; publisherBatch: number; publisherConcurrency: number; leaseSeconds: number; maxAttempts: number };
  /** Event backbone: postgres (default) or kafka (when KAFKA_BROKERS is set or V01T_EVENT_BUS=kafka). */
  events: {
    bus: 'postgres' | 'kafka';
    pollMs: number;
    maxAttempts: number;
    kafka: { brokers: string[]; clientId: string; topicPrefix: string; partitions: number };
  };
  /** workflow-engine: run leases (takeover after a worker dies), limits, queue polling, scheduler. */
  workflows: { leaseMs: number; workspaceConcurrency: number; queueBatch: number; queueWorkers: number | undefined; pollSeconds: number; schedulerTickMs: number; runRetentionDays: number; quarantineAfter: number };
  /**
   * Limits on user-written expressions (workflow transforms, conditions, templates and trigger
   * filters, gamification rule filters): see src/kernel/expressions and ADR 0320.
   */
  expressions: { timeoutMs: number; memoryMb: number; maxResultBytes: number; maxDepth: number; maxLength: number; workers: number; maxQueuedPerWorkspace: number };
  /**
   * Operations (src/ops): the Alertmanager webhook's and CI's bearer secrets, the workspace whose
   * integration-hub connections are the escalation targets, the escalation tick, the time zone and
   * the public holidays (a date-holidays country/state/region, extra YYYY-MM-DD dates) of "next
   * business day" (Sev4), the status page's title.
   */
  ops: {
    alertmanagerToken?: string;
    deployToken?: string;
    workspaceId?: string;
    tickSeconds: number;
    timeZone: string;
    holidays?: { country: string; state?: string; region?: string };
    extraHolidays: string[];
    statusPageTitle: string;
  };
};

export class ConfigError extends Error {
  constructor(public readonly problems: string[]) {
    super(`invalid configuration:\n${problems.map((p) => `  - ${p}`).join('\n')}`);
    this.name = 'ConfigError';
  }
}

/** Parses the environment once; a bad variable throws a ConfigError naming it. */
export function loadConfig(env: NodeJS.ProcessEnv = process.env): Config {
  // Empty strings mean "unset": shells and Helm often render unset values as "".
  const cleaned = Object.fromEntries(Object.entries(env).filter(([, v]) => v !== undefined && v !== ''));
  const parsed = envSchema.safeParse(cleaned);
  if (!parsed.success) {
    throw new ConfigError(
      parsed.error.issues.map((i) => {
        const name = i.path.join('.') || '(environment)';
        const given = typeof cleaned[name] === 'string' ? ` (got "${redactValue(name, cleaned[name] as string)}")` : '';
        return `${name}: ${i.message}${given}`;
      }),
    );
  }
  const e = parsed.data;
  if (e.ANALYTICS_STORE === 'clickhouse' && !e.CLICKHOUSE_URL) throw new ConfigError(['CLICKHOUSE_URL: required when ANALYTICS_STORE=clickhouse']);
  if (e.V01T_EVENT_BUS === 'kafka' && !e.KAFKA_BROKERS) throw new ConfigError(['KAFKA_BROKERS: required when V01T_EVENT_BUS=kafka']);
  return {
    env: e.NODE_ENV,
    http: { host: e.HOST, port: e.PORT, bodyLimit: e.BODY_LIMIT_BYTES, trustProxy: e.TRUST_PROXY, publicUrl: e.V01T_PUBLIC_URL, webDir: e.V01T_WEB_DIR },
    services: e.V01T_SERVICES,
    servicesExplicit: typeof cleaned.V01T_SERVICES === 'string' && cleaned.V01T_SERVICES.trim() !== 'all',
    dataDir: path.resolve(e.V01T_DATA_DIR),
    db: {
      url: e.DATABASE_URL,
      ephemeral: e.V01T_EPHEMERAL,
      pgliteSharedBuffers: e.PGLITE_SHARED_BUFFERS,
      poolMax: e.DATABASE_POOL_MAX,
      statementTimeoutMs: e.DATABASE_STATEMENT_TIMEOUT_MS,
      migrateOnStart: e.MIGRATE_ON_START,
    },
    redis: { url: e.REDIS_URL, keyPrefix: e.REDIS_KEY_PREFIX },
    log: { level: e.LOG_LEVEL },
    auth: {
      sessionTtlHours: e.SESSION_TTL_HOURS,
      signupEnabled: e.SIGNUP_ENABLED,
      loginMaxFailuresPerIp: e.LOGIN_MAX_FAILURES_PER_IP,
      loginFailureWindowSeconds: e.LOGIN_FAILURE_WINDOW_SECONDS,
      loginBlockSeconds: e.LOGIN_BLOCK_SECONDS,
      loginMaxPerIpPerMinute: e.LOGIN_MAX_PER_IP_PER_MINUTE,
      signupMaxPerIpPerHour: e.SIGNUP_MAX_PER_IP_PER_HOUR,
      argon2: { memoryCost: e.ARGON2_MEMORY_KIB, timeCost: e.ARGON2_TIME_COST },
    },
    shutdownTimeoutMs: e.SHUTDOWN_TIMEOUT_MS,
    internal: { token: e.V01T_INTERNAL_TOKEN, orchestratorUrl: e.V01T_ORCHESTRATOR_URL, integrationHubUrl: e.V01T_INTEGRATION_HUB_URL },
    secrets: { masterKey: e.V01T_MASTER_KEY, previousKeys: e.V01T_MASTER_KEY_PREVIOUS },
    analytics: {
      store: e.ANALYTICS_STORE ?? (e.CLICKHOUSE_URL ? 'clickhouse' : 'duckdb'),
      clickhouseUrl: e.CLICKHOUSE_URL,
      duckdbPath: e.ANALYTICS_DUCKDB_PATH ?? (e.V01T_EPHEMERAL ? ':memory:' : path.join(path.resolve(e.V01T_DATA_DIR), 'analytics.duckdb')),
      bufferMaxEvents: e.ANALYTICS_BUFFER_MAX_EVENTS,
      buffer: e.ANALYTICS_BUFFER ?? (e.DATABASE_URL ? 'database' : 'file'),
      bufferDir: e.ANALYTICS_BUFFER_DIR ?? (e.V01T_EPHEMERAL ? undefined : path.join(path.resolve(e.V01T_DATA_DIR), 'analytics-buffer')),
      flushIntervalMs: e.ANALYTICS_FLUSH_INTERVAL_MS,
      flushBatch: e.ANALYTICS_FLUSH_BATCH,
      platformWorkspaceId: e.ANALYTICS_PLATFORM_WORKSPACE_ID,
      kpiRefreshSeconds: e.ANALYTICS_KPI_REFRESH_SECONDS,
    },
    egress: {
      allow: (e.V01T_EGRESS_ALLOW ?? '').split(/[,\s]+/).map((x) => x.trim()).filter(Boolean),
      timeoutMs: e.EGRESS_TIMEOUT_MS,
      maxResponseBytes: e.EGRESS_MAX_RESPONSE_BYTES,
      rateLimit: { perSecond: e.EGRESS_RATE_PER_S, burst: e.EGRESS_RATE_BURST },
    },
    profile: e.DATABASE_URL ? 'distributed' : 'embedded',
    storage: {
      s3: e.S3_BUCKET
        ? {
            bucket: e.S3_BUCKET,
            endpoint: e.S3_ENDPOINT,
            region: e.S3_REGION,
            accessKeyId: e.S3_ACCESS_KEY_ID,
            secretAccessKey: e.S3_SECRET_ACCESS_KEY,
            // Local S3-compatible servers (s3rver, Swift, MinIO) do not serve virtual-host-style bucket names.
            forcePathStyle: e.S3_FORCE_PATH_STYLE ?? Boolean(e.S3_ENDPOINT),
            prefix: e.S3_PREFIX,
          }
        : undefined,
    },
    content: {
      mediaMaxBytes: e.CONTENT_MEDIA_MAX_BYTES,
      publisherIntervalMs: e.CONTENT_PUBLISHER_INTERVAL_MS,
      publisherBatch: e.CONTENT_PUBLISHER_BATCH,
      publisherConcurrency: e.CONTENT_PUBLISHER_CONCURRENCY,
      leaseSeconds: e.CONTENT_PUBLISH_LEASE_SECONDS,
      maxAttempts: e.CONTENT_PUBLISH_MAX_ATTEMPTS,
    },
    events: {
      bus: e.V01T_EVENT_BUS ?? (e.KAFKA_BROKERS ? 'kafka' : 'postgres'),
      pollMs: e.V01T_EVENT_POLL_MS,
      maxAttempts: e.V01T_EVENT_MAX_ATTEMPTS,
      kafka: {
        brokers: (e.KAFKA_BROKERS ?? '').split(',').filter(Boolean),
        clientId: e.KAFKA_CLIENT_ID,
        topicPrefix: e.KAFKA_TOPIC_PREFIX,
        partitions: e.KAFKA_TOPIC_PARTITIONS,
      },
    },
    workflows: {
      leaseMs: e.WORKFLOW_LEASE_MS,
      workspaceConcurrency: e.WORKFLOW_WORKSPACE_CONCURRENCY,
      queueBatch: e.WORKFLOW_QUEUE_BATCH,
      queueWorkers: e.WORKFLOW_QUEUE_WORKERS,
      pollSeconds: e.WORKFLOW_POLL_SECONDS,
      schedulerTickMs: e.WORKFLOW_SCHEDULER_TICK_MS,
      runRetentionDays: e.WORKFLOW_RUN_RETENTION_DAYS,
      quarantineAfter: e.WORKFLOW_QUARANTINE_AFTER,
    },
    expressions: {
      timeoutMs: e.EXPRESSION_TIMEOUT_MS,
      memoryMb: e.EXPRESSION_MEMORY_MB,
      maxResultBytes: e.EXPRESSION_MAX_RESULT_BYTES,
      maxDepth: e.EXPRESSION_MAX_DEPTH,
      maxLength: e.EXPRESSION_MAX_LENGTH,
      workers: e.EXPRESSION_WORKERS,
      maxQueuedPerWorkspace: e.EXPRESSION_MAX_QUEUED_PER_WORKSPACE,
    },
    ops: {
      alertmanagerToken: e.V01T_ALERTMANAGER_TOKEN,
      deployToken: e.V01T_DEPLOY_TOKEN,
      workspaceId: e.V01T_OPS_WORKSPACE_ID,
      tickSeconds: e.V01T_OPS_TICK_SECONDS,
      timeZone: e.V01T_OPS_TIMEZONE,
      holidays: e.V01T_OPS_HOLIDAYS,
      extraHolidays: e.V01T_OPS_EXTRA_HOLIDAYS ?? [],
      statusPageTitle: e.V01T_STATUS_PAGE_TITLE,
    },
  };
}

function redactValue(name: string, value: string): string {
  if (/URL$/.test(name)) return value.replace(/\/\/([^@/]*)@/, '//***@');
  if (/TOKEN|KEY|SECRET|PASSWORD/.test(name)) return '***';
  return value.length > 80 ? `${value.slice(0, 80)}…` : value;
}
