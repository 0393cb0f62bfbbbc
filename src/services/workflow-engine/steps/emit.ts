import { z } from 'zod';
import { defineStep, requiredString } from './types.js';

const withSchema = z
  .object({
    signal: requiredString('the signal name consumers match on')
      .refine((v) => v.startsWith('=') || /^[a-z][a-z0-9_.-]{0,99}$/.test(v), 'lower-case letters, digits, . _ -')
      .describe('The signal name consumers match on (lower-case letters, digits, . _ -), or an =expression'),
    data: z.unknown().optional().describe('The signal\'s data; =expressions anywhere inside are resolved'),
  })
  .loose();

export const emitStep = defineStep({
  type: 'emit',
  kind: 'pure',
  title: 'Emit signal',
  description: 'Publishes a workflow.signal.v1 event ({signal, data, runId, workflowId, stepId}) with the run\'s next write. Output: {signal, data}.',
  with: withSchema,
  example: { id: 'announce', type: 'emit', with: { signal: 'order.accepted', data: { orderId: '=input.orderId' } } },
  async execute({ step, resolve, signal }) {
    const data = await resolve(step.with.data ?? null, 'with.data');
    signal(String(step.with.signal), data);
    return { output: { signal: step.with.signal, data } };
  },
});
