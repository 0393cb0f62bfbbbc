import type { FastifyError, FastifyReply, FastifyRequest } from 'fastify';
import { z } from 'zod';
import { hasZodFastifySchemaValidationErrors, isResponseSerializationError } from 'fastify-type-provider-zod';
import { AppError, KERNEL_ERRORS, errorCatalogEntries, problemType, type ErrorCode, type FieldError, type ProblemBody } from '../errors.js';

// eslint-disable-next-line @typescript-eslint/no-explicit-any
type AnyReply = FastifyReply<any, any, any, any, any, any, any, any>;
// eslint-disable-next-line @typescript-eslint/no-explicit-any
type AnyRequest = FastifyRequest<any, any, any, any, any, any, any>;

export function sendProblem(reply: AnyReply, err: AppError, request: AnyRequest): AnyReply {
  const body: ProblemBody = {
    type: problemType(err.code),
    title: err.title,
    status: err.status,
    detail: err.message,
    code: err.code,
    instance: request.url.split('?')[0],
    requestId: String(request.id),
  };
  const { retryAfterSeconds, headers, ...extra } = err.extra as { retryAfterSeconds?: number; headers?: Record<string, string> };
  Object.assign(body, extra);
  if (retryAfterSeconds !== undefined) reply.header('retry-after', String(Math.max(1, Math.ceil(retryAfterSeconds))));
  if (headers) for (const [k, v] of Object.entries(headers)) reply.header(k, v);
  return reply.status(err.status).type('application/problem+json; charset=utf-8').serializer(JSON.stringify).send(body);
}

function location(validationContext: string | undefined, instancePath: string): string {
  const parts = instancePath.split('/').filter(Boolean);
  return [validationContext ?? 'body', ...parts].join('.');
}

/** Maps whatever was thrown to an AppError; unknown errors become a bare 500 (logged, never shown). */
export function toAppError(err: unknown): { appError: AppError; unexpected: boolean } {
  if (err instanceof AppError) return { appError: err, unexpected: false };
  const e = err as FastifyError & { validationContext?: string; status?: number };
  if (hasZodFastifySchemaValidationErrors(e)) {
    const errors: FieldError[] = e.validation.map((v) => ({ path: location(e.validationContext, v.instancePath), message: v.message ?? 'invalid' }));
    return {
      appError: new AppError('validation_failed', `Invalid ${e.validationContext ?? 'request'}: ${errors.map((x) => `${x.path}: ${x.message}`).join('; ')}`, { errors }),
      unexpected: false,
    };
  }
  if (Array.isArray(e?.validation)) {
    const errors: FieldError[] = e.validation.map((v) => ({ path: location(e.validationContext, v.instancePath ?? ''), message: v.message ?? 'invalid' }));
    return { appError: new AppError('validation_failed', 'Request validation failed', { errors }), unexpected: false };
  }
  if (isResponseSerializationError(e)) return { appError: new AppError('internal_error', 'An unexpected error occurred'), unexpected: true };
  const byCode: Record<string, ErrorCode> = {
    FST_ERR_CTP_BODY_TOO_LARGE: 'payload_too_large',
    FST_ERR_CTP_INVALID_MEDIA_TYPE: 'unsupported_media_type',
    FST_ERR_CTP_EMPTY_JSON_BODY: 'invalid_json',
    FST_ERR_CTP_INVALID_JSON_BODY: 'invalid_json',
    FST_ERR_CTP_INVALID_CONTENT_LENGTH: 'bad_request',
  };
  const mapped = e?.code ? byCode[e.code] : undefined;
  if (mapped) {
    const detail = mapped === 'payload_too_large' ? 'The request body exceeds the size limit' : mapped === 'invalid_json' ? 'The request body is not valid JSON' : undefined;
    return { appError: new AppError(mapped, detail), unexpected: false };
  }
  const status = e?.statusCode ?? e?.status;
  if (err instanceof SyntaxError && status === 400) return { appError: new AppError('invalid_json', 'The request body is not valid JSON'), unexpected: false };
  if (typeof status === 'number' && status >= 400 && status < 500) {
    const code = (Object.entries(KERNEL_ERRORS).find(([, v]) => v.status === status)?.[0] ?? 'bad_request') as ErrorCode;
    return { appError: new AppError(code), unexpected: false };
  }
  if (databaseUnreachable(err)) {
    // An outage of a dependency, not a bug: the client may retry; /ready already says 503 meanwhile.
    return { appError: new AppError('service_unavailable', 'The database cannot be reached right now; retry shortly', { retryAfterSeconds: 2 }), unexpected: false };
  }
  return { appError: new AppError('internal_error', 'An unexpected error occurred; quote the request id when reporting it'), unexpected: true };
}

/** SQLSTATEs of a lost or refused database connection: class 08, admin shutdown, cannot connect now. */
const CONNECTION_SQLSTATES = /^(08...|57P01|57P02|57P03)$/;
const CONNECTION_ERRNOS = new Set(['ECONNREFUSED', 'ECONNRESET', 'EPIPE', 'ETIMEDOUT', 'EHOSTUNREACH']);

/**
 * Whether an error (or one it wraps: drizzle and pg put the driver's error in `cause`) says the
 * database connection is gone, as during a PostgreSQL restart or a failover (chaos suite, ADR 0010).
 */
export function databaseUnreachable(err: unknown): boolean {
  for (let e = err as { code?: unknown; message?: unknown; cause?: unknown } | undefined, depth = 0; e && depth < 5; e = e.cause as typeof e, depth++) {
    const code = typeof e.code === 'string' ? e.code : '';
    if (CONNECTION_SQLSTATES.test(code) || CONNECTION_ERRNOS.has(code)) return true;
    if (typeof e.message === 'string' && /Connection terminated|Client has encountered a connection error|timeout exceeded when trying to connect/i.test(e.message)) return true;
  }
  return false;
}

/**
 * The problem+json body as a schema: one component (`Problem`) every error response of the OpenAPI
 * document refers to. Extra members (`errors`, `checks`, `retryAfterSeconds` ...) are allowed, as
 * RFC 9457 extensions.
 */
export const problemSchema = z
  .object({
    type: z.string().describe('URI naming the problem type; one per code'),
    title: z.string().describe('Short summary of the problem type'),
    status: z.number().int().describe('The HTTP status code'),
    detail: z.string().describe('What went wrong with this request, for a human'),
    code: z.string().describe('Stable machine-readable error code: the catalog is docs/errors.md (the kernel\'s and every service\'s codes)'),
    instance: z.string().optional().describe('The request path'),
    requestId: z.string().optional().describe('Quote it when reporting a problem; also in the X-Request-Id header'),
    errors: z.array(z.object({ path: z.string(), message: z.string() })).optional().describe('Per-field validation errors'),
  })
  .loose();

/** The statuses an error response can have: those of the error catalog. */
export type ProblemStatus = 400 | 401 | 403 | 404 | 405 | 409 | 410 | 413 | 414 | 415 | 422 | 423 | 429 | 431 | 500 | 502 | 503 | 504;

/**
 * Declares error responses a route answers beyond the ones every route gets from its shape
 * (`defaultProblemStatuses`): `response: { 200: Thing, ...problemResponses(409, 422) }`.
 */
export function problemResponses(...statuses: ProblemStatus[]): Record<number, typeof problemSchema> {
  return Object.fromEntries(statuses.map((s) => [s, problemSchema]));
}

/** What the catalog can answer with this status, for the description of an error response. */
export function problemStatusDescription(status: number): string {
  const entries = errorCatalogEntries().filter(([, v]) => v.status === status);
  const first = entries[0]?.[1].title ?? 'Error';
  return `${first} (application/problem+json; code one of: ${entries.map(([c]) => c).join(', ') || 'internal_error'})`;
}

/**
 * The error statuses the kernel itself can answer for a route, from what it declares: 400 for a
 * route that validates input, 413/415 for a body, 401 where a token is read, 403 where a
 * permission or scope is checked, 404 for a path with ids (and any workspace route), 500 always.
 */
export function defaultProblemStatuses(route: {
  method: string | string[];
  url: string;
  schema?: { body?: unknown; querystring?: unknown; params?: unknown; headers?: unknown };
  config?: { auth?: string; permission?: string; scope?: string; sessionOnly?: boolean };
}): ProblemStatus[] {
  const methods = [route.method].flat();
  const hasBody = methods.some((m) => m === 'POST' || m === 'PUT' || m === 'PATCH');
  const cfg = route.config ?? {};
  const auth = cfg.auth ?? (route.url.startsWith('/v1/') ? 'required' : 'none');
  const workspace = route.url.startsWith('/v1/workspaces/:workspaceId');
  const out = new Set<ProblemStatus>([500]);
  if (hasBody || route.schema?.body || route.schema?.querystring || route.schema?.params || route.schema?.headers) out.add(400);
  if (hasBody) {
    out.add(413);
    out.add(415);
  }
  if (auth !== 'none') out.add(401);
  if (auth !== 'none' && (cfg.permission || cfg.scope || cfg.sessionOnly || workspace)) out.add(403);
  if (workspace || route.url.includes('/:')) out.add(404);
  return [...out];
}
