import { z } from 'zod';
import { defineStep, requiredString } from './types.js';

const stepId = z.string().describe('A step id of this definition');

const withSchema = z
  .object({
    expression: requiredString('a JSONata expression that yields true or false').describe('JSONata (the leading "=" is optional); truthy takes `then`, falsy takes `else`'),
    then: stepId.optional().describe('The step to run when true (default: the next step)'),
    else: stepId.optional().describe('The step to run when false; without it a false condition ends the run successfully (a filter)'),
  })
  .loose();

export const conditionStep = defineStep({
  type: 'condition',
  kind: 'pure',
  title: 'Condition',
  description: 'Branches on a JSONata expression: `then` when truthy (default: the next step), `else` when falsy (default: the run ends). Output: true or false.',
  with: withSchema,
  example: { id: 'big', type: 'condition', with: { expression: 'input.amount > 100', then: 'notify', else: 'skip' } },
  expressionFields: ['expression'],
  validate(v) {
    if (typeof v.with.expression === 'string') v.checkExpression('with.expression', v.with.expression);
    for (const k of ['then', 'else'] as const) {
      const target = v.with[k];
      if (target !== undefined && (typeof target !== 'string' || !v.ids.has(target))) v.error(`with.${k}`, `unknown step id "${String(target)}"`);
    }
  },
  successors(w, fallthrough) {
    const then = typeof w.then === 'string' ? w.then : fallthrough;
    return typeof w.else === 'string' ? [then, w.else] : [then];
  },
  async execute({ step, evaluate, next }) {
    const output = Boolean(await evaluate(String(step.with.expression), 'with.expression'));
    // A false condition without an else branch ends the run: the condition filters.
    if (output) return { output, next: (step.with.then as string | undefined) ?? next };
    return { output, next: (step.with.else as string | undefined) ?? null };
  },
});
