import { z } from 'zod';
import { action, type Connector, type ConnectorContext } from './types.js';
import { composeText, ensureOk, jsonHeaders, multipartBody, providerError, trimSlash } from './util.js';
import type { PublishContent, PublishMedia } from '../contract.js';

const credentials = z.object({ accessToken: z.string().min(1).describe('Access token with write:statuses') });
const config = z.object({
  instanceUrl: z.url().describe('e.g. https://mastodon.social'),
  visibility: z.enum(['public', 'unlisted', 'private', 'direct']).default('public'),
});
type Ctx = ConnectorContext<z.infer<typeof credentials>, z.infer<typeof config>>;

async function postStatus(ctx: Ctx, status: string, visibility: string, idempotencyKey?: string, mediaIds: string[] = []) {
  const res = ensureOk(
    'Mastodon',
    await ctx.http({
      url: `${trimSlash(ctx.config.instanceUrl)}/api/v1/statuses`,
      method: 'POST',
      // Mastodon honours Idempotency-Key for an hour: a retried POST does not post twice.
      idempotent: Boolean(idempotencyKey),
      headers: { ...jsonHeaders, authorization: `Bearer ${ctx.credentials.accessToken}`, ...(idempotencyKey ? { 'idempotency-key': idempotencyKey } : {}) },
      body: JSON.stringify({ status, visibility, ...(mediaIds.length ? { media_ids: mediaIds } : {}) }),
    }),
  );
  const s = res.json<{ id: string; url: string | null; uri: string }>();
  return { id: s.id, url: s.url ?? s.uri };
}

/** How long a 202 (still processing) upload is polled before the publish is retried later. */
const MEDIA_PROCESSING_POLLS = 20;
const MEDIA_PROCESSING_POLL_MS = 500;

/**
 * POST /api/v2/media (multipart `file` + `description` = alt text). 200: processed; 202: still
 * processing (url null) — a status may reference it only once GET /api/v1/media/:id answers 200,
 * so it is polled briefly. An upload left unattached is removed by Mastodon after a day.
 */
async function uploadMedia(ctx: Ctx, m: PublishMedia): Promise<string> {
  const base = trimSlash(ctx.config.instanceUrl);
  const auth = { authorization: `Bearer ${ctx.credentials.accessToken}` };
  const form = await multipartBody([
    { name: 'file', filename: m.filename, contentType: m.contentType, data: m.data },
    ...(m.altText ? [{ name: 'description', value: m.altText }] : []),
  ]);
  const res = ensureOk('Mastodon', await ctx.http({ url: `${base}/api/v2/media`, method: 'POST', headers: { ...auth, accept: 'application/json', 'content-type': form.contentType }, body: form.body }));
  const id = res.json<{ id: string }>().id;
  if (res.status === 200) return id;
  for (let i = 0; i < MEDIA_PROCESSING_POLLS; i++) {
    await new Promise((r) => setTimeout(r, MEDIA_PROCESSING_POLL_MS));
    const check = await ctx.http({ url: `${base}/api/v1/media/${encodeURIComponent(id)}`, headers: { ...auth, accept: 'application/json' } });
    if (check.status === 200) return id;
    if (check.status !== 206) throw providerError('Mastodon', check);
  }
  // Still processing: a transient failure, the publish is retried with the same idempotency key.
  throw providerError('Mastodon', { status: 503 } as never, `media ${id} is still being processed`);
}

export const mastodonConnector: Connector = {
  id: 'mastodon',
  name: 'Mastodon',
  description: 'Posts statuses (POST /api/v1/statuses with Idempotency-Key), media uploaded first with POST /api/v2/media.',
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
    const mediaIds: string[] = [];
    for (const m of content.media ?? []) mediaIds.push(await uploadMedia(ctx, m));
    const s = await postStatus(ctx, composeText(content), ctx.config.visibility, idempotencyKey, mediaIds);
    return { externalId: s.id, url: s.url };
  },
  async health(ctx: Ctx) {
    ensureOk('Mastodon', await ctx.http({ url: `${trimSlash(ctx.config.instanceUrl)}/api/v1/accounts/verify_credentials`, headers: { authorization: `Bearer ${ctx.credentials.accessToken}` }, maxRetries: 0 }));
  },
};
