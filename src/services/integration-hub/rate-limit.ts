import { z } from 'zod';
import type { EgressRateLimit } from '../../kernel/egress/index.js';
import type { ConnectionRow } from './schema.js';

/**
 * A connection's own outbound rate limit, stated the way providers state theirs: `requests` per
 * `windowSeconds` (300 per 900 s = "300 requests / 15 min"; 1 per 1 s = "1 request/s per
 * endpoint"). The egress client enforces it as a token bucket refilled at requests/windowSeconds
 * per second holding at most `burst` tokens. Over any window the bucket admits at most
 * burst + requests, so `burst: 1` paces strictly; the default is one second's worth of the rate
 * (at least 1, at most `requests`). No limit (null) = the process default, EGRESS_RATE_PER_S /
 * EGRESS_RATE_BURST. Buckets live in each process: N replicas admit up to N times the limit.
 */
export interface ConnectionRateLimit {
  requests: number;
  windowSeconds: number;
  burst: number;
}

/** The same maxima as EGRESS_RATE_PER_S / EGRESS_RATE_BURST, and a window of at most one day. */
export const RATE_LIMIT_MAX = { requests: 100_000, windowSeconds: 86_400, burst: 100_000 } as const;

export const rateLimitInput = z
  .strictObject({
    requests: z.number().int().min(1).max(RATE_LIMIT_MAX.requests).describe('Requests allowed per window, e.g. 300'),
    windowSeconds: z.number().int().min(1).max(RATE_LIMIT_MAX.windowSeconds).describe('The window in seconds, e.g. 900 for "per 15 minutes"'),
    burst: z
      .number()
      .int()
      .min(1)
      .max(RATE_LIMIT_MAX.burst)
      .optional()
      .describe('Requests that may go at once (token bucket size); default one second of the rate, at least 1, at most requests'),
  })
  .refine((v) => v.burst === undefined || v.burst <= v.requests, { path: ['burst'], message: 'burst cannot exceed requests (the provider allows no more per window)' });

export type RateLimitInput = z.infer<typeof rateLimitInput>;

export const rateLimitView = z
  .object({ requests: z.number().int(), windowSeconds: z.number().int(), burst: z.number().int() })
  .nullable()
  .describe('The connection\'s outbound rate limit (requests per windowSeconds, token bucket of burst); null = the process default (EGRESS_RATE_PER_S / EGRESS_RATE_BURST)');

export function defaultBurst(requests: number, windowSeconds: number): number {
  return Math.min(requests, Math.max(1, Math.ceil(requests / windowSeconds)));
}

/** The stored form of a validated input: the burst is resolved, so what is shown is what applies. */
export function resolveRateLimit(input: RateLimitInput): ConnectionRateLimit {
  return { requests: input.requests, windowSeconds: input.windowSeconds, burst: input.burst ?? defaultBurst(input.requests, input.windowSeconds) };
}

export function rateLimitOf(row: Pick<ConnectionRow, 'rateRequests' | 'rateWindowSeconds' | 'rateBurst'>): ConnectionRateLimit | null {
  if (row.rateRequests == null || row.rateWindowSeconds == null || row.rateBurst == null) return null;
  return { requests: row.rateRequests, windowSeconds: row.rateWindowSeconds, burst: row.rateBurst };
}

export function rateLimitColumns(limit: ConnectionRateLimit | null): Pick<ConnectionRow, 'rateRequests' | 'rateWindowSeconds' | 'rateBurst'> {
  return { rateRequests: limit?.requests ?? null, rateWindowSeconds: limit?.windowSeconds ?? null, rateBurst: limit?.burst ?? null };
}

/** The egress bucket of a connection's limit; undefined = the client's default applies. */
export function bucketOf(row: Pick<ConnectionRow, 'rateRequests' | 'rateWindowSeconds' | 'rateBurst'>): EgressRateLimit | undefined {
  const limit = rateLimitOf(row);
  return limit ? { perSecond: limit.requests / limit.windowSeconds, burst: limit.burst } : undefined;
}
