import type * as IoRedis from 'ioredis';
import type { Redis } from 'ioredis';
import { systemClock, type Clock } from '../clock.js';
import { AppError } from '../errors.js';
import { lazyPackage } from '../lazy-package.js';

const ioredis = lazyPackage<typeof IoRedis>('ioredis');

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
  /**
   * Reserves one attempt on a budget of failures (sign-in per address, per account), atomically
   * across callers and replicas, before the costly check runs. Refused while the key is blocked,
   * or while attempts in flight could together push the failures past the point where a block
   * starts: concurrent guesses cannot outrun the counter. Every granted reservation must be
   * settled with settleAttempt.
   */
  reserveAttempt(key: string, policy: AttemptPolicy): Promise<AttemptReservation>;
  /**
   * Settles a reservation: 'failed' counts a failure (and blocks the key once failures reach
   * policy.blockAfter), 'succeeded' frees the slot, 'reset' frees it and forgets the failures and
   * any block, 'released' frees it without a verdict (the check did not run to its end).
   */
  settleAttempt(key: string, policy: AttemptPolicy, outcome: AttemptOutcome): Promise<AttemptSettlement>;
  ping(): Promise<void>;
  close(): Promise<void>;
}

export interface AttemptPolicy {
  /** The failure (counted in a window starting at the first) that blocks the key. */
  blockAfter: number;
  windowSeconds: number;
  blockSeconds: number;
  /** Each failure past blockAfter multiplies the block by this (1: constant), up to maxBlockSeconds. */
  blockGrowth?: number;
  maxBlockSeconds?: number;
}

export type AttemptReservation = { granted: true } | { granted: false; blocked: boolean; retryAfterSeconds: number };
export type AttemptOutcome = 'failed' | 'succeeded' | 'reset' | 'released';
export interface AttemptSettlement {
  failures: number;
  /** Seconds of the block this failure started (null when none started). */
  blockedSeconds: number | null;
}

/** A reservation whose holder died is given back after this long (no check takes a minute). */
const RESERVATION_TTL_SECONDS = 60;

/** Free slots for attempts: the failures still allowed before a block, and always one once a block has lapsed. */
const attemptSlots = (policy: AttemptPolicy, failures: number) => Math.max(1, policy.blockAfter - failures);

function blockSecondsAfter(policy: AttemptPolicy, failures: number): number | null {
  if (failures < policy.blockAfter) return null;
  const grown = policy.blockSeconds * (policy.blockGrowth ?? 1) ** (failures - policy.blockAfter);
  return Math.max(1, Math.floor(Math.min(policy.maxBlockSeconds ?? policy.blockSeconds, grown)));
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
  // No await between reading and writing: each call runs to its end before another starts, which makes it atomic in one process.
  async reserveAttempt(key: string, policy: AttemptPolicy): Promise<AttemptReservation> {
    const block = this.live(`${key}:block`);
    if (block) return { granted: false, blocked: true, retryAfterSeconds: this.secondsLeft(block) };
    const failures = Number(this.live(`${key}:fail`)?.value ?? 0);
    const pending = this.live(`${key}:pending`);
    const inFlight = Number(pending?.value ?? 0);
    if (inFlight >= attemptSlots(policy, failures)) return { granted: false, blocked: false, retryAfterSeconds: 1 };
    this.sweep();
    this.entries.set(`${key}:pending`, { value: String(inFlight + 1), expiresAt: this.clock.now().getTime() + RESERVATION_TTL_SECONDS * 1000 });
    return { granted: true };
  }

  async settleAttempt(key: string, policy: AttemptPolicy, outcome: AttemptOutcome): Promise<AttemptSettlement> {
    const pending = this.live(`${key}:pending`);
    if (pending && Number(pending.value) > 1) pending.value = String(Number(pending.value) - 1);
    else this.entries.delete(`${key}:pending`);
    if (outcome === 'reset') {
      this.entries.delete(`${key}:fail`);
      this.entries.delete(`${key}:block`);
      return { failures: 0, blockedSeconds: null };
    }
    const fail = this.live(`${key}:fail`);
    if (outcome !== 'failed') return { failures: Number(fail?.value ?? 0), blockedSeconds: null };
    const now = this.clock.now().getTime();
    const failures = Number(fail?.value ?? 0) + 1;
    if (fail) fail.value = String(failures);
    else this.entries.set(`${key}:fail`, { value: '1', expiresAt: now + policy.windowSeconds * 1000 });
    const seconds = blockSecondsAfter(policy, failures);
    if (seconds === null) return { failures, blockedSeconds: null };
    const block = this.live(`${key}:block`);
    if (!block || block.expiresAt < now + seconds * 1000) this.entries.set(`${key}:block`, { value: '1', expiresAt: now + seconds * 1000 });
    return { failures, blockedSeconds: block ? null : seconds };
  }

  private secondsLeft(e: { expiresAt: number }) {
    return Math.ceil((e.expiresAt - this.clock.now().getTime()) / 1000);
  }

  async ping() {}
  async close() {
    this.entries.clear();
  }
}

// The same rules as MemoryCache's, as Lua so that Redis runs each as one atomic step for all replicas.
// Windows and blocks end by the caller's clock (ARGV now, in ms), as in memory, so both adapters
// follow an injected clock alike; the key's own TTL only cleans up.
// KEYS: the state hash (n, failUntil, blockUntil), the in-flight reservation counter.
const RESERVE_ATTEMPT_LUA = `
local now = tonumber(ARGV[3])
local s = redis.call('HMGET', KEYS[1], 'n', 'failUntil', 'blockUntil')
local blockUntil = tonumber(s[3] or '0')
if blockUntil > now then return {0, 1, math.ceil((blockUntil - now) / 1000)} end
local failures = 0
if tonumber(s[2] or '0') > now then failures = tonumber(s[1] or '0') end
local pending = tonumber(redis.call('GET', KEYS[2]) or '0')
if pending >= math.max(1, tonumber(ARGV[1]) - failures) then return {0, 0, 1} end
redis.call('INCR', KEYS[2])
redis.call('EXPIRE', KEYS[2], ARGV[2])
return {1, 0, 0}`;

// ARGV: outcome, blockAfter, windowMs, blockSeconds, growth, maxBlockSeconds, now. Returns {failures, seconds of a block started or -1}.
const SETTLE_ATTEMPT_LUA = `
local pending = tonumber(redis.call('GET', KEYS[2]) or '0')
if pending > 1 then redis.call('DECR', KEYS[2]) else redis.call('DEL', KEYS[2]) end
if ARGV[1] == 'reset' then
  redis.call('DEL', KEYS[1])
  return {0, -1}
end
local now = tonumber(ARGV[7])
local s = redis.call('HMGET', KEYS[1], 'n', 'failUntil', 'blockUntil')
local failUntil = tonumber(s[2] or '0')
local failures = 0
if failUntil > now then failures = tonumber(s[1] or '0') end
if ARGV[1] ~= 'failed' then return {failures, -1} end
if failures == 0 then failUntil = now + tonumber(ARGV[3]) end
failures = failures + 1
local blockAfter = tonumber(ARGV[2])
local blockUntil = tonumber(s[3] or '0')
local started = -1
if failures >= blockAfter then
  local seconds = math.max(1, math.floor(math.min(tonumber(ARGV[6]), tonumber(ARGV[4]) * tonumber(ARGV[5]) ^ (failures - blockAfter))))
  if blockUntil < now + seconds * 1000 then
    if blockUntil <= now then started = seconds end
    blockUntil = now + seconds * 1000
  end
end
redis.call('HSET', KEYS[1], 'n', failures, 'failUntil', failUntil, 'blockUntil', blockUntil)
redis.call('PEXPIRE', KEYS[1], math.max(failUntil, blockUntil) - now + 60000)
return {failures, started}`;

export class RedisCache implements Cache {
  readonly kind = 'redis' as const;
  readonly client: Redis;
  constructor(
    url: string,
    private readonly prefix = 'v01t:',
    private readonly clock: Clock = systemClock,
  ) {
    this.client = new (ioredis().Redis)(url, { lazyConnect: false, maxRetriesPerRequest: 2, enableOfflineQueue: true });
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
  private attemptKeys(key: string) {
    return [`${this.prefix}${key}:attempts`, `${this.prefix}${key}:pending`];
  }

  async reserveAttempt(key: string, policy: AttemptPolicy): Promise<AttemptReservation> {
    const now = this.clock.now().getTime();
    const [granted, blocked, retry] = (await this.available(() => this.client.eval(RESERVE_ATTEMPT_LUA, 2, ...this.attemptKeys(key), policy.blockAfter, RESERVATION_TTL_SECONDS, now))) as [number, number, number];
    return granted === 1 ? { granted: true } : { granted: false, blocked: blocked === 1, retryAfterSeconds: retry };
  }

  async settleAttempt(key: string, policy: AttemptPolicy, outcome: AttemptOutcome): Promise<AttemptSettlement> {
    const [failures, seconds] = (await this.available(() => this.client.eval(
      SETTLE_ATTEMPT_LUA,
      2,
      ...this.attemptKeys(key),
      outcome,
      policy.blockAfter,
      Math.ceil(policy.windowSeconds * 1000),
      policy.blockSeconds,
      policy.blockGrowth ?? 1,
      policy.maxBlockSeconds ?? policy.blockSeconds,
      this.clock.now().getTime(),
    ))) as [number, number];
    return { failures, blockedSeconds: seconds < 0 ? null : seconds };
  }

  async ping() {
    await this.client.ping();
  }
  async close() {
    await this.client.quit().catch(() => this.client.disconnect());
  }
}

export function createCache(opts: { redisUrl?: string; clock: Clock; prefix?: string }): Cache {
  return opts.redisUrl ? new RedisCache(opts.redisUrl, opts.prefix, opts.clock) : new MemoryCache(opts.clock);
}
