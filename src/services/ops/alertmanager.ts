import { z } from 'zod';
import { severityOfLabels } from './severity.js';

/**
 * Alertmanager's webhook payload, version 4
 * (https://prometheus.io/docs/alerting/latest/configuration/#webhook_config). Times are RFC 3339
 * from Go: fractional seconds up to nanoseconds, `Z` or an offset; an alert still firing carries
 * the zero time `0001-01-01T00:00:00Z` as endsAt.
 */
const time = z.iso.datetime({ offset: true });
const labelSet = z.record(z.string().max(256), z.string().max(4096));

export const alertSchema = z
  .object({
    status: z.enum(['firing', 'resolved']),
    labels: labelSet,
    annotations: labelSet.default({}),
    startsAt: time,
    endsAt: time.optional(),
    generatorURL: z.string().max(4096).optional(),
    fingerprint: z.string().min(1).max(128),
  })
  .superRefine((a, ctx) => {
    if (severityOfLabels(a.labels) === null) {
      ctx.addIssue({ code: 'custom', path: ['labels', 'incident_severity'], message: 'must be one of sev1, sev2, sev3, sev4 (or 1-4)' });
    }
  });

export const alertmanagerWebhookSchema = z.object({
  version: z.literal('4', { message: 'only Alertmanager webhook payload version "4" is understood' }),
  groupKey: z.string().min(1).max(2048),
  truncatedAlerts: z.number().int().min(0).optional(),
  status: z.enum(['firing', 'resolved']),
  receiver: z.string().max(256),
  groupLabels: labelSet.default({}),
  commonLabels: labelSet.default({}),
  commonAnnotations: labelSet.default({}),
  externalURL: z.string().max(4096).optional(),
  alerts: z.array(alertSchema).min(1).max(1000),
});

export type AlertmanagerWebhook = z.infer<typeof alertmanagerWebhookSchema>;
export type AlertmanagerAlert = z.infer<typeof alertSchema>;

/** Go's zero time: Alertmanager's "no end yet". */
export function endOf(a: AlertmanagerAlert): Date | null {
  if (!a.endsAt) return null;
  const d = new Date(a.endsAt);
  return d.getUTCFullYear() <= 1 ? null : d;
}
