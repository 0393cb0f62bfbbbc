/**
 * Guarded outbound HTTP: infrastructure every service reaches through `ctx.egress` (connectors,
 * OAuth token calls, the workflow `http` step, incident escalations). One client per process, so
 * per-key rate limits and circuit breakers are shared by everything the process sends. ADR 0013.
 */
import type { Config } from '../config/index.js';
import type { Clock } from '../clock.js';
import { EgressClient, type EgressObservation } from './client.js';
import { AppError } from '../errors.js';

export { EGRESS_ALLOW_HINT, EgressClient, EgressPolicy, describeRateLimit, extractRawHost, retryAfterMs } from './client.js';
export type { EgressObservation, EgressOptions, EgressRateLimit, EgressRequest, EgressResponse } from './client.js';

/** Codes a blocked or failed outbound call carries (AppError.code). */
export const EGRESS_ERROR_CODES = ['egress_blocked', 'egress_timeout', 'egress_failed', 'egress_rate_limited', 'egress_circuit_open', 'egress_response_too_large'] as const;

/**
 * Whether a failed call may still have taken effect at the receiver: the request went out and no
 * answer (or no readable one) came back. Blocked, rate-limited and never-connected calls did not
 * reach it; an answer with an error status is the receiver's own word.
 */
export function outcomeUnknown(err: unknown): boolean {
  if (!(err instanceof AppError)) return false;
  if (err.code === 'egress_timeout' || err.code === 'egress_response_too_large') return true;
  return err.code === 'egress_failed' && !err.extra.neverConnected;
}

/**
 * The guarded client configured from the platform configuration (V01T_EGRESS_ALLOW,
 * EGRESS_TIMEOUT_MS, EGRESS_MAX_RESPONSE_BYTES, EGRESS_RATE_PER_S / EGRESS_RATE_BURST: the default
 * per-key token bucket; a request's `rateLimit`, e.g. a connection's own limit, replaces it for its key).
 */
export function createEgressClient(config: Config, opts: { clock?: Clock; observe?: (o: EgressObservation) => void } = {}): EgressClient {
  return new EgressClient({
    allow: config.egress.allow,
    timeoutMs: config.egress.timeoutMs,
    maxResponseBytes: config.egress.maxResponseBytes,
    rateLimit: config.egress.rateLimit,
    clock: opts.clock,
    observe: opts.observe,
  });
}
