/**
 * `npm run bench -- api`: GET /v1/me with a valid token on a real `v01t start` (embedded PGlite,
 * or PostgreSQL with `-- api --postgres`), against a bare Fastify hello-world measured in the same
 * run; both servers run in their own process, autocannon in this one. Also: cold start to /ready on
 * an existing data folder, and idle RSS. `-- api --split`: the gateway of the distributed shape
 * (support/split-gateway.ts).
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import type { Figures } from './run.js';
import { forkServer, rssMb, startV01t, stop } from './support/child.js';
import { freshDatabase } from './support/postgres.js';
import { gatewayFigures } from './support/split-gateway.js';

const require = createRequire(import.meta.url);
const autocannon = require('autocannon') as (opts: Record<string, unknown>) => Promise<{ requests: { average: number }; latency: { p50: number; p99: number }; non2xx: number; errors: number }>;
const here = path.dirname(fileURLToPath(import.meta.url));

async function load(url: string, headers: Record<string, string>, seconds: number, request?: { method: string; body: string }) {
  const r = await autocannon({ url, headers, connections: 20, duration: seconds, pipelining: 1, ...(request ?? {}) });
  if (r.non2xx || r.errors) throw new Error(`${url}: ${r.non2xx} non-2xx, ${r.errors} errors`);
  return r;
}

export default async function api(args: string[]): Promise<Figures> {
  const seconds = Number(args.find((a) => a.startsWith('--seconds='))?.split('=')[1] ?? 10);
  // `-- api --split`: the distributed shape's public entry against the owning service's own port.
  if (args.includes('--split')) return gatewayFigures(load, seconds);
  const postgres = args.includes('--postgres');
  const where = postgres ? 'postgres' : 'pglite';
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'v01t-bench-api-'));
  const env: Record<string, string> = { V01T_DATA_DIR: dataDir, LOG_LEVEL: 'warn', V01T_MASTER_KEY: randomBytes(32).toString('hex') };
  let dropDb: (() => Promise<void>) | undefined;
  if (postgres) {
    const db = await freshDatabase(process.env.BENCH_PG_URL ?? 'postgres://postgres@127.0.0.1:5432/test');
    env.DATABASE_URL = db.url;
    dropDb = db.drop;
  }
  const port = 18_000 + Math.floor(Math.random() * 1000);

  // First start creates the data folder; the measured cold start reopens it.
  const first = await startV01t(env, port);
  await stop(first.child);
  const { child, readyMs } = await startV01t(env, port);
  try {
    await new Promise((r) => setTimeout(r, 3000));
    const idleRss = rssMb(child.pid!);
    const base = `http://127.0.0.1:${port}`;
    const email = `bench.${Date.now()}@example.test`;
    const signup = await fetch(`${base}/v1/auth/signup`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ email, password: 'benchmark password', name: 'Bench' }) });
    const { token } = (await signup.json()) as { token: string };

    const bare = await forkServer(path.join(here, 'support/bare-fastify.js'));
    try {
      await load(`${base}/v1/me`, { authorization: `Bearer ${token}` }, 2); // warm-up
      await load(`${bare.address}/hello`, {}, 2);
      const me = await load(`${base}/v1/me`, { authorization: `Bearer ${token}` }, seconds);
      const hello = await load(`${bare.address}/hello`, {}, seconds);
      return {
        [`me_requests_per_s_${where}`]: me.requests.average,
        [`me_p50_ms_${where}`]: me.latency.p50,
        [`me_p99_ms_${where}`]: me.latency.p99,
        bare_fastify_requests_per_s: hello.requests.average,
        bare_fastify_p50_ms: hello.latency.p50,
        bare_fastify_p99_ms: hello.latency.p99,
        [`me_vs_bare_throughput_ratio_${where}`]: me.requests.average / hello.requests.average,
        [`cold_start_to_ready_ms_${where}`]: readyMs,
        [`idle_rss_mb_${where}`]: idleRss,
      };
    } finally {
      await stop(bare.child);
    }
  } finally {
    await stop(child);
    await dropDb?.();
    fs.rmSync(dataDir, { recursive: true, force: true });
  }
}
