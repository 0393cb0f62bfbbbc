/**
 * `npm run bench -- all [--quick] [--only=a,b] [--report-only]`: runs every benchmark, each in its
 * own process one after the other (so none measures another's leftovers), keeps the latest figures
 * of each in docs/benchmarks/results.json and redraws the report in docs/benchmarks.md (a table
 * and SVG charts per benchmark, see support/report.ts). `--quick` runs each with smaller inputs
 * (minutes instead of about an hour); `--only` runs some and keeps the others' stored figures;
 * `--report-only` redraws from the stored figures. A benchmark that fails is reported as failed,
 * and the others still run.
 */
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Figures } from './run.js';
import { renderReport, spliceReport, type BenchResult } from './support/report.js';

interface Planned { key: string; bench: string; args: string[]; quick: string[] }

/** Every benchmark, with its full and its quick inputs. */
export const PLAN: Planned[] = [
  { key: 'workflow', bench: 'workflow', args: [], quick: ['--seconds=4', '--sustained=20'] },
  { key: 'start', bench: 'start', args: [], quick: ['--runs=1'] },
  { key: 'workflow-inprocess', bench: 'workflow-inprocess', args: [], quick: ['1000'] },
  { key: 'api', bench: 'api', args: [], quick: ['--seconds=3'] },
  { key: 'api-split', bench: 'api', args: ['--split'], quick: ['--split', '--seconds=3'] },
  { key: 'scheduler', bench: 'scheduler', args: [], quick: ['2000'] },
  { key: 'gamification', bench: 'gamification', args: [], quick: ['100000', '100000'] },
  { key: 'analytics', bench: 'analytics', args: [], quick: ['100000', '1000000', '20000'] },
  { key: 'cache', bench: 'cache', args: [], quick: ['--seconds=3', '--events=5000'] },
  { key: 'egress', bench: 'egress', args: [], quick: ['2'] },
  { key: 'backup', bench: 'backup', args: [], quick: ['100000', '10000'] },
];

const here = path.dirname(fileURLToPath(import.meta.url));
const repo = path.resolve(here, '..', '..');
const docs = path.join(repo, 'docs');
const resultsFile = path.join(docs, 'benchmarks', 'results.json');

function runOne(p: Planned, args: string[]): Promise<BenchResult> {
  const started = Date.now();
  const load0 = os.loadavg()[0]!;
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [path.join(here, 'run.js'), p.bench, ...args], { cwd: repo, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let tail = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => {
      const text = d.toString();
      tail = (tail + text).slice(-2000);
      for (const line of text.split('\n')) if (line.trim()) process.stderr.write(`[${p.key}] ${line}\n`);
    });
    child.on('close', (code) => {
      const line = stdout.trim().split('\n').reverse().find((l) => l.startsWith('{"bench"'));
      const base = { key: p.key, bench: p.bench, args, finishedAt: new Date().toISOString(), durationS: (Date.now() - started) / 1000, loadAverage: { start: load0, end: os.loadavg()[0]! }, machine: { cpus: os.cpus().length, node: process.version } };
      if (code === 0 && line) resolve({ ...base, figures: (JSON.parse(line) as { figures: Figures }).figures });
      else resolve({ ...base, error: `exit ${code}: ${tail.trim().split('\n').slice(-3).join(' / ')}` });
    });
  });
}

export default async function all(args: string[]): Promise<Figures> {
  const quick = args.includes('--quick');
  const only = args.find((a) => a.startsWith('--only='))?.slice('--only='.length).split(',');
  const reportOnly = args.includes('--report-only');
  const unknown = only?.filter((k) => !PLAN.some((p) => p.key === k)) ?? [];
  if (unknown.length) throw new Error(`unknown benchmark ${unknown.join(', ')}; known: ${PLAN.map((p) => p.key).join(', ')}`);
  const stored: BenchResult[] = fs.existsSync(resultsFile) ? (JSON.parse(fs.readFileSync(resultsFile, 'utf8')) as BenchResult[]) : [];
  const latest = new Map(stored.map((r) => [r.key, r]));
  if (!reportOnly) {
    const todo = PLAN.filter((p) => !only || only.includes(p.key));
    for (const [i, p] of todo.entries()) {
      process.stderr.write(`[all] ${i + 1}/${todo.length}: ${p.key}\n`);
      const r = await runOne(p, quick ? p.quick : p.args);
      process.stderr.write(`[all] ${p.key}: ${r.error ? `FAILED ${r.error}` : `done in ${Math.round(r.durationS)} s`}\n`);
      latest.set(p.key, r);
    }
  }
  const results = PLAN.map((p) => latest.get(p.key)).filter((r): r is BenchResult => r !== undefined);
  fs.mkdirSync(path.dirname(resultsFile), { recursive: true });
  fs.writeFileSync(resultsFile, `${JSON.stringify(results, null, 2)}\n`);
  const docFile = path.join(docs, 'benchmarks.md');
  fs.writeFileSync(docFile, spliceReport(fs.readFileSync(docFile, 'utf8'), renderReport(results, path.join(docs, 'benchmarks'), docs)));
  process.stderr.write(`[all] wrote ${path.relative(repo, docFile)} and ${results.length} benchmarks' charts in docs/benchmarks/\n`);
  return { benchmarks: results.length, failed: results.filter((r) => r.error).length };
}
