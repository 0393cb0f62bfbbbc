import { z } from 'zod';
import { action, type Connector, type ConnectorContext } from './types.js';
import { composeText, ensureOk, jsonHeaders, trimSlash } from './util.js';
import type { PublishContent } from '../contract.js';

const credentials = z.object({ identifier: z.string().min(1).describe('Handle or DID'), appPassword: z.string().min(1).describe('An app password, not the account password') });
const config = z.object({
  serviceUrl: z.url().default('https://bsky.social').describe('PDS / entryway (overridable for tests)'),
  webUrl: z.url().default('https://bsky.app').describe('Where post links point'),
});
type Ctx = ConnectorContext<z.infer<typeof credentials>, z.infer<typeof config>>;

async function session(ctx: Ctx) {
  const res = ensureOk(
    'Bluesky',
    await ctx.http({
      url: `${trimSlash(ctx.config.serviceUrl)}/xrpc/com.atproto.server.createSession`,
      method: 'POST',
      headers: jsonHeaders,
      body: JSON.stringify({ identifier: ctx.credentials.identifier, password: ctx.credentials.appPassword }),
      maxRetries: 0,
    }),
  );
  return res.json<{ accessJwt: string; did: string; handle: string }>();
}

async function createPost(ctx: Ctx, text: string) {
  const s = await session(ctx);
  const res = ensureOk(
    'Bluesky',
    await ctx.http({
      url: `${trimSlash(ctx.config.serviceUrl)}/xrpc/com.atproto.repo.createRecord`,
      method: 'POST',
      headers: { ...jsonHeaders, authorization: `Bearer ${s.accessJwt}` },
      body: JSON.stringify({ repo: s.did, collection: 'app.bsky.feed.post', record: { $type: 'app.bsky.feed.post', text, createdAt: ctx.clock.now().toISOString() } }),
    }),
  );
  const r = res.json<{ uri: string; cid: string }>();
  const rkey = r.uri.split('/').pop() ?? '';
  return { uri: r.uri, cid: r.cid, url: `${trimSlash(ctx.config.webUrl)}/profile/${s.handle}/post/${rkey}` };
}

export const blueskyConnector: Connector = {
  id: 'bluesky',
  name: 'Bluesky',
  description: 'Creates posts (com.atproto.server.createSession with an app password, then com.atproto.repo.createRecord).',
  auth: ['app_password'],
  credentials,
  config,
  canPublish: true,
  actions: {
    createPost: action({
      description: 'Creates an app.bsky.feed.post record',
      input: z.object({ text: z.string().min(1).max(3000) }),
      output: z.object({ uri: z.string(), cid: z.string(), url: z.string() }),
      run: (ctx: Ctx, input) => createPost(ctx, input.text),
    }),
  },
  async publish(ctx: Ctx, content: PublishContent) {
    const p = await createPost(ctx, composeText(content));
    return { externalId: p.uri, url: p.url };
  },
  async health(ctx: Ctx) {
    await session(ctx);
  },
};
