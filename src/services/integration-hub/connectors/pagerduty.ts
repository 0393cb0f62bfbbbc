import { z } from 'zod';
import { AppError } from '../../../kernel/errors.js';
import { action, type Connector, type ConnectorContext } from './types.js';
import { providerError, trimSlash } from './util.js';

/**
 * PagerDuty Events API v2 (https://developer.pagerduty.com/docs/events-api-v2/overview/):
 * `POST {baseUrl}/v2/enqueue` with the integration's routing key, `event_action`
 * trigger | acknowledge | resolve and a `dedup_key` that ties the three together. PagerDuty answers
 * 202 `{status:"success", message, dedup_key}`, 400 `{status:"invalid event", message, errors}` on a
 * bad event, 429 when throttled. An event with a dedup_key is idempotent at PagerDuty (a repeated
 * trigger updates the open alert), so such requests may be retried after a 5xx.
 */
const credentials = z.object({
  routingKey: z
    .string()
    .regex(/^[A-Za-z0-9]{32}$/, 'the 32-character integration key of an Events API v2 integration')
    .describe('Integration key (routing_key) of a PagerDuty Events API v2 integration'),
});
const config = z.object({
  baseUrl: z.url().default('https://events.pagerduty.com').describe('Events API host (overridable for tests)'),
  source: z.string().min(1).max(255).default('v01t').describe('payload.source when an event names none'),
});
type Creds = z.infer<typeof credentials>;
type Conf = z.infer<typeof config>;
type Ctx = ConnectorContext<Creds, Conf>;

const dedupKey = z.string().min(1).max(255);
const result = z.object({ status: z.string(), message: z.string(), dedupKey: z.string() });

async function enqueue(ctx: Ctx, event: Record<string, unknown>): Promise<z.infer<typeof result>> {
  const body = JSON.stringify({ routing_key: ctx.credentials.routingKey, ...event });
  const res = await ctx.http({
    url: `${trimSlash(ctx.config.baseUrl)}/v2/enqueue`,
    method: 'POST',
    headers: { 'content-type': 'application/json', accept: 'application/json' },
    body,
    idempotent: typeof event.dedup_key === 'string',
  });
  let parsed: { status?: unknown; message?: unknown; dedup_key?: unknown; errors?: unknown } = {};
  try {
    parsed = res.json();
  } catch {
    /* not JSON: reported by status below */
  }
  if (res.status !== 202 && res.status !== 200) {
    const errors = Array.isArray(parsed.errors) ? parsed.errors.map(String).join('; ') : '';
    throw providerError('PagerDuty', res, [parsed.message, errors].filter(Boolean).join(': ') || undefined);
  }
  if (typeof parsed.dedup_key !== 'string') throw new AppError('provider_error', 'PagerDuty accepted the event but returned no dedup_key');
  return { status: String(parsed.status ?? 'success'), message: String(parsed.message ?? ''), dedupKey: parsed.dedup_key };
}

export const pagerdutyConnector: Connector = {
  id: 'pagerduty',
  name: 'PagerDuty (Events API v2)',
  description: 'Triggers, acknowledges and resolves PagerDuty alerts through the Events API v2 (routing key in the vault; dedup_key ties the events of one incident together).',
  auth: ['api_key'],
  credentials,
  config,
  canPublish: false,
  actions: {
    trigger: action({
      description: 'event_action=trigger: opens (or, with the same dedupKey, updates) an alert',
      input: z.object({
        summary: z.string().min(1).max(1024),
        severity: z.enum(['critical', 'error', 'warning', 'info']),
        source: z.string().min(1).max(255).optional(),
        component: z.string().max(255).optional(),
        group: z.string().max(255).optional(),
        class: z.string().max(255).optional(),
        dedupKey: dedupKey.optional(),
        customDetails: z.record(z.string(), z.unknown()).optional(),
        links: z.array(z.object({ href: z.url(), text: z.string().max(255).optional() })).max(10).optional(),
      }),
      output: result,
      run: (ctx: Ctx, input) =>
        enqueue(ctx, {
          event_action: 'trigger',
          ...(input.dedupKey ? { dedup_key: input.dedupKey } : {}),
          payload: {
            summary: input.summary,
            severity: input.severity,
            source: input.source ?? ctx.config.source,
            ...(input.component ? { component: input.component } : {}),
            ...(input.group ? { group: input.group } : {}),
            ...(input.class ? { class: input.class } : {}),
            ...(input.customDetails ? { custom_details: input.customDetails } : {}),
          },
          ...(input.links ? { links: input.links } : {}),
        }),
    }),
    acknowledge: action({
      description: 'event_action=acknowledge for the alert with this dedupKey',
      input: z.object({ dedupKey }),
      output: result,
      run: (ctx: Ctx, input) => enqueue(ctx, { event_action: 'acknowledge', dedup_key: input.dedupKey }),
    }),
    resolve: action({
      description: 'event_action=resolve for the alert with this dedupKey',
      input: z.object({ dedupKey }),
      output: result,
      run: (ctx: Ctx, input) => enqueue(ctx, { event_action: 'resolve', dedup_key: input.dedupKey }),
    }),
  },
  // The Events API has no read-only call. A resolve for a key that names no alert is accepted and
  // ignored, so it checks reachability and the routing key without paging anyone.
  async health(ctx: Ctx) {
    await enqueue(ctx, { event_action: 'resolve', dedup_key: 'v01t-connection-health-check' });
  },
};
