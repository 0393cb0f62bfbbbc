import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ManualClock } from '../clock.js';
import { AppError } from '../errors.js';
import { EgressClient, EgressPolicy, extractRawHost, type EgressObservation } from './client.js';
import { loadConfig } from '../config/index.js';
import { createEgressClient } from './index.js';

let server: http.Server;
let port: number;
let hits = 0;
const sequence: Record<string, number[]> = {};

beforeAll(async () => {
  server = http.createServer((req, res) => {
    hits++;
    const url = new URL(req.url ?? '/', 'http://x');
    const p = url.pathname;
    if (p === '/ok') return res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ ok: true, auth: req.headers.authorization ?? null }));
    if (p === '/redirect') return res.writeHead(302, { location: url.searchParams.get('to') ?? '/ok' }).end();
    if (p === '/big') return res.writeHead(200, { 'content-length': String(2_000_000) }).end(Buffer.alloc(2_000_000));
    if (p === '/big-chunked') {
      res.writeHead(200);
      for (let i = 0; i < 20; i++) res.write(Buffer.alloc(100_000));
      return res.end();
    }
    if (p === '/hang') return; // never answers
    if (p.startsWith('/seq/')) {
      // Answers the listed statuses in order, then 200.
      const key = p;
      const statuses = (sequence[key] ??= p.slice(5).split('-').map(Number));
      const status = statuses.shift() ?? 200;
      const headers: Record<string, string> = {};
      if (status === 429) headers['retry-after'] = url.searchParams.get('ra') ?? '2';
      return res.writeHead(status, headers).end(String(status));
    }
    res.writeHead(404).end();
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  port = (server.address() as AddressInfo).port;
});

afterAll(async () => {
  server.closeAllConnections();
  await new Promise((r) => server.close(r));
});

const fakeDns: Record<string, string[]> = {
  localhost: ['127.0.0.1', '::1'],
  'metadata.example': ['169.254.169.254'],
  'internal.example': ['10.1.2.3'],
  'mixed.example': ['93.184.215.14', '10.0.0.7'],
  'v6loop.example': ['::1'],
  'fake.test': ['127.0.0.1'],
};
const resolveCalls: string[] = [];
const resolve = async (host: string) => {
  resolveCalls.push(host);
  const list = fakeDns[host.toLowerCase().replace(/\.$/, '')];
  if (!list) throw Object.assign(new Error(`ENOTFOUND ${host}`), { code: 'ENOTFOUND' });
  return list.map((address) => ({ address, family: address.includes(':') ? 6 : 4 }));
};

async function code(p: Promise<unknown>): Promise<string> {
  try {
    await p;
    return 'no error';
  } catch (err) {
    return err instanceof AppError ? err.code : `unexpected ${(err as Error).message}`;
  }
}

describe('SSRF guard: bad targets are all refused', () => {
  const client = new EgressClient({ resolve, maxRetries: 0, timeoutMs: 2000 });
  afterAll(() => client.close());

  const targets = () => [
    `http://127.0.0.1:${port}/ok`,
    `http://localhost:${port}/ok`,
    `http://LOCALHOST.:${port}/ok`,
    `http://[::1]:${port}/ok`,
    `http://0.0.0.0:${port}/ok`,
    `http://[::]:${port}/ok`,
    'http://169.254.169.254/latest/meta-data/',
    'http://metadata.example/computeMetadata/v1/',
    'http://10.0.0.1/',
    'http://172.16.5.4/',
    'http://192.168.1.1/',
    'http://100.64.0.1/',
    'http://224.0.0.1/',
    'http://255.255.255.255/',
    'http://[fd00::1]/',
    'http://[fc00::1]/',
    'http://[fe80::1]/',
    'http://[ff02::1]/',
    `http://2130706433:${port}/ok`,
    `http://0x7f000001:${port}/ok`,
    `http://0177.0.0.1:${port}/ok`,
    `http://017700000001:${port}/ok`,
    `http://0x7f.0.0.1:${port}/ok`,
    `http://127.1:${port}/ok`,
    `http://127.0.1:${port}/ok`,
    `http://127.000.000.001:${port}/ok`,
    `http://%31%32%37.0.0.1:${port}/ok`,
    `http://[::ffff:127.0.0.1]:${port}/ok`,
    `http://[::ffff:7f00:1]:${port}/ok`,
    `http://[0:0:0:0:0:ffff:169.254.169.254]/`,
    'http://[::ffff:a9fe:a9fe]/',
    'http://[64:ff9b::a9fe:a9fe]/',
    'http://[2002:a9fe:a9fe::]/',
    `http://user:pw@127.0.0.1:${port}/ok`,
    `http://example.com@127.0.0.1:${port}/ok`,
    `http://127.0.0.1:6379/`,
    'http://internal.example/',
    'http://mixed.example/',
    'http://v6loop.example/',
    'file:///etc/passwd',
    'ftp://example.com/',
    'gopher://127.0.0.1:6379/_INFO',
    'javascript:alert(1)',
    '/relative/path',
  ];

  it('refuses each with egress_blocked and never reaches the local server', async () => {
    const before = hits;
    const results = await Promise.all(targets().map(async (url) => [url, await code(client.request({ url }))] as const));
    const notBlocked = results.filter(([, c]) => c !== 'egress_blocked');
    expect(notBlocked).toEqual([]);
    expect(results.length).toBeGreaterThanOrEqual(40);
    expect(hits).toBe(before);
  });

  it('refuses a redirect from an admitted host to a private address, re-checking every hop', async () => {
    const admitted = new EgressClient({ resolve, allow: ['127.0.0.1'], maxRetries: 0 });
    try {
      for (const to of ['http://169.254.169.254/latest/meta-data/', 'http://10.0.0.1/', 'http://2130706433/', 'http://metadata.example/', 'file:///etc/passwd']) {
        expect(await code(admitted.request({ url: `http://127.0.0.1:${port}/redirect?to=${encodeURIComponent(to)}` })), to).toBe('egress_blocked');
      }
      const ok = await admitted.request({ url: `http://127.0.0.1:${port}/redirect?to=/ok` });
      expect(ok.status).toBe(200);
      expect(ok.url).toBe(`http://127.0.0.1:${port}/ok`);
    } finally {
      await admitted.close();
    }
  });

  it('admits an IP:port entry on that port only, also across redirects', async () => {
    const scoped = new EgressClient({ resolve, allow: [`127.0.0.1:${port}`], maxRetries: 0 });
    try {
      expect((await scoped.request({ url: `http://127.0.0.1:${port}/ok` })).status).toBe(200);
      const before = hits;
      for (const url of [`http://127.0.0.1:${port + 1}/ok`, 'http://127.0.0.1/ok', `http://127.0.0.2:${port}/ok`, `http://localhost:${port}/ok`, `http://127.0.0.1:${port}/redirect?to=${encodeURIComponent(`http://127.0.0.1:${port + 1}/ok`)}`]) {
        expect(await code(scoped.request({ url })), url).toBe('egress_blocked');
      }
      // The redirect's first hop reached the server; nothing else did.
      expect(hits - before).toBe(1);
    } finally {
      await scoped.close();
    }
    const v6 = new EgressPolicy(['[::1]:8443']);
    expect(v6.addressPortAllowed('::1', 8443)).toBe(true);
    expect(v6.addressPortAllowed('0:0:0:0:0:0:0:1', 8443)).toBe(true);
    expect(v6.addressPortAllowed('::1', 443)).toBe(false);
    expect(v6.addressRefusal('::1')).not.toBeNull();
    expect(() => new EgressPolicy(['localhost:8080'])).toThrow(/IP address only/);
    expect(() => new EgressPolicy(['127.0.0.1:99999'])).toThrow(/not a valid IP:port/);
    expect(() => new EgressPolicy(['999.1.1.1:80'])).toThrow(/not a valid IP:port/);
  });

  it('reads raw hosts exactly as written', () => {
    expect(extractRawHost('http://0x7f.1:80/x')).toBe('0x7f.1');
    expect(extractRawHost('https://u:p@[::1]:8/')).toBe('[::1]');
    expect(extractRawHost('http:\\\\evil.com\\x')).toBe('evil.com');
    expect(extractRawHost('mailto:x@y')).toBeNull();
  });
});

/**
 * IPv6 forms that embed or reach an IPv4 address, and the other special-purpose ranges outside
 * global unicast (issue 13 item 5): each spelling is refused as a literal and as a DNS answer.
 */
describe('SSRF guard: IPv6 ranges that can reach IPv4 or are not global unicast', () => {
  const spellings: [string, string][] = [
    ['IPv4-compatible ::/96, loopback', '::7f00:1'],
    ['IPv4-compatible ::/96, metadata', '::a9fe:a9fe'],
    ['IPv4-compatible ::/96, long form', '0:0:0:0:0:0:7f00:1'],
    ['IPv4-compatible ::/96, private', '::a00:1'],
    ['IPv4-mapped ::ffff:0:0/96', '::ffff:7f00:1'],
    ['SIIT ::ffff:0:0:0/96', '::ffff:0:7f00:1'],
    ['rest of ::/8', '::1:7f00:1'],
    ['NAT64 well-known 64:ff9b::/96', '64:ff9b::7f00:1'],
    ['NAT64 local-use 64:ff9b:1::/48', '64:ff9b:1::a9fe:a9fe'],
    ['6to4 2002::/16', '2002:7f00:1::1'],
    ['Teredo 2001::/32', '2001:0:4136:e378:8000:63bf:80ff:fffe'],
    ['site-local fec0::/10 (deprecated)', 'fec0::1'],
    ['discard 100::/64', '100::1'],
    ['ORCHIDv2 2001:20::/28', '2001:20::1'],
    ['benchmarking 2001:2::/48', '2001:2::1'],
    ['documentation 2001:db8::/32', '2001:db8::1'],
    ['documentation 3fff::/20', '3fff::1'],
    ['segment routing 5f00::/16', '5f00::1'],
    ['unassigned outside 2000::/3', '4000::1'],
  ];
  const policy = new EgressPolicy();
  const client = new EgressClient({ resolve: async (host) => [{ address: host.replace(/^v6-/, '').replace(/\.example$/, '').replaceAll('-', ':'), family: 6 }], maxRetries: 0, timeoutMs: 2000 });
  afterAll(() => client.close());

  it('lets a global unicast IPv6 address through (the refusals below are not a blanket IPv6 ban)', () => {
    expect(policy.addressRefusal('2606:4700:4700::1111')).toBeNull();
    expect(policy.addressRefusal('2a00:1450:4001:800::200e')).toBeNull();
  });

  for (const [what, address] of spellings) {
    it(`refuses ${what}: [${address}] as a literal and as a resolved address`, async () => {
      expect(policy.addressRefusal(address), address).not.toBeNull();
      const before = hits;
      expect(await code(client.request({ url: `http://[${address}]:${port}/ok` }))).toBe('egress_blocked');
      // The same address returned by DNS for a host name (rebinding to an embedded IPv4 form).
      expect(await code(client.request({ url: `http://v6-${address.replaceAll(':', '-')}.example:${port}/ok` }))).toBe('egress_blocked');
      expect(hits).toBe(before);
    });
  }

  it('admits such an address only when V01T_EGRESS_ALLOW names it', () => {
    expect(new EgressPolicy(['::7f00:1']).addressRefusal('::7f00:1')).toBeNull();
    expect(new EgressPolicy(['64:ff9b::/96']).addressRefusal('64:ff9b::a9fe:a9fe')).toBeNull();
  });
});

describe('guarded client behaviour against an admitted local server', () => {
  const clock = new ManualClock();
  const sleeps: number[] = [];
  const observed: EgressObservation[] = [];
  let client: EgressClient;
  beforeAll(() => {
    client = new EgressClient({
      resolve,
      allow: ['127.0.0.1/32'],
      clock,
      sleep: async (ms) => {
        sleeps.push(ms);
      },
      observe: (o) => observed.push(o),
      rateLimit: { perSecond: 1, burst: 2 },
      breaker: { failureThreshold: 2, cooldownMs: 5000 },
      maxRetryDelayMs: 10_000,
    });
  });
  afterAll(() => client.close());

  it('connects a host name to the address it checked, resolving it once', async () => {
    resolveCalls.length = 0;
    const res = await client.request({ url: `http://fake.test:${port}/ok?secret=abc`, headers: { authorization: 'Bearer t' } });
    expect(res.status).toBe(200);
    expect(res.json()).toEqual({ ok: true, auth: 'Bearer t' });
    expect(resolveCalls).toEqual(['fake.test']);
    const last = observed.at(-1)!;
    expect(last).toMatchObject({ method: 'GET', host: `fake.test:${port}`, path: '/ok', status: 200, errorCode: null });
    expect(JSON.stringify(last)).not.toContain('secret');
  });

  it('caps the response size, declared or streamed', async () => {
    expect(await code(client.request({ url: `http://127.0.0.1:${port}/big`, maxResponseBytes: 1_000_000 }))).toBe('egress_response_too_large');
    expect(await code(client.request({ url: `http://127.0.0.1:${port}/big-chunked`, maxResponseBytes: 1_000_000 }))).toBe('egress_response_too_large');
  });

  it('times out', async () => {
    expect(await code(client.request({ url: `http://127.0.0.1:${port}/hang`, timeoutMs: 150, maxRetries: 0 }))).toBe('egress_timeout');
  });

  it('retries 429 honouring Retry-After, and 503 even for POST, but not a POST 500', async () => {
    sleeps.length = 0;
    const r = await client.request({ url: `http://127.0.0.1:${port}/seq/429-503`, method: 'POST', body: '{}' });
    expect(r.status).toBe(200);
    expect(r.attempts).toBe(3);
    expect(sleeps[0]).toBe(2000);
    const r500 = await client.request({ url: `http://127.0.0.1:${port}/seq/500`, method: 'POST', body: '{}' });
    expect(r500.status).toBe(500);
    expect(r500.attempts).toBe(1);
    const get500 = await client.request({ url: `http://127.0.0.1:${port}/seq/500-502` });
    expect(get500.status).toBe(200);
    expect(get500.attempts).toBe(3);
  });

  it('does not wait for a Retry-After beyond the limit', async () => {
    sleeps.length = 0;
    const r = await client.request({ url: `http://127.0.0.1:${port}/seq/429?ra=3600` });
    expect(r.status).toBe(429);
    expect(sleeps).toEqual([]);
  });

  it('rate limits per key', async () => {
    const url = `http://127.0.0.1:${port}/ok`;
    await client.request({ url, key: 'conn-rl' });
    await client.request({ url, key: 'conn-rl' });
    expect(await code(client.request({ url, key: 'conn-rl' }))).toBe('egress_rate_limited');
    expect((await client.request({ url, key: 'other' })).status).toBe(200);
    clock.advance(1000);
    expect((await client.request({ url, key: 'conn-rl' })).status).toBe(200);
  });

  it('takes the per-connection rate limit from EGRESS_RATE_PER_S / EGRESS_RATE_BURST', async () => {
    const url = `http://127.0.0.1:${port}/ok`;
    const c = new ManualClock(new Date('2026-01-01T00:00:00Z'));
    const configured = createEgressClient(loadConfig({ V01T_EGRESS_ALLOW: '127.0.0.1', EGRESS_RATE_PER_S: '500', EGRESS_RATE_BURST: '30' }), { clock: c });
    const defaults = createEgressClient(loadConfig({ V01T_EGRESS_ALLOW: '127.0.0.1' }), { clock: c });
    try {
      const burst = async (client: EgressClient, n: number) => {
        const codes: string[] = [];
        for (let i = 0; i < n; i++) codes.push(await client.request({ url, key: 'conn-cfg' }).then(() => 'ok', (e: AppError) => e.code));
        return codes;
      };
      // Default 10/s, burst 20: the 21st request in the same instant is refused.
      expect((await burst(defaults, 21)).filter((x) => x === 'ok')).toHaveLength(20);
      expect((await burst(configured, 31)).filter((x) => x === 'ok')).toHaveLength(30);
      c.advance(10); // 500/s refills 5 tokens in 10 ms
      expect((await burst(configured, 6)).filter((x) => x === 'ok')).toHaveLength(5);
      expect(() => loadConfig({ EGRESS_RATE_PER_S: '0' })).toThrow(/EGRESS_RATE_PER_S/);
    } finally {
      await configured.close();
      await defaults.close();
    }
  });

  it('applies a request\'s own rate limit to its key, and the default to keys without one', async () => {
    const url = `http://127.0.0.1:${port}/ok`;
    const c = new ManualClock(new Date('2026-01-01T00:00:00Z'));
    const own = new EgressClient({ resolve, allow: ['127.0.0.1/32'], clock: c, rateLimit: { perSecond: 10, burst: 20 } });
    try {
      const burst = async (n: number, rateLimit?: { perSecond: number; burst: number }, key = 'conn-own') => {
        const codes: string[] = [];
        for (let i = 0; i < n; i++) codes.push(await own.request({ url, key, rateLimit }).then(() => 'ok', (e: AppError) => e.code));
        return codes;
      };
      // "300 requests / 15 min" with a bucket of 2: two at once, then one every 3 s.
      const slow = { perSecond: 300 / 900, burst: 2 };
      expect(await burst(4, slow)).toEqual(['ok', 'ok', 'egress_rate_limited', 'egress_rate_limited']);
      const refused = await own.request({ url, key: 'conn-own', rateLimit: slow }).catch((e: AppError) => e);
      expect((refused as AppError).extra.retryAfterSeconds).toBe(3);
      expect((refused as AppError).message).toContain('1 per 3 s, burst 2');
      c.advance(2999);
      expect(await burst(1, slow)).toEqual(['egress_rate_limited']);
      c.advance(1);
      expect(await burst(2, slow)).toEqual(['ok', 'egress_rate_limited']);
      // Another key without a limit of its own gets the client's default (burst 20).
      expect((await burst(21, undefined, 'conn-default')).filter((x) => x === 'ok')).toHaveLength(20);
      // A bulk webhook allowed 100/s with a bucket of 50 goes past the default burst.
      expect((await burst(51, { perSecond: 100, burst: 50 }, 'conn-bulk')).filter((x) => x === 'ok')).toHaveLength(50);
    } finally {
      await own.close();
    }
  });

  it('reconfigures a key\'s bucket when its limit changes, without granting a fresh burst', async () => {
    const url = `http://127.0.0.1:${port}/ok`;
    const c = new ManualClock(new Date('2026-01-01T00:00:00Z'));
    const own = new EgressClient({ resolve, allow: ['127.0.0.1/32'], clock: c, rateLimit: { perSecond: 10, burst: 20 } });
    const take = (rateLimit?: { perSecond: number; burst: number }) => own.request({ url, key: 'conn-change', rateLimit }).then(() => 'ok', (e: AppError) => e.code);
    try {
      // 1 per second, bucket 1: the second request in the same instant is refused.
      expect([await take({ perSecond: 1, burst: 1 }), await take({ perSecond: 1, burst: 1 })]).toEqual(['ok', 'egress_rate_limited']);
      // Raised to 100/s: the next request still finds the bucket empty, but it refills at the new rate.
      expect(await take({ perSecond: 100, burst: 100 })).toBe('egress_rate_limited');
      c.advance(10);
      expect([await take({ perSecond: 100, burst: 100 }), await take({ perSecond: 100, burst: 100 })]).toEqual(['ok', 'egress_rate_limited']);
      c.advance(1000);
      const codes: string[] = [];
      for (let i = 0; i < 101; i++) codes.push(await take({ perSecond: 100, burst: 100 }));
      expect(codes.filter((x) => x === 'ok')).toHaveLength(100);
      // Lowered to 1 per minute: the stock is cut to the new bucket; a request is refused with the new wait.
      c.advance(1000);
      expect(await take({ perSecond: 1 / 60, burst: 1 })).toBe('ok');
      const refused = await own.request({ url, key: 'conn-change', rateLimit: { perSecond: 1 / 60, burst: 1 } }).catch((e: AppError) => e);
      expect((refused as AppError).code).toBe('egress_rate_limited');
      expect((refused as AppError).extra.retryAfterSeconds).toBe(60);
      // The limit removed: the key falls back to the client's default (10/s, burst 20) from its
      // current stock, earned at the old rate until the change was seen (2 s of 1/60 s: none).
      c.advance(2000);
      const back: string[] = [];
      for (let i = 0; i < 21; i++) back.push(await take());
      expect(back.filter((x) => x === 'ok')).toHaveLength(0);
      c.advance(2000);
      const refilled: string[] = [];
      for (let i = 0; i < 21; i++) refilled.push(await take());
      expect(refilled.filter((x) => x === 'ok')).toHaveLength(20);
    } finally {
      await own.close();
    }
  });

  it('opens the circuit after repeated failures, then half-opens after the cooldown', async () => {
    const key = 'conn-breaker';
    clock.advance(10_000);
    await client.request({ url: `http://127.0.0.1:${port}/seq/502`, method: 'POST', key });
    clock.advance(10_000);
    await client.request({ url: `http://127.0.0.1:${port}/seq/501`, method: 'POST', key });
    expect(client.circuitState(key)).toBe('open');
    const before = hits;
    clock.advance(1000);
    expect(await code(client.request({ url: `http://127.0.0.1:${port}/ok`, key }))).toBe('egress_circuit_open');
    expect(hits).toBe(before);
    clock.advance(5000);
    expect(client.circuitState(key)).toBe('half_open');
    expect((await client.request({ url: `http://127.0.0.1:${port}/ok`, key })).status).toBe(200);
    expect(client.circuitState(key)).toBe('closed');
  });

  it('drops credentials on a cross-origin redirect', async () => {
    const res = await client.request({
      url: `http://127.0.0.1:${port}/redirect?to=${encodeURIComponent(`http://fake.test:${port}/ok`)}`,
      headers: { authorization: 'Bearer secret' },
    });
    expect(res.json()).toEqual({ ok: true, auth: null });
  });
});
