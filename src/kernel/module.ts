import type { Readable } from 'node:stream';
import type { KernelConfig, ServiceName } from './config/index.js';
import type { ConfigSlice } from './config/define.js';
import type { Clock } from './clock.js';
import type { Database, Db } from './db/database.js';
import type { Migration } from './db/migrate.js';
import type { Cache } from './cache/index.js';
import type { CacheLayers } from './cache/layers.js';
import type { Logger } from './telemetry/logger.js';
import type { CoreMetrics } from './telemetry/metrics.js';
import type { AuditLog } from './audit/index.js';
import type { PermissionMap, PermissionRegistry } from './auth/permissions.js';
import type { SharedSecretMap } from './auth/shared-secrets.js';
import type { IdentityPort } from './auth/principal.js';
import type { SecretBox } from './crypto/secret-box.js';
import type { App } from './http/server.js';
import type { EventsPort } from './events/envelope.js';
import type { EgressClient } from './egress/client.js';
import type { ErrorMap } from './errors.js';
import type { EventMap } from './events/catalog.js';

/** Everything a service may use; its constructor picks what it needs. */
export interface ServiceContext<S = unknown> {
  /** The kernel's settings (HTTP, database, cache, egress, ...). */
  config: KernelConfig;
  /** The service's own settings, parsed from its manifest's `config` slice (undefined without one); no other service's. */
  settings: S;
  database: Database;
  db: Db;
  cache: Cache;
  /** The runbook's named cache layers (api_responses, user_sessions, analytics_data; ADR 0059). */
  cacheLayers: CacheLayers;
  clock: Clock;
  logger: Logger;
  metrics: CoreMetrics;
  audit: AuditLog;
  secrets: SecretBox;
  permissions: PermissionRegistry;
  /** Identity as seen by this process (in process, or the orchestrator over HTTP when split). */
  identity: () => IdentityPort;
  /** Contract clients of the other services, by service name (see each service's contract.ts). */
  contracts: ContractDirectory;
  /** The event backbone: publish through the transactional outbox, subscribe as a consumer group. */
  events: EventsPort;
  /** The guarded outbound HTTP client of this process (SSRF guard, rate limits, breakers; V01T_EGRESS_ALLOW). */
  egress: EgressClient;
}

export interface ContractDirectory {
  get<T>(service: ServiceName): T;
  has(service: ServiceName): boolean;
}

/** What a service keeps about a person, and how to export and erase it (GDPR art. 15, 17, 20). */
export interface PersonalDataHandler {
  /** Human-readable list of the personal data the service keeps. */
  describes: string[];
  exportUser(userId: string): Promise<Record<string, unknown>>;
  /** Erases or anonymises everything about the user; returns counts per kind. */
  eraseUser(userId: string): Promise<Record<string, number>>;
}

/**
 * The runbook's retention classes (data_retention): user activity logs 90 days, audit logs 7
 * years, analytics data 3 years, financial records 7 years, user content until the user deletes
 * it; `operational` is bookkeeping with a shorter life of its own (tokens, dedupe windows, outboxes).
 */
export const RETENTION_CLASSES = ['user_activity_logs', 'audit_logs', 'analytics_data', 'financial_records', 'user_content', 'operational'] as const;
export type RetentionClass = (typeof RETENTION_CLASSES)[number];

/** A retention rule run by the weekly cleanup (runbook: "0 2 * * 0"). */
export interface RetentionRule {
  name: string;
  /** The runbook's class of the data (the cleanup's summary and metrics count rows per class). */
  class: RetentionClass;
  /** How long the data is kept, as the runbook words it (e.g. "90 days", "7 years"). */
  keep: string;
  purge(now: Date): Promise<number>;
}

/** Where a service's stores outside the database go in a backup (ADR 0050). */
export interface BackupSink {
  /** A private scratch folder, removed after the backup. */
  readonly scratch: string;
  add(path: string, source: Readable | Buffer, meta?: Record<string, string>): Promise<void>;
  addFile(path: string, file: string, meta?: Record<string, string>): Promise<void>;
}

export interface ServiceBackup {
  /**
   * Runs fn with the service's stores held still relative to each other (e.g. no batch moving from
   * its buffer to its OLAP store); the database snapshot and every dump run inside.
   */
  quiesce?<T>(fn: () => Promise<T>): Promise<T>;
  /** Writes the service's own stores beyond the database (OLAP, file buffers) into the backup. */
  dump(sink: BackupSink): Promise<void>;
}

export interface ServiceInstance {
  routes?(app: App): void | Promise<void>;
  /** Starts background work (workers, relays, schedulers). */
  start?(): Promise<void>;
  /** Stops background work; in-flight work finishes or is left resumable. */
  stop?(): Promise<void>;
  personalData?: PersonalDataHandler;
  retention?: RetentionRule[];
  /** The service's stores beyond the database, for `v01t backup create` (ADR 0050). */
  backup?: ServiceBackup;
  /** The in-process implementation of the service's contract client. */
  contract?: unknown;
  /** Only the orchestrator provides identity. */
  identity?: IdentityPort;
  /** Re-wraps every secret the service stores under the current master key (`v01t keys rotate`). */
  rewrapSecrets?(): Promise<{ rewrapped: number; unchanged: number }>;
  /** Extra readiness checks (name → probe). */
  readiness?: Record<string, () => Promise<void>>;
}

/** What a process gets when it reaches a service running elsewhere (mirrors ServiceInstance). */
export interface RemoteService {
  /** The service's contract over its internal API. */
  contract?: unknown;
  /** Only the orchestrator's: identity for the kernel guard. */
  identity?: IdentityPort;
}

/** How a process without the service reaches it (the distributed shape): declared in `<service>/remote.ts`. */
export interface RemoteDeclaration {
  /**
   * The variable naming the service's base URL, a slice of its own (`<service>.remote`): composed in
   * every process of the build, since it is read where the service does not run.
   */
  url: ConfigSlice<string | undefined>;
  /** Builds the remote side with the installation's V01T_INTERNAL_TOKEN. */
  connect(baseUrl: string, internalToken: string): RemoteService;
}

/** A service is a manifest: the app entry points choose which manifests to load. */
export interface ServiceModule<S = unknown> {
  /** A ServiceName, or the name of a module hosted by one (`hostedBy`). */
  name: string;
  /**
   * A module without a process of its own: loaded in every process that runs this service (ops
   * with the orchestrator, the home of platform admins). Absent = selected by V01T_SERVICES / `v01t serve`.
   */
  hostedBy?: ServiceName;
  /** Postgres schema the service owns. */
  schema: string;
  migrations: Migration[];
  permissions?: PermissionMap;
  /** Its error codes (errors.ts, `defineErrors`), composed into the one catalog at start-up. */
  errors?: ErrorMap;
  /** The events it publishes (events.ts, `defineEvents`), composed into the one catalog at start-up. */
  events?: EventMap;
  /** Its settings (config.ts, `defineConfig`): parsed with the kernel's at start-up, handed to `create` as `ctx.settings`. */
  config?: ConfigSlice<S>;
  /** Shared secrets its routes require with `auth: 'secret:<name>'`. */
  secrets?: SharedSecretMap;
  /** How other processes reach this service when it runs elsewhere. */
  remote?: RemoteDeclaration;
  /**
   * The public paths it serves (find-my-way syntax; each prefix also covers everything below it):
   * in the distributed shape the public entry forwards them to the service's process (ADR 0055).
   * Checked against the routes the service registers (test/gateway/route-ownership.test.ts).
   */
  publicRoutes?: readonly string[];
  create(ctx: ServiceContext<S>): ServiceInstance | Promise<ServiceInstance>;
}
