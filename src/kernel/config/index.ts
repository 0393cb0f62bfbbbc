import path from 'node:path';
import { z } from 'zod';
import { cleanEnv, ConfigError, defineConfig, envBool as bool, port, positiveInt, setting, validateSlices, type ConfigSlice } from './define.js';
import { SERVICE_NAMES, type Config, type KernelConfig, type ServiceName } from './types.js';
import { TRACE_SAMPLERS, tracingSettings } from '../telemetry/tracing.js';

export { SERVICE_NAMES, type Config, type KernelConfig, type ServiceName } from './types.js';
export { ConfigError, configReferenceMarkdown, defineConfig, envBool, port, positiveInt, setting, type ConfigIssue, type ConfigSlice, type Setting } from './define.js';

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

const services = z
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
  });

const redisUrl = z.string().regex(/^rediss?:\/\//, 'must be a redis:// or rediss:// URL');

/** The kernel's variables: what every process reads whichever services it runs. */
export const KERNEL_CONFIG = defineConfig(
  'kernel',
  {
    NODE_ENV: setting(z.enum(['development', 'production', 'test']).default('development'), { description: 'the environment the process runs in' }),
    HOST: setting(z.string().min(1).default('127.0.0.1'), { description: 'the address the HTTP server listens on' }),
    PORT: setting(port.default(8080), { description: 'the port the HTTP server listens on (0: any free port)' }),
    V01T_DATA_DIR: setting(z.string().min(1).default('./data'), { description: 'embedded data: PGlite database (`pg/`), master key file (`master.key`, mode 0600), DuckDB file, object storage, analytics buffer; one process at a time' }),
    V01T_SERVICES: setting(services, {
      type: 'comma-separated service names',
      default: 'all',
      description: `the services this process runs (${SERVICE_NAMES.join(', ')}); \`v01t serve <service...>\` sets it`,
    }),
    V01T_PUBLIC_URL: setting(z.url().optional(), { description: "the instance's public URL; its origin is also accepted as a browser request's `Origin` (CSRF check, ADR 0024)" }),
    V01T_WEB_DIR: setting(z.string().min(1).optional(), { default: 'dist/web of the installation', description: 'the built web app served at `/` by the process that runs the orchestrator' }),
    DATABASE_URL: setting(z.string().regex(/^postgres(ql)?:\/\//, 'must be a postgres:// or postgresql:// URL').optional(), {
      type: 'URL',
      default: 'unset: PGlite in the data folder',
      secret: true,
      description: '`postgres://` URL of a real PostgreSQL; switches to the distributed profile',
    }),
    DATABASE_POOL_MAX: setting(positiveInt.max(1000).default(10), { description: 'connection pool size (`database_connections_max`)' }),
    DATABASE_SSL_MODE: setting(z.enum(['disable', 'require', 'verify-full']).optional(), { default: "unset: as DATABASE_URL's sslmode says", description: "TLS to PostgreSQL (every pool, pg-boss's and `v01t migrate`): `require` encrypts, `verify-full` also checks the server certificate against `DATABASE_SSL_CA` and its host name; overrides sslmode in DATABASE_URL" }),
    DATABASE_SSL_CA: setting(z.string().min(1).optional(), { type: 'path', description: 'PEM CA certificate(s) the PostgreSQL server certificate must chain to (`verify-full`)' }),
    DATABASE_SSL_CERT: setting(z.string().min(1).optional(), { type: 'path', description: "PEM client certificate for PostgreSQL's `cert` authentication (the runbook's `ssl_cert`)" }),
    DATABASE_SSL_KEY: setting(z.string().min(1).optional(), { type: 'path', secret: true, description: 'PEM private key of `DATABASE_SSL_CERT`' }),
    DATABASE_STATEMENT_TIMEOUT_MS: setting(positiveInt.default(30_000), { description: 'statement timeout on PostgreSQL' }),
    MIGRATE_ON_START: setting(bool.default(true), { description: 'apply pending migrations at start (`v01t migrate` does it explicitly)' }),
    PGLITE_SHARED_BUFFERS: setting(z.string().regex(/^\d+(kB|MB|GB)$/, 'a size like 16MB').default('8MB'), { type: 'size (kB, MB, GB)', description: "PGlite's shared buffers (bounds the embedded memory footprint: all of it is resident from the start)" }),
    PGLITE_MAINTENANCE_INTERVAL_MINUTES: setting(z.coerce.number().int().min(0).max(1440).default(10), {
      description: "embedded only (PGlite has no autovacuum): how often `v01t start` looks for tables past autovacuum's thresholds and runs `VACUUM (ANALYZE)` or `ANALYZE` on them, one table a second, preferably while idle (ADR 0094); 0: never",
    }),
    PGLITE_TEMPLATE: setting(bool.default(true), {
      description: "a new embedded database is copied from the build's pre-initialised one (`dist/pglite-template/`, made by `npm start`'s build step: initdb + migrations) instead of running initdb, seconds faster; false: always initdb",
    }),
    V01T_EPHEMERAL: setting(bool.default(false), { description: 'embedded database in memory only (demos, tests)' }),
    REDIS_URL: setting(redisUrl.optional(), {
      type: 'URL',
      default: 'unset: in-process cache',
      secret: true,
      description: 'Redis for cache, token lookups, login counters, rate limits and leaderboards (shared by replicas)',
    }),
    REDIS_KEY_PREFIX: setting(z.string().regex(/^[\w:.-]{1,64}$/).default('v01t:'), { description: 'key prefix in Redis' }),
    CACHE_API_RESPONSES_REDIS_URL: setting(redisUrl.optional(), {
      type: 'URL',
      default: 'REDIS_URL',
      secret: true,
      description: 'Redis instance of the `api_responses` cache layer (300 s; the runbook configures it `allkeys-lru`, `maxmemory 2 GB`); unset without REDIS_URL: in process',
    }),
    CACHE_API_RESPONSES_MAX_BYTES: setting(positiveInt.default(32 * 1024 * 1024), { description: 'bound of the in-process `api_responses` layer (least recently used entries are evicted above it)' }),
    CACHE_USER_SESSIONS_REDIS_URL: setting(redisUrl.optional(), {
      type: 'URL',
      default: 'REDIS_URL',
      secret: true,
      description: 'Redis instance of the `user_sessions` cache layer (3600 s; the runbook configures it `volatile-ttl`, `maxmemory 1 GB`); unset without REDIS_URL: in process',
    }),
    CACHE_USER_SESSIONS_MAX_BYTES: setting(positiveInt.default(16 * 1024 * 1024), { description: 'bound of the in-process `user_sessions` layer (least recently used entries are evicted above it)' }),
    CACHE_ANALYTICS_DATA_REDIS_URL: setting(redisUrl.optional(), {
      type: 'URL',
      default: 'REDIS_URL',
      secret: true,
      description: 'Redis instance of the `analytics_data` cache layer (1800 s; the runbook configures it `allkeys-lru`, `maxmemory 4 GB`); unset without REDIS_URL: in process',
    }),
    CACHE_ANALYTICS_DATA_MAX_BYTES: setting(positiveInt.default(64 * 1024 * 1024), { description: 'bound of the in-process `analytics_data` layer (least recently used entries are evicted above it)' }),
    LOG_LEVEL: setting(z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'), { description: 'pino level; logs are JSON with request ids, secrets redacted' }),
    LOG_FORMAT: setting(z.enum(['pino', 'ecs']).default('pino'), {
      description: 'shape of the JSON log lines: `pino` (`time`, `level`, `msg`) or `ecs` (Elastic Common Schema: `@timestamp`, `log.level`, `message`, `service.name`, `trace.id`) for a SIEM (docs/siem.md); audit, security and access lines carry the same ECS event fields in both',
    }),
    LOG_ACCESS: setting(bool.optional(), { default: 'true with LOG_FORMAT=ecs, else false', description: 'one access line per HTTP request (method, path, status, duration, client IP, user; docs/siem.md)' }),
    OTEL_EXPORTER_OTLP_ENDPOINT: setting(z.url().optional(), {
      type: 'URL',
      default: 'unset: tracing off (no SDK loaded)',
      description: 'OpenTelemetry collector (OTLP/HTTP, protobuf; e.g. `http://otel-collector:4318`): setting it turns tracing on, spans go to `<endpoint>/v1/traces` (docs/observability.md). `OTEL_EXPORTER_OTLP_HEADERS` and `OTEL_EXPORTER_OTLP_TIMEOUT` are read by the exporter as the specification says',
    }),
    OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: setting(z.url().optional(), { type: 'URL', description: 'the full traces URL, used as is (overrides `OTEL_EXPORTER_OTLP_ENDPOINT`)' }),
    OTEL_TRACES_SAMPLER: setting(z.enum(TRACE_SAMPLERS).default('parentbased_traceidratio'), { description: 'head sampler; parent-based samplers follow the sampled flag of an incoming `traceparent`' }),
    OTEL_TRACES_SAMPLER_ARG: setting(z.coerce.number().min(0).max(1).default(0.1), { type: 'number 0..1', description: 'ratio of new traces kept by the traceidratio samplers (the runbook samples 10 %)' }),
    OTEL_SERVICE_NAME: setting(z.string().min(1).optional(), { default: 'v01t', description: 'the `service.name` resource attribute of spans (and `service.name` of ECS log lines)' }),
    OTEL_SDK_DISABLED: setting(bool.default(false), { description: 'turns tracing off even with an endpoint set' }),
    OTEL_TRACES_EXPORTER: setting(z.enum(['otlp', 'none']).default('otlp'), { description: '`none` turns tracing off even with an endpoint set' }),
    OTEL_BSP_SCHEDULE_DELAY: setting(positiveInt.max(600_000).default(5000), { description: 'milliseconds between two exports of the batch span processor' }),
    TRUST_PROXY: setting(trustProxy.default(false), {
      type: 'true, false, a hop count or a CIDR list',
      description: 'take the client IP from `X-Forwarded-For` (sign-in limits key on it)',
    }),
    BODY_LIMIT_BYTES: setting(positiveInt.default(1024 * 1024), { description: 'request body limit (413 above it)' }),
    TLS_CERT_FILE: setting(z.string().min(1).optional(), { type: 'path', description: 'PEM certificate chain: serve HTTPS, TLS 1.3 only, suites TLS_AES_256_GCM_SHA384 and TLS_CHACHA20_POLY1305_SHA256 (runbook), with HSTS; reloaded without a restart when the file changes. Needs `TLS_KEY_FILE`' }),
    TLS_KEY_FILE: setting(z.string().min(1).optional(), { type: 'path', secret: true, description: 'PEM private key of `TLS_CERT_FILE`' }),
    TLS_RELOAD_INTERVAL_MS: setting(positiveInt.min(100).default(30_000), { description: 'how often the certificate and key files are checked for a change (a renewed certificate is served to new connections)' }),
    HSTS: setting(bool.optional(), { default: 'true when TLS is served here or V01T_PUBLIC_URL is https', description: 'send `Strict-Transport-Security: max-age=31536000; includeSubDomains` (set it behind a TLS-terminating proxy)' }),
    GATEWAY_TIMEOUT_MS: setting(positiveInt.default(30_000), { description: "distributed shape: how long the public entry waits for the response headers of the service owning a route before answering 504 `upstream_timeout`" }),
    SHUTDOWN_TIMEOUT_MS: setting(positiveInt.default(10_000), { description: 'graceful shutdown deadline after SIGTERM' }),
    V01T_INTERNAL_TOKEN: setting(z.string().min(32, 'must be at least 32 characters').optional(), {
      secret: true,
      description: "shared secret (≥ 32 chars) of the internal APIs between processes (the distributed shape): the orchestrator's identity API, the integration-hub's contract",
    }),
    V01T_MASTER_KEY: setting(z.string().optional(), {
      secret: true,
      default: 'generated into V01T_DATA_DIR/master.key',
      description: "32-byte master key (64 hex chars or base64) wrapping every secret's data key. **Set it in production**; replicas must share it",
    }),
    V01T_MASTER_KEY_PREVIOUS: setting(z.string().optional(), { secret: true, description: 'old master keys (comma-separated) still accepted while rotating' }),
    KEY_PROVIDER: setting(z.enum(['local', 'aws-kms']).default('local'), {
      description:
        "what wraps every secret's data key: `local` = the master key (V01T_MASTER_KEY or the data folder's key file); `aws-kms` = a data key of AWS KMS (GenerateDataKey under AWS_KMS_KEY_ID), stored wrapped in the database and unwrapped with Decrypt at start (ADR 0057)",
    }),
    AWS_KMS_KEY_ID: setting(z.string().min(1).optional(), { type: 'key id, ARN or alias', description: 'the KMS key of `KEY_PROVIDER=aws-kms`; changing it generates a new data key at the next start (then `v01t keys rotate`)' }),
    AWS_KMS_REGION: setting(z.string().min(1).optional(), { default: "the SDK's (AWS_REGION)", description: 'region of AWS_KMS_KEY_ID; credentials come from the AWS default chain (IRSA, instance role, AWS_* variables)' }),
    AWS_KMS_ENDPOINT: setting(z.url().optional(), { default: "unset: the region's", description: 'a KMS endpoint other than the region’s public one (a VPC endpoint)' }),
    V01T_EGRESS_ALLOW: setting(z.string().optional(), {
      type: 'comma-separated hosts, IPs, CIDRs',
      description: 'hosts (`api.internal`, `*.corp.example`), IPs and CIDRs outbound requests may reach even though private; everything else non-public is refused with `egress_blocked`',
    }),
    EGRESS_TIMEOUT_MS: setting(positiveInt.max(300_000).default(10_000), { description: 'per-attempt timeout of outbound requests' }),
    EGRESS_MAX_RESPONSE_BYTES: setting(positiveInt.default(5 * 1024 * 1024), { description: 'largest accepted response body of an outbound request' }),
    EGRESS_RATE_PER_S: setting(positiveInt.max(100_000).default(10), {
      description:
        'default token bucket per connection (or workflow, for `http` steps) and process (N replicas allow N times this), for connections without their own `rateLimit`: requests per second; a request over it fails at once with `egress_rate_limited` and `retryAfterSeconds`',
    }),
    EGRESS_RATE_BURST: setting(positiveInt.max(100_000).default(20), { description: 'burst of that token bucket' }),
    S3_BUCKET: setting(z.string().regex(/^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/, 'an S3 bucket name').optional(), {
      default: 'unset: files in the data folder',
      description: 'object storage (media) in this S3 bucket instead of the data folder',
    }),
    S3_ENDPOINT: setting(z.url().optional(), { description: 'an S3-compatible endpoint (MinIO, Swift); unset = AWS' }),
    S3_REGION: setting(z.string().min(1).default('us-east-1'), { description: 'S3 region' }),
    S3_ACCESS_KEY_ID: setting(z.string().min(1).optional(), { description: 'S3 access key; without keys the AWS default credential chain is used' }),
    S3_SECRET_ACCESS_KEY: setting(z.string().min(1).optional(), { secret: true, description: 'S3 secret key' }),
    S3_FORCE_PATH_STYLE: setting(bool.optional(), { default: 'true with S3_ENDPOINT', description: 'path-style bucket addressing (local S3-compatible servers need it)' }),
    S3_PREFIX: setting(z.string().regex(/^([A-Za-z0-9._-]+\/)*$/, 'empty or a path ending in /').default(''), { description: 'key prefix inside the bucket (empty or ending in /)' }),
    S3_SSE: setting(z.enum(['AES256', 'aws:kms', 'none']).default('AES256'), {
      description:
        'server-side encryption requested on every object v01t writes to S3 (media and backups): `AES256` = SSE-S3 (the runbook), `aws:kms` = SSE-KMS (with S3_SSE_KMS_KEY_ID, else the account’s `aws/s3` key), `none` for S3-compatible servers without encryption support',
    }),
    S3_SSE_KMS_KEY_ID: setting(z.string().min(1).optional(), { default: "unset: the account's aws/s3 key", description: 'KMS key id, alias or ARN for `S3_SSE=aws:kms`' }),
    V01T_EVENT_BUS: setting(z.enum(['postgres', 'kafka']).optional(), { default: 'kafka when KAFKA_BROKERS is set, else postgres', description: 'the event backbone between services' }),
    V01T_EVENT_POLL_MS: setting(positiveInt.max(60_000).default(200), { description: 'outbox relay and postgres bus polling period' }),
    V01T_EVENT_RELAY_GATHER_MS: setting(z.coerce.number().int().min(0).max(1000).default(100), {
      description: 'while the outbox relay keeps finding new events, it waits this long between runs, so each run and each consumer poll takes more events at once (0: back to back); a full run goes again at once',
    }),
    V01T_EVENT_MAX_ATTEMPTS: setting(positiveInt.max(100).default(5), { description: 'attempts of a consumer group to handle an event before it is dead-lettered' }),
    KAFKA_BROKERS: setting(z.string().regex(/^[^\s,]+:\d+(,[^\s,]+:\d+)*$/, 'must be a comma-separated list of host:port').optional(), {
      type: 'comma-separated host:port',
      description: 'Kafka brokers; setting them selects the kafka bus',
    }),
    KAFKA_CLIENT_ID: setting(z.string().min(1).default('v01t'), { description: 'Kafka client id' }),
    KAFKA_TOPIC_PREFIX: setting(z.string().regex(/^[A-Za-z0-9._-]{0,100}$/).default('v01t.'), { description: 'prefix of the topics events are published to' }),
    KAFKA_TOPIC_PARTITIONS: setting(positiveInt.max(1000).default(3), { description: 'partitions of a topic created by v01t' }),
    EXPRESSION_TIMEOUT_MS: setting(positiveInt.min(10).max(60_000).default(1000), { description: 'time limit of one user expression (workflow transforms, conditions, templates, trigger and rule filters; ADR 0320)' }),
    EXPRESSION_MEMORY_MB: setting(positiveInt.min(16).max(4096).default(64), { description: 'memory limit of an expression worker process' }),
    EXPRESSION_MAX_RESULT_BYTES: setting(positiveInt.min(1024).max(64 * 1024 * 1024).default(1024 * 1024), { description: "size limit of an expression's result" }),
    EXPRESSION_MAX_DEPTH: setting(positiveInt.min(10).max(10_000).default(500), { description: 'nesting depth limit of a user expression' }),
    EXPRESSION_MAX_LENGTH: setting(positiveInt.min(100).max(1_000_000).default(20_000), { description: 'source length limit of a user expression' }),
    EXPRESSION_WORKERS: setting(positiveInt.max(64).default(2), { description: 'worker processes for expressions that are not provably cheap' }),
    EXPRESSION_MAX_QUEUED_PER_WORKSPACE: setting(positiveInt.max(10_000).default(8), { description: "a workspace's share of the expression workers' queue" }),
  },
  (e, _: void): Omit<KernelConfig, 'servicesExplicit'> => ({
    env: e.NODE_ENV,
    http: { host: e.HOST, port: e.PORT, bodyLimit: e.BODY_LIMIT_BYTES, trustProxy: e.TRUST_PROXY, publicUrl: e.V01T_PUBLIC_URL, webDir: e.V01T_WEB_DIR, gatewayTimeoutMs: e.GATEWAY_TIMEOUT_MS,
      tls: e.TLS_CERT_FILE && e.TLS_KEY_FILE ? { certFile: e.TLS_CERT_FILE, keyFile: e.TLS_KEY_FILE, reloadIntervalMs: e.TLS_RELOAD_INTERVAL_MS } : undefined,
      hsts: e.HSTS ?? Boolean(e.TLS_CERT_FILE || e.V01T_PUBLIC_URL?.startsWith('https:')) },
    services: e.V01T_SERVICES,
    dataDir: path.resolve(e.V01T_DATA_DIR),
    db: {
      url: e.DATABASE_URL,
      ephemeral: e.V01T_EPHEMERAL,
      pgliteSharedBuffers: e.PGLITE_SHARED_BUFFERS,
      pgliteTemplate: e.PGLITE_TEMPLATE,
      pgliteMaintenanceIntervalMinutes: e.PGLITE_MAINTENANCE_INTERVAL_MINUTES,
      poolMax: e.DATABASE_POOL_MAX,
      statementTimeoutMs: e.DATABASE_STATEMENT_TIMEOUT_MS,
      ssl: e.DATABASE_SSL_MODE ? { mode: e.DATABASE_SSL_MODE, caFile: e.DATABASE_SSL_CA, certFile: e.DATABASE_SSL_CERT, keyFile: e.DATABASE_SSL_KEY } : undefined,
      migrateOnStart: e.MIGRATE_ON_START,
    },
    redis: { url: e.REDIS_URL, keyPrefix: e.REDIS_KEY_PREFIX },
    cache: {
      api_responses: { redisUrl: e.CACHE_API_RESPONSES_REDIS_URL ?? e.REDIS_URL, maxBytes: e.CACHE_API_RESPONSES_MAX_BYTES },
      user_sessions: { redisUrl: e.CACHE_USER_SESSIONS_REDIS_URL ?? e.REDIS_URL, maxBytes: e.CACHE_USER_SESSIONS_MAX_BYTES },
      analytics_data: { redisUrl: e.CACHE_ANALYTICS_DATA_REDIS_URL ?? e.REDIS_URL, maxBytes: e.CACHE_ANALYTICS_DATA_MAX_BYTES },
    },
    log: { level: e.LOG_LEVEL, format: e.LOG_FORMAT, access: e.LOG_ACCESS ?? e.LOG_FORMAT === 'ecs', serviceName: e.OTEL_SERVICE_NAME ?? 'v01t' },
    tracing: tracingSettings(e),
    shutdownTimeoutMs: e.SHUTDOWN_TIMEOUT_MS,
    internal: { token: e.V01T_INTERNAL_TOKEN },
    secrets: {
      masterKey: e.V01T_MASTER_KEY,
      previousKeys: e.V01T_MASTER_KEY_PREVIOUS,
      provider: e.KEY_PROVIDER,
      ...(e.KEY_PROVIDER === 'aws-kms' ? { awsKms: { keyId: e.AWS_KMS_KEY_ID!, region: e.AWS_KMS_REGION, endpoint: e.AWS_KMS_ENDPOINT } } : {}),
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
            sse: { mode: e.S3_SSE, kmsKeyId: e.S3_SSE_KMS_KEY_ID },
          }
        : undefined,
      sse: { mode: e.S3_SSE, kmsKeyId: e.S3_SSE_KMS_KEY_ID },
    },
    events: {
      bus: e.V01T_EVENT_BUS ?? (e.KAFKA_BROKERS ? 'kafka' : 'postgres'),
      pollMs: e.V01T_EVENT_POLL_MS,
      relayGatherMs: e.V01T_EVENT_RELAY_GATHER_MS,
      maxAttempts: e.V01T_EVENT_MAX_ATTEMPTS,
      kafka: {
        brokers: (e.KAFKA_BROKERS ?? '').split(',').filter(Boolean),
        clientId: e.KAFKA_CLIENT_ID,
        topicPrefix: e.KAFKA_TOPIC_PREFIX,
        partitions: e.KAFKA_TOPIC_PARTITIONS,
      },
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
  }),
  {
    check: (e) => [
      ...(e.V01T_EVENT_BUS === 'kafka' && !e.KAFKA_BROKERS ? [{ variable: 'KAFKA_BROKERS', message: 'required when V01T_EVENT_BUS=kafka' }] : []),
      ...(e.KEY_PROVIDER === 'aws-kms' && !e.AWS_KMS_KEY_ID ? [{ variable: 'AWS_KMS_KEY_ID', message: 'required when KEY_PROVIDER=aws-kms' }] : []),
      ...(e.S3_SSE_KMS_KEY_ID && e.S3_SSE !== 'aws:kms' ? [{ variable: 'S3_SSE_KMS_KEY_ID', message: 'applies only with S3_SSE=aws:kms' }] : []),
      ...(Boolean(e.TLS_CERT_FILE) !== Boolean(e.TLS_KEY_FILE) ? [{ variable: e.TLS_CERT_FILE ? 'TLS_KEY_FILE' : 'TLS_CERT_FILE', message: 'TLS_CERT_FILE and TLS_KEY_FILE go together' }] : []),
    ],
  },
);

/** The slices to compose for a process running these services (chosen by the app entry points). */
export type SliceSelection = readonly ConfigSlice<unknown, never>[] | ((services: readonly ServiceName[]) => readonly ConfigSlice<unknown, never>[]);

/**
 * Parses the environment once: the kernel's variables and the given slices (the services this
 * process hosts). Every bad variable of every slice is reported in one ConfigError; nothing is
 * built until all are valid. Without slices, the kernel's settings only (kernel tests).
 */
export function loadConfig(env: NodeJS.ProcessEnv | Readonly<Record<string, string | undefined>> = process.env, slices: SliceSelection = []): Config {
  const cleaned = cleanEnv(env);
  const kernel = KERNEL_CONFIG.validate(cleaned);
  // A bad V01T_SERVICES still gets every slice checked, so one run shows every problem.
  const chosen = typeof slices === 'function' ? slices('values' in kernel ? (kernel.values.V01T_SERVICES as ServiceName[]) : SERVICE_NAMES) : slices;
  const composed = validateSlices(cleaned, [KERNEL_CONFIG as ConfigSlice<unknown, never>, ...chosen]);
  if (composed.issues.length) throw new ConfigError(composed.issues.map((i) => `${i.variable}: ${i.message}`));
  const base: KernelConfig = {
    ...KERNEL_CONFIG.build(composed.values.get(KERNEL_CONFIG.key)!, undefined),
    servicesExplicit: typeof cleaned.V01T_SERVICES === 'string' && cleaned.V01T_SERVICES.trim() !== 'all',
  };
  const settings: Record<string, unknown> = {};
  for (const slice of chosen) settings[slice.key] = (slice as ConfigSlice<unknown, KernelConfig>).build(composed.values.get(slice.key)!, base);
  return { ...base, settings };
}
