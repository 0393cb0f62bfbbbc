import { z } from 'zod';
import { action, type Connector, type ConnectorContext } from './types.js';
import { composeText, ensureOk, jsonHeaders, refuseMedia, trimSlash } from './util.js';
import type { PublishContent, PublishMedia } from '../contract.js';

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

/** app.bsky.embed.images: at most 4 images, each blob at most 1,000,000 bytes (the lexicon's maxSize). */
const MAX_IMAGES = 4;
const MAX_IMAGE_BYTES = 1_000_000;

function checkImages(media: PublishMedia[]): void {
  if (media.length > MAX_IMAGES) refuseMedia('Bluesky', `at most ${MAX_IMAGES} images per post (${media.length} given)`);
  for (const m of media) {
    if (!m.contentType.startsWith('image/')) refuseMedia('Bluesky', `${m.filename}: only images can be embedded (${m.contentType})`);
    if (m.size > MAX_IMAGE_BYTES) refuseMedia('Bluesky', `${m.filename}: images are limited to ${MAX_IMAGE_BYTES} bytes (${m.size})`);
  }
}

/** com.atproto.repo.uploadBlob: the raw bytes with their MIME type; answers the blob reference to embed. */
async function uploadBlob(ctx: Ctx, accessJwt: string, m: PublishMedia): Promise<Record<string, unknown>> {
  const res = ensureOk(
    'Bluesky',
    await ctx.http({
      url: `${trimSlash(ctx.config.serviceUrl)}/xrpc/com.atproto.repo.uploadBlob`,
      method: 'POST',
      headers: { accept: 'application/json', 'content-type': m.contentType, authorization: `Bearer ${accessJwt}` },
      body: m.data,
    }),
  );
  return res.json<{ blob: Record<string, unknown> }>().blob;
}

async function createPost(ctx: Ctx, text: string, media: PublishMedia[] = []) {
  checkImages(media);
  const s = await session(ctx);
  const images = [];
  for (const m of media) images.push({ alt: m.altText ?? '', image: await uploadBlob(ctx, s.accessJwt, m) });
  const record = {
    $type: 'app.bsky.feed.post',
    text,
    createdAt: ctx.clock.now().toISOString(),
    ...(images.length ? { embed: { $type: 'app.bsky.embed.images', images } } : {}),
  };
  const res = ensureOk(
    'Bluesky',
    await ctx.http({
      url: `${trimSlash(ctx.config.serviceUrl)}/xrpc/com.atproto.repo.createRecord`,
      method: 'POST',
      headers: { ...jsonHeaders, authorization: `Bearer ${s.accessJwt}` },
      body: JSON.stringify({ repo: s.did, collection: 'app.bsky.feed.post', record }),
    }),
  );
  const r = res.json<{ uri: string; cid: string }>();
  const rkey = r.uri.split('/').pop() ?? '';
  return { uri: r.uri, cid: r.cid, url: `${trimSlash(ctx.config.webUrl)}/profile/${s.handle}/post/${rkey}` };
}

export const blueskyConnector: Connector = {
  id: 'bluesky',
  name: 'Bluesky',
  description: 'Creates posts (com.atproto.server.createSession with an app password, images with com.atproto.repo.uploadBlob, then com.atproto.repo.createRecord).',
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
    const p = await createPost(ctx, composeText(content), content.media);
    return { externalId: p.uri, url: p.url };
  },
  async health(ctx: Ctx) {
    await session(ctx);
  },
};
