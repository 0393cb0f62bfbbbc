import pino, { type Logger } from 'pino';
import { scrubDatabaseError, WITHHELD } from '../db/redact.js';

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

export function createLogger(level: string, destination?: pino.DestinationStream): Logger {
  return pino(
    {
      level,
      base: { app: 'v01t' },
      redact: { paths: REDACT_PATHS, censor: '[redacted]' },
      serializers: { err: serializeError },
      timestamp: pino.stdTimeFunctions.isoTime,
      formatters: { level: (label) => ({ level: label }) },
    },
    destination,
  );
}
