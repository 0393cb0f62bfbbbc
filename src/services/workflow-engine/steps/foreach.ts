import { z } from 'zod';
import { defineStep, expression, RATE_LIMITED, StepError, StepInProgress, type EffectExecution } from './types.js';

const MAX_ITEMS = 10_000;

const withSchema = z
  .object({
    items: z
      .union([expression, z.array(z.unknown())], { error: (i) => (i.input === undefined || i.input === null || i.input === '' ? 'required: an =expression yielding the array to map over' : 'an =expression or an array') })
      .describe(`The array to map over (at most ${MAX_ITEMS} items), usually an =expression; the inner step sees item and index`),
    concurrency: z
      .number({ error: 'an integer between 1 and 50' })
      .int('an integer between 1 and 50')
      .min(1, 'an integer between 1 and 50')
      .max(50, 'an integer between 1 and 50')
      .optional()
      .describe('Items in flight at once (default 5)'),
    step: z
      .object({ type: z.string(), with: z.record(z.string(), z.unknown()).optional() })
      .loose()
      .describe('The step run for each item: {type, with} of an http, integration or transform step (its expressions also see item and index)'),
  })
  .loose();

export const foreachStep = defineStep({
  type: 'foreach',
  kind: 'effect',
  title: 'For each',
  description:
    'Runs an http, integration or transform step once per item, with bounded concurrency; each item\'s call has its own idempotency key (<attempt key>_i<index>). ' +
    'Output: the array of the items\' outputs, in order. Any item failing fails the attempt.',
  with: withSchema,
  example: { id: 'each', type: 'foreach', with: { items: '=input.recipients', concurrency: 5, step: { type: 'http', with: { url: 'https://example.com/notify', body: { to: '=item' } } } } },
  innerStepField: 'step',
  validate(v) {
    if (v.nested) v.error('type', 'foreach cannot be nested');
    v.checkNested('step', v.with.step, (m) => m.mappable === true, 'foreach maps an http, integration or transform step');
  },
  attemptInput: (w) => ({ items: w.items, concurrency: w.concurrency }),
  async perform(x) {
    const { step, input: w, key, context, signal } = x;
    const items = w.items;
    if (!Array.isArray(items)) throw new StepError(`steps.${step.id}.with.items did not yield an array`, false);
    if (items.length > MAX_ITEMS) throw new StepError(`steps.${step.id}.with.items has ${items.length} items (at most ${MAX_ITEMS})`, false);
    const inner = step.with.step as { type: string; with?: Record<string, unknown> };
    const mod = x.module(inner.type);
    if (!mod || mod.mappable !== true) throw new StepError(`steps.${step.id}.with.step: a ${inner.type} step cannot be mapped`, false);
    const concurrency = Number(w.concurrency ?? 5);
    const results = new Array<unknown>(items.length);
    let cursor = 0;
    const worker = async () => {
      while (cursor < items.length) {
        const index = cursor++;
        const itemContext = { ...(context as object), item: items[index], index };
        const innerWith = inner.with ?? {};
        if (mod.kind === 'pure') {
          // Pure inner steps (transform): computed from the item's context, no key, no I/O.
          const innerStep = { id: step.id, type: inner.type, with: innerWith };
          const r = await mod.execute({
            run: x.run,
            step: innerStep,
            context: itemContext,
            next: null,
            signal: () => {
              throw new StepError('a mapped step cannot emit signals', false);
            },
            evaluate: (source, field) => x.evaluate(source, `with.step.${field}`, itemContext),
            resolve: (value, field) => x.resolve(value, `with.step.${field}`, itemContext),
          });
          results[index] = r.output;
          continue;
        }
        if (mod.kind !== 'effect') throw new StepError(`steps.${step.id}.with.step: a ${inner.type} step cannot be mapped`, false);
        const iw = (await x.resolve(innerWith, 'with.step.with', itemContext)) as Record<string, unknown>;
        const item: EffectExecution = { ...x, step: { id: step.id, type: inner.type, with: innerWith }, input: iw, key: `${key}_i${index}`, context: itemContext };
        // An item refused by the outbound rate limit waits for its token here (bounded by the step's
        // timeout) rather than failing the whole foreach attempt, whose items would all be sent again.
        for (;;) {
          try {
            results[index] = await mod.perform(item);
            break;
          } catch (err) {
            if (!(err instanceof StepInProgress) || err.message !== RATE_LIMITED || signal.aborted) throw err;
            await new Promise((r) => setTimeout(r, err.afterMs));
          }
        }
      }
    };
    await Promise.all(Array.from({ length: Math.min(concurrency, items.length) }, worker));
    return results;
  },
});
