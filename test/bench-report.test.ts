import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { END, HEADLINE, START, barChart, headlineChart, isBaseline, renderReport, spliceReport, type BenchResult } from '../bench/support/report.js';

const result = (key: string, figures?: Record<string, number>, error?: string): BenchResult => ({
  key,
  bench: key,
  args: ['--seconds=4'],
  finishedAt: '2026-12-03T10:40:00.000Z',
  durationS: 61.4,
  loadAverage: { start: 5.5, end: 6.25 },
  machine: { cpus: 2, node: 'v24.22.3' },
  ...(figures ? { figures } : {}),
  ...(error ? { error } : {}),
});

describe('benchmark report (npm run bench -- all)', () => {
  it('tells baselines from v01t figures by name', () => {
    expect(['baseline_bare_fastify_webhooks_per_s_c10', 'bare_fastify_requests_per_s', 'pgboss_raw_jobs_per_s_postgres', 'n8n_webhooks_answered_per_s_c10', 'kpi_req_per_s_uncached'].every(isBaseline)).toBe(true);
    expect(['runs_completed_per_s_during_load_c50_postgres', 'me_requests_per_s_pglite', 'kpi_req_per_s_cached_memory'].some(isBaseline)).toBe(false);
  });

  it('draws one bar per figure, labelled, baselines in grey', () => {
    const svg = barChart('workflow: throughput', 'per second', [['runs_completed_per_s_c50_postgres', 434.5], ['baseline_bare_fastify_webhooks_per_s_c50', 9983]])!;
    expect(svg).toMatch(/^<svg /);
    expect(svg).toContain('runs_completed_per_s_c50_postgres');
    expect(svg).toContain('baseline_bare_fastify_webhooks_per_s_c50');
    expect(svg).toContain('9,983');
    expect(svg).toMatch(/fill="#9aa0a6"/);
    expect(svg).toMatch(/fill="#3b5bdb"/);
    expect(barChart('empty', 'ms', [])).toBeNull();
  });

  it('writes a table and charts per benchmark, says which failed, and replaces only its own section', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'v01t-report-'));
    const charts = path.join(dir, 'benchmarks');
    const md = renderReport(
      [result('workflow', { runs_completed_per_s_during_load_c50_postgres: 434.56, run_start_to_finish_p99_ms_c50_postgres: 906, baseline_bare_fastify_webhooks_per_s_c50: 9983.6, idle_rss_mb_postgres: 279.4 }), result('cache', undefined, 'exit 1: boom')],
      charts,
      dir,
    );
    expect(fs.readdirSync(charts).sort()).toEqual(['headline.svg', 'workflow-latency.svg', 'workflow-throughput.svg']);
    expect(md).toContain(`](benchmarks/headline.svg)`);
    expect(md).toContain('![workflow throughput](benchmarks/workflow-throughput.svg)');
    expect(md).toContain('| `runs_completed_per_s_during_load_c50_postgres` | 434.56 |');
    expect(md).toContain('| `baseline_bare_fastify_webhooks_per_s_c50` (baseline) | 9,984 |');
    expect(md).toContain('| `idle_rss_mb_postgres` | 279.4 |');
    expect(md).toContain('| [workflow](#bench-workflow) | 2026-12-03 10:40 | 61 s | 5.50 → 6.25 | 2 | v24.22.3 |');
    expect(md).toContain('Failed: exit 1: boom');
    expect(md.startsWith(START) && md.endsWith(END)).toBe(true);

    const doc = '# Benchmark figures\n\nIntro paragraph.\n\n## Workflow engine\n\nHand-written history.\n';
    const once = spliceReport(doc, md);
    expect(once.indexOf('Intro paragraph.')).toBeLessThan(once.indexOf(START));
    expect(once.indexOf(END)).toBeLessThan(once.indexOf('## Workflow engine'));
    const twice = spliceReport(once, md.replace('| 434.56 |', '| 500 |'));
    expect(twice.split(START)).toHaveLength(2);
    expect(twice).toContain('| `runs_completed_per_s_during_load_c50_postgres` | 500 |');
    expect(twice).toContain('Hand-written history.');
  });

  it('draws the README headline from the workflow figures, n8n in grey when measured, nothing without figures', () => {
    const figures = { runs_completed_per_s_during_load_c50_postgres: 1010.25, runs_completed_per_s_during_load_c50_pglite: 381.25, n8n_webhooks_answered_per_s_c50: 58 };
    const svg = headlineChart([result('workflow', figures)])!;
    expect(svg).toContain('v01t, PostgreSQL');
    expect(svg).toContain('v01t embedded (PGlite)');
    expect(svg).toContain('n8n (SQLite, regular mode)');
    expect(svg).toContain('1,010');
    expect(svg.match(/fill="#9aa0a6"/g)).toHaveLength(1);
    expect(svg.match(/fill="#3b5bdb"/g)).toHaveLength(2);
    const without = headlineChart([result('workflow', { runs_completed_per_s_during_load_c50_postgres: 1010.25 })])!;
    expect(without).not.toContain('n8n (SQLite');
    expect(headlineChart([result('cache', { kpi_req_per_s_cached_memory: 5 })])).toBeNull();
    expect(headlineChart([result('workflow', undefined, 'exit 1')])).toBeNull();
    expect(HEADLINE.figures.map(([n]) => n)).toContain('n8n_webhooks_answered_per_s_c50');
  });
});
