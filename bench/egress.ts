/**
 * `npm run bench -- egress [seconds] [concurrency]`: the guarded egress client against raw undici,
 * both with a keep-alive pool, on one local HTTP server, in one run. Prints requests/s of each and
 * guarded/raw as `ratio` (the aim is >= 0.8: the guard costs little next to a real request).
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { Agent, request } from 'undici';
import { EgressClient } from '../src/kernel/egress/index.js';

async function drive(seconds: number, concurrency: number, call: () => Promise<void>): Promise<number> {
  let done = 0;
  const until = performance.now() + seconds * 1000;
  const started = performance.now();
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (performance.now() < until) {
        await call();
        done++;
      }
    }),
  );
  return done / ((performance.now() - started) / 1000);
}

export default async function bench(args: string[]): Promise<Record<string, number>> {
  const seconds = Number(args[0] ?? 4);
  const concurrency = Number(args[1] ?? 16);
  const payload = JSON.stringify({ ok: true, items: Array.from({ length: 10 }, (_, i) => ({ id: i, name: `item ${i}` })) });
  const server = http.createServer((_req, res) => res.writeHead(200, { 'content-type': 'application/json' }).end(payload));
  server.keepAliveTimeout = 30_000;
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address() as AddressInfo;
  // A host name, so the guarded side goes through its checked DNS lookup on each new connection.
  const guardedUrl = `http://localhost:${port}/items?page=1`;
  const rawUrl = `http://localhost:${port}/items?page=1`;

  const rawAgent = new Agent({ connections: 128, keepAliveTimeout: 10_000 });
  const guarded = new EgressClient({ allow: ['localhost', '127.0.0.1', '::1'], maxRetries: 0 });
  const raw = async () => {
    const res = await request(rawUrl, { dispatcher: rawAgent });
    await res.body.arrayBuffer();
    if (res.statusCode !== 200) throw new Error(`raw: ${res.statusCode}`);
  };
  const safe = async () => {
    const res = await guarded.request({ url: guardedUrl, key: undefined });
    if (res.status !== 200) throw new Error(`guarded: ${res.status}`);
  };
  // Warm both pools, then interleave short ABBA slices: on a shared machine the load changes by
  // the second, and interleaving gives both sides the same share of it.
  await drive(0.5, concurrency, raw);
  await drive(0.5, concurrency, safe);
  const rounds = 10;
  const slice = seconds / (rounds * 4);
  let rawSum = 0;
  let safeSum = 0;
  for (let i = 0; i < rounds; i++) {
    rawSum += await drive(slice, concurrency, raw);
    safeSum += await drive(slice, concurrency, safe);
    safeSum += await drive(slice, concurrency, safe);
    rawSum += await drive(slice, concurrency, raw);
  }
  await guarded.close();
  await rawAgent.close();
  server.closeAllConnections();
  await new Promise((r) => server.close(r));
  const rawRps = rawSum / (rounds * 2);
  const guardedRps = safeSum / (rounds * 2);
  return { raw_undici_req_per_s: rawRps, guarded_req_per_s: guardedRps, ratio: guardedRps / rawRps, concurrency, seconds };
}
