import { randomUUID } from 'node:crypto';
import { z } from 'zod';
import { action, type Connector, type ConnectorContext } from './types.js';
import { ensureOk } from './util.js';
import { standardSignature, verifyStandard } from '../signatures.js';
import type { PublishContent } from '../contract.js';

const credentials = z.object({
  secret: z.string().regex(/^whsec_[A-Za-z0-9+/=]{32,}$/, 'a Standard Webhooks secret: whsec_ followed by base64').describe('Signing secret for outbound and inbound deliveries'),
});
const config = z.object({ url: z.url().describe('Where deliveries are POSTed') });
type Creds = z.infer<typeof credentials>;
type Conf = z.infer<typeof config>;

/** One signed delivery per the Standard Webhooks spec; the id doubles as the receiver's dedupe key. */
async function deliver(ctx: ConnectorContext<Creds, Conf>, type: string, data: unknown, id: string) {
  const timestamp = Math.floor(ctx.clock.now().getTime() / 1000);
  const body = JSON.stringify({ type, timestamp: new Date(timestamp * 1000).toISOString(), data });
  const res = await ctx.http({
    url: ctx.config.url,
    method: 'POST',
    idempotent: true,
    headers: {
      'content-type': 'application/json',
      'webhook-id': id,
      'webhook-timestamp': String(timestamp),
      'webhook-signature': standardSignature(ctx.credentials.secret, id, timestamp, body),
    },
    body,
  });
  ensureOk('The webhook receiver', res);
  return { webhookId: id, status: res.status };
}

export const webhookConnector: Connector = {
  id: 'webhook',
  name: 'Webhook (Standard Webhooks)',
  description: 'POSTs JSON signed per the Standard Webhooks spec (webhook-id, webhook-timestamp, webhook-signature); verifies inbound deliveries the same way.',
  auth: ['signing_secret'],
  credentials,
  config,
  canPublish: true,
  actions: {
    send: action({
      description: 'Delivers one signed event',
      input: z.object({ type: z.string().min(1).max(200).default('v01t.event'), data: z.unknown(), id: z.string().min(1).max(200).optional() }),
      output: z.object({ webhookId: z.string(), status: z.number() }),
      run: (ctx: ConnectorContext<Creds, Conf>, input) => deliver(ctx, input.type, input.data, input.id ?? `msg_${randomUUID()}`),
    }),
  },
  async publish(ctx: ConnectorContext<Creds, Conf>, content: PublishContent, idempotencyKey: string) {
    // Media travel inside the signed JSON: metadata plus the bytes in base64 (data.media[].data).
    const data = {
      ...content,
      media: (content.media ?? []).map((m) => ({ filename: m.filename, contentType: m.contentType, size: m.size, sha256: m.sha256, altText: m.altText ?? null, data: Buffer.from(m.data).toString('base64') })),
    };
    const r = await deliver(ctx, 'content.published', data, `pub_${idempotencyKey}`);
    return { externalId: r.webhookId, url: null };
  },
  async health(ctx: ConnectorContext<Creds, Conf>) {
    await deliver(ctx, 'v01t.ping', {}, `ping_${randomUUID()}`);
  },
  inbound: {
    scheme: 'standard',
    verify: ({ headers, rawBody, secret, now, toleranceSeconds }) => verifyStandard(headers, rawBody, secret, now, toleranceSeconds),
  },
};
