import { randomUUID } from 'node:crypto';
import { afterAll, describe, expect, it } from 'vitest';
import { ManualClock } from '../clock.js';
import { CoreMetrics } from '../telemetry/metrics.js';
import { CACHE_LAYER_NAMES, CACHE_LAYERS, MemoryCacheLayer, RedisCacheLayer, createCacheLayers, type CacheLayerName, type CacheLayers } from './layers.js';

const REDIS_URL = process.env.V01T_TEST_REDIS === '1' ? (process.env.V01T_TEST_REDIS_URL ?? 'redis://127.0.0.1:6379') : undefined;
const opened: CacheLayers[] = [];
afterAll(async () => {
  await Promise.all(opened.map((l) => l.close()));
});

function layers(opts: { redis?: boolean; maxBytes?: number } = {}) {
  const clock = new ManualClock('2026-03-01T10:00:00Z');
  const metrics = new CoreMetrics({ collectDefaults: false });
  const config = Object.fromEntries(CACHE_LAYER_NAMES.map((n) => [n, { redisUrl: opts.redis ? REDIS_URL : undefined, maxBytes: opts.maxBytes ?? 1024 * 1024 }])) as Record<CacheLayerName, { redisUrl?: string; maxBytes: number }>;
  const keyPrefix = `v01t-test:${randomUUID()}:`;
  const l = createCacheLayers({ layers: config, keyPrefix }, clock, metrics);
  opened.push(l);
  return { clock, metrics, l, keyPrefix };
}

const counter = async (metrics: CoreMetrics, name: string, layer: string) => {
  const m = (await metrics.registry.getSingleMetric(name)!.get()).values.find((v) => v.labels.layer === layer);
  return m?.value ?? 0;
};

describe('cache layers in process', () => {
  it("expire at each layer's own TTL, by the injected clock", async () => {
    const { clock, l } = layers();
    for (const name of CACHE_LAYER_NAMES) await l[name].set('ws1', 'k', name);
    clock.advance(299_000);
    expect(await l.api_responses.get('ws1', 'k')).toBe('api_responses');
    clock.advance(1_000); // 300 s
    expect(await l.api_responses.get('ws1', 'k')).toBeNull();
    expect(await l.analytics_data.get('ws1', 'k')).toBe('analytics_data');
    clock.advance(1_500_000); // 1,800 s
    expect(await l.analytics_data.get('ws1', 'k')).toBeNull();
    expect(await l.user_sessions.get('ws1', 'k')).toBe('user_sessions');
    clock.advance(1_800_000); // 3,600 s
    expect(await l.user_sessions.get('ws1', 'k')).toBeNull();
  });

  it('cap a longer TTL at the layer TTL, and keep tenants apart', async () => {
    const { clock, l } = layers();
    await l.api_responses.set('ws1', 'k', 'one', 86_400);
    expect(await l.api_responses.get('ws2', 'k')).toBeNull();
    clock.advance(300_000);
    expect(await l.api_responses.get('ws1', 'k')).toBeNull();
    await expect(l.api_responses.get('ws1:x', 'k')).rejects.toThrow(/tenant/);
  });

  it('stay within their byte bound, least recently used out first, and count hits, misses and evictions', async () => {
    const { l, metrics } = layers({ maxBytes: 10_000 });
    const layer = l.analytics_data as MemoryCacheLayer;
    const value = 'x'.repeat(1_000); // ~2 kB each
    for (let i = 0; i < 4; i++) await layer.set('ws', `k${i}`, value);
    expect(await layer.get('ws', 'k0')).toBe(value); // k0 is now the most recently used
    await layer.set('ws', 'k4', value);
    await layer.set('ws', 'k5', value);
    expect(layer.bytes).toBeLessThanOrEqual(10_000);
    expect(await layer.get('ws', 'k0')).toBe(value);
    expect(await layer.get('ws', 'k1')).toBeNull();
    expect(await counter(metrics, 'v01t_cache_evictions_total', 'analytics_data')).toBeGreaterThanOrEqual(1);
    expect(await counter(metrics, 'v01t_cache_hits_total', 'analytics_data')).toBe(2);
    expect(await counter(metrics, 'v01t_cache_misses_total', 'analytics_data')).toBe(1);
    expect(await counter(metrics, 'v01t_cache_hits_total', 'api_responses')).toBe(0);
  });

  it('never read a versioned entry after its tenant was bumped', async () => {
    const { l } = layers();
    let n = 0;
    const compute = async () => ++n;
    expect(await l.analytics_data.through('ws1', 'q', compute, { versioned: true })).toBe(1);
    expect(await l.analytics_data.through('ws1', 'q', compute, { versioned: true })).toBe(1);
    expect(await l.analytics_data.through('ws2', 'q', compute, { versioned: true })).toBe(2);
    await l.analytics_data.bump('ws1');
    expect(await l.analytics_data.through('ws1', 'q', compute, { versioned: true })).toBe(3);
    expect(await l.analytics_data.through('ws2', 'q', compute, { versioned: true })).toBe(2);
  });
});

describe.runIf(REDIS_URL)('cache layers on Redis', () => {
  it('set every key with its layer TTL under the layer prefix, keep tenants apart and honour bumps', async () => {
    const { l, keyPrefix } = layers({ redis: true });
    for (const name of CACHE_LAYER_NAMES) {
      const layer = l[name] as RedisCacheLayer;
      expect(layer.kind).toBe('redis');
      await layer.set('ws1', 'k', name, 999_999);
      expect(await layer.client.get(`${keyPrefix}cache:${name}:ws1:k`)).toBe(name);
      const ttl = await layer.client.ttl(`${keyPrefix}cache:${name}:ws1:k`);
      expect(ttl).toBeLessThanOrEqual(CACHE_LAYERS[name].ttlSeconds);
      expect(ttl).toBeGreaterThan(CACHE_LAYERS[name].ttlSeconds - 5);
      expect(await layer.get('ws2', 'k')).toBeNull();
    }
    let n = 0;
    const compute = async () => ++n;
    expect(await l.analytics_data.through('ws1', 'q', compute, { versioned: true })).toBe(1);
    expect(await l.analytics_data.through('ws1', 'q', compute, { versioned: true })).toBe(1);
    await l.analytics_data.bump('ws1');
    expect(await l.analytics_data.through('ws1', 'q', compute, { versioned: true })).toBe(2);
  });
});
