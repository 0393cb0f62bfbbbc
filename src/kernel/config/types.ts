/** S3 server-side encryption: SSE-S3 (`AES256`), SSE-KMS (`aws:kms`, with a key or the account's `aws/s3` key) or none. */
export interface S3Encryption {
  mode: 'AES256' | 'aws:kms' | 'none';
  kmsKeyId?: string;
}

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

/**
 * The kernel's own settings: HTTP, the data folder, database, cache, logging, the internal API's
 * secret, the master key, outbound HTTP, object storage, the event bus and the expression limits.
 * Each service's settings are its own (`src/services/<svc>/config.ts`), handed to it as `ctx.settings`.
 */
export type KernelConfig = {
  env: 'development' | 'production' | 'test';
  http: { host: string; port: number; bodyLimit: number; trustProxy: boolean | string | number; publicUrl?: string;
    webDir?: string;
    gatewayTimeoutMs: number;
    /** HTTPS served by this process (TLS_CERT_FILE, TLS_KEY_FILE). */
    tls?: { certFile: string; keyFile: string; reloadIntervalMs: number };
    hsts: boolean;
  };
  services: ServiceName[];
  /** True when V01T_SERVICES named services (a missing one is then an error, not skipped). */
  servicesExplicit: boolean;
  dataDir: string;
  db: {
    url?: string;
    ephemeral: boolean;
    pgliteSharedBuffers: string;
    /** Seed a new embedded database from the build's template (PGLITE_TEMPLATE, ADR 0065). */
    pgliteTemplate: boolean;
    /** Embedded database maintenance every so many minutes, 0: off (PGLITE_MAINTENANCE_INTERVAL_MINUTES, ADR 0094). */
    pgliteMaintenanceIntervalMinutes: number;
    poolMax: number;
    statementTimeoutMs: number;
    migrateOnStart: boolean;
    /** TLS to PostgreSQL (DATABASE_SSL_MODE, kernel/db/ssl.ts). */
    ssl?: import('../db/ssl.js').DatabaseSslSettings;
  };
  redis: { url?: string; keyPrefix: string };
  /** The runbook's cache layers (ADR 0059): per layer, its Redis (else in process, bounded by maxBytes). */
  cache: import('../cache/layers.js').CacheLayersConfig['layers'];
  log: { level: string; format: 'pino' | 'ecs'; access: boolean; serviceName: string };
  /** OpenTelemetry tracing (OTEL_* variables; off without an endpoint). */
  tracing: import('../telemetry/tracing.js').TracingSettings;
  shutdownTimeoutMs: number;
  /** The distributed shape: the shared token of the internal APIs (where each service answers is its remote.ts's). */
  internal: { token?: string };
  secrets: { masterKey?: string; previousKeys?: string; provider: 'local' | 'aws-kms'; awsKms?: { keyId: string; region?: string; endpoint?: string } };
  /** Outbound HTTP (the kernel's egress guard, `ctx.egress`). */
  egress: {
    allow: string[];
    timeoutMs: number;
    maxResponseBytes: number;
    /** Token bucket per connection and process: requests per second and burst (EGRESS_RATE_PER_S, EGRESS_RATE_BURST). */
    rateLimit: { perSecond: number; burst: number };
  };
  profile: 'embedded' | 'distributed';
  /** Object storage: the data folder (default) or an S3 bucket when S3_BUCKET is set. */
  storage: {
    s3?: { bucket: string; endpoint?: string; region: string; accessKeyId?: string; secretAccessKey?: string; forcePathStyle: boolean; prefix: string; sse: S3Encryption };
    /** Server-side encryption of every object v01t writes to S3 (media and backups): S3_SSE, S3_SSE_KMS_KEY_ID. */
    sse: S3Encryption;
  };
  /** Event backbone: postgres (default) or kafka (when KAFKA_BROKERS is set or V01T_EVENT_BUS=kafka). */
  events: {
    bus: 'postgres' | 'kafka';
    pollMs: number;
    /** While the relay keeps finding events, the pause between its runs (ADR 0084). */
    relayGatherMs: number;
    maxAttempts: number;
    kafka: { brokers: string[]; clientId: string; topicPrefix: string; partitions: number };
  };
  /**
   * Limits on user-written expressions (workflow transforms, conditions, templates and trigger
   * filters, gamification rule filters): see src/kernel/expressions and ADR 0320.
   */
  expressions: { timeoutMs: number; memoryMb: number; maxResultBytes: number; maxDepth: number; maxLength: number; workers: number; maxQueuedPerWorkspace: number };
};

/**
 * The configuration of a process: the kernel's settings and, by slice key, the settings of the
 * services it hosts (and the URLs of those it reaches elsewhere). Composed once at start-up.
 */
export type Config = KernelConfig & { settings: Readonly<Record<string, unknown>> };
