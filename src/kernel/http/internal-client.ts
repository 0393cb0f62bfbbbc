import { AppError, errorDef, type ErrorCode } from '../errors.js';
import { injectTraceHeaders } from '../telemetry/tracing.js';

/** The header carrying V01T_INTERNAL_TOKEN on calls between the processes of one installation. */
export const INTERNAL_TOKEN_HEADER = 'x-v01t-internal-token';

/** Fields of a problem+json body that are not the AppError's extras. */
const PROBLEM_FIELDS = new Set(['type', 'title', 'status', 'detail', 'code', 'instance', 'requestId']);

/**
 * POSTs JSON to another process's internal API (the transport of every `<service>/remote.ts`).
 * The peer unreachable or silent is service_unavailable (transient); the answer is returned as is.
 */
export async function postInternal(service: string, baseUrl: string, token: string, path: string, body: unknown, timeoutMs: number): Promise<{ res: Response; text: string }> {
  let res: Response;
  const headers: Record<string, string> = { 'content-type': 'application/json', [INTERNAL_TOKEN_HEADER]: token };
  injectTraceHeaders(headers);
  try {
    res = await fetch(new URL(path, baseUrl), {
      method: 'POST',
      headers,
      body: JSON.stringify(body),
      signal: AbortSignal.timeout(timeoutMs),
    });
  } catch (err) {
    const timedOut = (err as Error)?.name === 'TimeoutError';
    throw new AppError('service_unavailable', timedOut ? `The ${service} did not answer within ${timeoutMs} ms` : `The ${service} is unreachable: ${(err as Error)?.message ?? 'network error'}`);
  }
  return { res, text: await res.text().catch(() => '') };
}

/**
 * A peer's problem+json answer as the AppError it was thrown as (code, detail, extras such as
 * providerStatus, retryAfterSeconds from Retry-After), so a caller's decisions do not depend on
 * where the peer runs. An answer that is not a problem body with a known code (a proxy, another
 * process) is service_unavailable.
 */
export function problemToAppError(service: string, res: Response, text: string): AppError {
  let body: Record<string, unknown> | undefined;
  try {
    body = JSON.parse(text) as Record<string, unknown>;
  } catch {
    /* not JSON: a proxy or a process that is not the peer answered */
  }
  const code = body?.code;
  if (!body || typeof code !== 'string' || !errorDef(code)) {
    return new AppError('service_unavailable', `The ${service} answered ${res.status} without a problem body`);
  }
  const extra: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(body)) if (!PROBLEM_FIELDS.has(k)) extra[k] = v;
  const retryAfter = Number(res.headers.get('retry-after'));
  if (Number.isFinite(retryAfter) && retryAfter > 0) extra.retryAfterSeconds = retryAfter;
  return new AppError(code as ErrorCode, typeof body.detail === 'string' ? body.detail : undefined, extra);
}
