import type { FastifyError, FastifyReply, FastifyRequest } from 'fastify';
import { hasZodFastifySchemaValidationErrors, isResponseSerializationError } from 'fastify-type-provider-zod';
import { AppError, KERNEL_ERRORS, problemType, type ErrorCode, type FieldError, type ProblemBody } from '../errors.js';

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
