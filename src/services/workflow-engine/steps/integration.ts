import { z } from 'zod';
import { defineStep, rateLimitedRecheck, requiredString, StepError, StepInProgress } from './types.js';

const withSchema = z
  .object({
    connectionId: requiredString('the workspace connection to use').describe('The id of one of the workspace\'s integration-hub connections (or an =expression)'),
    action: requiredString('the connector action to run').describe('The connector action to run, e.g. send_message (see GET /v1/connectors)'),
    input: z.unknown().optional().describe('The action\'s input (its JSON Schema is in the connector catalog); =expressions anywhere inside are resolved'),
  })
  .loose();

export const integrationStep = defineStep({
  type: 'integration',
  kind: 'effect',
  title: 'Connector action',
  description:
    'Runs an action of one of the workspace\'s connections (integration-hub), with the attempt\'s idempotency key: a repeated attempt gets the first result instead of a second action. ' +
    'Output: the action\'s output.',
  with: withSchema,
  example: { id: 'post', type: 'integration', with: { connectionId: '00000000-0000-4000-8000-000000000000', action: 'send_message', input: { text: '=\'New order \' & input.orderId' } } },
  mappable: true,
  async perform({ run, input: w, key, integration }) {
    const hub = integration();
    if (!hub) throw new StepError('the integration-hub is not available in this process', false);
    try {
      // The attempt's key: a repeated attempt (takeover) gets the first result instead of a second action.
      return (await hub.runAction(run.workspaceId, String(w.connectionId), String(w.action), w.input ?? {}, { idempotencyKey: key })).output;
    } catch (err) {
      const e = err as { code?: string; message?: string };
      if (e.code === 'conflict' && /in progress/i.test(e.message ?? '')) throw new StepInProgress(e.message ?? 'in progress');
      // The connection's outbound rate limit refused the action (the hub released the key's claim): the same attempt, with the same key, once a token is due.
      throw rateLimitedRecheck(err) ?? err;
    }
  },
});
