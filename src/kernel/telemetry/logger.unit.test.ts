import { describe, expect, it } from 'vitest';
import { createLogger, pinoLogger, type LogFormat } from './logger.js';

/** Lines written by a logger, without their timestamp (the two loggers compared write at different instants). */
function capture(make: (dest: { write: (l: string) => void }) => ReturnType<typeof createLogger>) {
  const lines: string[] = [];
  const logger = make({ write: (l) => void lines.push(l.replace(/"(time|@timestamp)":"[^"]*"/, '"$1":""')) });
  return { logger, lines };
}

const strings = ['0b7e1c2a-4f2d-4c1e-9a8b-000000000001', '', 'a"b\\c', 'line\nbreak\u2028', 'lone \ud800 surrogate', 'é ☃ 😀', '\u0000\u001f'];

function write(logger: ReturnType<typeof createLogger>): void {
  for (const reqId of strings) logger.child({ reqId }).info('request');
  logger.child({ reqId: 'r', n: 5, f: 1.5, nan: Number.NaN, b: true, nothing: null, token: 'top-level', nested: { password: 'p1', ok: 1 } }).warn('bindings');
  logger.info(
    {
      s: 'str',
      n: 1.5,
      inf: Number.POSITIVE_INFINITY,
      b: false,
      z: null,
      token: 'top-level-token',
      nested: { password: 'p2', token: 't2', ok: 1, deeper: { secret: 'two levels down' } },
      arr: [{ secret: 's1' }],
      req: { headers: { authorization: 'Bearer abc', cookie: 'c=1', accept: 'json' } },
      odd: 'lone \ud800',
    },
    'fields',
  );
}

describe('createLogger: primitives skip the wildcard redactor (ADR 0099)', () => {
  for (const format of ['pino', 'ecs'] as LogFormat[]) {
    it(`writes the same lines as pino with the same redaction (${format})`, () => {
      const fast = capture((d) => createLogger('info', d, { format, serviceName: 'svc' }));
      const plain = capture((d) => pinoLogger('info', d, { format, serviceName: 'svc' }));
      write(fast.logger);
      write(plain.logger);
      expect(fast.lines).toHaveLength(strings.length + 2);
      expect(fast.lines).toEqual(plain.lines);
      const text = fast.lines.join('');
      for (const secret of ['p1', 'p2', 't2', 'Bearer abc', 'c=1', 'top-level']) expect(text).not.toContain(`"${secret}`);
      expect(text).toContain('[redacted]');
      expect(text).toContain('"accept":"json"');
    });
  }
});
