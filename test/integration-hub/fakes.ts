/**
 * Local fakes speaking the providers' documented request and response shapes, for the tests.
 * Each handler checks what the real API checks (auth header, required fields) and records calls.
 */
import { createHash } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { SMTPServer } from 'smtp-server';
import { standardSignature } from '../../src/services/integration-hub/signatures.js';

export interface Recorded {
  method: string;
  path: string;
  headers: http.IncomingHttpHeaders;
  body: string;
}

/** A media file a fake provider received, as the provider would store it. */
export interface Upload {
  provider: 'mastodon' | 'bluesky' | 'discord' | 'slack';
  /** The provider's id of the stored file (Mastodon media id, blob CID, Discord attachment index, Slack file id). */
  id: string;
  filename: string | null;
  contentType: string | null;
  size: number;
  sha256: string;
  altText: string | null;
}

export interface Fakes {
  base: string;
  calls: Recorded[];
  /** Media received by the fakes; a post referencing an id not in here is refused like the real API would. */
  uploads: Upload[];
  /** Mastodon answers this many next uploads with 202 (still processing) instead of 200. */
  mastodonProcessing: number;
  /** Responses of the OAuth token endpoints, consumed in order (default: a fresh token). */
  tokenAnswers: { status: number; body: Record<string, unknown> }[];
  tokenCalls: number;
  webhookSecret: string;
  /** Messages the fake Slack holds, newest last, as conversations.history returns them. */
  slackMessages: { channel: string; ts: string; at: number; text: string; user: string; metadata?: unknown; files?: { id: string; name: string }[] }[];
  /** Slack stores this many next chat.postMessage / files.completeUploadExternal calls and never answers them. */
  slackSwallow: number;
  /** Errors chat.postMessage answers with (ok:false, nothing posted), consumed in order. */
  slackPostErrors: string[];
  /** Errors conversations.history answers with (ok:false), consumed in order. */
  slackHistoryErrors: string[];
  mails: { from: string; to: string[]; data: string; user?: string }[];
  smtpPort: number;
  close(): Promise<void>;
}

const json = (res: http.ServerResponse, status: number, body: unknown) => res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(body));

export async function startFakes(): Promise<Fakes> {
  const f: Fakes = { base: '', calls: [], uploads: [], mastodonProcessing: 0, tokenAnswers: [], tokenCalls: 0, webhookSecret: `whsec_${Buffer.from('0123456789abcdef0123456789abcdef').toString('base64')}`, slackMessages: [], slackSwallow: 0, slackPostErrors: [], slackHistoryErrors: [], mails: [], smtpPort: 0, close: async () => {} };
  let issueNo = 41;
  let mediaNo = 200;
  let statusNo = 110;
  const slackPending = new Map<string, { filename: string; length: number; alt: string | null; uploaded?: Upload }>();
  const sha = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');
  /** Parses a multipart/form-data body with the platform's own parser (what a real server's parser would accept). */
  const formOf = (req: http.IncomingMessage, raw: Buffer) => new Request('http://fake/', { method: 'POST', headers: { 'content-type': String(req.headers['content-type']) }, body: raw }).formData();
  const fail = (res: http.ServerResponse, err: unknown) => json(res, 400, { message: `unparseable upload: ${(err as Error).message}` });
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const raw = Buffer.concat(chunks);
      const body = raw.toString('utf8');
      const url = new URL(req.url ?? '/', 'http://fake');
      const p = url.pathname;
      f.calls.push({ method: req.method ?? 'GET', path: p + url.search, headers: req.headers, body });
      const auth = req.headers.authorization ?? '';
      const parsed = (() => {
        try {
          return JSON.parse(body) as Record<string, unknown>;
        } catch {
          return {};
        }
      })();

      // Generic REST
      if (p.startsWith('/rest/')) {
        if (p === '/rest/secure' && auth !== 'Bearer rest-token' && req.headers['x-api-key'] !== 'k-123' && auth !== `Basic ${Buffer.from('u:p').toString('base64')}`) return json(res, 401, { message: 'no' });
        return json(res, 200, { path: p, query: Object.fromEntries(url.searchParams), received: parsed });
      }
      // Standard Webhooks receiver: verifies the signature like a real receiver would.
      if (p === '/receiver') {
        const id = String(req.headers['webhook-id']);
        const ts = Number(req.headers['webhook-timestamp']);
        const ok = req.headers['webhook-signature'] === standardSignature(f.webhookSecret, id, ts, body);
        return ok ? res.writeHead(204).end() : json(res, 400, { error: 'bad signature' });
      }
      // Slack Web API: 200 with ok:false on errors.
      if (p.startsWith('/slack/api/')) {
        const method = p.slice('/slack/api/'.length);
        if (method === 'oauth.v2.access') {
          f.tokenCalls++;
          const form = new URLSearchParams(body);
          if (!form.get('client_id') || !form.get('client_secret')) return json(res, 200, { ok: false, error: 'invalid_client' });
          const a = f.tokenAnswers.shift() ?? { status: 200, body: { ok: true, access_token: `xoxb-new-${f.tokenCalls}`, token_type: 'bot', refresh_token: `xoxe-r-${f.tokenCalls}`, expires_in: 43200 } };
          return json(res, a.status, a.body);
        }
        if (!auth.startsWith('Bearer xox')) return json(res, 200, { ok: false, error: 'not_authed' });
        if (auth === 'Bearer xoxb-revoked') return json(res, 200, { ok: false, error: 'invalid_auth' });
        if (method === 'auth.test') return json(res, 200, { ok: true, team: 'T', user: 'bot', team_id: 'T1', user_id: 'U1' });
        if (method === 'chat.postMessage') {
          if (!parsed.channel) return json(res, 200, { ok: false, error: 'channel_not_found' });
          const refused = f.slackPostErrors.shift();
          if (refused) return json(res, 200, { ok: false, error: refused });
          f.slackMessages.push({ channel: String(parsed.channel), ts: '1712345678.000100', at: Date.now() / 1000, text: String(parsed.text), user: 'U1', ...(parsed.metadata ? { metadata: parsed.metadata } : {}) });
          // Posted, but the answer never leaves (the connection stays open until the client gives up).
          if (f.slackSwallow > 0 && f.slackSwallow--) return;
          return json(res, 200, { ok: true, channel: parsed.channel, ts: '1712345678.000100', message: { text: parsed.text, type: 'message' } });
        }
        if (method === 'conversations.history') {
          const error = f.slackHistoryErrors.shift();
          if (error) return json(res, 200, { ok: false, error });
          const oldest = Number(parsed.oldest ?? 0);
          const withMeta = parsed.include_all_metadata === true;
          // Newest first, like Slack; one page (the fake holds few messages). The fake's ts values are
          // fixed strings, so `oldest` is compared with when the message was posted.
          const messages = f.slackMessages
            .filter((m) => m.channel === parsed.channel && m.at >= oldest)
            .reverse()
            .map(({ channel: _c, at: _a, metadata, ...m }) => ({ type: 'message', ...m, ...(withMeta && metadata ? { metadata } : {}) }));
          return json(res, 200, { ok: true, messages, has_more: false, response_metadata: { next_cursor: '' } });
        }
        if (method === 'chat.getPermalink') return json(res, 200, { ok: true, channel: parsed.channel, permalink: `https://team.slack.com/archives/${String(parsed.channel)}/p1712345678000100` });
        // External upload flow: form parameters, not JSON.
        if (method === 'files.getUploadURLExternal') {
          const form = new URLSearchParams(body);
          const length = Number(form.get('length'));
          if (!form.get('filename') || !Number.isInteger(length) || length <= 0) return json(res, 200, { ok: false, error: 'invalid_arguments' });
          const fileId = `F${++mediaNo}`;
          slackPending.set(fileId, { filename: form.get('filename')!, length, alt: form.get('alt_txt') });
          return json(res, 200, { ok: true, upload_url: `${f.base}/slack-upload/${fileId}`, file_id: fileId });
        }
        if (method === 'files.completeUploadExternal') {
          const form = new URLSearchParams(body);
          let files: { id: string; title?: string }[] = [];
          try {
            files = JSON.parse(form.get('files') ?? '[]') as { id: string; title?: string }[];
          } catch {
            return json(res, 200, { ok: false, error: 'invalid_arguments' });
          }
          if (!form.get('channel_id')) return json(res, 200, { ok: false, error: 'channel_not_found' });
          if (!files.length || files.some((x) => !slackPending.get(x.id)?.uploaded)) return json(res, 200, { ok: false, error: 'file_upload_not_completed' });
          for (const x of files) f.uploads.push(slackPending.get(x.id)!.uploaded!);
          f.slackMessages.push({ channel: String(form.get('channel_id')), ts: '1712345678.000200', at: Date.now() / 1000, text: form.get('initial_comment') ?? '', user: 'U1', files: files.map((x) => ({ id: x.id, name: slackPending.get(x.id)!.filename })) });
          if (f.slackSwallow > 0 && f.slackSwallow--) return;
          return json(res, 200, { ok: true, files: files.map((x) => ({ id: x.id, title: x.title ?? '', permalink: `https://team.slack.com/files/U1/${x.id}/${x.title ?? 'file'}`, initial_comment: form.get('initial_comment'), channel: form.get('channel_id') })) });
        }
        return json(res, 200, { ok: false, error: 'unknown_method' });
      }
      const upload = /^\/slack-upload\/(F\d+)$/.exec(p);
      if (upload && req.method === 'POST') {
        const pending = slackPending.get(upload[1]!);
        if (!pending) return res.writeHead(404).end('not found');
        if (raw.length !== pending.length) return res.writeHead(400).end(`length mismatch: ${raw.length} != ${pending.length}`);
        pending.uploaded = { provider: 'slack', id: upload[1]!, filename: pending.filename, contentType: req.headers['content-type'] ?? null, size: raw.length, sha256: sha(raw), altText: pending.alt };
        return res.writeHead(200, { 'content-type': 'text/plain' }).end(`OK - ${raw.length}`);
      }
      if (p === '/slack-incoming/T1/B1/secret') return parsed.text ? res.writeHead(200, { 'content-type': 'text/html' }).end('ok') : res.writeHead(400).end('no_text');
      // Discord Execute Webhook (wait=true answers the message object).
      if (p === '/discord/api/webhooks/123/tok') {
        if (req.method === 'GET') return json(res, 200, { id: '123', type: 1, name: 'hook', channel_id: '999', guild_id: '5' });
        if (String(req.headers['content-type']).startsWith('multipart/form-data')) {
          void formOf(req, raw)
            .then(async (form) => {
              const payload = JSON.parse(String(form.get('payload_json') ?? '{}')) as { content?: string; attachments?: { id: number; filename?: string; description?: string }[] };
              const received: Upload[] = [];
              for (const a of payload.attachments ?? []) {
                const file = form.get(`files[${a.id}]`);
                if (!(file instanceof File)) return json(res, 400, { code: 50035, message: `Invalid Form Body: attachments.${a.id} has no files[${a.id}]` });
                const bytes = new Uint8Array(await file.arrayBuffer());
                received.push({ provider: 'discord', id: String(a.id), filename: file.name, contentType: file.type || null, size: bytes.length, sha256: sha(bytes), altText: a.description ?? null });
              }
              if (!payload.content && !received.length) return json(res, 400, { code: 50006, message: 'Cannot send an empty message' });
              f.uploads.push(...received);
              return json(res, 200, { id: '1112', channel_id: '999', content: payload.content ?? '', attachments: received.map((r, i) => ({ id: `att${i}`, filename: r.filename, size: r.size, description: r.altText })), type: 0 });
            })
            .catch((err) => fail(res, err));
          return;
        }
        if (!parsed.content) return json(res, 400, { code: 50006, message: 'Cannot send an empty message' });
        if (url.searchParams.get('wait') !== 'true') return res.writeHead(204).end();
        return json(res, 200, { id: '1111', channel_id: '999', content: parsed.content, type: 0 });
      }
      // GitHub REST API
      if (p.startsWith('/gh/')) {
        const ghPath = p.slice(3);
        if (req.headers['x-github-api-version'] !== '2022-11-28' || !String(req.headers.accept).includes('github')) return json(res, 400, { message: 'bad headers' });
        if (!auth.startsWith('Bearer gh')) return json(res, 401, { message: 'Bad credentials', documentation_url: 'https://docs.github.com/rest' });
        if (req.method === 'GET' && ghPath === '/repos/o/r') return json(res, 200, { id: 1, full_name: 'o/r' });
        if (req.method === 'POST' && ghPath === '/repos/o/r/issues') {
          if (!parsed.title) return json(res, 422, { message: 'Validation Failed' });
          issueNo++;
          return json(res, 201, { id: 9000 + issueNo, number: issueNo, title: parsed.title, html_url: `https://github.com/o/r/issues/${issueNo}` });
        }
        const cm = /^\/repos\/o\/r\/issues\/(\d+)\/comments$/.exec(ghPath);
        if (req.method === 'POST' && cm) return json(res, 201, { id: 777, body: parsed.body, html_url: `https://github.com/o/r/issues/${cm[1]}#issuecomment-777` });
        if (req.method === 'POST' && /^\/repos\/o\/r\/actions\/workflows\/[^/]+\/dispatches$/.test(ghPath)) return parsed.ref ? res.writeHead(204).end() : json(res, 422, { message: 'ref missing' });
        return json(res, 404, { message: 'Not Found' });
      }
      if (p === '/gh-oauth/login/oauth/access_token') {
        f.tokenCalls++;
        const form = new URLSearchParams(body);
        if (form.get('grant_type') === 'authorization_code' && (!form.get('code_verifier') || form.get('code') !== 'good-code')) return json(res, 200, { error: 'bad_verification_code' });
        const a = f.tokenAnswers.shift() ?? { status: 200, body: { access_token: `gho_new_${f.tokenCalls}`, token_type: 'bearer', scope: 'repo', refresh_token: `ghr_${f.tokenCalls}`, expires_in: 28800 } };
        return json(res, a.status, a.body);
      }
      // Mastodon
      if (p.startsWith('/masto/')) {
        if (auth !== 'Bearer masto-token') return json(res, 401, { error: 'The access token is invalid' });
        if (p === '/masto/api/v1/accounts/verify_credentials') return json(res, 200, { id: '1', username: 'v01t', acct: 'v01t' });
        if (p === '/masto/api/v2/media' && req.method === 'POST') {
          void formOf(req, raw)
            .then(async (form) => {
              const file = form.get('file');
              if (!(file instanceof File)) return json(res, 422, { error: 'Validation failed: File content type is invalid' });
              const bytes = new Uint8Array(await file.arrayBuffer());
              const id = String(++mediaNo);
              const processing = f.mastodonProcessing > 0;
              if (processing) f.mastodonProcessing--;
              const description = form.get('description');
              f.uploads.push({ provider: 'mastodon', id, filename: file.name, contentType: file.type || null, size: bytes.length, sha256: sha(bytes), altText: typeof description === 'string' ? description : null });
              return json(res, processing ? 202 : 200, { id, type: 'image', url: processing ? null : `https://masto.example/media/${id}`, description });
            })
            .catch((err) => fail(res, err));
          return;
        }
        const mediaGet = /^\/masto\/api\/v1\/media\/(\d+)$/.exec(p);
        if (mediaGet && req.method === 'GET') {
          const up = f.uploads.find((u) => u.provider === 'mastodon' && u.id === mediaGet[1]);
          return up ? json(res, 200, { id: up.id, type: 'image', url: `https://masto.example/media/${up.id}`, description: up.altText }) : json(res, 404, { error: 'Record not found' });
        }
        if (p === '/masto/api/v1/statuses' && req.method === 'POST') {
          const mediaIds = (parsed.media_ids ?? []) as string[];
          if (!parsed.status && !mediaIds.length) return json(res, 422, { error: "Validation failed: Text can't be blank" });
          const attached = mediaIds.map((id) => f.uploads.find((u) => u.provider === 'mastodon' && u.id === id));
          if (attached.some((a) => !a)) return json(res, 422, { error: 'Validation failed: media not found' });
          const id = mediaIds.length ? String(++statusNo) : '110';
          return json(res, 200, {
            id,
            uri: `https://masto.example/users/v01t/statuses/${id}`,
            url: `https://masto.example/@v01t/${id}`,
            content: `<p>${String(parsed.status)}</p>`,
            visibility: parsed.visibility,
            media_attachments: attached.map((a) => ({ id: a!.id, type: 'image', description: a!.altText })),
          });
        }
      }
      // Bluesky XRPC
      if (p === '/bsky/xrpc/com.atproto.server.createSession') {
        if (parsed.identifier !== 'v01t.bsky.social' || parsed.password !== 'abcd-efgh-ijkl-mnop') return json(res, 401, { error: 'AuthenticationRequired', message: 'Invalid identifier or password' });
        return json(res, 200, { did: 'did:plc:abc123', handle: 'v01t.bsky.social', accessJwt: 'jwt-access', refreshJwt: 'jwt-refresh' });
      }
      if (p === '/bsky/xrpc/com.atproto.repo.uploadBlob') {
        if (auth !== 'Bearer jwt-access') return json(res, 401, { error: 'AuthenticationRequired', message: 'Authentication Required' });
        if (!raw.length) return json(res, 400, { error: 'InvalidRequest', message: 'empty blob' });
        const cid = `bafkrei${sha(raw).slice(0, 40)}`;
        const mimeType = String(req.headers['content-type'] ?? '*/*');
        f.uploads.push({ provider: 'bluesky', id: cid, filename: null, contentType: mimeType, size: raw.length, sha256: sha(raw), altText: null });
        return json(res, 200, { blob: { $type: 'blob', ref: { $link: cid }, mimeType, size: raw.length } });
      }
      if (p === '/bsky/xrpc/com.atproto.repo.createRecord') {
        const rec = parsed.record as Record<string, unknown> | undefined;
        if (auth !== 'Bearer jwt-access' || parsed.repo !== 'did:plc:abc123' || parsed.collection !== 'app.bsky.feed.post' || rec?.$type !== 'app.bsky.feed.post' || !rec.createdAt) return json(res, 400, { error: 'InvalidRequest', message: 'bad record' });
        if (rec.embed !== undefined) {
          // app.bsky.embed.images: 1-4 images, each { alt (required string), image (an uploaded blob) }.
          const embed = rec.embed as { $type?: string; images?: { alt?: unknown; image?: { $type?: string; ref?: { $link?: string } } }[] };
          const images = embed.images ?? [];
          const known = (i: (typeof images)[number]) => i.image?.$type === 'blob' && f.uploads.some((u) => u.provider === 'bluesky' && u.id === i.image?.ref?.$link);
          if (embed.$type !== 'app.bsky.embed.images' || images.length < 1 || images.length > 4 || images.some((i) => typeof i.alt !== 'string' || !known(i))) return json(res, 400, { error: 'InvalidRequest', message: 'bad embed' });
          for (const i of images) f.uploads.filter((u) => u.provider === 'bluesky' && u.id === i.image!.ref!.$link).forEach((u) => (u.altText = String(i.alt)));
        }
        return json(res, 200, { uri: 'at://did:plc:abc123/app.bsky.feed.post/3kabc2xyz', cid: 'bafyreib2' });
      }
      // n8n webhook node with header auth
      if (p === '/n8n/webhook/flow-1') {
        if (req.headers['x-n8n-key'] !== 'n8n-secret') return res.writeHead(403).end('Authorization data is wrong!');
        return json(res, 200, { received: parsed, ok: true });
      }
      if (p === '/n8n/healthz') return json(res, 200, { status: 'ok' });
      json(res, 404, { message: 'not found' });
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  f.base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;

  const smtp = new SMTPServer({
    disabledCommands: ['STARTTLS'],
    authOptional: false,
    allowInsecureAuth: true,
    onAuth(auth, _session, cb) {
      if (auth.username === 'mailer' && auth.password === 'smtp-pass') return cb(null, { user: 'mailer' });
      return cb(new Error('Invalid username or password'));
    },
    onData(stream, session, cb) {
      const parts: Buffer[] = [];
      stream.on('data', (c: Buffer) => parts.push(c));
      stream.on('end', () => {
        f.mails.push({
          from: session.envelope.mailFrom ? session.envelope.mailFrom.address : '',
          to: session.envelope.rcptTo.map((r) => r.address),
          data: Buffer.concat(parts).toString('utf8'),
          user: session.user as string | undefined,
        });
        cb();
      });
    },
    logger: false,
  });
  await new Promise<void>((r) => smtp.listen(0, '127.0.0.1', r));
  f.smtpPort = (smtp.server.address() as AddressInfo).port;

  f.close = async () => {
    server.closeAllConnections();
    await new Promise((r) => server.close(r));
    await new Promise<void>((r) => smtp.close(() => r()));
  };
  return f;
}
