import { z } from 'zod';
import { ExpressionError } from '../expressions.js';
import { defineStep, expression } from './types.js';

const YEAR_MS = 365 * 86_400_000;
const MS = 'a number of milliseconds between 0 and one year';

const withSchema = z
  .object({
    ms: z
      .union([z.number().min(0, MS).max(YEAR_MS, MS), expression], { error: MS })
      .optional()
      .describe('How long to wait, in milliseconds (at most one year), or an =expression yielding it'),
    until: z
      .string()
      .refine((v) => v.startsWith('=') || !Number.isNaN(Date.parse(v)), 'an ISO-8601 time')
      .optional()
      .describe('When to go on: an ISO-8601 time, or an =expression yielding one'),
  })
  .loose();

export const delayStep = defineStep({
  type: 'delay',
  kind: 'wait',
  title: 'Delay',
  description:
    'Waits for a duration (`ms`) or until a time (`until`), exactly one of them, without holding a worker (the wait survives restarts). ' +
    'A time already past goes on at once. Output: {waitedUntil}.',
  with: withSchema,
  example: { id: 'cool_off', type: 'delay', with: { ms: 3_600_000 } },
  validate(v) {
    if (['ms', 'until'].filter((k) => v.with[k] !== undefined).length !== 1) v.error('with', 'exactly one of ms (a duration) or until (an ISO time or =expression)');
  },
  async begin({ step, now, resolve }) {
    let until: Date;
    if (step.with.ms !== undefined) {
      const ms = Number(await resolve(step.with.ms, 'with.ms'));
      if (!Number.isFinite(ms) || ms < 0) throw new ExpressionError(`steps.${step.id}.with.ms`, 'did not yield a non-negative number');
      until = new Date(now.getTime() + ms);
    } else {
      const at = await resolve(step.with.until, 'with.until');
      until = new Date(String(at));
      if (Number.isNaN(until.getTime())) throw new ExpressionError(`steps.${step.id}.with.until`, `"${String(at)}" is not a time`);
    }
    if (until.getTime() <= now.getTime()) return { output: { waitedUntil: until.toISOString() } };
    return { until };
  },
  resume(wait, now) {
    if (now.getTime() >= Date.parse(wait.until)) return { output: { waitedUntil: wait.until } };
    return { waiting: true, wakeAt: new Date(wait.until) };
  },
});
