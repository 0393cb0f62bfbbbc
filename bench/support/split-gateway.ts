import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { Figures } from '../run.js';
import { startV01t, stop } from './child.js';
import { freshDatabase } from './postgres.js';

type Load = (url: string, headers: Record<string, string>, seconds: number, request?: { method: string; body: string }) => Promise<{ requests: { average: number; total?: number }; latency: { p50: number; p99: number } }>;

/**
 * The distributed shape's public entry (ADR 0055): `v01t serve orchestrator` forwarding to
 * `v01t serve workflow-engine` on PostgreSQL. The same GET (a workspace's workflows) through the
 * entry and straight to the workflow-engine's own port, in the same run: the gateway's added
 * latency and its throughput ratio. Straight calls authenticate through the orchestrator's
 * identity API (two internal calls, cached); through the entry the caller is vouched for in a
 * signed header instead.
 */
export async function gatewayFigures(load: Load, seconds: number): Promise<Figures> {
  const db = await freshDatabase(process.env.BENCH_PG_URL ?? 'postgres://postgres@127.0.0.1:5432/test');
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'v01t-bench-gateway-'));
  const entryPort = 19_000 + Math.floor(Math.random() * 500);
  const wfPort = entryPort + 500;
  const env = {
    DATABASE_URL: db.url,
    LOG_LEVEL: 'warn',
    V01T_MASTER_KEY: randomBytes(32).toString('hex'),
    V01T_INTERNAL_TOKEN: randomBytes(24).toString('hex'),
    V01T_ORCHESTRATOR_URL: `http://127.0.0.1:${entryPort}`,
    V01T_WORKFLOW_ENGINE_URL: `http://127.0.0.1:${wfPort}`,
  };
  const entry = await startV01t({ ...env, V01T_DATA_DIR: path.join(dir, 'o') }, entryPort, ['serve', 'orchestrator']);
  const wf = await startV01t({ ...env, V01T_DATA_DIR: path.join(dir, 'w') }, wfPort, ['serve', 'workflow-engine']);
  try {
    const base = `http://127.0.0.1:${entryPort}`;
    const signup = await fetch(`${base}/v1/auth/signup`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ email: `gw.${Date.now()}@example.test`, password: 'benchmark password', name: 'Bench' }) });
    const { token } = (await signup.json()) as { token: string };
    const auth = { authorization: `Bearer ${token}` };
    const ws = ((await (await fetch(`${base}/v1/workspaces`, { method: 'POST', headers: { ...auth, 'content-type': 'application/json' }, body: JSON.stringify({ name: 'bench' }) })).json()) as { workspace: { id: string } }).workspace.id;
    const route = `/v1/workspaces/${ws}/workflows`;
    await load(`${base}${route}`, auth, 2);
    await load(`http://127.0.0.1:${wfPort}${route}`, auth, 2);
    const through = await load(`${base}${route}`, auth, seconds);
    const direct = await load(`http://127.0.0.1:${wfPort}${route}`, auth, seconds);
    // Workflow runs started through the entry and straight, then how long until all of them finished.
    const wf = (await (await fetch(`${base}${route}`, { method: 'POST', headers: { ...auth, 'content-type': 'application/json' }, body: JSON.stringify({ name: 'bench', steps: [{ id: 't', type: 'transform', with: { expression: 'input.n * 2' } }, { id: 'c', type: 'condition', with: { expression: 'steps.t.output >= 0' } }] }) })).json()) as { workflow: { id: string } };
    const runs = `${route}/${wf.workflow.id}/runs`;
    const start = { method: 'POST', body: JSON.stringify({ input: { n: 1 } }) };
    const json = { ...auth, 'content-type': 'application/json' };
    const runsThrough = await load(`${base}${runs}`, json, seconds, start);
    const runsDirect = await load(`http://127.0.0.1:${wfPort}${runs}`, json, seconds, start);
    return {
      runs_started_through_gateway_per_s_postgres: runsThrough.requests.average,
      runs_started_through_gateway_p99_ms_postgres: runsThrough.latency.p99,
      runs_started_direct_per_s_postgres: runsDirect.requests.average,
      runs_started_direct_p99_ms_postgres: runsDirect.latency.p99,
      runs_started_gateway_vs_direct_throughput_ratio_postgres: runsThrough.requests.average / runsDirect.requests.average,
      workflows_list_through_gateway_requests_per_s_postgres: through.requests.average,
      workflows_list_through_gateway_p50_ms_postgres: through.latency.p50,
      workflows_list_through_gateway_p99_ms_postgres: through.latency.p99,
      workflows_list_direct_requests_per_s_postgres: direct.requests.average,
      workflows_list_direct_p50_ms_postgres: direct.latency.p50,
      workflows_list_direct_p99_ms_postgres: direct.latency.p99,
      gateway_added_p50_ms_postgres: through.latency.p50 - direct.latency.p50,
      gateway_added_p99_ms_postgres: through.latency.p99 - direct.latency.p99,
      gateway_vs_direct_throughput_ratio_postgres: through.requests.average / direct.requests.average,
    };
  } finally {
    await stop(wf.child);
    await stop(entry.child);
    await db.drop();
    fs.rmSync(dir, { recursive: true, force: true });
  }
}
