import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { configReference, loadPlatformConfig, platformSlices } from '../src/apps/config.js';
import { ConfigError } from '../src/kernel/config/index.js';
import { ORCHESTRATOR_CONFIG } from '../src/services/orchestrator/config.js';
import { WORKFLOW_CONFIG } from '../src/services/workflow-engine/config.js';
import { ANALYTICS_CONFIG } from '../src/services/analytics-engine/config.js';
import { CONTENT_CONFIG } from '../src/services/content-scheduler/config.js';
import { INTEGRATION_HUB_CONFIG } from '../src/services/integration-hub/config.js';
import { OPS_CONFIG } from '../src/services/ops/config.js';

/** Every variable the single kernel schema read before the services declared their own: none may be renamed or dropped. */
const BEFORE_SLICES = `NODE_ENV HOST PORT V01T_DATA_DIR V01T_SERVICES V01T_PUBLIC_URL V01T_WEB_DIR DATABASE_URL DATABASE_POOL_MAX
DATABASE_STATEMENT_TIMEOUT_MS REDIS_URL REDIS_KEY_PREFIX V01T_EPHEMERAL PGLITE_SHARED_BUFFERS LOG_LEVEL TRUST_PROXY BODY_LIMIT_BYTES
SESSION_TTL_HOURS SHUTDOWN_TIMEOUT_MS LOGIN_MAX_FAILURES_PER_IP LOGIN_FAILURE_WINDOW_SECONDS LOGIN_BLOCK_SECONDS LOGIN_MAX_PER_IP_PER_MINUTE
SIGNUP_MAX_PER_IP_PER_HOUR SIGNUP_ENABLED V01T_INTERNAL_TOKEN V01T_ORCHESTRATOR_URL V01T_INTEGRATION_HUB_URL MIGRATE_ON_START ARGON2_MEMORY_KIB
ARGON2_TIME_COST V01T_MASTER_KEY V01T_MASTER_KEY_PREVIOUS ANALYTICS_STORE CLICKHOUSE_URL ANALYTICS_DUCKDB_PATH ANALYTICS_BUFFER_MAX_EVENTS
ANALYTICS_FLUSH_INTERVAL_MS ANALYTICS_FLUSH_BATCH ANALYTICS_BUFFER ANALYTICS_BUFFER_DIR ANALYTICS_PLATFORM_WORKSPACE_ID ANALYTICS_KPI_REFRESH_SECONDS
V01T_EGRESS_ALLOW EGRESS_TIMEOUT_MS EGRESS_MAX_RESPONSE_BYTES EGRESS_RATE_PER_S EGRESS_RATE_BURST V01T_EVENT_BUS V01T_EVENT_POLL_MS
V01T_EVENT_MAX_ATTEMPTS KAFKA_BROKERS KAFKA_CLIENT_ID KAFKA_TOPIC_PREFIX KAFKA_TOPIC_PARTITIONS WORKFLOW_LEASE_MS WORKFLOW_WORKSPACE_CONCURRENCY
WORKFLOW_QUEUE_BATCH WORKFLOW_QUEUE_WORKERS WORKFLOW_POLL_SECONDS WORKFLOW_SCHEDULER_TICK_MS WORKFLOW_RUN_RETENTION_DAYS WORKFLOW_QUARANTINE_AFTER
EXPRESSION_TIMEOUT_MS EXPRESSION_MEMORY_MB EXPRESSION_MAX_RESULT_BYTES EXPRESSION_MAX_DEPTH EXPRESSION_MAX_LENGTH EXPRESSION_WORKERS
EXPRESSION_MAX_QUEUED_PER_WORKSPACE S3_BUCKET S3_ENDPOINT S3_REGION S3_ACCESS_KEY_ID S3_SECRET_ACCESS_KEY S3_FORCE_PATH_STYLE S3_PREFIX
CONTENT_MEDIA_MAX_BYTES CONTENT_PUBLISHER_INTERVAL_MS CONTENT_PUBLISHER_BATCH CONTENT_PUBLISHER_CONCURRENCY CONTENT_PUBLISH_LEASE_SECONDS
CONTENT_PUBLISH_MAX_ATTEMPTS V01T_ALERTMANAGER_TOKEN V01T_DEPLOY_TOKEN V01T_OPS_WORKSPACE_ID V01T_OPS_TICK_SECONDS V01T_OPS_TIMEZONE
V01T_OPS_HOLIDAYS V01T_OPS_EXTRA_HOLIDAYS V01T_STATUS_PAGE_TITLE`.split(/\s+/);

const problems = (env: Record<string, string>): string[] => {
  try {
    loadPlatformConfig(env);
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigError);
    return (err as ConfigError).problems;
  }
  return [];
};

describe('the configuration reference (docs/config-reference.md)', () => {
  const { slices, markdown } = configReference();
  const rows = new Map(
    markdown
      .split('\n')
      .slice(2)
      .map((line) => line.split(' | '))
      .map((cells) => [cells[0]!.replace(/^\| `|`$/g, ''), { owners: cells[1]!, secret: cells.at(-1) === 'yes |' }]),
  );

  it('lists every declared variable once, with its owner and secrecy, and every variable read before the split', () => {
    const declared = new Set(slices.flatMap((s) => Object.keys(s.variables)));
    expect(BEFORE_SLICES).toHaveLength(91);
    for (const name of BEFORE_SLICES) expect(declared, name).toContain(name);
    expect([...rows.keys()].sort()).toEqual([...declared].sort());
    expect(rows.get('PORT')?.owners).toBe('kernel');
    expect(rows.get('WORKFLOW_LEASE_MS')?.owners).toBe('workflow-engine');
    expect(rows.get('V01T_OPS_TIMEZONE')?.owners).toBe('ops');
    expect(rows.get('V01T_ORCHESTRATOR_URL')?.owners).toBe('orchestrator');
    expect(rows.get('CONTENT_MEDIA_MAX_BYTES')?.owners).toBe('content-scheduler, integration-hub');
    for (const secret of ['V01T_INTERNAL_TOKEN', 'V01T_MASTER_KEY', 'V01T_ALERTMANAGER_TOKEN', 'V01T_DEPLOY_TOKEN', 'S3_SECRET_ACCESS_KEY', 'DATABASE_URL', 'CLICKHOUSE_URL']) {
      expect(rows.get(secret)?.secret, secret).toBe(true);
    }
    expect(rows.get('PORT')?.secret).toBe(false);
  });

  it('is the committed document (npm run docs:generate writes it, lint checks it)', () => {
    const committed = fs.readFileSync(path.join(import.meta.dirname, '..', 'docs', 'config-reference.md'), 'utf8');
    expect(committed).toContain(markdown);
  });
});

describe('the platform configuration', () => {
  it('keeps the defaults every variable had before the split', () => {
    const c = loadPlatformConfig({ V01T_DATA_DIR: '/srv/d' });
    expect(ORCHESTRATOR_CONFIG.read(c)).toEqual({
      sessionTtlHours: 336,
      signupEnabled: true,
      loginMaxFailuresPerIp: 10,
      loginFailureWindowSeconds: 900,
      loginBlockSeconds: 900,
      loginMaxPerIpPerMinute: 60,
      signupMaxPerIpPerHour: 20,
      ssoOnly: false,
      ssoFlowTtlSeconds: 600,
      argon2: { memoryCost: 19_456, timeCost: 2 },
      // Platform mail (ADR 0040): no SMTP_URL in the embedded default, mails stay in the outbox.
      mail: { smtpUrl: undefined, from: 'v01t <no-reply@localhost>', maxAttempts: 8, leaseSeconds: 120, pollSeconds: 5 },
      requireVerifiedEmail: false,
      passwordResetPerIpPerHour: 20,
      passwordResetPerEmailPerHour: 3,
    });
    expect(WORKFLOW_CONFIG.read(c)).toEqual({ leaseMs: 10_000, workspaceConcurrency: 100, queueBatch: 100, queueWorkers: undefined, pollSeconds: 0.5, schedulerTickMs: 1000, runRetentionDays: 90, quarantineAfter: 3, webhookMaxQueuedAgeMs: 2000 });
    expect(ANALYTICS_CONFIG.read(c)).toEqual({
      store: 'duckdb',
      clickhouseUrl: undefined,
      duckdbPath: '/srv/d/analytics.duckdb',
      bufferMaxEvents: 500_000,
      buffer: 'file',
      bufferDir: '/srv/d/analytics-buffer',
      flushIntervalMs: 1000,
      flushBatch: 10_000,
      platformWorkspaceId: undefined,
      kpiRefreshSeconds: 60,
    });
    // The look-ahead is new (ADR 0071); 0 is the behaviour before it.
    expect(CONTENT_CONFIG.read(c)).toEqual({ mediaMaxBytes: 25 * 1024 * 1024, publisherIntervalMs: 1000, publisherLookaheadMs: 2000, publisherBatch: 100, publisherConcurrency: 16, leaseSeconds: 120, maxAttempts: 6 });
    expect(INTEGRATION_HUB_CONFIG.read(c)).toEqual({ mediaMaxBytes: 25 * 1024 * 1024 });
    expect(OPS_CONFIG.read(c)).toEqual({
      alertmanagerToken: undefined,
      deployToken: undefined,
      workspaceId: undefined,
      tickSeconds: 30,
      timeZone: 'UTC',
      holidays: undefined,
      extraHolidays: [],
      statusPageTitle: 'v01t status',
      // Backups and retention (ADR 0050): the runbook's schedules and 7/4/12 GFS.
      backup: {
        target: undefined,
        s3: { endpoint: undefined, region: undefined, accessKeyId: undefined, secretAccessKey: undefined },
        key: undefined,
        schedule: '0 2 * * *',
        drillSchedule: '0 4 1 * *',
        retentionSchedule: '0 2 * * 0',
        schedulesEnabled: true,
        keep: { daily: 7, weekly: 4, monthly: 12 },
        drillDir: undefined,
        notifyConnectionId: undefined,
      },
    });
    expect(c.egress).toEqual({ allow: [], timeoutMs: 10_000, maxResponseBytes: 5 * 1024 * 1024, rateLimit: { perSecond: 10, burst: 20 } });
    expect(c.expressions).toEqual({ timeoutMs: 1000, memoryMb: 64, maxResultBytes: 1024 * 1024, maxDepth: 500, maxLength: 20_000, workers: 2, maxQueuedPerWorkspace: 8 });
    // Defaults that follow other variables.
    const split = loadPlatformConfig({ DATABASE_URL: 'postgres://u@h/db', CLICKHOUSE_URL: 'http://ch:8123/db', CONTENT_MEDIA_MAX_BYTES: '1000', V01T_EPHEMERAL: 'true' });
    expect(ANALYTICS_CONFIG.read(split)).toMatchObject({ store: 'clickhouse', buffer: 'database', duckdbPath: ':memory:', bufferDir: undefined });
    expect(CONTENT_CONFIG.read(split).mediaMaxBytes).toBe(1000);
    expect(INTEGRATION_HUB_CONFIG.read(split).mediaMaxBytes).toBe(1000);
    // Backup targets and schedules are checked at start, like every other setting.
    expect(OPS_CONFIG.read(loadPlatformConfig({ BACKUP_TARGET: 's3://v01t-backups/nightly' })).backup.target).toEqual({ kind: 's3', bucket: 'v01t-backups', prefix: 'nightly/' });
    expect(OPS_CONFIG.read(loadPlatformConfig({ BACKUP_TARGET: 'relative/dir' })).backup.target).toEqual({ kind: 'folder', dir: path.resolve('relative/dir') });
    expect(() => loadPlatformConfig({ BACKUP_SCHEDULE: 'every night' })).toThrow(/BACKUP_SCHEDULE/);
    expect(() => loadPlatformConfig({ BACKUP_TARGET: 's3://Not_A_Bucket' })).toThrow(/BACKUP_TARGET/);
  });

  it("composes only the slices of the services a process runs (and every remote URL), so another's bad value does not stop it", () => {
    const c = loadPlatformConfig({ V01T_SERVICES: 'workflow-engine', ANALYTICS_FLUSH_BATCH: '0', V01T_ORCHESTRATOR_URL: 'http://orch:8080' });
    // Where every other service lives is read in every process (the orchestrator's forwards to them, ADR 0055).
    expect(Object.keys(c.settings).sort()).toEqual(['analytics-engine.remote', 'content-scheduler.remote', 'gamification.remote', 'integration-hub.remote', 'orchestrator.remote', 'workflow-engine.remote', 'workflow-engine'].sort());
    expect(() => ANALYTICS_CONFIG.read(c)).toThrow(/no analytics-engine settings/);
    expect(c.settings['orchestrator.remote']).toBe('http://orch:8080');
    // The orchestrator's processes host ops: its settings come along.
    expect(Object.keys(loadPlatformConfig({ V01T_SERVICES: 'orchestrator' }).settings)).toEqual(expect.arrayContaining(['orchestrator', 'ops']));
    expect(platformSlices(['gamification']).map((s) => s.key).sort()).toEqual(['analytics-engine.remote', 'content-scheduler.remote', 'gamification', 'gamification.remote', 'integration-hub.remote', 'orchestrator.remote', 'workflow-engine.remote']);
  });

  it('refuses bad values of several services at once, each by name, without their secret values', () => {
    const found = problems({ PORT: 'x', WORKFLOW_LEASE_MS: '5', ANALYTICS_STORE: 'clickhouse', V01T_ALERTMANAGER_TOKEN: 'hunter2hunter2', V01T_INTEGRATION_HUB_URL: 'hub' });
    expect(found.map((p) => p.split(':')[0]).sort()).toEqual(['CLICKHOUSE_URL', 'PORT', 'V01T_ALERTMANAGER_TOKEN', 'V01T_INTEGRATION_HUB_URL', 'WORKFLOW_LEASE_MS']);
    expect(found.join('\n')).not.toContain('hunter2');
    // A variable two services declare alike is one problem, not two.
    expect(problems({ CONTENT_MEDIA_MAX_BYTES: '0' })).toEqual([expect.stringMatching(/^CONTENT_MEDIA_MAX_BYTES: .*\(got "0"\)$/)]);
  });
});
