/**
 * `npm run bench -- cache [--seconds=5] [--events=20000] [--redis]`: the analytics_data cache layer
 * (ADR 0059) on the KPI endpoint over real HTTP. An embedded v01t runs in its own process
 * (`v01t start`, PGlite + DuckDB); a workspace gets `events` events (sign-ups, activations,
 * subscriptions over 30 days) through the ingestion API; autocannon then asks
 * GET /v1/workspaces/:id/analytics/kpis for a fixed 30-day range for `seconds`:
 * - cached: the layer in process (default bound), every request after the first a hit;
 * - uncached: the same server with CACHE_ANALYTICS_DATA_MAX_BYTES=1, so no result fits and every
 *   request computes the KPIs in DuckDB (the cost of the version lookups stays in);
 * - with --redis (or V01T_BENCH_REDIS_URL): cached on Redis (redis://127.0.0.1:6379 by default).
 */
import { randomBytes, randomUUID } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createRequire } from 'node:module';
import type { Figures } from './run.js';
import { startV01t, stop } from './support/child.js';

const require = createRequire(import.meta.url);
const autocannon = require('autocannon') as (opts: Record<string, unknown>) => Promise<{ requests: { average: number }; latency: { p50: number; p99: number }; non2xx: number; errors: number }>;
const DAY = 86_400_000;

async function call(base: string, method: string, url: string, token: string | null, body?: unknown) {
  const res = await fetch(`${base}${url}`, {
    method,
    headers: { ...(body !== undefined ? { 'content-type': 'application/json' } : {}), ...(token ? { authorization: `Bearer ${token}` } : {}) },
    body: body !== undefined ? JSON.stringify(body) : undefined,
  });
  if (res.status >= 300) throw new Error(`${method} ${url}: ${res.status} ${await res.text()}`);
  return res.status === 204 ? null : ((await res.json()) as Record<string, unknown>);
}

async function run(label: string, env: Record<string, string>, events: number, seconds: number): Promise<Figures> {
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'v01t-bench-cache-'));
  const port = 19_000 + Math.floor(Math.random() * 1000);
  const { child } = await startV01t(
    { V01T_DATA_DIR: dataDir, V01T_EPHEMERAL: 'true', LOG_LEVEL: 'warn', V01T_MASTER_KEY: randomBytes(32).toString('hex'), ANALYTICS_FLUSH_INTERVAL_MS: '100', ...env },
    port,
  );
  try {
    const base = `http://127.0.0.1:${port}`;
    const { token } = (await call(base, 'POST', '/v1/auth/signup', null, { email: `bench.${randomUUID().slice(0, 8)}@example.test`, password: 'benchmark password', name: 'Bench' })) as { token: string };
    const ws = ((await call(base, 'POST', '/v1/workspaces', token, { name: 'bench' })) as { workspace: { id: string } }).workspace.id;
    await call(base, 'PUT', `/v1/workspaces/${ws}/analytics/settings`, token, { signupEvent: 'signed_up', activationEvent: 'first_post' });
    const now = Date.now();
    const persons = Math.floor(events / 3);
    const all: object[] = [];
    for (let p = 0; p < persons; p++) {
      const at = now - 29 * DAY + Math.floor((p / persons) * 28 * DAY);
      all.push({ type: 'track', event: 'signed_up', userId: `u${p}`, messageId: randomUUID(), timestamp: new Date(at).toISOString() });
      if (p % 2 === 0) all.push({ type: 'track', event: 'first_post', userId: `u${p}`, messageId: randomUUID(), timestamp: new Date(at + 3_600_000).toISOString() });
      if (p % 4 === 0) all.push({ type: 'track', event: 'subscription.started', userId: `u${p}`, messageId: randomUUID(), timestamp: new Date(at + 7_200_000).toISOString(), properties: { subscriptionId: `s${p}`, amount: 10 + (p % 50), currency: 'EUR' } });
      while (all.length < ((p + 1) * events) / persons) all.push({ type: 'track', event: 'page_view', userId: `u${p}`, messageId: randomUUID(), timestamp: new Date(at).toISOString() });
    }
    for (let i = 0; i < all.length; i += 1000) await call(base, 'POST', `/v1/workspaces/${ws}/events`, token, { batch: all.slice(i, i + 1000) });
    const url = `/v1/workspaces/${ws}/analytics/kpis?from=${new Date(now - 30 * DAY).toISOString()}&to=${new Date(now + DAY).toISOString()}`;
    // Until the flush has put every sign-up in the store.
    const deadline = Date.now() + 60_000;
    for (;;) {
      const k = (await call(base, 'GET', url, token)) as { activation: { signups: number } };
      if (k.activation.signups === persons) break;
      if (Date.now() > deadline) throw new Error(`only ${k.activation.signups} of ${persons} sign-ups flushed`);
      await new Promise((r) => setTimeout(r, 200));
    }
    const headers = { authorization: `Bearer ${token}` };
    await autocannon({ url: `${base}${url}`, headers, connections: 8, duration: 1 }); // warm-up
    const r = await autocannon({ url: `${base}${url}`, headers, connections: 8, duration: seconds });
    if (r.non2xx || r.errors) throw new Error(`${label}: ${r.non2xx} non-2xx, ${r.errors} errors`);
    return { [`kpi_req_per_s_${label}`]: r.requests.average, [`p50_ms_${label}`]: r.latency.p50, [`p99_ms_${label}`]: r.latency.p99 };
  } finally {
    await stop(child);
    fs.rmSync(dataDir, { recursive: true, force: true });
  }
}

export default async function cache(args: string[]): Promise<Figures> {
  const opt = (name: string, d: number) => Number(args.find((a) => a.startsWith(`--${name}=`))?.split('=')[1] ?? d);
  const seconds = opt('seconds', 5);
  const events = opt('events', 20_000);
  const uncached = await run('uncached', { CACHE_ANALYTICS_DATA_MAX_BYTES: '1' }, events, seconds);
  const cached = await run('cached', {}, events, seconds);
  const redisUrl = process.env.V01T_BENCH_REDIS_URL ?? (args.includes('--redis') ? 'redis://127.0.0.1:6379' : undefined);
  const redis = redisUrl ? await run('cached_redis', { REDIS_URL: redisUrl, REDIS_KEY_PREFIX: `v01t-bench:${randomUUID().slice(0, 8)}:` }, events, seconds) : {};
  return { events, ...uncached, ...cached, ...redis, kpi_cached_vs_uncached_ratio: cached.kpi_req_per_s_cached! / uncached.kpi_req_per_s_uncached! };
}
