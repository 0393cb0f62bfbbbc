import { Redis } from 'ioredis';
import type { Clock } from '../clock.js';
import { AppError } from '../errors.js';

/**
 * Small key-value port used for token lookups, login counters and rate limits.
 * Memory in the embedded profile, Redis when REDIS_URL is set (shared by all replicas).
 */
export interface Cache {
  readonly kind: 'memory' | 'redis';
  get(key: string): Promise<string | null>;
  set(key: string, value: string, ttlSeconds: number): Promise<void>;
  del(key: string): Promise<void>;
  /** Increments a counter; the TTL is set when the counter is created and not extended. */
  incr(key: string, ttlSeconds: number): Promise<number>;
  /** Seconds to live, or null when the key does not exist. */
  ttl(key: string): Promise<number | null>;
  ping(): Promise<void>;
  close(): Promise<void>;
}

export class MemoryCache implements Cache {
  readonly kind = 'memory' as const;
  private readonly entries = new Map<string, { value: string; expiresAt: number }>();
  private sweeps = 0;
  constructor(private readonly clock: Clock) {}

  private live(key: string) {
    const e = this.entries.get(key);
    if (!e) return undefined;
    if (e.expiresAt <= this.clock.now().getTime()) {
      this.entries.delete(key);
      return undefined;
    }
    return e;
  }
  private sweep() {
    // Expired keys are dropped lazily; every 1,000 writes a full sweep bounds memory.
    if (++this.sweeps % 1000 !== 0) return;
    const now = this.clock.now().getTime();
    for (const [k, e] of this.entries) if (e.expiresAt <= now) this.entries.delete(k);
  }
  async get(key: string) {
    return this.live(key)?.value ?? null;
  }
  async set(key: string, value: string, ttlSeconds: number) {
    this.sweep();
    this.entries.set(key, { value, expiresAt: this.clock.now().getTime() + ttlSeconds * 1000 });
  }
  async del(key: string) {
    this.entries.delete(key);
  }
  async incr(key: string, ttlSeconds: number) {
    const e = this.live(key);
    if (e) {
      e.value = String(Number(e.value) + 1);
      return Number(e.value);
    }
    await this.set(key, '1', ttlSeconds);
    return 1;
  }
  async ttl(key: string) {
    const e = this.live(key);
    return e ? Math.ceil((e.expiresAt - this.clock.now().getTime()) / 1000) : null;
  }
  async ping() {}
  async close() {
    this.entries.clear();
  }
}

export class RedisCache implements Cache {
  readonly kind = 'redis' as const;
  readonly client: Redis;
  constructor(url: string, private readonly prefix = 'v01t:') {
    this.client = new Redis(url, { lazyConnect: false, maxRetriesPerRequest: 2, enableOfflineQueue: true });
    // Connection errors surface through ping() and failing commands; an 'error' listener keeps them from crashing the process.
    this.client.on('error', () => {});
  }
  /**
   * Redis away (restart, failover) is an outage callers should retry, not a bug: a command that
   * cannot reach it (ioredis gives up after maxRetriesPerRequest reconnects) becomes
   * service_unavailable, 503 with Retry-After, instead of a 500. ioredis reconnects by itself.
   */
  private async available<T>(command: () => Promise<T>): Promise<T> {
    try {
      return await command();
    } catch (err) {
      if (this.client.status === 'ready' && !/max retries|connection is closed|stream isn't writeable|ECONNREFUSED|ECONNRESET/i.test((err as Error).message)) throw err;
      throw Object.assign(new AppError('service_unavailable', 'The cache is unavailable; retry shortly', { retryAfterSeconds: 2 }), { cause: err });
    }
  }
  async get(key: string) {
    return this.available(() => this.client.get(this.prefix + key));
  }
  async set(key: string, value: string, ttlSeconds: number) {
    await this.available(() => this.client.set(this.prefix + key, value, 'EX', Math.max(1, Math.ceil(ttlSeconds))));
  }
  async del(key: string) {
    await this.available(() => this.client.del(this.prefix + key));
  }
  async incr(key: string, ttlSeconds: number) {
    const k = this.prefix + key;
    const [[, count]] = (await this.available(() => this.client.multi().incr(k).expire(k, Math.max(1, Math.ceil(ttlSeconds)), 'NX').exec())) as [[unknown, number]];
    return count;
  }
  async ttl(key: string) {
    const t = await this.available(() => this.client.ttl(this.prefix + key));
    return t < 0 ? null : t;
  }
  async ping() {
    await this.client.ping();
  }
  async close() {
    await this.client.quit().catch(() => this.client.disconnect());
  }
}

export function createCache(opts: { redisUrl?: string; clock: Clock; prefix?: string }): Cache {
  return opts.redisUrl ? new RedisCache(opts.redisUrl, opts.prefix) : new MemoryCache(opts.clock);
}
