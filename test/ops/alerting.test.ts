import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { DEPLOY, alertRules, readYaml, requireBinary, ruleFiles, run } from './tools.js';

const PROM = path.join(DEPLOY, 'prometheus');
const ALERTMANAGER_CONFIG = path.join(DEPLOY, 'alertmanager', 'alertmanager.yml');

/** The runbook's three alerts as written there (Monitoring & Alerting, Alerting Rules). */
const RUNBOOK_ALERTS = [
  {
    alert: 'HighErrorRate',
    expr: 'rate(http_requests_total{status=~"5.."}[5m]) > 0.01',
    for: '2m',
    severity: 'critical',
    annotations: { summary: 'High error rate detected', description: 'Error rate is {{ $value }} requests/second' },
  },
  {
    alert: 'DatabaseConnectionExhaustion',
    expr: 'database_connections_active / database_connections_max > 0.9',
    for: '1m',
    severity: 'warning',
    annotations: { summary: 'Database connection pool nearly exhausted' },
  },
  {
    alert: 'KafkaConsumerLag',
    expr: 'kafka_consumer_lag_sum > 10000',
    for: '5m',
    severity: 'critical',
    annotations: { summary: 'Kafka consumer lag too high' },
  },
];

/** The runbook's alert addresses, which are the Alertmanager receivers. */
const TEAMS = ['engineering-critical', 'database-team', 'oncall-team', 'infrastructure', 'product-team', 'finance', 'data-team', 'engineering'];

interface UnitTestFile {
  rule_files: string[];
  tests: { name: string; alert_rule_test?: { alertname: string; exp_alerts?: unknown[] }[] }[];
}

function unitTestFiles(): string[] {
  return fs
    .readdirSync(path.join(PROM, 'tests'))
    .filter((f) => f.endsWith('.test.yml'))
    .map((f) => path.join(PROM, 'tests', f));
}

describe('Prometheus rules (deploy/prometheus)', () => {
  it('pass promtool check rules', () => {
    const promtool = requireBinary('promtool');
    const res = run(promtool, ['check', 'rules', ...ruleFiles()]);
    expect(res.status, res.stdout + res.stderr).toBe(0);
  });

  it('pass their promtool unit tests', () => {
    const promtool = requireBinary('promtool');
    const res = run(promtool, ['test', 'rules', ...unitTestFiles()], { timeoutMs: 120_000 });
    expect(res.status, res.stdout + res.stderr).toBe(0);
    expect(res.stdout).not.toMatch(/FAILED/);
  });

  it('keep the runbook alerts exactly as written, adding only the team label', () => {
    const rules = alertRules();
    for (const want of RUNBOOK_ALERTS) {
      const got = rules.find((r) => r.alert === want.alert);
      expect(got, want.alert).toBeDefined();
      expect(got!.expr.trim()).toBe(want.expr);
      expect(got!.for).toBe(want.for);
      expect(got!.labels).toEqual({ severity: want.severity, team: got!.labels!.team });
      expect(got!.annotations).toEqual(want.annotations);
    }
  });

  it('cover every KPI threshold and security alert of the runbook', () => {
    const names = alertRules().map((r) => r.alert);
    expect(new Set(names).size).toBe(names.length);
    for (const name of [
      'HighErrorRatio',
      'ApiLatencyP95AboveTarget',
      'ApiLatencyP95Critical',
      'DatabaseQueryTimeAboveTarget',
      'DatabaseQueryTimeCritical',
      'ServiceUptimeBelow99Percent',
      'ServiceAvailabilityBelow99Percent',
      'PodMemoryHigh',
      'PodMemoryCritical',
      'HttpErrorRatioWarning',
      'HttpErrorRatioCritical',
      'UserActivationRateLow',
      'MrrForecastDeviation',
      'SuspiciousLoginAttempts',
      'PrivilegeEscalation',
      'BackupMissing',
      'RestoreDrillOverdue',
      'GdprRequestOverdue',
    ]) {
      expect(names).toContain(name);
    }
  });

  it('label every alert with a severity and a team that has a receiver', () => {
    for (const r of alertRules()) {
      expect(['warning', 'critical'], r.alert).toContain(r.labels?.severity);
      expect(TEAMS, r.alert).toContain(r.labels?.team);
      expect(r.annotations?.summary, r.alert).toBeTruthy();
    }
  });

  it('have a unit test where each alert fires and one where it does not', () => {
    const firing = new Set<string>();
    const silent = new Set<string>();
    const ruleFileNames = new Set(ruleFiles().map((f) => path.basename(f)));
    const covered = new Set<string>();
    for (const file of unitTestFiles()) {
      const t = readYaml<UnitTestFile>(file);
      for (const rf of t.rule_files) covered.add(path.basename(rf));
      for (const test of t.tests) {
        for (const a of test.alert_rule_test ?? []) (a.exp_alerts?.length ? firing : silent).add(a.alertname);
      }
    }
    expect([...ruleFileNames].filter((f) => !covered.has(f))).toEqual([]);
    const names = alertRules().map((r) => r.alert);
    expect(names.filter((n) => !firing.has(n)), 'alerts with no firing test').toEqual([]);
    expect(names.filter((n) => !silent.has(n)), 'alerts with no not-firing test').toEqual([]);
  });
});

describe('Alertmanager (deploy/alertmanager/alertmanager.yml)', () => {
  it('passes amtool check-config', () => {
    const amtool = requireBinary('amtool');
    const res = run(amtool, ['check-config', ALERTMANAGER_CONFIG]);
    expect(res.status, res.stdout + res.stderr).toBe(0);
  });

  it('has one receiver per runbook team plus PagerDuty', () => {
    const cfg = readYaml<{ receivers: { name: string; email_configs?: { to: string }[]; pagerduty_configs?: unknown[] }[] }>(ALERTMANAGER_CONFIG);
    const byName = new Map(cfg.receivers.map((r) => [r.name, r]));
    for (const team of TEAMS) expect(byName.get(team)?.email_configs?.[0]?.to, team).toBe(`${team}@v01t.io`);
    expect(byName.get('pagerduty-critical')?.pagerduty_configs?.length).toBe(1);
  });

  it('sends every alert group to v01t\'s incident receiver with the bearer secret from a file', () => {
    const cfg = readYaml<{ receivers: { name: string; webhook_configs?: { url: string; send_resolved: boolean; http_config?: { authorization?: { type: string; credentials_file?: string } } }[] }[] }>(ALERTMANAGER_CONFIG);
    const hook = cfg.receivers.find((r) => r.name === 'v01t-incidents')?.webhook_configs?.[0];
    expect(new URL(hook!.url).pathname).toBe('/v1/ops/alertmanager');
    expect(hook!.send_resolved).toBe(true);
    expect(hook!.http_config?.authorization).toEqual({ type: 'Bearer', credentials_file: '/etc/alertmanager/secrets/v01t-alertmanager-token' });
  });

  it('routes every alert to v01t and its team, and critical ones to PagerDuty too', () => {
    const amtool = requireBinary('amtool');
    for (const r of alertRules()) {
      const labels = Object.entries({ alertname: r.alert, ...r.labels }).map(([k, v]) => `${k}=${v}`);
      const res = run(amtool, ['config', 'routes', 'test', `--config.file=${ALERTMANAGER_CONFIG}`, ...labels]);
      expect(res.status, res.stderr).toBe(0);
      const receivers = res.stdout.trim().split(',').sort();
      const want = (r.labels!.severity === 'critical' ? ['v01t-incidents', 'pagerduty-critical', r.labels!.team!] : ['v01t-incidents', r.labels!.team!]).sort();
      expect(receivers, r.alert).toEqual(want);
    }
  });
});
