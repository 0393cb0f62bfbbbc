import { z } from 'zod';
import { action, type Connector, type ConnectorContext } from './types.js';
import { composeText, jsonHeaders, providerError, trimSlash } from './util.js';
import { bearerOf, oauthCredentials } from './oauth-credentials.js';
import { verifySlack } from '../signatures.js';
import type { EgressResponse } from '../../../kernel/egress/index.js';
import type { PublishContent, PublishMedia } from '../contract.js';

const signing = { signingSecret: z.string().min(1).optional().describe('Signing secret that verifies inbound Slack requests') };
const credentials = z.discriminatedUnion('type', [
  z.object({ type: z.literal('bot_token'), token: z.string().min(1).describe('Bot token (xoxb-...)'), incomingWebhookUrl: z.url().optional(), ...signing }),
  oauthCredentials.extend({ incomingWebhookUrl: z.url().optional(), ...signing }),
]);
const config = z.object({
  channel: z.string().min(1).optional().describe('Default channel id for messages and publishing'),
  baseUrl: z.url().default('https://slack.com/api').describe('Web API base (overridable for tests)'),
  authorizeBaseUrl: z.url().default('https://slack.com').describe('OAuth authorisation host'),
});
type Creds = z.infer<typeof credentials>;
type Conf = z.infer<typeof config>;
type Ctx = ConnectorContext<Creds, Conf>;

/** Slack's Web API answers 200 with {ok:false,error} on failures. */
function slackJson<T>(res: EgressResponse): T & { ok: true } {
  if (res.status !== 200) throw providerError('Slack', res);
  const body = res.json<{ ok: boolean; error?: string }>();
  if (!body.ok) {
    const e = body.error ?? 'unknown_error';
    throw providerError('Slack', { ...res, status: ['invalid_auth', 'not_authed', 'token_revoked', 'token_expired', 'account_inactive'].includes(e) ? 401 : 502 }, e);
  }
  return body as T & { ok: true };
}

async function call<T>(ctx: Ctx, method: string, body: Record<string, unknown>): Promise<T & { ok: true }> {
  const res = await ctx.http({
    url: `${trimSlash(ctx.config.baseUrl)}/${method}`,
    method: 'POST',
    headers: { ...jsonHeaders, 'content-type': 'application/json; charset=utf-8', authorization: `Bearer ${bearerOf(ctx.credentials)}` },
    body: JSON.stringify(body),
  });
  return slackJson<T>(res);
}

async function postMessage(ctx: Ctx, channel: string | undefined, text: string) {
  const ch = channel ?? ctx.config.channel;
  if (!ch) throw providerError('Slack', { status: 400 } as EgressResponse, 'no channel given and no default channel configured');
  const r = await call<{ channel: string; ts: string }>(ctx, 'chat.postMessage', { channel: ch, text });
  return { channel: r.channel, ts: r.ts };
}

/** Web API methods that take form parameters (the files.* upload methods). */
async function callForm<T>(ctx: Ctx, method: string, params: Record<string, string>): Promise<T & { ok: true }> {
  const res = await ctx.http({
    url: `${trimSlash(ctx.config.baseUrl)}/${method}`,
    method: 'POST',
    headers: { accept: 'application/json', 'content-type': 'application/x-www-form-urlencoded', authorization: `Bearer ${bearerOf(ctx.credentials)}` },
    body: new URLSearchParams(params).toString(),
  });
  return slackJson<T>(res);
}

/**
 * Slack's external upload flow: files.getUploadURLExternal (filename, length, alt_txt) for each
 * file, the bytes POSTed to the returned upload_url, then one files.completeUploadExternal that
 * shares the files in the channel with the text as initial_comment.
 */
async function shareFiles(ctx: Ctx, channel: string | undefined, text: string, media: PublishMedia[]) {
  const ch = channel ?? ctx.config.channel;
  if (!ch) throw providerError('Slack', { status: 400 } as EgressResponse, 'no channel given and no default channel configured');
  const files: { id: string; title: string }[] = [];
  for (const m of media) {
    const u = await callForm<{ upload_url: string; file_id: string }>(ctx, 'files.getUploadURLExternal', {
      filename: m.filename,
      length: String(m.data.byteLength),
      ...(m.altText ? { alt_txt: m.altText.slice(0, 1000) } : {}),
    });
    const up = await ctx.http({ url: u.upload_url, method: 'POST', headers: { 'content-type': m.contentType }, body: m.data });
    if (up.status !== 200) throw providerError('Slack', up, `file upload answered ${up.status}`);
    files.push({ id: u.file_id, title: m.filename });
  }
  const done = await callForm<{ files: { id: string; permalink?: string }[] }>(ctx, 'files.completeUploadExternal', {
    files: JSON.stringify(files),
    channel_id: ch,
    ...(text ? { initial_comment: text } : {}),
  });
  return { channel: ch, fileIds: done.files.map((f) => f.id), permalink: done.files[0]?.permalink ?? null };
}

export const slackConnector: Connector = {
  id: 'slack',
  name: 'Slack',
  description: 'Posts messages with chat.postMessage (bot token or OAuth), shares files with the external upload flow, sends to incoming webhooks, verifies inbound requests with the signing secret.',
  auth: ['bearer', 'oauth2', 'signing_secret'],
  credentials,
  config,
  canPublish: true,
  actions: {
    postMessage: action({
      description: 'chat.postMessage',
      input: z.object({ channel: z.string().min(1).optional(), text: z.string().min(1).max(40_000) }),
      output: z.object({ channel: z.string(), ts: z.string() }),
      run: (ctx: Ctx, input) => postMessage(ctx, input.channel, input.text),
    }),
    incomingWebhook: action({
      description: 'Posts to the incoming webhook URL in the credentials',
      input: z.object({ text: z.string().min(1).max(40_000) }),
      output: z.object({ ok: z.boolean() }),
      async run(ctx: Ctx, input) {
        if (!ctx.credentials.incomingWebhookUrl) throw providerError('Slack', { status: 400 } as EgressResponse, 'no incoming webhook URL in the credentials');
        const res = await ctx.http({ url: ctx.credentials.incomingWebhookUrl, method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ text: input.text }) });
        if (res.status !== 200) throw providerError('Slack', res, res.text().slice(0, 100));
        return { ok: true };
      },
    }),
  },
  async publish(ctx: Ctx, content: PublishContent) {
    if (content.media?.length) {
      const shared = await shareFiles(ctx, undefined, composeText(content), content.media);
      return { externalId: `${shared.channel}/files/${shared.fileIds.join(',')}`, url: shared.permalink };
    }
    const m = await postMessage(ctx, undefined, composeText(content));
    const link = await call<{ permalink: string }>(ctx, 'chat.getPermalink', { channel: m.channel, message_ts: m.ts }).catch(() => null);
    return { externalId: `${m.channel}/${m.ts}`, url: link?.permalink ?? null };
  },
  async health(ctx: Ctx) {
    await call(ctx, 'auth.test', {});
  },
  inbound: {
    scheme: 'slack',
    verify: ({ headers, rawBody, secret, now, toleranceSeconds }) => verifySlack(headers, rawBody, secret, now, toleranceSeconds),
  },
  oauth: {
    authorizeUrl: (c) => `${trimSlash(String(c.authorizeBaseUrl ?? 'https://slack.com'))}/oauth/v2/authorize`,
    tokenUrl: (c) => `${trimSlash(String(c.baseUrl ?? 'https://slack.com/api'))}/oauth.v2.access`,
    scopes: ['chat:write', 'channels:read', 'files:write'],
    scopeSeparator: ',',
  },
};
