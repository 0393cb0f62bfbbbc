import { z } from 'zod';
import { action, type Connector, type ConnectorContext } from './types.js';
import { composeText, ensureOk, jsonHeaders, trimSlash } from './util.js';
import type { PublishContent } from '../contract.js';

const credentials = z.object({ accessToken: z.string().min(1).describe('Access token with write:statuses') });
const config = z.object({
  instanceUrl: z.url().describe('e.g. https://mastodon.social'),
  visibility: z.enum(['public', 'unlisted', 'private', 'direct']).default('public'),
});
type Ctx = ConnectorContext<z.infer<typeof credentials>, z.infer<typeof config>>;

async function postStatus(ctx: Ctx, status: string, visibility: string, idempotencyKey?: string) {
  const res = ensureOk(
    'Mastodon',
    await ctx.http({
      url: `${trimSlash(ctx.config.instanceUrl)}/api/v1/statuses`,
      method: 'POST',
      // Mastodon honours Idempotency-Key for an hour: a retried POST does not post twice.
      idempotent: Boolean(idempotencyKey),
      headers: { ...jsonHeaders, authorization: `Bearer ${ctx.credentials.accessToken}`, ...(idempotencyKey ? { 'idempotency-key': idempotencyKey } : {}) },
      body: JSON.stringify({ status, visibility }),
    }),
  );
  const s = res.json<{ id: string; url: string | null; uri: string }>();
  return { id: s.id, url: s.url ?? s.uri };
}

export const mastodonConnector: Connector = {
  id: 'mastodon',
  name: 'Mastodon',
  description: 'Posts statuses (POST /api/v1/statuses with Idempotency-Key).',
  auth: ['bearer'],
  credentials,
  config,
  canPublish: true,
  actions: {
    postStatus: action({
      description: 'POST /api/v1/statuses',
      input: z.object({ status: z.string().min(1).max(5000), visibility: z.enum(['public', 'unlisted', 'private', 'direct']).optional(), idempotencyKey: z.string().max(200).optional() }),
      output: z.object({ id: z.string(), url: z.string() }),
      run: (ctx: Ctx, input) => postStatus(ctx, input.status, input.visibility ?? ctx.config.visibility, input.idempotencyKey),
    }),
  },
  async publish(ctx: Ctx, content: PublishContent, idempotencyKey: string) {
    const s = await postStatus(ctx, composeText(content), ctx.config.visibility, idempotencyKey);
    return { externalId: s.id, url: s.url };
  },
  async health(ctx: Ctx) {
    ensureOk('Mastodon', await ctx.http({ url: `${trimSlash(ctx.config.instanceUrl)}/api/v1/accounts/verify_credentials`, headers: { authorization: `Bearer ${ctx.credentials.accessToken}` }, maxRetries: 0 }));
  },
};
