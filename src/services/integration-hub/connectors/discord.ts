import { z } from 'zod';
import { action, type Connector, type ConnectorContext } from './types.js';
import { composeText, ensureOk, multipartBody } from './util.js';
import type { PublishContent, PublishMedia } from '../contract.js';

// The webhook URL embeds its token, so it is a credential, never config.
const credentials = z.object({ webhookUrl: z.url().describe('https://discord.com/api/webhooks/{id}/{token}') });
const config = z.object({ username: z.string().min(1).max(80).optional().describe('Overrides the webhook\'s default name') });
type Ctx = ConnectorContext<z.infer<typeof credentials>, z.infer<typeof config>>;

/**
 * Execute Webhook. With files: multipart/form-data with `payload_json` (the JSON params, its
 * `attachments` naming each file by index with its description = alt text) and `files[n]` parts.
 */
async function execute(ctx: Ctx, content: string, media: PublishMedia[] = []) {
  const url = new URL(ctx.credentials.webhookUrl);
  // wait=true makes Discord answer with the created message instead of 204, so we can confirm it.
  url.searchParams.set('wait', 'true');
  const payload: Record<string, unknown> = { content, ...(ctx.config.username ? { username: ctx.config.username } : {}) };
  let body: string | Buffer = JSON.stringify(payload);
  let contentType = 'application/json';
  if (media.length) {
    payload.attachments = media.map((m, i) => ({ id: i, filename: m.filename, ...(m.altText ? { description: m.altText.slice(0, 1024) } : {}) }));
    const form = await multipartBody([
      { name: 'payload_json', value: JSON.stringify(payload) },
      ...media.map((m, i) => ({ name: `files[${i}]`, filename: m.filename, contentType: m.contentType, data: m.data })),
    ]);
    body = form.body;
    contentType = form.contentType;
  }
  const res = ensureOk('Discord', await ctx.http({ url: url.href, method: 'POST', headers: { 'content-type': contentType }, body }));
  const msg = res.json<{ id: string; channel_id: string }>();
  return { id: msg.id, channelId: msg.channel_id };
}

export const discordConnector: Connector = {
  id: 'discord',
  name: 'Discord',
  description: 'Posts messages through a channel webhook (Execute Webhook with wait=true; files as multipart files[n]).',
  auth: ['webhook_url'],
  credentials,
  config,
  canPublish: true,
  actions: {
    sendMessage: action({
      description: 'Execute Webhook',
      input: z.object({ content: z.string().min(1).max(2000) }),
      output: z.object({ id: z.string(), channelId: z.string() }),
      run: (ctx: Ctx, input) => execute(ctx, input.content),
    }),
  },
  async publish(ctx: Ctx, content: PublishContent) {
    const m = await execute(ctx, composeText(content).slice(0, 2000), content.media);
    return { externalId: m.id, url: null };
  },
  async health(ctx: Ctx) {
    ensureOk('Discord', await ctx.http({ url: ctx.credentials.webhookUrl, maxRetries: 0 }));
  },
};
