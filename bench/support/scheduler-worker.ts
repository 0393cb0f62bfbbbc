/**
 * The bench's eyes in one publisher replica of `npm run bench -- scheduler`. The replica is the
 * production process, `node bin/v01t.js start` (the launcher, the one-file bundle, Node's compile
 * cache; V01T_SERVICES from the bench), with this module preloaded (`node --import`, ADR 0080).
 * It subscribes to the server's start phases (diagnostics channel `v01t:server`, src/apps/server.ts)
 * and prints one JSON line {"phase":"ready",...} once the server listens (its timeline: modules
 * imported, platform created, ready, as epoch ms, and the CPU time until then) and, on SIGTERM,
 * one line {"phase":"stopped","cpuMs":...} with the CPU time it used (user + system) and the
 * statements it ran after ready, before the server's own shutdown ends the process.
 */
import diagnostics from 'node:diagnostics_channel';

interface PlatformView {
  instances: Map<string, unknown>;
  metrics: { dbQueryDuration: { get(): Promise<{ values: { metricName?: string; labels: Record<string, string | number>; value: number }[] }> } };
}
interface ServerPhase {
  phase: 'starting' | 'created' | 'ready';
  platform?: PlatformView;
  address?: string;
}

let importedAt = 0;
let createdAt = 0;
let cpuImportedMs = 0;
let cpuCreatedMs = 0;
const cpuNowMs = () => {
  const c = process.cpuUsage();
  return (c.user + c.system) / 1000;
};
let firstClaimAt: number | null = null;
let platform: PlatformView | undefined;
let cpuAtReady: NodeJS.CpuUsage | undefined;
let statementsAtReady: Record<string, number> = {};

/** Statements run so far (the database_query_duration_seconds histogram's count), by statement type and table. */
async function statements(): Promise<Record<string, number>> {
  const m = await platform!.metrics.dbQueryDuration.get();
  const counts: Record<string, number> = {};
  for (const v of m.values) if (v.metricName?.endsWith('_count')) counts[`${v.labels.query_type} ${v.labels.table}`] = (counts[`${v.labels.query_type} ${v.labels.table}`] ?? 0) + v.value;
  return counts;
}

diagnostics.subscribe('v01t:server', (message) => {
  const m = message as ServerPhase;
  if (m.phase === 'starting') {
    importedAt = Date.now();
    cpuImportedMs = cpuNowMs();
  } else if (m.phase === 'created') {
    createdAt = Date.now();
    cpuCreatedMs = cpuNowMs();
    platform = m.platform;
    // The first claim that returned targets, seen by wrapping the publisher's repository before the services start.
    const scheduler = platform!.instances.get('content-scheduler') as { services?: { publisher?: unknown } } | undefined;
    const repo = (scheduler?.services?.publisher as { repo?: { claimDue(...a: unknown[]): Promise<string[]> } } | undefined)?.repo;
    if (repo) {
      const claimDue = repo.claimDue.bind(repo);
      repo.claimDue = async (...a: unknown[]) => {
        const ids = await claimDue(...a);
        if (ids.length && firstClaimAt === null) firstClaimAt = Date.now();
        return ids;
      };
    }
  } else if (m.phase === 'ready') {
    const readyAt = Date.now();
    // Since the process image was replaced by the launcher (same PID): getrusage keeps counting across execve.
    cpuAtReady = process.cpuUsage();
    void statements().then((s) => {
      statementsAtReady = s;
      process.stdout.write(`${JSON.stringify({ phase: 'ready', pid: process.pid, address: m.address, importedAt, createdAt, readyAt, cpuToImportedMs: cpuImportedMs, cpuToCreatedMs: cpuCreatedMs, cpuToReadyMs: (cpuAtReady!.user + cpuAtReady!.system) / 1000 })}\n`);
    });
  }
});

// Registered before the server's own handler (runServer's), which closes the platform and exits:
// the CPU is read at once, the statements before the close has finished its first await.
process.on('SIGTERM', () => {
  if (!platform || !cpuAtReady) return;
  const cpu = process.cpuUsage();
  void statements().then((now) => {
    const statementsAfterReady = Object.fromEntries(Object.entries(now).map(([k, n]) => [k, n - (statementsAtReady[k] ?? 0)]).filter(([, n]) => (n as number) > 0));
    process.stdout.write(
      `${JSON.stringify({ phase: 'stopped', pid: process.pid, statementsAfterReady, firstClaimAt, cpuMs: (cpu.user + cpu.system) / 1000, cpuAfterReadyMs: (cpu.user + cpu.system - cpuAtReady!.user - cpuAtReady!.system) / 1000 })}\n`,
    );
  });
});
