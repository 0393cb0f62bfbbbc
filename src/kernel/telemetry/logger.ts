import pino, { type Logger } from 'pino';
import { scrubDatabaseError, WITHHELD } from '../db/redact.js';
import { activeTraceIds } from './tracing.js';

export type { Logger };

/** Paths whose values never reach a log line, whatever logs them. */
export const REDACT_PATHS = [
  'req.headers.authorization',
  'req.headers.cookie',
  'req.headers["x-v01t-internal-token"]',
  'headers.authorization',
  'password',
  '*.password',
  'otp',
  '*.otp',
  'token',
  '*.token',
  'secret',
  '*.secret',
  'credentials',
  '*.credentials',
  'recoveryCodes',
  '*.recoveryCodes',
  'config.db.url',
  'config.redis.url',
  'config.internal.token',
];

/**
 * Every logged error passes here: bound statement values are withheld whatever code logged it
 * (a database error thrown through a library that the db layer does not wrap included).
 */
export function serializeError(err: unknown): unknown {
  if (!(err instanceof Error)) return err;
  const out = pino.stdSerializers.err(scrubDatabaseError(err)) as unknown as Record<string, unknown>;
  const strip = (o: Record<string, unknown> | undefined, depth: number): void => {
    if (!o || typeof o !== 'object' || depth > 5) return;
    if ('params' in o) o.params = WITHHELD;
    for (const k of ['message', 'stack'] as const) {
      if (typeof o[k] === 'string') o[k] = (o[k] as string).replace(/\nparams: [\s\S]*?(?=\n\s+at |$)/, `\nparams: ${WITHHELD}`);
    }
    strip(o.cause as Record<string, unknown> | undefined, depth + 1);
  };
  strip(out, 0);
  return out;
}

export type LogFormat = 'pino' | 'ecs';

export interface LogOptions {
  /** `pino` (default: time, level, msg) or `ecs` (Elastic Common Schema envelope; ADR 0058, docs/siem.md). */
  format?: LogFormat;
  /** ECS `service.name` (OTEL_SERVICE_NAME). */
  serviceName?: string;
}

/** The `LOG_*` settings of the configuration as logger options. */
export function loggerFor(log: { level: string; format: LogFormat; serviceName: string }, destination?: pino.DestinationStream): Logger {
  return createLogger(log.level, destination, { format: log.format, serviceName: log.serviceName });
}

/** Binding keys of child loggers renamed in ECS lines (ECS names, or custom fields under `v01t.`). */
const ECS_BINDINGS: Record<string, string> = {
  reqId: 'http.request.id',
  service: 'v01t.service',
  component: 'v01t.component',
};
const ECS_BINDING_KEYS = new RegExp(`,"(${Object.keys(ECS_BINDINGS).join('|')})":`, 'g');
const CHINDINGS = pino.symbols.chindingsSym as symbol;

/** An error as ECS `error.*` fields (the same scrubbing as serializeError). */
function ecsError(err: unknown): Record<string, unknown> {
  const e = serializeError(err) as { type?: string; message?: string; stack?: string; code?: unknown } | unknown;
  if (!e || typeof e !== 'object') return { 'error.message': String(e) };
  const o = e as { type?: string; message?: string; stack?: string; code?: unknown };
  return { 'error.type': o.type, 'error.message': o.message, 'error.stack_trace': o.stack, ...(o.code !== undefined ? { 'error.code': String(o.code) } : {}) };
}

const STRINGIFIERS = pino.symbols.stringifiersSym as symbol;
const WILDCARD_FIRST = pino.symbols.wildcardFirstSym as symbol;
type Stringify = (value: unknown, safe?: unknown) => string | undefined;

/**
 * pino serializes the value of every key without redact paths of its own (a child's `reqId`, a log
 * line's fields) through the redactor of the `*.x` paths, a string too: its redaction is not
 * strict, so each call parses every wildcard path again (about 2.3 KB per request's child logger;
 * ADR 0099). A `*.x` path can only match inside an object, and for a string, number or boolean that
 * redactor returns JSON.stringify of the value: this gives the same without it. Objects, and
 * anything else, still go through the redactor. Children share the root's stringifiers.
 */
function skipRedactingPrimitives(logger: Logger): Logger {
  const stringifiers = (logger as unknown as Record<symbol, Record<symbol, Stringify> | undefined>)[STRINGIFIERS];
  const wildcard = stringifiers?.[WILDCARD_FIRST];
  if (!stringifiers || typeof wildcard !== 'function') return logger;
  stringifiers[WILDCARD_FIRST] = (value, safe) => {
    const type = typeof value;
    return type === 'string' || type === 'number' || type === 'boolean' ? JSON.stringify(value) : wildcard(value, safe);
  };
  return logger;
}

export function createLogger(level: string, destination?: pino.DestinationStream, opts: LogOptions = {}): Logger {
  return skipRedactingPrimitives(pinoLogger(level, destination, opts));
}

/** The pino logger createLogger returns, without skipRedactingPrimitives (its test compares the two). */
export function pinoLogger(level: string, destination: pino.DestinationStream | undefined, opts: LogOptions): Logger {
  if (opts.format === 'ecs') {
    return pino(
      {
        level,
        messageKey: 'message',
        base: { 'service.name': opts.serviceName ?? 'v01t', 'ecs.version': '8.11.0' },
        redact: { paths: REDACT_PATHS, censor: '[redacted]' },
        serializers: { err: serializeError },
        timestamp: () => `,"@timestamp":"${new Date().toISOString()}"`,
        // The trace of the active span (tracing on): correlates a line with its trace in Tempo/Jaeger.
        mixin: () => {
          const ids = activeTraceIds();
          return ids ? { 'trace.id': ids.traceId, 'span.id': ids.spanId } : {};
        },
        // A child's bindings (Fastify's reqId, a service's name) are serialised once when it is made:
        // their keys are renamed in that JSON fragment (a key cannot occur inside a JSON string value).
        onChild: (child) => {
          const holder = child as unknown as Record<symbol, string>;
          holder[CHINDINGS] = holder[CHINDINGS]!.replace(ECS_BINDING_KEYS, (_m, k: string) => `,"${ECS_BINDINGS[k]}":`);
        },
        formatters: {
          level: (label) => ({ 'log.level': label }),
          log: (obj) => {
            if (!('err' in obj) && !('reqId' in obj)) return obj;
            const { err, reqId, ...rest } = obj as { err?: unknown; reqId?: unknown };
            return { ...rest, ...(reqId !== undefined ? { 'http.request.id': reqId } : {}), ...(err !== undefined ? ecsError(err) : {}) };
          },
        },
      },
      destination,
    );
  }
  return pino(
    {
      level,
      base: { app: 'v01t' },
      redact: { paths: REDACT_PATHS, censor: '[redacted]' },
      serializers: { err: serializeError },
      timestamp: pino.stdTimeFunctions.isoTime,
      mixin: () => {
        const ids = activeTraceIds();
        return ids ? { trace_id: ids.traceId, span_id: ids.spanId } : {};
      },
      formatters: { level: (label) => ({ level: label }) },
    },
    destination,
  );
}
