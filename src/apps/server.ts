import diagnostics from 'node:diagnostics_channel';
import v8 from 'node:v8';
import type { Config } from '../kernel/config/index.js';
import { loggerFor } from '../kernel/telemetry/logger.js';
import { startTracing } from '../kernel/telemetry/tracing.js';
import { startAdminSocket } from './admin-socket.js';
import { createPlatform, VERSION } from './platform.js';
import { BackupScheduler } from './backup-schedule.js';
import { IdleMemoryReducer } from './idle-memory.js';
import { DatabaseMaintenance } from './db-maintenance.js';

/**
 * The server's start, phase by phase, on the diagnostics channel `v01t:server` (ADR 0080): a
 * subscriber preloaded with `node --import` (the scheduler bench's publisher probe) sees
 * `{ phase: 'starting' }` once the CLI's modules are loaded, `{ phase: 'created', platform }` before
 * the services start and `{ phase: 'ready', platform, address }` once it listens. Nothing is
 * published without a subscriber.
 */
export const SERVER_CHANNEL = diagnostics.channel('v01t:server');

/**
 * Runs the HTTP server until SIGTERM/SIGINT, then shuts down gracefully: stop accepting
 * connections (503 to new requests on kept-alive sockets), let in-flight requests finish within
 * SHUTDOWN_TIMEOUT_MS, stop background work, close pools.
 */
export async function runServer(config: Config, command = 'v01t start'): Promise<void> {
  const logger = loggerFor(config.log);
  const started = Date.now();
  const imported = Math.round(performance.now());
  if (SERVER_CHANNEL.hasSubscribers) SERVER_CHANNEL.publish({ phase: 'starting' });
  // Before the platform: its HTTP server, database and queue look whether tracing is on when built.
  const tracing = await startTracing(config.tracing, { version: VERSION, logger });
  const platform = await createPlatform({ config, logger, command });
  if (SERVER_CHANNEL.hasSubscribers) SERVER_CHANNEL.publish({ phase: 'created', platform });
  // The event relay and consumers start as if each had just polled: their first passes (reads of
  // the outbox and of each group's backlog, nothing a readiness check needs) come one poll period
  // after the start instead of ahead of /ready's own statements on PGlite's one connection; an event
  // committed meanwhile still relays and wakes them at once (ADR 0092).
  await platform.startServices({ firstEventPassInMs: config.events.pollMs });
  const address = await platform.listen();
  if (SERVER_CHANNEL.hasSubscribers) SERVER_CHANNEL.publish({ phase: 'ready', platform, address });
  // Operator commands (v01t user create, gdpr export, ...) reach this process here while it holds the data folder.
  const admin = await startAdminSocket(platform, config.dataDir, logger);
  // Daily backup + prune, monthly drill, weekly retention cleanup (ADR 0050), where ops runs.
  const schedules = platform.ops ? new BackupScheduler(platform) : undefined;
  schedules?.start();
  logger.info(
    { address, services: [...platform.instances.keys()], profile: config.profile, database: platform.database.kind, cache: platform.cache.kind, startupMs: Date.now() - started, startupPhasesMs: { imports: imported, ...platform.startupPhasesMs } },
    `v01t listening on ${address}`,
  );
  // The launcher held V8 to one WebAssembly compilation at a time until here (bin/v01t.js, ADR
  // 0089): PGlite's functions made hot by the start are compiled in parallel again from now on.
  if (process.env.V01T_WASM_TASKS_UNTIL_READY === '1') {
    delete process.env.V01T_WASM_TASKS_UNTIL_READY;
    v8.setFlagsFromString('--wasm-num-compilation-tasks=128');
  }
  // Memory the start (and later each busy period) grew and no longer uses, given back once idle
  // (ADR 0078). Embedded only: its collection pauses the loop for a few hundred milliseconds, which
  // a publisher process of the distributed shape (no footprint aim, a memory limit of its own) pays
  // in lateness: three PostgreSQL publishers' p99 went from 0.6 s to 3.9 s with it.
  const idleMemory =
    platform.database.kind === 'pglite'
      ? new IdleMemoryReducer({
          onReduce: (r) => logger.debug({ heapMbBefore: Math.round(r.beforeBytes / 1048576), heapMbAfter: Math.round(r.afterBytes / 1048576), ms: Math.round(r.ms) }, 'idle: heap reduced'),
        })
      : undefined;
  idleMemory?.start();
  // PGlite runs PostgreSQL in single-user mode, without autovacuum: this pass vacuums and analyses
  // the tables past autovacuum's thresholds, one a second, preferably while idle (ADR 0094).
  const maintenanceMinutes = config.db.pgliteMaintenanceIntervalMinutes;
  const maintenance =
    platform.database.kind === 'pglite' && maintenanceMinutes > 0
      ? new DatabaseMaintenance({ database: platform.database, logger: logger.child({ component: 'db-maintenance' }), clock: platform.ctx.clock, metrics: platform.metrics, intervalMs: maintenanceMinutes * 60_000 })
      : undefined;
  maintenance?.start();

  let stopping = false;
  const shutdown = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    logger.info({ signal }, 'shutting down');
    idleMemory?.stop();
    const deadline = setTimeout(() => {
      logger.error({ timeoutMs: config.shutdownTimeoutMs }, 'shutdown deadline passed; exiting');
      process.exit(1);
    }, config.shutdownTimeoutMs);
    deadline.unref();
    try {
      // Before the database closes: the VACUUM or ANALYZE in flight finishes first.
      await maintenance?.stop();
      await admin?.close();
      await schedules?.stop();
      await platform.close();
      await tracing.shutdown();
      logger.info('shutdown complete');
      process.exit(0);
    } catch (err) {
      logger.error({ err }, 'shutdown failed');
      process.exit(1);
    }
  };
  process.once('SIGTERM', () => void shutdown('SIGTERM'));
  process.once('SIGINT', () => void shutdown('SIGINT'));
}
