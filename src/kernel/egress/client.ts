import dns from 'node:dns';
import net from 'node:net';
import ipaddr from 'ipaddr.js';
import type * as Undici from 'undici';
import type { Agent, Dispatcher } from 'undici';
import { AppError } from '../errors.js';
import { systemClock, type Clock } from '../clock.js';
import { injectTraceHeaders, SpanKind, tracingEnabled, withSpan } from '../telemetry/tracing.js';
import { lazyPackage } from '../lazy-package.js';

const undici = lazyPackage<typeof Undici>('undici');

/**
 * The one outbound HTTP client of v01t (connectors, OAuth token calls, the workflow `http` step).
 *
 * SSRF defence in depth:
 *  1. the raw URL is refused when its host is spelled as a non-canonical IP (decimal, octal, hex,
 *     short forms, percent-encoding, IPv4-mapped IPv6), before the WHATWG parser normalises it;
 *  2. IP literals are checked against an allow-list of ranges: only globally routable unicast passes;
 *  3. host names are resolved exactly once, inside the Agent's `connect.lookup`, and the socket
 *     connects to the address that was checked, so a DNS answer that changes between check and
 *     connect (rebinding) cannot redirect the connection;
 *  4. redirects are followed by hand and every hop goes through 1-3 again.
 * `V01T_EGRESS_ALLOW` (host names, `*.suffix`, IPs and CIDRs) admits listed targets, e.g. a local
 * fake in tests or an internal API an operator trusts; `IP:port` (`[IPv6]:port`) admits that address
 * literal on that one port only.
 */

export interface EgressRequest {
  url: string;
  method?: string;
  headers?: Record<string, string>;
  body?: string | Uint8Array;
  /** Rate limit and circuit breaker key (a connection id); none = neither applies. */
  key?: string;
  /**
   * The key's own token bucket (a connection's rate limit); absent = the client's default
   * (EGRESS_RATE_PER_S / EGRESS_RATE_BURST). A bucket whose parameters differ from the previous
   * request's of the same key is reconfigured in place (see TokenBucket.configure).
   */
  rateLimit?: EgressRateLimit;
  /** Connector id, for logs and metrics. */
  connector?: string;
  timeoutMs?: number;
  maxResponseBytes?: number;
  /** Follow redirects (default true), each hop re-checked. */
  followRedirects?: boolean;
  /** Allows retrying a non-idempotent request after a 5xx (the caller sent an idempotency key). */
  idempotent?: boolean;
  /** Maximum retries on 429/5xx; default from the client options. */
  maxRetries?: number;
  signal?: AbortSignal;
  /** Called once with this request's observation (request log of a connection). */
  onObserve?: (o: EgressObservation) => void;
}

export interface EgressResponse {
  status: number;
  headers: Record<string, string>;
  body: Buffer;
  /** The URL that answered (after redirects). */
  url: string;
  attempts: number;
  text(): string;
  json<T = unknown>(): T;
}

/** One finished outbound request, as the request log and the metrics see it (never a secret). */
export interface EgressObservation {
  key?: string;
  connector?: string;
  method: string;
  host: string;
  path: string;
  status: number | null;
  errorCode: string | null;
  durationMs: number;
  attempts: number;
}

/** Token bucket parameters: refill rate (tokens per second, may be below 1) and capacity. */
export interface EgressRateLimit {
  perSecond: number;
  burst: number;
}

export interface EgressOptions {
  /** Host names (`api.example.com`, `*.example.com`), IP addresses and CIDRs admitted even when private. */
  allow?: string[];
  timeoutMs?: number;
  connectTimeoutMs?: number;
  maxResponseBytes?: number;
  maxRedirects?: number;
  maxRetries?: number;
  /** A Retry-After longer than this is not waited for: the 429/503 is returned. */
  maxRetryDelayMs?: number;
  /** Per-key token bucket, for keys whose requests carry no `rateLimit` of their own. */
  rateLimit?: EgressRateLimit;
  /** Per-key circuit breaker: opens after `failureThreshold` consecutive failures for `cooldownMs`. */
  breaker?: { failureThreshold: number; cooldownMs: number };
  clock?: Clock;
  /** Waits between retries (tests pass one that does not touch the wall clock). */
  sleep?: (ms: number) => Promise<void>;
  /** DNS resolution (tests pass a fake resolver). */
  resolve?: (hostname: string) => Promise<{ address: string; family: number }[]>;
  observe?: (o: EgressObservation) => void;
}

const DEFAULTS = {
  timeoutMs: 10_000,
  connectTimeoutMs: 5_000,
  maxResponseBytes: 5 * 1024 * 1024,
  maxRedirects: 5,
  maxRetries: 2,
  maxRetryDelayMs: 30_000,
  rateLimit: { perSecond: 10, burst: 20 },
  breaker: { failureThreshold: 5, cooldownMs: 30_000 },
};

const IDEMPOTENT = new Set(['GET', 'HEAD', 'OPTIONS', 'PUT', 'DELETE']);
const STRICT_IPV4 = /^(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)(\.(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)){3}$/;
const MAX_TRACKED_KEYS = 10_000;

const blocked = (detail: string) => new AppError('egress_blocked', detail);
/** The hint an operator needs when a refused address is a target they mean to reach. */
export const EGRESS_ALLOW_HINT = 'to allow it, an operator lists the host or network in V01T_EGRESS_ALLOW (host names, *.suffix, IPs, IP:port or CIDRs, comma-separated)';
const refusedAddress = (detail: string) => blocked(`${detail}; ${EGRESS_ALLOW_HINT}`);

/** Marks an error raised inside connect.lookup so it survives undici's error path. */
class LookupBlocked extends Error {
  constructor(readonly appError: AppError) {
    super(appError.message);
  }
}

type Parsed = ipaddr.IPv4 | ipaddr.IPv6;
const IPV6_GLOBAL_UNICAST = ipaddr.parseCIDR('2000::/3');
const IPV4_COMPATIBLE = ipaddr.parseCIDR('::/96');
const IPV6_UNSPECIFIED_OR_LOOPBACK = ipaddr.parseCIDR('::/127');

export class EgressPolicy {
  private readonly hosts = new Set<string>();
  private readonly suffixes: string[] = [];
  private readonly cidrs: [Parsed, number][] = [];
  /** `IP:port` entries: that address, on that port only (a test's local receiver, one internal service). */
  private readonly addressPorts: { ip: Parsed; port: number }[] = [];

  constructor(allow: string[] = []) {
    for (const raw of allow.map((s) => s.trim().toLowerCase()).filter(Boolean)) {
      const scoped = /^(?:\[([0-9a-f:.]+)\]|([0-9.]+)):(\d{1,5})$/.exec(raw);
      if (scoped) {
        const address = scoped[1] ?? scoped[2]!;
        const port = Number(scoped[3]);
        if (!ipaddr.isValid(address) || port < 1 || port > 65535) throw new Error(`V01T_EGRESS_ALLOW: "${raw}" is not a valid IP:port (IPv6 as [addr]:port)`);
        this.addressPorts.push({ ip: ipaddr.parse(address), port });
        continue;
      }
      if (/^[a-z0-9*][a-z0-9.*-]*:\d+$/.test(raw)) throw new Error(`V01T_EGRESS_ALLOW: "${raw}": a port can be given with an IP address only (IP:port or [IPv6]:port)`);
      if (raw.includes('/')) {
        try {
          this.cidrs.push(ipaddr.parseCIDR(raw));
          continue;
        } catch {
          throw new Error(`V01T_EGRESS_ALLOW: "${raw}" is not a valid CIDR`);
        }
      }
      if (ipaddr.isValid(raw)) {
        const ip = ipaddr.parse(raw);
        this.cidrs.push([ip, ip.kind() === 'ipv4' ? 32 : 128]);
      } else if (raw.startsWith('*.')) {
        this.suffixes.push(raw.slice(1));
      } else {
        this.hosts.add(raw.replace(/\.$/, ''));
      }
    }
  }

  hostAllowed(hostname: string): boolean {
    const h = hostname.toLowerCase().replace(/\.$/, '');
    return this.hosts.has(h) || this.suffixes.some((s) => h.endsWith(s));
  }

  /** Whether an `IP:port` entry admits this literal address on this port. */
  addressPortAllowed(address: string, port: number): boolean {
    if (!ipaddr.isValid(address)) return false;
    const ip = ipaddr.parse(address);
    return this.addressPorts.some((e) => e.port === port && e.ip.kind() === ip.kind() && e.ip.toNormalizedString() === ip.toNormalizedString());
  }

  /** Null when the address may be contacted, else why not. */
  addressRefusal(address: string): string | null {
    if (!ipaddr.isValid(address)) return `"${address}" is not an IP address`;
    const ip = ipaddr.parse(address);
    if (this.cidrs.some(([net, bits]) => net.kind() === ip.kind() && ip.match(net, bits))) return null;
    if (ip.kind() === 'ipv6') {
      const v6 = ip as ipaddr.IPv6;
      if (v6.isIPv4MappedAddress()) return `IPv4-mapped IPv6 address ${address} is refused`;
      // IPv4-compatible ::a.b.c.d (deprecated by RFC 4291, ::/96): some stacks still route it to IPv4.
      if (v6.match(IPV4_COMPATIBLE) && !v6.match(IPV6_UNSPECIFIED_OR_LOOPBACK)) return `IPv4-compatible IPv6 address ${address} is refused`;
      // Only 2000::/3 is global unicast. Everything outside it is special-purpose or unassigned and
      // several of those forms carry an IPv4 address a translator or an old stack may reach
      // (::/8 incl. SIIT ::ffff:0:0:0/96, NAT64 64:ff9b::/96 and 64:ff9b:1::/48, site-local fec0::/10).
      if (!v6.match(IPV6_GLOBAL_UNICAST)) return `${address} is outside the global unicast range 2000::/3 (${v6.range()})`;
    }
    const range = ip.range();
    // Only globally routable unicast passes; everything else (loopback, private, link-local incl.
    // 169.254.169.254, CGNAT, multicast, unspecified, ULA, the 6to4 2002::/16 and Teredo 2001::/32
    // wrappers, benchmarking, documentation, reserved) is refused.
    if (range !== 'unicast') return `${address} is in a ${range} range`;
    return null;
  }

  /**
   * Checks the URL as the caller wrote it. Returns the parsed URL; throws egress_blocked for a
   * scheme other than http(s), an odd host spelling, or a literal address outside the policy.
   */
  checkUrl(raw: string): URL {
    const rawHost = extractRawHost(raw);
    if (rawHost === null) throw blocked('Only absolute http:// and https:// URLs may be requested');
    if (rawHost.includes('%')) throw blocked('Percent-encoded host names are refused');
    if (rawHost.startsWith('[')) {
      const inner = rawHost.slice(1, -1);
      if (inner.includes('.')) throw blocked(`IPv6 literal with an embedded IPv4 address (${rawHost}) is refused`);
    } else {
      const labels = rawHost.toLowerCase().replace(/\.$/, '').split('.');
      const last = labels[labels.length - 1] ?? '';
      // The WHATWG URL parser reads a host whose last label is numeric as IPv4 (2130706433,
      // 0x7f.1, 0177.0.0.1, 127.1): only the canonical dotted quad is accepted.
      if (/^(0x[0-9a-f]*|\d+)$/i.test(last) && !STRICT_IPV4.test(rawHost)) {
        throw blocked(`Non-canonical IP address spelling "${rawHost}" is refused`);
      }
    }
    let url: URL;
    try {
      url = new URL(raw);
    } catch {
      throw blocked('The URL is not valid');
    }
    if (url.protocol !== 'http:' && url.protocol !== 'https:') throw blocked(`Scheme ${url.protocol} is refused`);
    const host = url.hostname.replace(/^\[|\]$/g, '');
    if (net.isIP(host)) {
      const why = this.addressRefusal(host);
      if (why && !this.addressPortAllowed(host, Number(url.port || (url.protocol === 'https:' ? 443 : 80)))) throw refusedAddress(`${host}: ${why}`);
    }
    return url;
  }
}

/** The host part exactly as written (before normalisation), or null when not an http(s) URL. */
export function extractRawHost(raw: string): string | null {
  const m = /^\s*(https?):[/\\]{2}([^/?#\\]*)/i.exec(raw);
  if (!m) return null;
  const authority = m[2]!;
  const hostPort = authority.slice(authority.lastIndexOf('@') + 1);
  if (hostPort.startsWith('[')) {
    const end = hostPort.indexOf(']');
    return end < 0 ? null : hostPort.slice(0, end + 1);
  }
  const colon = hostPort.indexOf(':');
  const host = colon >= 0 ? hostPort.slice(0, colon) : hostPort;
  return host || null;
}

class TokenBucket {
  private tokens: number;
  private last: number;
  constructor(
    private perSecond: number,
    private burst: number,
    now: number,
  ) {
    this.tokens = burst;
    this.last = now;
  }

  private refill(now: number): void {
    this.tokens = Math.min(this.burst, this.tokens + (Math.max(0, now - this.last) / 1000) * this.perSecond);
    this.last = now;
  }

  /**
   * New parameters for an existing bucket (the connection's limit was changed): the tokens earned
   * at the old rate until now are kept, capped at the new burst, and refill continues at the new
   * rate. Raising the limit therefore grants no extra burst at once, and lowering it cuts the
   * stock to the new burst, so switching limits back and forth never yields more than either allows.
   */
  configure(limit: EgressRateLimit, now: number): void {
    if (limit.perSecond === this.perSecond && limit.burst === this.burst) return;
    this.refill(now);
    this.perSecond = limit.perSecond;
    this.burst = limit.burst;
    this.tokens = Math.min(this.tokens, this.burst);
  }

  /** 0 when a token was taken, else the milliseconds until one is available. */
  take(now: number): number {
    this.refill(now);
    if (this.tokens >= 1) {
      this.tokens -= 1;
      return 0;
    }
    return Math.ceil(((1 - this.tokens) / this.perSecond) * 1000);
  }
}

/** "10/s, burst 20" or "1 per 3 s, burst 1": a bucket's parameters for people. */
export function describeRateLimit(limit: EgressRateLimit): string {
  const rate = limit.perSecond >= 1 ? `${Number(limit.perSecond.toPrecision(4))}/s` : `1 per ${Number((1 / limit.perSecond).toPrecision(4))} s`;
  return `${rate}, burst ${limit.burst}`;
}

class Breaker {
  failures = 0;
  openUntil = 0;
  halfOpenInFlight = false;
}

/** undici already lower-cases header names; only repeated headers need joining. */
function headerRecord(h: Record<string, string | string[] | undefined>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const k in h) {
    const v = h[k];
    if (v !== undefined) out[k] = typeof v === 'string' ? v : v.join(', ');
  }
  return out;
}

/** Retry-After as delta-seconds or an HTTP date, in milliseconds from now. */
export function retryAfterMs(value: string | undefined, now: Date): number | null {
  if (!value) return null;
  if (/^\d+$/.test(value.trim())) return Number(value.trim()) * 1000;
  const at = Date.parse(value);
  return Number.isNaN(at) ? null : Math.max(0, at - now.getTime());
}

function isAbort(err: unknown): boolean {
  const e = err as { name?: string; code?: string };
  return e?.name === 'AbortError' || e?.name === 'TimeoutError' || e?.code === 'UND_ERR_ABORTED' || e?.code === 'UND_ERR_HEADERS_TIMEOUT' || e?.code === 'UND_ERR_BODY_TIMEOUT' || e?.code === 'UND_ERR_CONNECT_TIMEOUT';
}

function findLookupBlocked(err: unknown): LookupBlocked | null {
  let e = err as { cause?: unknown } | undefined;
  for (let i = 0; e && i < 5; i++) {
    if (e instanceof LookupBlocked) return e;
    e = e.cause as { cause?: unknown } | undefined;
  }
  return null;
}

export class EgressClient {
  readonly policy: EgressPolicy;
  /** Made by the first request: undici (~110 modules) is loaded when something is sent (ADR 0073). */
  private agentValue?: Agent;
  private readonly createAgent: () => Agent;
  private readonly opts: typeof DEFAULTS & EgressOptions;
  private readonly clock: Clock;
  private readonly buckets = new Map<string, TokenBucket>();
  private readonly breakers = new Map<string, Breaker>();

  constructor(options: EgressOptions = {}) {
    this.opts = { ...DEFAULTS, ...Object.fromEntries(Object.entries(options).filter(([, v]) => v !== undefined)) } as typeof DEFAULTS & EgressOptions;
    this.policy = new EgressPolicy(options.allow);
    this.clock = options.clock ?? systemClock;
    const resolve =
      options.resolve ??
      ((hostname: string) => dns.promises.lookup(hostname, { all: true, verbatim: true }) as Promise<{ address: string; family: number }[]>);
    this.createAgent = () =>
      new (undici().Agent)({
      connections: 128,
      keepAliveTimeout: 10_000,
      headersTimeout: this.opts.timeoutMs,
      bodyTimeout: this.opts.timeoutMs,
      connect: {
        timeout: this.opts.connectTimeoutMs,
        // Called by net/tls.connect for host names only (literals were checked in checkUrl). The
        // socket connects to exactly the addresses returned here, after they were checked.
        lookup: ((hostname: string, lookupOpts: { all?: boolean }, cb: (...args: unknown[]) => void) => {
          resolve(hostname).then(
            (addresses) => {
              if (addresses.length === 0) return cb(Object.assign(new Error(`no address for ${hostname}`), { code: 'ENOTFOUND' }));
              if (!this.policy.hostAllowed(hostname)) {
                for (const a of addresses) {
                  const why = this.policy.addressRefusal(a.address);
                  if (why) return cb(new LookupBlocked(refusedAddress(`${hostname} resolves to a refused address: ${why}`)));
                }
              }
              if (lookupOpts?.all) cb(null, addresses);
              else cb(null, addresses[0]!.address, addresses[0]!.family);
            },
            (err: unknown) => cb(err),
          );
        }) as never,
      },
    });
  }

  private get agent(): Agent {
    return (this.agentValue ??= this.createAgent());
  }

  async close(): Promise<void> {
    await this.agentValue?.close();
  }

  /** Performs the request with checks, retries, rate limit and breaker; throws AppError egress_* codes. */
  request(req: EgressRequest): Promise<EgressResponse> {
    if (!tracingEnabled()) return this.perform(req);
    // One client span per call (its retries and redirects included); the host only, never the path or query (a webhook URL's path is its secret).
    const method = (req.method ?? 'GET').toUpperCase();
    return withSpan(method, { kind: SpanKind.CLIENT, attributes: { 'http.request.method': method, 'server.address': safeHost(req.url), ...(req.connector ? { 'v01t.connector': req.connector } : {}) } }, async (span) => {
      const res = await this.perform(req);
      span?.setAttribute('http.response.status_code', res.status);
      if (res.attempts > 1) span?.setAttribute('http.request.resend_count', res.attempts - 1);
      return res;
    });
  }

  private async perform(req: EgressRequest): Promise<EgressResponse> {
    const started = performance.now();
    const method = (req.method ?? 'GET').toUpperCase();
    let observedUrl: URL | null = null;
    let status: number | null = null;
    let errorCode: string | null = null;
    let attempts = 0;
    try {
      observedUrl = this.policy.checkUrl(req.url);
      if (req.key) {
        this.admitBreaker(req.key);
        this.takeToken(req.key, req.rateLimit ?? this.opts.rateLimit);
      }
      const maxRetries = req.maxRetries ?? this.opts.maxRetries;
      for (;;) {
        attempts++;
        let res: EgressResponse;
        try {
          res = await this.followRedirects(observedUrl, req, method, (u) => (observedUrl = u));
        } catch (err) {
          const retriable = err instanceof AppError && (err.code === 'egress_failed' || err.code === 'egress_timeout') && (IDEMPOTENT.has(method) || req.idempotent || (err.extra.neverConnected as boolean));
          if (retriable && attempts <= maxRetries) {
            await this.sleep(this.backoff(attempts));
            continue;
          }
          // Failures that put no load on the target (blocked, unresolvable, refused) do not trip the breaker.
          if (req.key && err instanceof AppError && (err.code === 'egress_failed' || err.code === 'egress_timeout') && !err.extra.neverConnected) this.recordFailure(req.key);
          throw err;
        }
        res.attempts = attempts;
        status = res.status;
        const retryStatus = res.status === 429 || res.status === 503 || (res.status >= 500 && (IDEMPOTENT.has(method) || req.idempotent));
        if (retryStatus && attempts <= maxRetries) {
          const wait = retryAfterMs(res.headers['retry-after'], this.clock.now()) ?? this.backoff(attempts);
          if (wait <= this.opts.maxRetryDelayMs) {
            await this.sleep(wait);
            continue;
          }
        }
        if (req.key) {
          if (res.status >= 500) this.recordFailure(req.key);
          else this.recordSuccess(req.key);
        }
        return res;
      }
    } catch (err) {
      errorCode = err instanceof AppError ? err.code : 'egress_failed';
      const b = req.key ? this.breakers.get(req.key) : undefined;
      if (b) b.halfOpenInFlight = false;
      throw err;
    } finally {
      const observation: EgressObservation = {
        key: req.key,
        connector: req.connector,
        method,
        host: observedUrl?.host ?? safeHost(req.url),
        path: observedUrl?.pathname ?? '',
        status,
        errorCode,
        durationMs: Math.round(performance.now() - started),
        attempts,
      };
      this.opts.observe?.(observation);
      req.onObserve?.(observation);
    }
  }

  private async followRedirects(first: URL, req: EgressRequest, method: string, seen: (u: URL) => void): Promise<EgressResponse> {
    let url = first;
    let currentMethod = method;
    let body = req.body;
    const headers = { ...(req.headers ?? {}) };
    const follow = req.followRedirects !== false;
    for (let hop = 0; ; hop++) {
      seen(url);
      const res = await this.once(url, currentMethod, headers, body, req);
      const location = res.headers.location;
      if (!follow || ![301, 302, 303, 307, 308].includes(res.status) || !location) return res;
      if (hop >= this.opts.maxRedirects) throw new AppError('egress_failed', `More than ${this.opts.maxRedirects} redirects`);
      const next = new URL(location, url);
      // Every hop goes through the same checks (raw spelling included) as the first URL.
      const checked = this.policy.checkUrl(/^[a-z][a-z0-9+.-]*:/i.test(location) ? location : next.href);
      if (checked.origin !== url.origin) {
        // Credentials must not follow a redirect to another origin.
        for (const h of Object.keys(headers)) if (['authorization', 'cookie', 'proxy-authorization'].includes(h.toLowerCase())) delete headers[h];
      }
      if (res.status === 303 || ((res.status === 301 || res.status === 302) && currentMethod === 'POST')) {
        currentMethod = currentMethod === 'HEAD' ? 'HEAD' : 'GET';
        body = undefined;
        for (const h of Object.keys(headers)) if (h.toLowerCase().startsWith('content-')) delete headers[h];
      }
      url = checked;
    }
  }

  private async once(url: URL, method: string, headers: Record<string, string>, body: string | Uint8Array | undefined, req: EgressRequest): Promise<EgressResponse> {
    const timeoutMs = req.timeoutMs ?? this.opts.timeoutMs;
    const cap = req.maxResponseBytes ?? this.opts.maxResponseBytes;
    const started = performance.now();
    let res: Dispatcher.ResponseData;
    try {
      // headersTimeout bounds the wait for the answer; the body gets what is left of timeoutMs
      // (below). No AbortSignal unless the caller gave one: undici's signal handling cost ~30% of
      // throughput on a keep-alive pool (bench/egress.ts).
      // The Agent carries the default timeouts; per-request values only when they differ (each
      // option costs on the hot path). A string URL is cheaper for undici than a URL object.
      const custom = timeoutMs !== this.opts.timeoutMs;
      // The receiver continues the trace (W3C traceparent of the egress span; nothing with tracing off).
      injectTraceHeaders(headers);
      res = await undici().request(url.href, {
        dispatcher: this.agent,
        method: method as 'GET',
        headers,
        body,
        ...(custom ? { headersTimeout: timeoutMs, bodyTimeout: timeoutMs } : {}),
        ...(req.signal ? { signal: req.signal } : {}),
      });
    } catch (err) {
      const lb = findLookupBlocked(err);
      if (lb) throw lb.appError;
      if (isAbort(err)) throw new AppError('egress_timeout', `No answer from ${url.host} within ${timeoutMs} ms`);
      const code = (err as { code?: string }).code;
      throw new AppError('egress_failed', `Request to ${url.host} failed${code ? ` (${code})` : ''}`, { neverConnected: code === 'ECONNREFUSED' || code === 'ENOTFOUND' });
    }
    // An overall deadline for the body: a server that drips bytes must not hold the call for ever.
    const left = Math.max(1, timeoutMs - (performance.now() - started));
    const body$ = res.body;
    const timer = setTimeout(() => body$.destroy(Object.assign(new Error('timeout'), { name: 'TimeoutError' })), left);
    try {
      return await this.readBody(url, res, timeoutMs, cap);
    } finally {
      clearTimeout(timer);
    }
  }

  private async readBody(url: URL, res: Dispatcher.ResponseData, timeoutMs: number, cap: number): Promise<EgressResponse> {
    const declared = Number(res.headers['content-length']);
    if (Number.isFinite(declared) && declared > cap) {
      res.body.destroy();
      throw new AppError('egress_response_too_large', `The response of ${url.host} exceeds ${cap} bytes`);
    }
    const chunks: Buffer[] = [];
    let size = 0;
    try {
      if (Number.isFinite(declared)) {
        // undici fails a body longer than its declared length, so the declared size is the bound.
        chunks.push(Buffer.from(await res.body.arrayBuffer()));
      } else for await (const chunk of res.body) {
        size += (chunk as Buffer).length;
        if (size > cap) {
          res.body.destroy();
          throw new AppError('egress_response_too_large', `The response of ${url.host} exceeds ${cap} bytes`);
        }
        chunks.push(chunk as Buffer);
      }
    } catch (err) {
      if (err instanceof AppError) throw err;
      if (isAbort(err)) throw new AppError('egress_timeout', `The response of ${url.host} did not finish within ${timeoutMs} ms`);
      throw new AppError('egress_failed', `Reading the response of ${url.host} failed`);
    }
    const buf = Buffer.concat(chunks);
    return {
      status: res.statusCode,
      headers: headerRecord(res.headers),
      body: buf,
      url: url.href,
      attempts: 1,
      text: () => buf.toString('utf8'),
      json: <T>() => {
        try {
          return JSON.parse(buf.toString('utf8')) as T;
        } catch {
          throw new AppError('egress_failed', `${url.host} answered with invalid JSON (status ${res.statusCode})`);
        }
      },
    };
  }

  private backoff(attempt: number): number {
    return Math.min(this.opts.maxRetryDelayMs, 200 * 2 ** (attempt - 1)) * (0.75 + Math.random() * 0.5);
  }

  private sleep(ms: number): Promise<void> {
    return this.opts.sleep ? this.opts.sleep(ms) : new Promise((r) => setTimeout(r, ms));
  }

  private bounded<V>(map: Map<string, V>, key: string, make: () => V): V {
    let v = map.get(key);
    if (!v) {
      if (map.size >= MAX_TRACKED_KEYS) map.delete(map.keys().next().value!);
      v = make();
      map.set(key, v);
    }
    return v;
  }

  private takeToken(key: string, limit: EgressRateLimit): void {
    const now = this.clock.now().getTime();
    const bucket = this.bounded(this.buckets, key, () => new TokenBucket(limit.perSecond, limit.burst, now));
    bucket.configure(limit, now);
    const wait = bucket.take(now);
    if (wait > 0) throw new AppError('egress_rate_limited', `Outbound rate limit of this connection reached (${describeRateLimit(limit)})`, { retryAfterSeconds: wait / 1000 });
  }

  private admitBreaker(key: string): void {
    const b = this.breakers.get(key);
    if (!b || b.failures < this.opts.breaker.failureThreshold) return;
    const now = this.clock.now().getTime();
    if (now < b.openUntil) {
      throw new AppError('egress_circuit_open', 'The target failed repeatedly; requests are paused', { retryAfterSeconds: (b.openUntil - now) / 1000 });
    }
    // Half-open: one trial request at a time decides whether the circuit closes.
    if (b.halfOpenInFlight) throw new AppError('egress_circuit_open', 'A trial request to the failing target is in flight', { retryAfterSeconds: 1 });
    b.halfOpenInFlight = true;
  }

  private recordFailure(key: string): void {
    const b = this.bounded(this.breakers, key, () => new Breaker());
    b.failures++;
    b.halfOpenInFlight = false;
    if (b.failures >= this.opts.breaker.failureThreshold) b.openUntil = this.clock.now().getTime() + this.opts.breaker.cooldownMs;
  }

  private recordSuccess(key: string): void {
    this.breakers.delete(key);
  }

  /** Breaker state of a key, for health answers. */
  circuitState(key: string): 'closed' | 'open' | 'half_open' {
    const b = this.breakers.get(key);
    if (!b || b.failures < this.opts.breaker.failureThreshold) return 'closed';
    return this.clock.now().getTime() < b.openUntil ? 'open' : 'half_open';
  }
}

function safeHost(raw: string): string {
  try {
    return new URL(raw).host;
  } catch {
    return '';
  }
}

/** Parses V01T_EGRESS_ALLOW ("host, *.suffix, 10.0.0.0/8"). */
export function parseAllowList(value: string | undefined): string[] {
  return (value ?? '').split(/[,\s]+/).map((s) => s.trim()).filter(Boolean);
}
