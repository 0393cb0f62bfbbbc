import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { DEPLOY } from './tools.js';

interface Panel {
  id: number;
  type: string;
  title: string;
  gridPos: { h: number; w: number; x: number; y: number };
  datasource?: { type: string; uid: string };
  targets?: { refId: string; expr: string; datasource?: { uid: string } }[];
}
interface Dashboard {
  uid: string;
  title: string;
  schemaVersion: number;
  templating: { list: { name: string; type: string }[] };
  panels: Panel[];
}

const load = (file: string) => JSON.parse(fs.readFileSync(path.join(DEPLOY, 'grafana', file), 'utf8')) as Dashboard;

/** What the issue asks each dashboard to show, as words that must appear in panel titles. */
const REQUIRED: Record<string, RegExp[]> = {
  'executive.json': [/MRR/, /users/i, /activation/i, /uptime/i, /error rate/i, /response time/i, /infrastructure cost/i, /cost per user/i, /active users/i],
  'engineering.json': [/requests per second/i, /error ratio/i, /response time/i, /query time/i, /connection pool/i, /database time/i, /CPU/, /memory/i, /replicas/i],
  'operations.json': [/firing alerts/i, /alert timeline/i, /open incidents/i, /escalations/i, /deployments/i, /deployment success rate/i, /security events/i, /role changes/i, /last backup/i, /restore drill/i, /RTO and RPO/i, /retention cleanup/i, /breaching the first-minutes timers/i, /compliance: last backup/i, /compliance: last restore drill/i, /compliance: last retention run/i, /GDPR/, /compliance: open GDPR requests/i, /compliance: overdue GDPR requests/i, /failed logins/i],
};

describe('Grafana dashboards (deploy/grafana)', () => {
  it('are the three the runbook lists, with distinct uids', () => {
    const files = fs.readdirSync(path.join(DEPLOY, 'grafana')).filter((f) => f.endsWith('.json')).sort();
    expect(files).toEqual(Object.keys(REQUIRED).sort());
    expect(new Set(files.map((f) => load(f).uid)).size).toBe(files.length);
  });

  for (const [file, topics] of Object.entries(REQUIRED)) {
    it(`${file} is importable and shows what the runbook asks`, () => {
      const d = load(file);
      expect(d.schemaVersion).toBeGreaterThanOrEqual(36);
      expect(d.templating.list.find((v) => v.name === 'datasource')?.type).toBe('datasource');
      const ids = d.panels.map((p) => p.id);
      expect(new Set(ids).size).toBe(ids.length);
      for (const p of d.panels) {
        expect(p.gridPos.x + p.gridPos.w, p.title).toBeLessThanOrEqual(24);
        if (p.type === 'row') continue;
        // Every query goes to the datasource chosen on import, never a hard-wired one.
        expect(p.datasource?.uid, p.title).toBe('${datasource}');
        expect(p.targets?.length, p.title).toBeGreaterThan(0);
        for (const t of p.targets!) expect(t.expr.trim(), p.title).not.toBe('');
      }
      const titles = d.panels.map((p) => p.title).join('\n');
      for (const topic of topics) expect(titles).toMatch(topic);
    });
  }
});
