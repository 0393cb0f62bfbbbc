import { z } from 'zod';
import { AppError } from '../../../kernel/errors.js';
import { action, type Connector, type ConnectorContext, type PublishRetry } from './types.js';
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
    const err = providerError('Slack', { ...res, status: ['invalid_auth', 'not_authed', 'token_revoked', 'token_expired', 'account_inactive'].includes(e) ? 401 : 502 }, e);
    err.extra.slackError = e;
    throw err;
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

/** The message metadata type a publication carries its idempotency key in (ADR 0079). */
const PUBLICATION_EVENT = 'v01t_publication';

async function postMessage(ctx: Ctx, channel: string | undefined, text: string, idempotencyKey?: string) {
  const ch = channel ?? ctx.config.channel;
  if (!ch) throw providerError('Slack', { status: 400 } as EgressResponse, 'no channel given and no default channel configured');
  const metadata = idempotencyKey ? { metadata: { event_type: PUBLICATION_EVENT, event_payload: { idempotency_key: idempotencyKey } } } : {};
  const r = await call<{ channel: string; ts: string }>(ctx, 'chat.postMessage', { channel: ch, text, ...metadata });
  return { channel: r.channel, ts: r.ts };
}

interface HistoryMessage {
  ts: string;
  user?: string;
  metadata?: { event_type?: string; event_payload?: { idempotency_key?: unknown } };
  files?: { id: string; name?: string }[];
}

/** Errors that mean the history cannot be read with this token, now or later (no point retrying). */
const HISTORY_REFUSALS = new Set(['missing_scope', 'not_in_channel', 'channel_not_found', 'not_allowed_token_type']);
const HISTORY_PAGES = 10;

/**
 * A retry of a publication whose first attempt may have reached Slack (it timed out): Slack's
 * Web API takes no idempotency key, so the channel's messages since that attempt are read
 * (conversations.history, needs channels:history / groups:history) and the first attempt's message
 * returned if it is there. A text message carries the key in its metadata; a file share cannot, so it
 * is recognised as this bot's share of the same file names. null: not there, or the history cannot
 * be read with this token (then the publication goes ahead, as before this check existed).
 */
async function findEarlierAttempt(ctx: Ctx, channel: string, idempotencyKey: string, retry: PublishRetry, media: PublishMedia[] | undefined): Promise<HistoryMessage | null> {
  const botUser = media?.length ? (await call<{ user_id: string }>(ctx, 'auth.test', {})).user_id : null;
  const names = media?.map((m) => m.filename).join('\n');
  const oldest = ((retry.previousAttemptAt.getTime() - 60_000) / 1000).toFixed(6);
  let cursor: string | undefined;
  for (let page = 0; page < HISTORY_PAGES; page++) {
    let r: { messages: HistoryMessage[]; response_metadata?: { next_cursor?: string } };
    try {
      r = await call(ctx, 'conversations.history', { channel, oldest, limit: 200, include_all_metadata: true, ...(cursor ? { cursor } : {}) });
    } catch (err) {
      if (err instanceof AppError && HISTORY_REFUSALS.has(String(err.extra.slackError))) return null;
      throw err;
    }
    for (const m of r.messages) {
      if (m.metadata?.event_type === PUBLICATION_EVENT && m.metadata.event_payload?.idempotency_key === idempotencyKey) return m;
      if (botUser && m.user === botUser && m.files?.map((f) => f.name).join('\n') === names) return m;
    }
    cursor = r.response_metadata?.next_cursor || undefined;
    if (!cursor) return null;
  }
  return null;
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
  async publish(ctx: Ctx, content: PublishContent, idempotencyKey: string, retry?: PublishRetry) {
    if (retry && ctx.config.channel) {
      const earlier = await findEarlierAttempt(ctx, ctx.config.channel, idempotencyKey, retry, content.media);
      if (earlier) {
        const link = await call<{ permalink: string }>(ctx, 'chat.getPermalink', { channel: ctx.config.channel, message_ts: earlier.ts }).catch(() => null);
        const externalId = earlier.files?.length ? `${ctx.config.channel}/files/${earlier.files.map((f) => f.id).join(',')}` : `${ctx.config.channel}/${earlier.ts}`;
        return { externalId, url: link?.permalink ?? null };
      }
    }
    if (content.media?.length) {
      const shared = await shareFiles(ctx, undefined, composeText(content), content.media);
      return { externalId: `${shared.channel}/files/${shared.fileIds.join(',')}`, url: shared.permalink };
    }
    const m = await postMessage(ctx, undefined, composeText(content), idempotencyKey);
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
    // channels:history / groups:history: a retried publication looks for its first attempt (ADR 0079).
    scopes: ['chat:write', 'channels:read', 'files:write', 'channels:history', 'groups:history'],
    scopeSeparator: ',',
  },
};
