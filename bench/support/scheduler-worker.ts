/**
 * One publisher replica for `npm run bench -- scheduler`: a v01t process serving the services in
 * V01T_SERVICES on the bench's PostgreSQL database, with its publisher running on the wall clock.
 * Prints one JSON line {"phase":"ready",...} once started (with its timeline: process start,
 * modules imported, platform created, services started, as epoch ms) and, on SIGTERM, one line
 * {"phase":"stopped","cpuMs":...} with the CPU time it used (user + system) before it stops.
 */
import { performance } from 'node:perf_hooks';

const spawnedAt = performance.timeOrigin;
const { loadPlatformConfig } = await import('../../src/apps/config.js');
const { createPlatform } = await import('../../src/apps/platform.js');
const { createLogger } = await import('../../src/kernel/telemetry/logger.js');
const importedAt = Date.now();

const config = loadPlatformConfig(process.env);
const platform = await createPlatform({ config, logger: createLogger(config.log.level) });
const createdAt = Date.now();
// The first claim that returned targets, seen by wrapping the publisher's repository (bench only).
let firstClaimAt: number | null = null;
const scheduler = platform.instances.get('content-scheduler') as { services?: { publisher?: unknown } } | undefined;
const repo = (scheduler?.services?.publisher as { repo?: { claimDue(...a: unknown[]): Promise<string[]> } } | undefined)?.repo;
if (repo) {
  const claimDue = repo.claimDue.bind(repo);
  repo.claimDue = async (...a: unknown[]) => {
    const ids = await claimDue(...a);
    if (ids.length && firstClaimAt === null) firstClaimAt = Date.now();
    return ids;
  };
}
await platform.startServices();
const readyAt = Date.now();
const cpuAtReady = process.cpuUsage();
/** Statements run so far (the database_query_duration_seconds histogram's count), by statement type and table. */
const statements = async () => {
  const m = await platform.metrics.dbQueryDuration.get();
  const counts: Record<string, number> = {};
  for (const v of m.values) if (v.metricName?.endsWith('_count')) counts[`${v.labels.query_type} ${v.labels.table}`] = (counts[`${v.labels.query_type} ${v.labels.table}`] ?? 0) + v.value;
  return counts;
};
const statementsAtReady = await statements();
process.stdout.write(`${JSON.stringify({ phase: 'ready', pid: process.pid, spawnedAt, importedAt, createdAt, readyAt, cpuToReadyMs: (cpuAtReady.user + cpuAtReady.system) / 1000 })}\n`);
process.on('SIGTERM', async () => {
  const cpu = process.cpuUsage();
  const now = await statements();
  const statementsAfterReady = Object.fromEntries(Object.entries(now).map(([k, n]) => [k, n - (statementsAtReady[k] ?? 0)]).filter(([, n]) => (n as number) > 0));
  process.stdout.write(`${JSON.stringify({ phase: 'stopped', pid: process.pid, statementsAfterReady, firstClaimAt, cpuMs: (cpu.user + cpu.system) / 1000, cpuAfterReadyMs: (cpu.user + cpu.system - cpuAtReady.user - cpuAtReady.system) / 1000 })}\n`);
  void platform.close().finally(() => process.exit(0));
});
