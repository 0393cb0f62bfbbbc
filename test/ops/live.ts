import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { requireBinary, ruleFiles } from './tools.js';

import { freePort } from '../helpers/ports.js';

export { freePort };

export async function pollUntil<T>(what: string, fn: () => Promise<T | undefined>, timeoutMs: number, everyMs = 250): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const v = await fn();
      if (v !== undefined) return v;
    } catch (err) {
      last = err;
    }
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${last ? `: ${String(last)}` : ''}`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}

export interface QueryResult {
  status: 'success' | 'error';
  error?: string;
  data?: { resultType: string; result: unknown };
}

/** A real Prometheus (Debian's) scraping one v01t every second and evaluating the repo's rules every second. */
export class LivePrometheus {
  private child?: ChildProcess;
  private output = '';
  readonly dir = fs.mkdtempSync(path.join(os.tmpdir(), 'v01t-prom-'));
  url = '';

  async start(target: string, service: string): Promise<void> {
    const bin = requireBinary('prometheus');
    const port = await freePort();
    this.url = `http://127.0.0.1:${port}`;
    const config = [
      'global:',
      '  scrape_interval: 1s',
      '  evaluation_interval: 1s',
      'rule_files:',
      ...ruleFiles().map((f) => `  - ${JSON.stringify(f)}`),
      'scrape_configs:',
      '  - job_name: v01t',
      '    static_configs:',
      `      - targets: [${JSON.stringify(target)}]`,
      `        labels: { service: ${JSON.stringify(service)} }`,
      '',
    ].join('\n');
    fs.writeFileSync(path.join(this.dir, 'prometheus.yml'), config);
    this.child = spawn(
      bin,
      [
        `--config.file=${path.join(this.dir, 'prometheus.yml')}`,
        `--storage.tsdb.path=${path.join(this.dir, 'data')}`,
        `--web.listen-address=127.0.0.1:${port}`,
        '--log.level=warn',
      ],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    this.child.stdout!.on('data', (d) => (this.output += String(d)));
    this.child.stderr!.on('data', (d) => (this.output += String(d)));
    const exited = new Promise<never>((_, reject) => this.child!.once('exit', (code) => reject(new Error(`prometheus exited (${code}):\n${this.output}`))));
    exited.catch(() => {});
    await Promise.race([
      exited,
      pollUntil('prometheus to be ready', async () => ((await fetch(`${this.url}/-/ready`)).ok ? true : undefined), 30_000),
    ]);
  }

  async query(expr: string): Promise<QueryResult> {
    const res = await fetch(`${this.url}/api/v1/query?query=${encodeURIComponent(expr)}`);
    return (await res.json()) as QueryResult;
  }

  /** Number of series (or 1 for a scalar) the expression returns now; throws on a query error. */
  async count(expr: string): Promise<number> {
    const r = await this.query(expr);
    if (r.status !== 'success') throw new Error(`query failed: ${r.error}\n  ${expr}`);
    if (r.data!.resultType === 'scalar' || r.data!.resultType === 'string') return 1;
    return (r.data!.result as unknown[]).length;
  }

  async alerts(): Promise<{ labels: Record<string, string>; state: string }[]> {
    const res = await fetch(`${this.url}/api/v1/alerts`);
    return ((await res.json()) as { data: { alerts: { labels: Record<string, string>; state: string }[] } }).data.alerts;
  }

  async stop(): Promise<void> {
    if (this.child && this.child.exitCode === null) {
      const done = new Promise((r) => this.child!.once('exit', r));
      this.child.kill('SIGTERM');
      await done;
    }
    fs.rmSync(this.dir, { recursive: true, force: true });
  }
}
