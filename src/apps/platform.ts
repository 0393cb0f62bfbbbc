import path from 'node:path';
import { existsSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { Config, ServiceName } from '../kernel/config/index.js';
import { systemClock, type Clock } from '../kernel/clock.js';
import { openDatabase, type Database } from '../kernel/db/database.js';
import { acquireDataDirLock } from '../kernel/db/data-dir-lock.js';
import { migrate, pendingMigrations, type MigrationSet } from '../kernel/db/migrate.js';
import { seedFromPgliteTemplate } from '../kernel/db/pglite-template.js';
import { createCache, type Cache } from '../kernel/cache/index.js';
import { createCacheLayers } from '../kernel/cache/layers.js';
import { loggerFor, type Logger } from '../kernel/telemetry/logger.js';
import { auditLogFields } from '../kernel/telemetry/siem.js';
import { CoreMetrics } from '../kernel/telemetry/metrics.js';
import { AuditLog, AUDIT_MIGRATIONS } from '../kernel/audit/index.js';
import { PermissionRegistry } from '../kernel/auth/permissions.js';
import { KERNEL_SHARED_SECRETS, SharedSecretRegistry } from '../kernel/auth/shared-secrets.js';
import type { IdentityPort } from '../kernel/auth/principal.js';
import { existingLocalKeys, loadKeyProvider, SecretBox, type KeyProvider } from '../kernel/crypto/secret-box.js';
import { AwsKmsKeyProvider, databaseKeyRing, KEY_RING_MIGRATIONS } from '../kernel/crypto/aws-kms.js';
import { createHttpServer, type App } from '../kernel/http/server.js';
import { registerGateway, type GatewayUpstream } from '../kernel/http/gateway.js';
import { PrincipalSigner } from '../kernel/auth/forwarded-principal.js';
import { readTlsOptions, TlsConfigError, watchTlsFiles } from '../kernel/http/tls.js';
import { DatabaseSslError } from '../kernel/db/ssl.js';
import { opsRoutes, type ReadinessProbe } from '../kernel/http/ops-routes.js';
import type { ContractDirectory, PersonalDataHandler, ServiceContext, ServiceInstance, ServiceModule } from '../kernel/module.js';
import { orchestratorModule, type OrchestratorInstance } from '../services/orchestrator/index.js';
import { workflowEngineModule } from '../services/workflow-engine/index.js';
import { analyticsModule } from '../services/analytics-engine/index.js';
import { gamificationModule } from '../services/gamification/index.js';
import { integrationHubModule } from '../services/integration-hub/index.js';
import { contentSchedulerModule } from '../services/content-scheduler/index.js';
import { EventBackbone, EVENTS_MIGRATION_SET, registerEvents } from '../kernel/events/index.js';
import { createEgressClient } from '../kernel/egress/index.js';
import { registerErrors } from '../kernel/errors.js';
import { configureExpressionGuard } from '../kernel/expressions/index.js';
import { opsModule, type OpsInstance } from '../services/ops/index.js';
import { StartupTimings } from './startup-timings.js';

/** The folder of v01t's package.json, whether this module runs from src/ (tests), dist/src/ or the dist/v01t.js bundle. */
const PACKAGE_ROOT: string | undefined = (() => {
  let dir = path.dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 4; i++) {
    if (existsSync(path.join(dir, 'package.json'))) return dir;
    dir = path.dirname(dir);
  }
  return undefined;
})();

/** The built web app: dist/web beside package.json. */
export const WEB_DIR: string | undefined = PACKAGE_ROOT && path.join(PACKAGE_ROOT, 'dist', 'web');

/** Where the build leaves the pre-initialised embedded database (scripts/ensure-build.mjs, ADR 0065). */
export const PGLITE_TEMPLATE_DIR: string | undefined = PACKAGE_ROOT && path.join(PACKAGE_ROOT, 'dist', 'pglite-template');

export const VERSION: string = (() => {
  try {
    return (JSON.parse(readFileSync(path.join(PACKAGE_ROOT ?? '.', 'package.json'), 'utf8')) as { version: string }).version;
  } catch {
    return '0.0.0';
  }
})();

export const KERNEL_MIGRATIONS: MigrationSet = { service: 'kernel', migrations: [...AUDIT_MIGRATIONS, ...KEY_RING_MIGRATIONS] };
export const KERNEL_EVENT_MIGRATIONS: MigrationSet = EVENTS_MIGRATION_SET;

/** Every service this build can run, and the modules they host. A service not listed here is not built yet. */
export function availableModules(handlers: () => Map<string, PersonalDataHandler>): Partial<Record<ServiceName | 'ops', ServiceModule>> {
  return {
    orchestrator: orchestratorModule({ personalDataHandlers: handlers }),
    'integration-hub': integrationHubModule,
    'workflow-engine': workflowEngineModule,
    'content-scheduler': contentSchedulerModule,
    'analytics-engine': analyticsModule,
    gamification: gamificationModule,
    ops: opsModule,
  };
}

/** The modules a process running these services loads: the services themselves and those they host (ops). */
export function modulesFor(catalog: Partial<Record<string, ServiceModule>>, services: readonly ServiceName[]): ServiceModule[] {
  const hosted = Object.values(catalog).filter((m): m is ServiceModule => Boolean(m?.hostedBy && services.includes(m.hostedBy)));
  return [...services.map((n) => catalog[n]).filter((m): m is ServiceModule => Boolean(m)), ...hosted];
}

/** Every migration set a process with these modules needs, in order: kernel, events, then the modules. */
export function platformMigrationSets(modules: ServiceModule[]): MigrationSet[] {
  return [KERNEL_MIGRATIONS, KERNEL_EVENT_MIGRATIONS, ...modules.map((m) => ({ service: m.name, migrations: m.migrations }))];
}

export interface PlatformOptions {
  config: Config;
  clock?: Clock;
  logger?: Logger;
  /** Extra routes registered before the server is sealed (tests of server behaviour). */
  extraRoutes?: (app: App) => void;
  /** Embedded only: start PGlite from this migrated data-directory tarball (test suites). */
  pgliteSnapshot?: Blob;
  /** What this process runs, named in the data folder's lock for whoever finds it taken (e.g. `v01t start`). */
  command?: string;
  /** Embedded only: where pre-initialised databases are (default PGLITE_TEMPLATE_DIR; null: none, always initdb). */
  pgliteTemplateDir?: string | null;
}

export interface Platform {
  config: Config;
  app: App;
  ctx: ServiceContext;
  database: Database;
  cache: Cache;
  metrics: CoreMetrics;
  logger: Logger;
  instances: Map<string, ServiceInstance>;
  orchestrator?: OrchestratorInstance;
  /** Incident response, status page, deployment history: hosted by the orchestrator's processes (src/services/ops). */
  ops?: OpsInstance;
  personalData: Map<string, PersonalDataHandler>;
  migrationSets: MigrationSet[];
  events: EventBackbone;
  /** Milliseconds per start phase (database, migrations, each service's create/start, routes). */
  startupPhasesMs: Record<string, number>;
  /**
   * Starts background work of every service. `firstEventPassInMs`: the event relay's and consumers'
   * first passes that much later instead of at once (the server: the poll period, ADR 0092).
   */
  startServices(opts?: { firstEventPassInMs?: number }): Promise<void>;
  listen(): Promise<string>;
  close(): Promise<void>;
}

export class StartupError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'StartupError';
  }
}

export async function createPlatform(opts: PlatformOptions): Promise<Platform> {
  const { config } = opts;
  const clock = opts.clock ?? systemClock;
  const logger = opts.logger ?? loggerFor(config.log);
  const metrics = new CoreMetrics({ serviceLabel: config.services.length === 1 ? config.services[0] : 'all' });
  const personalData = new Map<string, PersonalDataHandler>();
  const catalog = availableModules(() => personalData);

  // One vocabulary at run time, from every manifest of the build (a process also meets the codes
  // of services it reaches remotely).
  for (const m of Object.values(catalog)) {
    if (m?.errors) registerErrors(m.name, m.errors);
    if (m?.events) registerEvents(m.name, m.events);
  }
  const requested = config.services;
  const modules = modulesFor(catalog, requested);
  const missing = requested.filter((n) => !catalog[n]);
  if (missing.length && config.servicesExplicit) {
    throw new StartupError(`service(s) not available in this build: ${missing.join(', ')}`);
  }
  if (missing.length) logger.debug({ missing }, 'services not built yet are skipped');
  // Each module's settings come composed with the kernel's (apps/config.ts, loadPlatformConfig).
  const unconfigured = modules.filter((m) => m.config && !Object.hasOwn(config.settings, m.config.key)).map((m) => m.name);
  if (unconfigured.length) throw new StartupError(`the configuration holds no settings of ${unconfigured.join(', ')} (load it with loadPlatformConfig)`);
  // Kernel machinery every service shares: the guard of user expressions (workflows, gamification rules).
  configureExpressionGuard(config.expressions);

  // The embedded data folder is one process's (ADR 0021): a second server or a CLI fails here with
  // the holder's PID instead of inside PGlite or DuckDB.
  const lock = !config.db.url && !config.db.ephemeral ? acquireDataDirLock(config.dataDir, opts.command ?? 'v01t') : undefined;
  const timings = new StartupTimings();
  const pgDir = config.db.url || config.db.ephemeral ? undefined : path.join(config.dataDir, 'pg');
  const migrationSets = platformMigrationSets(modules);
  // A new data folder is copied from the build's template on libuv's thread pool while PGlite's
  // modules load (ADR 0097); the database opens once the copy is whole and in place.
  let seeding: Promise<boolean> | undefined;
  if (pgDir && config.db.migrateOnStart && !opts.pgliteSnapshot && !existsSync(pgDir)) {
    const templates = !config.db.pgliteTemplate ? undefined : opts.pgliteTemplateDir === undefined ? PGLITE_TEMPLATE_DIR : (opts.pgliteTemplateDir ?? undefined);
    seeding = timings.time('seed', () => seedFromPgliteTemplate(templates, migrationSets, pgDir)).then((seeded) => {
      if (seeded) logger.info({ dataDir: config.dataDir }, 'new data folder: embedded database copied from the build\'s template');
      else logger.info({ dataDir: config.dataDir }, "new data folder: initialising the embedded database (initdb, several seconds; the build step of `npm start` prepares a template that skips it)");
      return seeded;
    });
  }
  const database = await timings.time('database', () => openDatabase({
    url: config.db.url,
    dataDir: pgDir,
    poolMax: config.db.poolMax,
    pgliteSharedBuffers: config.db.pgliteSharedBuffers,
    pgliteLoadDataDir: opts.pgliteSnapshot,
    pgliteDataDirReady: seeding,
    statementTimeoutMs: config.db.statementTimeoutMs,
    ssl: config.db.ssl,
    applicationName: `v01t-${config.services.length === 1 ? config.services[0] : 'all'}`,
    observe: (queryType, table, seconds) => metrics.dbQueryDuration.observe({ query_type: queryType, table }, seconds),
  })).catch((err: unknown) => {
    lock?.release();
    throw err instanceof DatabaseSslError ? new StartupError(err.message) : err;
  });
  const cache = createCache({ redisUrl: config.redis.url, clock, prefix: config.redis.keyPrefix });
  // A cache layer's Redis away: reads compute without it; said at most every 10 s per layer, not per request.
  const cacheWarned = new Map<string, number>();
  const cacheLayers = createCacheLayers({ layers: config.cache, keyPrefix: config.redis.keyPrefix }, clock, metrics, (layer, err) => {
    if (Date.now() - (cacheWarned.get(layer) ?? 0) < 10_000) return;
    cacheWarned.set(layer, Date.now());
    logger.warn({ layer, err: err.message }, 'cache layer unavailable: computing without it');
  });
  const egress = createEgressClient(config, { clock });
  let closeKeys = () => {};
  const closeAll = async () => {
    closeKeys();
    await egress.close().catch(() => {});
    await cache.close().catch(() => {});
    await cacheLayers.close().catch(() => {});
    await database.close().catch(() => {});
    lock?.release();
  };

  try {
    metrics.gauge('database_connections_active', 'Database connections in use', () => database.connectionStats().active);
    metrics.gauge('database_connections_max', 'Database connection pool size', () => database.connectionStats().max);

    // A folder seeded from the template holds every migration of this build already: the
    // template's key is the checksum of each, so checking them again would only repeat its work.
    // Either way the migrations are known applied, and /ready's check need not read them again.
    const seeded = (await seeding) === true;
    let migrationsDone = seeded;
    if (config.db.migrateOnStart && !seeded) {
      const { applied } = await timings.time('migrations', () => migrate(database, migrationSets, (msg) => logger.info(msg)));
      if (applied.length) logger.info({ count: applied.length }, 'migrations applied');
      migrationsDone = true;
    }

    const permissions = new PermissionRegistry(...modules.map((m) => m.permissions ?? {}));
    const sharedSecrets = new SharedSecretRegistry(config, KERNEL_SHARED_SECRETS, ...modules.map((m) => m.secrets ?? {}));
    const localKeys = { masterKey: config.secrets.masterKey, previousKeys: config.secrets.previousKeys, dataDir: config.dataDir };
    let keyProvider: KeyProvider;
    if (config.secrets.awsKms) {
      const kms = await AwsKmsKeyProvider.open({ ...config.secrets.awsKms, store: databaseKeyRing(database), legacy: existingLocalKeys(localKeys) }).catch((err: unknown) => {
        throw new StartupError(`KEY_PROVIDER=aws-kms: the data key under ${config.secrets.awsKms!.keyId} cannot be generated or unwrapped: ${err instanceof Error ? err.message : String(err)}`);
      });
      closeKeys = () => kms.close();
      keyProvider = kms;
    } else keyProvider = loadKeyProvider(localKeys);
    const secrets = new SecretBox(keyProvider);
    // Each appended entry is also an audit line for the SIEM (ECS fields, docs/siem.md).
    const auditLines = logger.child({ component: 'audit' });
    const audit = new AuditLog(database.orm, clock, (entry) => {
      metrics.auditEvents.inc({ action: entry.action });
      auditLines.info(auditLogFields(entry), `audit ${entry.action}`);
    });
    const instances = new Map<string, ServiceInstance>();
    let stopTlsWatch: (() => void) | undefined;
    // On a PostgreSQL server a consumer's delivery transaction takes up to 500 events (PGlite, whose
    // one connection a transaction holds, keeps the bus's 50): fewer round trips per event (ADR 0084).
    const postgresBus = database.kind === 'postgres' ? { batchSize: 500, txMaxEvents: 500 } : {};
    const events = new EventBackbone({ db: database.orm, clock, logger: logger.child({ component: 'events' }), config: config.events, metrics, postgresBus });

    let identity: IdentityPort | undefined;
    /** Contracts of services running in other processes, reached over their internal HTTP APIs. */
    const remote = new Map<string, unknown>();
    const contracts: ContractDirectory = {
      has: (s) => instances.get(s)?.contract !== undefined || remote.has(s),
      get<T>(s: ServiceName): T {
        const c = instances.get(s)?.contract ?? remote.get(s);
        if (c === undefined) throw new Error(`the ${s} contract is not available in this process`);
        return c as T;
      },
    };
    let remoteIdentity: IdentityPort | undefined;
    /** Services in other processes whose public routes this process forwards, if it is the public entry. */
    const upstreams: GatewayUpstream[] = [];
    // Services running in other processes (the distributed shape), reached as each manifest's
    // remote.ts declares: their contracts over HTTP, looked up by callers on each use.
    for (const m of Object.values(catalog)) {
      const url = m?.remote && !modules.includes(m) && Object.hasOwn(config.settings, m.remote.url.key) ? m.remote.url.read(config) : undefined;
      if (!m?.remote || !url) continue;
      if (!config.internal.token) throw new StartupError(`${Object.keys(m.remote.url.variables).join(', ')} needs V01T_INTERNAL_TOKEN, the token of the ${m.name}'s internal API`);
      const side = m.remote.connect(url, config.internal.token);
      if (m.publicRoutes?.length) upstreams.push({ service: m.name, base: url, prefixes: m.publicRoutes });
      if (side.contract !== undefined) remote.set(m.name, side.contract);
      if (side.identity) remoteIdentity = side.identity;
    }
    // Services see the kernel's settings and their own slice, never another service's.
    const { settings, ...kernelConfig } = config;
    const ctx: ServiceContext = {
      config: kernelConfig,
      settings: undefined,
      database,
      db: database.orm,
      cache,
      cacheLayers,
      clock,
      logger,
      metrics,
      audit,
      secrets,
      permissions,
      identity: () => {
        if (!identity) throw new Error('identity is not configured');
        return identity;
      },
      contracts,
      events,
      egress,
    };

    for (const m of modules) {
      const instance = await timings.time(`create ${m.name}`, async () => m.create({ ...ctx, settings: m.config ? settings[m.config.key] : undefined, logger: logger.child({ service: m.name }) }));
      instances.set(m.name, instance);
      if (instance.personalData) personalData.set(m.name, instance.personalData);
      if (instance.identity) identity = instance.identity;
    }
    identity ??= remoteIdentity;
    if (!identity) throw new StartupError('without the orchestrator in this process, set V01T_ORCHESTRATOR_URL and V01T_INTERNAL_TOKEN so requests can be authenticated');

    const signer = config.internal.token ? new PrincipalSigner(config.internal.token) : undefined;
    let tlsOptions: ReturnType<typeof readTlsOptions> | undefined;
    try {
      tlsOptions = config.http.tls ? readTlsOptions(config.http.tls) : undefined;
    } catch (err) {
      if (err instanceof TlsConfigError) throw new StartupError(err.message);
      throw err;
    }
    const app = await createHttpServer({
      logger,
      metrics,
      permissions,
      secrets: sharedSecrets,
      identity: () => identity!,
      bodyLimit: config.http.bodyLimit,
      trustProxy: config.http.trustProxy,
      version: VERSION,
      // Only the process that serves the orchestrator (the public entry) serves the web app.
      webDir: instances.has('orchestrator') ? (config.http.webDir ?? WEB_DIR) : undefined,
      publicUrl: config.http.publicUrl,
      forwardedPrincipals: signer,
      hsts: config.http.hsts,
      accessLog: config.log.access,
      https: tlsOptions,
    });
    // A renewed certificate is served to new connections without a restart.
    if (config.http.tls) stopTlsWatch = watchTlsFiles(app.server as unknown as { setSecureContext(o: object): void }, config.http.tls, config.http.tls.reloadIntervalMs, logger);
    // The public entry of the distributed shape: the orchestrator's process forwards the routes of
    // the services that run elsewhere (ADR 0055).
    if (instances.has('orchestrator') && upstreams.length) {
      await registerGateway(app, upstreams, { identity: () => identity!, signer: signer!, publicUrl: config.http.publicUrl, timeoutMs: config.http.gatewayTimeoutMs });
      logger.info({ upstreams: upstreams.map((u) => `${u.service}=${u.base}`) }, 'gateway: forwarding the routes of services in other processes');
    }

    const probes: ReadinessProbe[] = [
      { name: 'database', check: () => database.ping() },
      {
        name: 'migrations',
        check: async () => {
          if (migrationsDone) return;
          const pending = await pendingMigrations(database, migrationSets);
          if (pending.length) throw new Error(`${pending.length} pending (run v01t migrate): ${pending.slice(0, 3).join(', ')}`);
          migrationsDone = true;
        },
      },
    ];
    if (cache.kind === 'redis') probes.push({ name: 'redis', check: () => cache.ping() });
    // Kafka away: writes still commit to the outbox and are relayed once it is back, but events stop
    // flowing between services, so the process says so (ADR 0010).
    if (events.bus.ping) probes.push({ name: 'kafka', check: () => events.readiness() });
    for (const [name, instance] of instances) {
      for (const [probe, check] of Object.entries(instance.readiness ?? {})) probes.push({ name: `${name}.${probe}`, check });
    }
    opsRoutes(app, { probes, registry: metrics.registry });
    await timings.time('routes', async () => {
      for (const instance of instances.values()) await instance.routes?.(app);
      opts.extraRoutes?.(app);
      await app.ready();
    });

    let started = false;
    return {
      config,
      app,
      ctx,
      database,
      cache,
      metrics,
      logger,
      instances,
      orchestrator: instances.get('orchestrator') as OrchestratorInstance | undefined,
      ops: instances.get('ops') as OpsInstance | undefined,
      personalData,
      migrationSets,
      events,
      startupPhasesMs: timings.phases,
      async startServices(startOpts = {}) {
        if (started) return;
        started = true;
        for (const [name, instance] of instances) await timings.time(`start ${name}`, async () => instance.start?.());
        // After the services: they subscribe while creating or starting, consumers start with all groups known.
        await timings.time('events', () => events.start({ firstPassInMs: startOpts.firstEventPassInMs }));
      },
      async listen() {
        return app.listen({ host: config.http.host, port: config.http.port });
      },
      async close() {
        stopTlsWatch?.();
        await app.close();
        await events.stop().catch((err) => logger.error({ err }, 'event backbone stop failed'));
        for (const instance of [...instances.values()].reverse()) await instance.stop?.().catch((err) => logger.error({ err }, 'service stop failed'));
        await closeAll();
      },
    };
  } catch (err) {
    await closeAll();
    throw err;
  }
}
