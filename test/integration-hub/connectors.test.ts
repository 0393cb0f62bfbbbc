import { execFile } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { TestPlatform } from '../helpers/platform.js';
import { bearer, problem, type TestUser } from '../helpers/api.js';
import type { Fakes } from './fakes.js';
import { startHubFixture } from './hub-fixture.js';
import type { IntegrationHubContract, PublishMedia } from '../../src/services/integration-hub/contract.js';

let t: TestPlatform;
let f: Fakes;
let owner: TestUser;
let ws: string;
let fixture: Awaited<ReturnType<typeof startHubFixture>>;

beforeAll(async () => {
  fixture = await startHubFixture('Connectors');
  ({ f, t, owner, ws } = fixture);
}, 60_000);

afterAll(async () => {
  await fixture?.close();
});

async function connect(connector: string, credentials: unknown, config: unknown): Promise<string> {
  const res = await t.inject({ method: 'POST', url: `/v1/workspaces/${ws}/connections`, headers: bearer(owner.token), payload: { connector, name: connector, credentials, config } });
  if (res.statusCode !== 201) throw new Error(`create ${connector}: ${res.statusCode} ${res.body}`);
  return res.json().connection.id;
}

async function act(id: string, action: string, input: unknown) {
  return t.inject({ method: 'POST', url: `/v1/workspaces/${ws}/connections/${id}/actions/${action}`, headers: bearer(owner.token), payload: { input } });
}

const hub = () => t.platform.ctx.contracts.get<IntegrationHubContract>('integration-hub');
const last = (prefix: string) => [...f.calls].reverse().find((c) => c.path.startsWith(prefix))!;

describe('connectors against local fakes of the providers', () => {
  it('lists the catalog with JSON Schemas and canPublish', async () => {
    const res = await t.inject({ method: 'GET', url: '/v1/connectors', headers: bearer(owner.token) });
    expect(res.statusCode).toBe(200);
    const list = res.json().connectors as { id: string; canPublish: boolean; credentialsSchema: { type?: string; oneOf?: unknown; anyOf?: unknown }; actions: { name: string; inputSchema: object }[] }[];
    // Other connectors (pagerduty) are added by their owners' tests; these nine are tested here.
    expect(list.map((c) => c.id).sort()).toEqual(expect.arrayContaining(['bluesky', 'discord', 'email', 'github', 'http', 'mastodon', 'n8n', 'slack', 'webhook']));
    const pub = Object.fromEntries(list.map((c) => [c.id, c.canPublish]));
    expect(pub).toMatchObject({ slack: true, discord: true, mastodon: true, bluesky: true, github: true, http: false, n8n: false });
    const gh = list.find((c) => c.id === 'github')!;
    expect(gh.actions.map((a) => a.name).sort()).toEqual(['comment', 'createIssue', 'dispatchWorkflow']);
    expect(gh.actions[0]!.inputSchema).toHaveProperty('properties');
  });

  it('http: bearer, api-key and basic auth; credentials never returned', async () => {
    for (const [creds, check] of [
      [{ type: 'bearer', token: 'rest-token' }, (h: Record<string, unknown>) => h.authorization === 'Bearer rest-token'],
      [{ type: 'api_key', header: 'x-api-key', value: 'k-123' }, (h: Record<string, unknown>) => h['x-api-key'] === 'k-123'],
      [{ type: 'basic', username: 'u', password: 'p' }, (h: Record<string, unknown>) => String(h.authorization).startsWith('Basic ')],
    ] as const) {
      const id = await connect('http', creds, { baseUrl: `${f.base}/rest` });
      const res = await act(id, 'request', { method: 'POST', path: '/secure', query: { a: '1' }, body: { hello: 'world' } });
      expect(res.statusCode, res.body).toBe(200);
      expect(res.json().output).toMatchObject({ status: 200, body: { path: '/rest/secure', query: { a: '1' }, received: { hello: 'world' } } });
      expect(check(last('/rest/secure').headers as Record<string, unknown>)).toBe(true);
      const got = await t.inject({ method: 'GET', url: `/v1/workspaces/${ws}/connections/${id}`, headers: bearer(owner.token) });
      expect(got.body).not.toMatch(/rest-token|k-123|"p"/);
      expect(got.json().connection.credentialFields.length).toBeGreaterThan(0);
    }
  });

  it('webhook: Standard Webhooks signature accepted by a verifying receiver', async () => {
    const id = await connect('webhook', { secret: f.webhookSecret }, { url: `${f.base}/receiver` });
    const res = await act(id, 'send', { type: 'order.created', data: { n: 1 } });
    expect(res.statusCode, res.body).toBe(200);
    expect(res.json().output).toMatchObject({ status: 204 });
    const call = last('/receiver');
    expect(call.headers['webhook-id']).toBe(res.json().output.webhookId);
    expect(JSON.parse(call.body)).toMatchObject({ type: 'order.created', data: { n: 1 } });
    const wrong = await connect('webhook', { secret: `whsec_${Buffer.from('another-secret-another-secret-xx').toString('base64')}` }, { url: `${f.base}/receiver` });
    const bad = await act(wrong, 'send', { data: {} });
    expect(problem(bad).code).toBe('provider_error');
  });

  it('slack: chat.postMessage, incoming webhook, publish with permalink; Slack errors surface', async () => {
    const id = await connect('slack', { type: 'bot_token', token: 'xoxb-good', incomingWebhookUrl: `${f.base}/slack-incoming/T1/B1/secret` }, { channel: 'C123', baseUrl: `${f.base}/slack/api` });
    const res = await act(id, 'postMessage', { text: 'hi' });
    expect(res.json().output).toEqual({ channel: 'C123', ts: '1712345678.000100' });
    expect(JSON.parse(last('/slack/api/chat.postMessage').body)).toEqual({ channel: 'C123', text: 'hi' });
    expect((await act(id, 'incomingWebhook', { text: 'x' })).json().output).toEqual({ ok: true });
    const pub = await hub().publish(ws, id, { text: 'launch', link: 'https://v01t.io' }, 'slack-1');
    expect(pub).toEqual({ externalId: 'C123/1712345678.000100', url: 'https://team.slack.com/archives/C123/p1712345678000100' });
    const revoked = await connect('slack', { type: 'bot_token', token: 'xoxb-revoked' }, { channel: 'C1', baseUrl: `${f.base}/slack/api` });
    expect(problem(await act(revoked, 'postMessage', { text: 'x' })).code).toBe('provider_auth_failed');
  });

  it('discord: execute webhook with wait=true; publish returns the message id', async () => {
    const id = await connect('discord', { webhookUrl: `${f.base}/discord/api/webhooks/123/tok` }, {});
    const res = await act(id, 'sendMessage', { content: 'gm' });
    expect(res.json().output).toEqual({ id: '1111', channelId: '999' });
    expect(last('/discord/').path).toContain('wait=true');
    expect(await hub().publish(ws, id, { text: 'post' }, 'discord-1')).toEqual({ externalId: '1111', url: null });
    const test = await t.inject({ method: 'POST', url: `/v1/workspaces/${ws}/connections/${id}/test`, headers: bearer(owner.token) });
    expect(test.json()).toMatchObject({ ok: true });
  });

  it('github: create issue, comment, dispatch workflow, with the API version header', async () => {
    const id = await connect('github', { type: 'token', token: 'ghp_abc' }, { owner: 'o', repo: 'r', baseUrl: `${f.base}/gh` });
    const issue = await act(id, 'createIssue', { title: 'Bug', body: 'details' });
    expect(issue.json().output).toEqual({ number: 42, url: 'https://github.com/o/r/issues/42' });
    expect((await act(id, 'comment', { issueNumber: 42, body: 'hi' })).json().output).toEqual({ id: 777, url: 'https://github.com/o/r/issues/42#issuecomment-777' });
    expect((await act(id, 'dispatchWorkflow', { workflow: 'ci.yml', ref: 'main', inputs: { a: 'b' } })).json().output).toEqual({ dispatched: true });
    expect(JSON.parse(last('/gh/repos/o/r/actions').body)).toEqual({ ref: 'main', inputs: { a: 'b' } });
    const badInput = await act(id, 'comment', { issueNumber: -1 });
    expect(problem(badInput).code).toBe('validation_failed');
    const unknown = await act(id, 'deleteRepo', {});
    expect(unknown.statusCode).toBe(404);
    const bad = await connect('github', { type: 'token', token: 'nope' }, { owner: 'o', repo: 'r', baseUrl: `${f.base}/gh` });
    const refused = await act(bad, 'createIssue', { title: 'x' });
    expect(problem(refused).code).toBe('provider_auth_failed');
    expect(refused.body).not.toContain('nope');
  });

  it('mastodon: posts a status with Idempotency-Key; publish is idempotent', async () => {
    const id = await connect('mastodon', { accessToken: 'masto-token' }, { instanceUrl: `${f.base}/masto`, visibility: 'unlisted' });
    const r1 = await hub().publish(ws, id, { text: 'hello fediverse' }, 'pub-key-1');
    expect(r1).toEqual({ externalId: '110', url: 'https://masto.example/@v01t/110' });
    const call = last('/masto/api/v1/statuses');
    expect(call.headers['idempotency-key']).toBe('pub-key-1');
    expect(JSON.parse(call.body)).toEqual({ status: 'hello fediverse', visibility: 'unlisted' });
    const before = f.calls.filter((c) => c.path === '/masto/api/v1/statuses').length;
    expect(await hub().publish(ws, id, { text: 'hello fediverse' }, 'pub-key-1')).toEqual(r1);
    expect(f.calls.filter((c) => c.path === '/masto/api/v1/statuses').length).toBe(before);
  });

  it('runAction with an idempotency key runs the action once; a failed attempt may be retried with the key', async () => {
    const issues = () => f.calls.filter((c) => c.method === 'POST' && c.path === '/gh/repos/o/r/issues').length;
    const id = await connect('github', { type: 'token', token: 'nope' }, { owner: 'o', repo: 'r', baseUrl: `${f.base}/gh` });
    // Failed attempt (the provider refused the token): the key stays free.
    await expect(hub().runAction(ws, id, 'createIssue', { title: 'Once' }, { idempotencyKey: 'step-1/attempt-1' })).rejects.toMatchObject({ code: 'provider_auth_failed' });
    const fixed = await t.inject({ method: 'PATCH', url: `/v1/workspaces/${ws}/connections/${id}`, headers: bearer(owner.token), payload: { credentials: { type: 'token', token: 'ghp_fixed' } } });
    expect(fixed.statusCode, fixed.body).toBe(200);
    const before = issues();
    const first = await hub().runAction(ws, id, 'createIssue', { title: 'Once' }, { idempotencyKey: 'step-1/attempt-1' });
    expect(issues()).toBe(before + 1);
    expect(first.output).toMatchObject({ number: expect.any(Number) });
    // Same key: the first output, no second provider call.
    expect(await hub().runAction(ws, id, 'createIssue', { title: 'Once' }, { idempotencyKey: 'step-1/attempt-1' })).toEqual(first);
    expect(issues()).toBe(before + 1);
    // Without a key, or with another key, the action runs again.
    const other = await hub().runAction(ws, id, 'createIssue', { title: 'Twice' }, { idempotencyKey: 'step-1/attempt-2' });
    expect(other.output.number).not.toBe(first.output.number);
    expect(issues()).toBe(before + 2);
    // The key belongs to one action: reusing it for another is a conflict, not the wrong output.
    await expect(hub().runAction(ws, id, 'comment', { issueNumber: 1, body: 'x' }, { idempotencyKey: 'step-1/attempt-1' })).rejects.toMatchObject({ code: 'conflict' });
    await expect(hub().runAction(ws, id, 'createIssue', { title: 'x' }, { idempotencyKey: '' })).rejects.toMatchObject({ code: 'validation_failed' });
    // The same key space is independent of publish's keys.
    expect((await hub().publish(ws, id, { text: 'body', title: 'Published' }, 'step-1/attempt-1')).externalId).not.toBe(String(first.output.number));
    expect(issues()).toBe(before + 3);
    // Over HTTP: the Idempotency-Key header.
    const viaHttp = () => t.inject({ method: 'POST', url: `/v1/workspaces/${ws}/connections/${id}/actions/createIssue`, headers: { ...bearer(owner.token), 'idempotency-key': 'http-key-1' }, payload: { input: { title: 'Via HTTP' } } });
    const h1 = await viaHttp();
    const h2 = await viaHttp();
    expect(h1.statusCode, h1.body).toBe(200);
    expect(h2.json()).toEqual(h1.json());
    expect(issues()).toBe(before + 4);
  });

  it('publish sees a connection disabled or deleted through the API at once (its row cache is dropped)', async () => {
    const id = await connect('discord', { webhookUrl: `${f.base}/discord/api/webhooks/123/tok` }, {});
    await hub().publish(ws, id, { text: 'first' }, 'cache-1');
    const off = await t.inject({ method: 'PATCH', url: `/v1/workspaces/${ws}/connections/${id}`, headers: bearer(owner.token), payload: { status: 'disabled' } });
    expect(off.statusCode, off.body).toBe(200);
    await expect(hub().publish(ws, id, { text: 'second' }, 'cache-2')).rejects.toMatchObject({ code: 'conflict' });
    await t.inject({ method: 'PATCH', url: `/v1/workspaces/${ws}/connections/${id}`, headers: bearer(owner.token), payload: { status: 'active' } });
    await hub().publish(ws, id, { text: 'third' }, 'cache-3');
    expect((await t.inject({ method: 'DELETE', url: `/v1/workspaces/${ws}/connections/${id}`, headers: bearer(owner.token) })).statusCode).toBe(204);
    await expect(hub().publish(ws, id, { text: 'fourth' }, 'cache-4')).rejects.toMatchObject({ code: 'not_found' });
  });

  it('bluesky: session with an app password, then createRecord; publish gives the post URL', async () => {
    const id = await connect('bluesky', { identifier: 'v01t.bsky.social', appPassword: 'abcd-efgh-ijkl-mnop' }, { serviceUrl: `${f.base}/bsky` });
    const r = await hub().publish(ws, id, { text: 'skeet' }, 'b-1');
    expect(r).toEqual({ externalId: 'at://did:plc:abc123/app.bsky.feed.post/3kabc2xyz', url: 'https://bsky.app/profile/v01t.bsky.social/post/3kabc2xyz' });
    const rec = JSON.parse(last('/bsky/xrpc/com.atproto.repo.createRecord').body);
    expect(rec.record).toMatchObject({ $type: 'app.bsky.feed.post', text: 'skeet' });
    const wrong = await connect('bluesky', { identifier: 'v01t.bsky.social', appPassword: 'wrong' }, { serviceUrl: `${f.base}/bsky` });
    await expect(hub().publish(ws, wrong, { text: 'x' }, 'b-2')).rejects.toMatchObject({ code: 'provider_auth_failed' });
  });

  describe('media', () => {
    const sha = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');
    const file = (name: string, contentType: string, size: number, altText?: string): PublishMedia => {
      const data = Buffer.concat([Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]), randomBytes(size - 8)]);
      return { filename: name, contentType, size: data.length, sha256: sha(data), altText, data };
    };
    const img1 = file('chart.png', 'image/png', 40_000, 'A bar chart of weekly sign-ups');
    const img2 = file('logo.png', 'image/png', 3_000, 'The v01t logo');
    const uploadsSince = (n: number, provider: string) => f.uploads.slice(n).filter((u) => u.provider === provider);

    it('mastodon: each file via POST /api/v2/media with its description, then media_ids on the status (202 polled until processed)', async () => {
      const id = await connect('mastodon', { accessToken: 'masto-token' }, { instanceUrl: `${f.base}/masto` });
      const n = f.uploads.length;
      f.mastodonProcessing = 1;
      const r = await hub().publish(ws, id, { text: 'with pictures', media: [img1, img2] }, 'masto-media-1');
      const got = uploadsSince(n, 'mastodon');
      expect(got.map((u) => [u.sha256, u.size, u.altText, u.filename, u.contentType])).toEqual([
        [img1.sha256, img1.size, img1.altText, 'chart.png', 'image/png'],
        [img2.sha256, img2.size, img2.altText, 'logo.png', 'image/png'],
      ]);
      expect(JSON.parse(last('/masto/api/v1/statuses').body)).toMatchObject({ status: 'with pictures', media_ids: got.map((u) => u.id) });
      expect(f.calls.some((c) => c.path === `/masto/api/v1/media/${got[0]!.id}`)).toBe(true);
      expect(r.externalId).not.toBe('110');
    });

    it('bluesky: uploadBlob per image, then an app.bsky.embed.images embed with alt text; non-images and >1 MB refused before sending', async () => {
      const id = await connect('bluesky', { identifier: 'v01t.bsky.social', appPassword: 'abcd-efgh-ijkl-mnop' }, { serviceUrl: `${f.base}/bsky` });
      const n = f.uploads.length;
      await hub().publish(ws, id, { text: 'skeet with image', media: [img1] }, 'bsky-media-1');
      const got = uploadsSince(n, 'bluesky');
      expect(got).toHaveLength(1);
      expect(got[0]).toMatchObject({ sha256: img1.sha256, size: img1.size, contentType: 'image/png', altText: img1.altText });
      const rec = JSON.parse(last('/bsky/xrpc/com.atproto.repo.createRecord').body).record;
      expect(rec.embed).toMatchObject({ $type: 'app.bsky.embed.images', images: [{ alt: img1.altText, image: { $type: 'blob', ref: { $link: got[0]!.id }, mimeType: 'image/png', size: img1.size } }] });
      const calls = f.calls.length;
      await expect(hub().publish(ws, id, { text: 'pdf', media: [file('doc.pdf', 'application/pdf', 100)] }, 'bsky-media-2')).rejects.toMatchObject({ code: 'validation_failed' });
      await expect(hub().publish(ws, id, { text: 'big', media: [file('big.png', 'image/png', 1_000_001)] }, 'bsky-media-3')).rejects.toMatchObject({ code: 'validation_failed' });
      expect(f.calls.length).toBe(calls);
    });

    it('discord: multipart files[n] with payload_json attachments carrying the descriptions', async () => {
      const id = await connect('discord', { webhookUrl: `${f.base}/discord/api/webhooks/123/tok` }, {});
      const n = f.uploads.length;
      expect(await hub().publish(ws, id, { text: 'gallery', media: [img1, img2] }, 'discord-media-1')).toEqual({ externalId: '1112', url: null });
      expect(uploadsSince(n, 'discord').map((u) => [u.sha256, u.altText, u.filename])).toEqual([
        [img1.sha256, img1.altText, 'chart.png'],
        [img2.sha256, img2.altText, 'logo.png'],
      ]);
      expect(last('/discord/').path).toContain('wait=true');
    });

    it('slack: getUploadURLExternal → upload → completeUploadExternal with channel and the text as initial comment', async () => {
      const id = await connect('slack', { type: 'bot_token', token: 'xoxb-good' }, { channel: 'C123', baseUrl: `${f.base}/slack/api` });
      const n = f.uploads.length;
      const r = await hub().publish(ws, id, { text: 'report attached', media: [img1] }, 'slack-media-1');
      const got = uploadsSince(n, 'slack');
      expect(got).toHaveLength(1);
      expect(got[0]).toMatchObject({ sha256: img1.sha256, size: img1.size, filename: 'chart.png', altText: img1.altText });
      expect(r).toEqual({ externalId: `C123/files/${got[0]!.id}`, url: `https://team.slack.com/files/U1/${got[0]!.id}/chart.png` });
      const complete = new URLSearchParams(last('/slack/api/files.completeUploadExternal').body);
      expect(complete.get('channel_id')).toBe('C123');
      expect(complete.get('initial_comment')).toBe('report attached');
    });

    it('email attaches the files; webhook carries them base64 in the signed JSON; GitHub refuses media', async () => {
      const mail = await connect('email', { username: 'mailer', password: 'smtp-pass' }, { host: '127.0.0.1', port: f.smtpPort, secure: false, requireTls: false, from: 'v01t <noreply@example.test>', defaultTo: ['list@example.test'] });
      await hub().publish(ws, mail, { text: 'See attached', title: 'With file', media: [img2] }, 'mail-media-1');
      const data = f.mails.at(-1)!.data;
      expect(data).toMatch(/Content-Disposition: attachment; filename=logo\.png/);
      // The attachment part: its headers, a blank line, base64 lines up to the next boundary.
      const part = data.slice(data.indexOf('filename=logo.png')).split(/\r?\n\r?\n/)[1]!.split(/\r?\n--/)[0]!;
      expect(sha(Buffer.from(part.replace(/\s+/g, ''), 'base64'))).toBe(img2.sha256);

      const hook = await connect('webhook', { secret: f.webhookSecret }, { url: `${f.base}/receiver` });
      await hub().publish(ws, hook, { text: 'hooked', media: [img2] }, 'hook-media-1');
      const delivered = JSON.parse(last('/receiver').body).data.media[0];
      expect(delivered).toMatchObject({ filename: 'logo.png', contentType: 'image/png', size: img2.size, sha256: img2.sha256, altText: img2.altText });
      expect(sha(Buffer.from(delivered.data, 'base64'))).toBe(img2.sha256);

      const gh = await connect('github', { type: 'token', token: 'ghp_abc' }, { owner: 'o', repo: 'r', baseUrl: `${f.base}/gh` });
      await expect(hub().publish(ws, gh, { text: 'x', media: [img2] }, 'gh-media-1')).rejects.toMatchObject({ code: 'validation_failed' });
    });

    it('refuses media whose bytes do not match their size or checksum, before anything is sent', async () => {
      const id = await connect('discord', { webhookUrl: `${f.base}/discord/api/webhooks/123/tok` }, {});
      const calls = f.calls.length;
      await expect(hub().publish(ws, id, { text: 'x', media: [{ ...img1, sha256: sha(Buffer.from('other')) }] }, 'bad-media-1')).rejects.toMatchObject({ code: 'validation_failed' });
      await expect(hub().publish(ws, id, { text: 'x', media: [{ ...img1, size: img1.size + 1 }] }, 'bad-media-2')).rejects.toMatchObject({ code: 'validation_failed' });
      expect(f.calls.length).toBe(calls);
    });
  });

  it('n8n: calls the webhook with header auth and returns its answer', async () => {
    const id = await connect('n8n', { type: 'header', name: 'x-n8n-key', value: 'n8n-secret' }, { webhookUrl: `${f.base}/n8n/webhook/flow-1` });
    const res = await act(id, 'trigger', { payload: { order: 7 } });
    expect(res.json().output).toEqual({ status: 200, body: { received: { order: 7 }, ok: true } });
    await expect(hub().publish(ws, id, { text: 'x' }, 'k')).rejects.toMatchObject({ code: 'bad_request' });
  });

  it('email: sends through a local SMTP server with auth', async () => {
    const id = await connect('email', { username: 'mailer', password: 'smtp-pass' }, { host: '127.0.0.1', port: f.smtpPort, secure: false, requireTls: false, from: 'v01t <noreply@example.test>', defaultTo: ['list@example.test'] });
    const res = await act(id, 'send', { to: ['a@example.test'], subject: 'Hello', text: 'Body text' });
    expect(res.statusCode, res.body).toBe(200);
    expect(res.json().output.accepted).toEqual(['a@example.test']);
    const mail = f.mails.at(-1)!;
    expect(mail).toMatchObject({ from: 'noreply@example.test', to: ['a@example.test'], user: 'mailer' });
    expect(mail.data).toContain('Subject: Hello');
    const pub = await hub().publish(ws, id, { text: 'Newsletter', title: 'Issue 1' }, 'mail-1');
    expect(pub.externalId).toMatch(/@/);
    const bad = await connect('email', { username: 'mailer', password: 'wrong' }, { host: '127.0.0.1', port: f.smtpPort, requireTls: false, from: 'x@example.test' });
    expect(problem(await act(bad, 'send', { to: ['a@example.test'], subject: 's', text: 't' })).code).toBe('provider_auth_failed');
    const blocked = await connect('email', {}, { host: '10.0.0.1', port: 25, from: 'x@example.test' });
    expect(problem(await act(blocked, 'send', { to: ['a@example.test'], subject: 's', text: 't' })).code).toBe('egress_blocked');
  });

  it('refuses a connection whose URL points at a private address (egress_blocked), and logs requests without secrets', async () => {
    const id = await connect('http', { type: 'bearer', token: 'secret-token-xyz' }, { baseUrl: 'http://169.254.169.254/latest' });
    const res = await act(id, 'request', { path: '/meta-data' });
    expect(problem(res).code).toBe('egress_blocked');
    // The refusal says how an operator admits a target they do mean to reach.
    expect(problem(res).detail).toMatch(/169\.254\.169\.254.*V01T_EGRESS_ALLOW/);
    const ok = await connect('http', { type: 'bearer', token: 'secret-token-xyz' }, { baseUrl: `${f.base}/rest` });
    await act(ok, 'request', { path: '/open', query: { apikey: 'in-query' } });
    // The log write is not awaited by the request; poll briefly.
    let log: { requests: { method: string; path: string; status: number; host: string }[] } = { requests: [] };
    for (let i = 0; i < 50 && log.requests.length === 0; i++) {
      log = (await t.inject({ method: 'GET', url: `/v1/workspaces/${ws}/connections/${ok}/requests`, headers: bearer(owner.token) })).json();
      if (log.requests.length === 0) await new Promise((r) => setTimeout(r, 20));
    }
    expect(log.requests[0]).toMatchObject({ method: 'GET', path: '/rest/open', status: 200 });
    const raw = JSON.stringify(log);
    expect(raw).not.toContain('secret-token-xyz');
    expect(raw).not.toContain('in-query');
    const metrics = (await t.inject({ method: 'GET', url: '/metrics' })).body;
    expect(metrics).toMatch(/integration_requests_total\{[^}]*connector="http"[^}]*status="200"/);
    expect(metrics).toMatch(/integration_request_duration_seconds_count\{[^}]*connector="http"/);
  });

  it('health checks every connection and reports the broken ones', async () => {
    const res = await t.inject({ method: 'GET', url: `/v1/workspaces/${ws}/connections/health`, headers: bearer(owner.token) });
    expect(res.statusCode).toBe(200);
    const body = res.json() as { healthy: boolean; connections: { connector: string; status: string; detail: string | null }[] };
    expect(body.healthy).toBe(false);
    expect(body.connections.some((c) => c.connector === 'discord' && c.status === 'up')).toBe(true);
    expect(body.connections.some((c) => c.connector === 'bluesky' && c.status === 'down')).toBe(true);
  });

  it('scripts/health-check-external-apis.sh prints a table and exits 1 when one is down', async () => {
    const address = await t.platform.app.listen({ host: '127.0.0.1', port: 0 });
    const script = path.resolve(import.meta.dirname, '../../scripts/health-check-external-apis.sh');
    const run = (args: string[]) =>
      new Promise<{ code: number; out: string; err: string }>((resolve) =>
        execFile('bash', [script, ...args], { timeout: 30_000 }, (e, out, err) => resolve({ code: e ? Number((e as { code?: number }).code ?? 1) : 0, out, err })),
      );
    const r = await run([address, owner.token, ws]);
    expect(r.code, r.err).toBe(1);
    expect(r.out).toMatch(/^NAME\s+CONNECTOR\s+STATUS\s+DETAIL/);
    expect(r.out).toMatch(/discord\s+UP/);
    expect(r.out).toMatch(/bluesky\s+DOWN\s+provider_auth_failed/);
    expect(r.out).not.toContain(owner.token);
    expect((await run([address, 'v01t_s_bad', ws])).code).toBe(2);
    expect((await run([address])).code).toBe(64);
  });

  it('exports and erases a member\'s data, and purges the request log after 90 days', async () => {
    const instance = t.platform.instances.get('integration-hub')!;
    const exported = (await instance.personalData!.exportUser(owner.id)) as { requestLog: { actorId: string }[]; connectionsCreated: unknown[] };
    expect(exported.requestLog.length).toBeGreaterThan(0);
    expect(exported.requestLog.every((r) => r.actorId === owner.id)).toBe(true);
    expect(exported.connectionsCreated.length).toBeGreaterThan(0);
    const rule = instance.retention!.find((r) => r.name === 'integration-hub.request_log')!;
    expect(rule.keep).toBe('90 days');
    expect(await rule.purge(t.clock.now())).toBe(0);
    const erased = await instance.personalData!.eraseUser(owner.id);
    expect(erased.requestLog).toBe(exported.requestLog.length);
    expect(await instance.personalData!.exportUser(owner.id)).toEqual({ requestLog: [], connectionsCreated: [] });
    expect(await rule.purge(new Date(t.clock.now().getTime() + 91 * 86_400_000))).toBeGreaterThan(0);
  });
});
