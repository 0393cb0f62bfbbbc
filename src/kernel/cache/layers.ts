import { createHash, randomUUID } from 'node:crypto';
import { LRUCache } from 'lru-cache';
import type * as IoRedis from 'ioredis';
import type { Redis } from 'ioredis';
import client from 'prom-client';
import type { Clock } from '../clock.js';
import { AppError } from '../errors.js';
import { lazyPackage } from '../lazy-package.js';

const ioredis = lazyPackage<typeof IoRedis>('ioredis');
import type { CoreMetrics } from '../telemetry/metrics.js';

/**
 * The runbook's three cache layers (ADR 0059). `ttlSeconds` is each layer's default and ceiling;
 * `policy` and `maxMemory` are what the layer's Redis instance must be configured with (the chart's
 * `cache.layers`); in process the layer is an LRU bounded by `CACHE_<LAYER>_MAX_BYTES`.
 */
export const CACHE_LAYERS = {
  api_responses: { ttlSeconds: 300, policy: 'allkeys-lru', maxMemory: '2gb', defaultMaxBytes: 32 * 1024 * 1024 },
  user_sessions: { ttlSeconds: 3600, policy: 'volatile-ttl', maxMemory: '1gb', defaultMaxBytes: 16 * 1024 * 1024 },
  analytics_data: { ttlSeconds: 1800, policy: 'allkeys-lru', maxMemory: '4gb', defaultMaxBytes: 64 * 1024 * 1024 },
} as const;
export type CacheLayerName = keyof typeof CACHE_LAYERS;
export const CACHE_LAYER_NAMES = Object.keys(CACHE_LAYERS) as CacheLayerName[];

/** Tenant of data that belongs to no workspace (a token's principal, the public status page). */
export const PLATFORM_TENANT = 'platform';

const TENANT = /^[\w-]{1,64}$/;

/**
 * One named cache layer. Every key is under a tenant (a workspace id, or PLATFORM_TENANT), so no
 * caller can build a key that reads another workspace's entry. Versioned reads (`through` with
 * `versioned`) are keyed by the tenant's data version, which `bump` replaces after each write that
 * changes the data: entries of an older version are never read again and age out.
 */
export interface CacheLayer {
  readonly name: CacheLayerName;
  readonly kind: 'memory' | 'redis';
  readonly ttlSeconds: number;
  get(tenant: string, key: string): Promise<string | null>;
  /** Stores for ttlSeconds (default and ceiling: the layer's TTL). */
  set(tenant: string, key: string, value: string, ttlSeconds?: number): Promise<void>;
  del(tenant: string, key: string): Promise<void>;
  /** The tenant's current data version (a random token; a new one when none is live). */
  version(tenant: string): Promise<string>;
  /** Replaces the tenant's data version: call after the write that changed the data committed. */
  bump(tenant: string): Promise<void>;
  /** The JSON value under key (and the tenant's data version when `versioned`), computed and stored on a miss. */
  through<T>(tenant: string, key: string, compute: () => Promise<T>, opts?: { versioned?: boolean; ttlSeconds?: number }): Promise<T>;
  close(): Promise<void>;
}

/** A stable short key for a query's parameters. */
export function queryHash(value: unknown): string {
  return createHash('sha256').update(JSON.stringify(value)).digest('base64url').slice(0, 22);
}

function checkTenant(tenant: string) {
  if (!TENANT.test(tenant)) throw new Error(`cache tenant must be a workspace id or "${PLATFORM_TENANT}"`);
}

interface LayerMetrics {
  hits: client.Counter<'layer'>;
  misses: client.Counter<'layer'>;
  evictions: client.Counter<'layer'>;
}

abstract class BaseLayer implements CacheLayer {
  abstract readonly kind: 'memory' | 'redis';
  readonly ttlSeconds: number;
  constructor(
    readonly name: CacheLayerName,
    protected readonly metrics: LayerMetrics | undefined,
  ) {
    this.ttlSeconds = CACHE_LAYERS[name].ttlSeconds;
  }
  protected abstract read(key: string): Promise<string | null>;
  protected abstract write(key: string, value: string, ttlSeconds: number, onlyIfAbsent?: boolean): Promise<void>;
  protected abstract remove(key: string): Promise<void>;
  abstract close(): Promise<void>;

  protected ttl(ttlSeconds?: number) {
    return Math.max(1, Math.min(this.ttlSeconds, Math.ceil(ttlSeconds ?? this.ttlSeconds)));
  }
  private full(tenant: string, key: string) {
    checkTenant(tenant);
    return `${tenant}:${key}`;
  }
  async get(tenant: string, key: string) {
    const v = await this.read(this.full(tenant, key));
    (v === null ? this.metrics?.misses : this.metrics?.hits)?.inc({ layer: this.name });
    return v;
  }
  async set(tenant: string, key: string, value: string, ttlSeconds?: number) {
    await this.write(this.full(tenant, key), value, this.ttl(ttlSeconds));
  }
  async del(tenant: string, key: string) {
    await this.remove(this.full(tenant, key));
  }
  async version(tenant: string) {
    const k = this.full(tenant, '~version');
    const v = await this.read(k);
    if (v !== null) return v;
    // Lives as long as the longest entry: once it lapses, a new version makes every older entry unreachable (a miss, never stale).
    await this.write(k, randomUUID(), this.ttlSeconds, true);
    return (await this.read(k)) ?? randomUUID();
  }
  async bump(tenant: string) {
    await this.write(this.full(tenant, '~version'), randomUUID(), this.ttlSeconds);
  }
  async through<T>(tenant: string, key: string, compute: () => Promise<T>, opts: { versioned?: boolean; ttlSeconds?: number } = {}): Promise<T> {
    const k = opts.versioned ? `${key}@${await this.version(tenant)}` : key;
    const cached = await this.get(tenant, k);
    if (cached !== null) return JSON.parse(cached) as T;
    const value = await compute();
    await this.set(tenant, k, JSON.stringify(value), opts.ttlSeconds);
    return value;
  }
}

interface Entry {
  value: string;
  expiresAt: number;
}

/** In process: an LRU bounded by bytes (lru-cache); expiry by the injected clock. */
export class MemoryCacheLayer extends BaseLayer {
  readonly kind = 'memory' as const;
  private readonly lru: LRUCache<string, Entry>;
  constructor(
    name: CacheLayerName,
    private readonly clock: Clock,
    maxBytes: number,
    metrics?: LayerMetrics,
  ) {
    super(name, metrics);
    this.lru = new LRUCache<string, Entry>({
      maxSize: maxBytes,
      // UTF-16 strings: two bytes a character, plus the entry's overhead.
      sizeCalculation: (e, k) => (k.length + e.value.length) * 2 + 64,
      dispose: (_e, _k, reason) => {
        if (reason === 'evict') metrics?.evictions.inc({ layer: name });
      },
    });
  }
  get bytes() {
    return this.lru.calculatedSize;
  }
  protected async read(key: string) {
    const e = this.lru.get(key);
    if (!e) return null;
    if (e.expiresAt <= this.clock.now().getTime()) {
      this.lru.delete(key);
      return null;
    }
    return e.value;
  }
  protected async write(key: string, value: string, ttlSeconds: number, onlyIfAbsent = false) {
    if (onlyIfAbsent && (await this.read(key)) !== null) return;
    this.lru.set(key, { value, expiresAt: this.clock.now().getTime() + ttlSeconds * 1000 });
  }
  protected async remove(key: string) {
    this.lru.delete(key);
  }
  async close() {
    this.lru.clear();
  }
}

/**
 * On Redis: the layer's own instance (eviction policy and maxmemory are per instance), keys under
 * `<prefix>cache:<layer>:<tenant>:`, every key with a TTL (volatile-ttl evicts only those).
 * A Redis that cannot be reached is a miss (the caller computes), never an error to the client.
 */
export class RedisCacheLayer extends BaseLayer {
  readonly kind = 'redis' as const;
  private readonly prefix: string;
  constructor(
    name: CacheLayerName,
    readonly client: Redis,
    prefix: string,
    metrics?: LayerMetrics,
    private readonly onError: (err: Error) => void = () => {},
  ) {
    super(name, metrics);
    this.prefix = `${prefix}cache:${name}:`;
  }
  private async quiet<T>(fallback: T, command: () => Promise<T>): Promise<T> {
    try {
      return await command();
    } catch (err) {
      this.onError(err as Error);
      return fallback;
    }
  }
  protected read(key: string) {
    return this.quiet(null, () => this.client.get(this.prefix + key));
  }
  protected async write(key: string, value: string, ttlSeconds: number, onlyIfAbsent = false) {
    await this.quiet(null, () => (onlyIfAbsent ? this.client.set(this.prefix + key, value, 'EX', ttlSeconds, 'NX') : this.client.set(this.prefix + key, value, 'EX', ttlSeconds)));
  }
  /** An invalidation (delete, version bump) that cannot reach Redis is not lost silently: 503, retry shortly. */
  private async must(command: () => Promise<unknown>): Promise<void> {
    try {
      await command();
    } catch (err) {
      throw Object.assign(new AppError('service_unavailable', 'The cache is unavailable; retry shortly', { retryAfterSeconds: 2 }), { cause: err });
    }
  }
  protected async remove(key: string) {
    await this.must(() => this.client.del(this.prefix + key));
  }
  override async bump(tenant: string) {
    checkTenant(tenant);
    await this.must(() => this.client.set(`${this.prefix}${tenant}:~version`, randomUUID(), 'EX', this.ttlSeconds));
  }
  async close() {}
}

export interface CacheLayersConfig {
  /** Per layer: its Redis URL (CACHE_<LAYER>_REDIS_URL, else REDIS_URL) and in-process bound. */
  layers: Record<CacheLayerName, { redisUrl?: string; maxBytes: number }>;
  keyPrefix: string;
}

export type CacheLayers = Record<CacheLayerName, CacheLayer> & { close(): Promise<void> };

/** Builds the three layers; layers on the same Redis URL share one connection. */
export function createCacheLayers(config: CacheLayersConfig, clock: Clock, metrics?: CoreMetrics, onError?: (layer: CacheLayerName, err: Error) => void): CacheLayers {
  const m = metrics ? layerMetrics(metrics) : undefined;
  const clients = new Map<string, Redis>();
  const layers = {} as Record<CacheLayerName, CacheLayer>;
  for (const name of CACHE_LAYER_NAMES) {
    const { redisUrl, maxBytes } = config.layers[name];
    if (redisUrl) {
      let c = clients.get(redisUrl);
      if (!c) {
        c = new (ioredis().Redis)(redisUrl, { lazyConnect: false, maxRetriesPerRequest: 1, enableOfflineQueue: true });
        c.on('error', () => {});
        clients.set(redisUrl, c);
      }
      layers[name] = new RedisCacheLayer(name, c, config.keyPrefix, m, (err) => onError?.(name, err));
    } else {
      layers[name] = new MemoryCacheLayer(name, clock, maxBytes, m);
    }
  }
  if (metrics) {
    metrics.labelledGauge('v01t_cache_bytes', 'Bytes held by each in-process cache layer (bounded by CACHE_<LAYER>_MAX_BYTES)', ['layer'], async () =>
      CACHE_LAYER_NAMES.flatMap((name) => {
        const l = layers[name];
        return l instanceof MemoryCacheLayer ? [{ labels: { layer: name }, value: l.bytes }] : [];
      }), 0);
    // On Redis the instance evicts: its INFO counter, read at scrape time, per layer's instance.
    metrics.labelledGauge('v01t_cache_redis_evicted_keys', "Keys the layer's Redis instance evicted since it started (INFO stats evicted_keys)", ['layer'], async () => {
      const out: { labels: { layer: string }; value: number }[] = [];
      for (const name of CACHE_LAYER_NAMES) {
        const l = layers[name];
        if (!(l instanceof RedisCacheLayer)) continue;
        const info = await l.client.info('stats').catch(() => '');
        const n = /evicted_keys:(\d+)/.exec(info);
        if (n) out.push({ labels: { layer: name }, value: Number(n[1]) });
      }
      return out;
    });
  }
  return Object.assign(layers, {
    async close() {
      await Promise.all(CACHE_LAYER_NAMES.map((n) => layers[n].close()));
      await Promise.all([...clients.values()].map((c) => c.quit().catch(() => c.disconnect())));
    },
  });
}

function layerMetrics(metrics: CoreMetrics): LayerMetrics {
  const make = (name: string, help: string) => {
    const c = new client.Counter({ name, help, labelNames: ['layer'], registers: [metrics.registry] });
    for (const layer of CACHE_LAYER_NAMES) c.inc({ layer }, 0);
    return c;
  };
  return {
    hits: make('v01t_cache_hits_total', 'Cache layer reads that found an entry, by layer (api_responses, user_sessions, analytics_data)'),
    misses: make('v01t_cache_misses_total', 'Cache layer reads that found no entry (absent, expired, evicted or of an older data version), by layer'),
    evictions: make('v01t_cache_evictions_total', 'Entries the in-process layer evicted to stay within its byte bound, by layer'),
  };
}
