import { z } from 'zod';
import { defineStep, requiredString } from './types.js';

const withSchema = z
  .object({
    expression: requiredString('a JSONata expression').describe('JSONata (the leading "=" is optional) over {input, steps.<id>.output, run}; its value is the step\'s output'),
  })
  .loose();

export const transformStep = defineStep({
  type: 'transform',
  kind: 'pure',
  title: 'Transform',
  description: 'Computes a value from the run context with a JSONata expression. Output: the expression\'s value.',
  with: withSchema,
  example: { id: 'total', type: 'transform', with: { expression: '$sum(input.items.price)' } },
  expressionFields: ['expression'],
  mappable: true,
  validate(v) {
    if (typeof v.with.expression === 'string') v.checkExpression('with.expression', v.with.expression);
  },
  async execute({ step, evaluate }) {
    return { output: await evaluate(String(step.with.expression), 'with.expression') };
  },
});
