import type { FastifyError, FastifyReply, FastifyRequest } from 'fastify';
import { z } from 'zod';
import { hasZodFastifySchemaValidationErrors, isResponseSerializationError } from 'fastify-type-provider-zod';
import { AppError, ERROR_CATALOG, problemType, type ErrorCode, type FieldError, type ProblemBody } from '../errors.js';

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
    const code = (Object.entries(ERROR_CATALOG).find(([, v]) => v.status === status)?.[0] ?? 'bad_request') as ErrorCode;
    return { appError: new AppError(code), unexpected: false };
  }
  return { appError: new AppError('internal_error', 'An unexpected error occurred; quote the request id when reporting it'), unexpected: true };
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
    code: z.enum(Object.keys(ERROR_CATALOG) as [ErrorCode, ...ErrorCode[]]).describe('Stable machine-readable error code'),
    instance: z.string().optional().describe('The request path'),
    requestId: z.string().optional().describe('Quote it when reporting a problem; also in the X-Request-Id header'),
    errors: z.array(z.object({ path: z.string(), message: z.string() })).optional().describe('Per-field validation errors'),
  })
  .loose();

/** The statuses an error response can have: those of the error catalog. */
export type ProblemStatus = (typeof ERROR_CATALOG)[ErrorCode]['status'];

/**
 * Declares error responses a route answers beyond the ones every route gets from its shape
 * (`defaultProblemStatuses`): `response: { 200: Thing, ...problemResponses(409, 422) }`.
 */
export function problemResponses(...statuses: ProblemStatus[]): Record<number, typeof problemSchema> {
  return Object.fromEntries(statuses.map((s) => [s, problemSchema]));
}

/** What the catalog can answer with this status, for the description of an error response. */
export function problemStatusDescription(status: number): string {
  const entries = Object.entries(ERROR_CATALOG).filter(([, v]) => v.status === status);
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
