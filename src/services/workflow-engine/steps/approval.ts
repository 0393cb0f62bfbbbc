import { z } from 'zod';
import { defineStep } from './types.js';

const DAY_MS = 86_400_000;

const withSchema = z
  .object({
    expiresInMs: z
      .number({ error: 'a number of milliseconds between 1000 and 90 days' })
      .min(1000, 'a number of milliseconds between 1000 and 90 days')
      .max(90 * DAY_MS, 'a number of milliseconds between 1000 and 90 days')
      .optional()
      .describe('How long the approval can be given, in milliseconds (default 7 days); past it the run fails'),
  })
  .loose();

export const approvalStep = defineStep({
  type: 'approval',
  kind: 'wait',
  title: 'Approval',
  description:
    'Waits for a member with workflows.run to approve or reject the run (POST …/runs/{runId}/approve or /reject). ' +
    'Approved: output {approved: true, by, comment, at}. Rejected or expired: the run fails.',
  with: withSchema,
  example: { id: 'review', type: 'approval', with: { expiresInMs: 86_400_000 } },
  async begin({ step, now }) {
    return { until: new Date(now.getTime() + Number(step.with.expiresInMs ?? 7 * DAY_MS)) };
  },
  resume(wait, now, step) {
    if (wait.decision) {
      if (!wait.decision.approved) return { error: `steps.${step.id}: rejected${wait.decision.comment ? `: ${wait.decision.comment}` : ''}` };
      return { output: { approved: true, by: wait.decision.by, comment: wait.decision.comment, at: wait.decision.at } };
    }
    if (now.getTime() >= Date.parse(wait.until)) return { error: `steps.${step.id}: approval expired at ${wait.until}` };
    return { waiting: true, wakeAt: null };
  },
});
