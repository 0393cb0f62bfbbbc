import { createHash } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { TestPlatform } from '../helpers/platform.js';
import { bearer, problem, type TestUser } from '../helpers/api.js';
import type { Fakes } from './fakes.js';
import { startHubFixture } from './hub-fixture.js';
import { githubSignature, slackSignature, standardSignature } from '../../src/services/integration-hub/signatures.js';

let t: TestPlatform;
let f: Fakes;
let owner: TestUser;
let ws: string;
let fixture: Awaited<ReturnType<typeof startHubFixture>>;

beforeAll(async () => {
  fixture = await startHubFixture('OAuth', { V01T_PUBLIC_URL: 'https://v01t.example.test' });
  ({ f, t, owner, ws } = fixture);
}, 60_000);

afterAll(async () => {
  await fixture?.close();
});

async function create(connector: string, credentials: unknown, config: unknown) {
  const res = await t.inject({ method: 'POST', url: `/v1/workspaces/${ws}/connections`, headers: bearer(owner.token), payload: { connector, name: `${connector} conn`, credentials, config } });
  expect(res.statusCode, res.body).toBe(201);
  return res.json() as { connection: { id: string; status: string }; inboundUrl: string | null };
}
const act = (id: string, action: string, input: unknown) =>
  t.inject({ method: 'POST', url: `/v1/workspaces/${ws}/connections/${id}/actions/${action}`, headers: bearer(owner.token), payload: { input } });
const outbox = (name: string) => t.platform.database.query<{ payload: Record<string, unknown>; workspace_id: string }>('SELECT payload, workspace_id FROM kernel.outbox WHERE name = $1 ORDER BY seq', [name]);

describe('OAuth 2.0 authorisation code + PKCE + state', () => {
  let id: string;
  const ghConfig = () => ({ owner: 'o', repo: 'r', baseUrl: `${f.base}/gh`, oauthBaseUrl: `${f.base}/gh-oauth` });

  it('starts with PKCE S256 and a state, exchanges the code once, stores the tokens sealed', async () => {
    const c = await create('github', { type: 'oauth2', clientId: 'cid-1', clientSecret: 'csecret-1' }, ghConfig());
    id = c.connection.id;
    expect(c.connection.status).toBe('needs_reauth');
    expect(problem(await act(id, 'createIssue', { title: 'x' })).code).toBe('connection_needs_reauth');

    const start = await t.inject({ method: 'POST', url: `/v1/workspaces/${ws}/connections/${id}/oauth/start`, headers: bearer(owner.token), payload: {} });
    expect(start.statusCode, start.body).toBe(200);
    const url = new URL(start.json().authorizeUrl);
    expect(url.origin + url.pathname).toBe(`${f.base}/gh-oauth/login/oauth/authorize`);
    const q = Object.fromEntries(url.searchParams);
    expect(q).toMatchObject({ response_type: 'code', client_id: 'cid-1', redirect_uri: 'https://v01t.example.test/oauth/integrations/callback', scope: 'repo', code_challenge_method: 'S256' });
    expect(q.state!.length).toBeGreaterThanOrEqual(43);
    expect(q.code_challenge).toMatch(/^[A-Za-z0-9_-]{43}$/);

    const bad = await t.inject({ method: 'GET', url: `/oauth/integrations/callback?state=forged-state&code=good-code` });
    expect(problem(bad).code).toBe('oauth_state_invalid');

    const cb = await t.inject({ method: 'GET', url: `/oauth/integrations/callback?state=${encodeURIComponent(q.state!)}&code=good-code` });
    expect(cb.statusCode, cb.body).toBe(200);
    expect(cb.json()).toEqual({ connectionId: id, status: 'active' });
    const form = new URLSearchParams([...f.calls].reverse().find((x) => x.path.startsWith('/gh-oauth/login/oauth/access_token'))!.body);
    expect(form.get('grant_type')).toBe('authorization_code');
    expect(createHash('sha256').update(form.get('code_verifier')!).digest('base64url')).toBe(q.code_challenge);
    expect(form.get('redirect_uri')).toBe('https://v01t.example.test/oauth/integrations/callback');

    // The state is single use.
    expect(problem(await t.inject({ method: 'GET', url: `/oauth/integrations/callback?state=${encodeURIComponent(q.state!)}&code=good-code` })).code).toBe('oauth_state_invalid');

    const issue = await act(id, 'createIssue', { title: 'after oauth' });
    expect(issue.statusCode, issue.body).toBe(200);
    expect([...f.calls].reverse().find((x) => x.path === '/gh/repos/o/r/issues')!.headers.authorization).toBe('Bearer gho_new_1');
    const raw = (await t.platform.database.query<{ credentials: string }>('SELECT credentials FROM integration_hub.connections WHERE id = $1', [id]))[0]!.credentials;
    expect(raw).not.toContain('gho_new_1');
    expect((await outbox('integration.app.configured.v1')).some((e) => e.payload.connectionId === id)).toBe(true);
  });

  it('refreshes ahead of expiry exactly once under concurrent use', async () => {
    const before = f.tokenCalls;
    t.clock.advance((28_800 - 120) * 1000); // two minutes before expiry: inside the refresh window
    const results = await Promise.all(Array.from({ length: 8 }, (_, i) => act(id, 'comment', { issueNumber: 1, body: `c${i}` })));
    expect(results.map((r) => r.statusCode)).toEqual(Array(8).fill(200));
    expect(f.tokenCalls - before).toBe(1);
    const refresh = new URLSearchParams([...f.calls].reverse().find((x) => x.path.startsWith('/gh-oauth/'))!.body);
    expect(refresh.get('grant_type')).toBe('refresh_token');
    expect(refresh.get('refresh_token')).toBe('ghr_1');
    const auths = new Set(f.calls.filter((x) => x.path.endsWith('/comments')).slice(-8).map((x) => x.headers.authorization));
    expect([...auths]).toEqual([`Bearer gho_new_${f.tokenCalls}`]);
  });

  it('a failed refresh marks the connection needs_reauth and publishes integration.connection.broken.v1', async () => {
    f.tokenAnswers.push({ status: 400, body: { error: 'bad_refresh_token', error_description: 'The refresh token passed is incorrect or expired.' } });
    t.clock.advance(28_800 * 1000);
    const res = await act(id, 'comment', { issueNumber: 1, body: 'x' });
    expect(problem(res).code).toBe('connection_needs_reauth');
    const got = (await t.inject({ method: 'GET', url: `/v1/workspaces/${ws}/connections/${id}`, headers: bearer(owner.token) })).json().connection;
    expect(got.status).toBe('needs_reauth');
    expect(got.statusDetail).toContain('bad_refresh_token');
    const broken = await outbox('integration.connection.broken.v1');
    expect(broken.some((e) => e.payload.connectionId === id && e.workspace_id === ws)).toBe(true);
    // Later calls fail fast without hammering the token endpoint.
    const calls = f.tokenCalls;
    expect(problem(await act(id, 'comment', { issueNumber: 1, body: 'y' })).code).toBe('connection_needs_reauth');
    expect(f.tokenCalls).toBe(calls);
  });

  it('slack uses its own authorize host, comma scopes and the oauth.v2.access endpoint', async () => {
    const c = await create('slack', { type: 'oauth2', clientId: 'slack-cid', clientSecret: 'slack-sec' }, { channel: 'C1', baseUrl: `${f.base}/slack/api`, authorizeBaseUrl: `${f.base}/slack-auth` });
    const start = await t.inject({ method: 'POST', url: `/v1/workspaces/${ws}/connections/${c.connection.id}/oauth/start`, headers: bearer(owner.token), payload: {} });
    const url = new URL(start.json().authorizeUrl);
    expect(url.pathname).toBe('/slack-auth/oauth/v2/authorize');
    expect(url.searchParams.get('scope')).toBe('chat:write,channels:read,files:write,channels:history,groups:history');
    const cb = await t.inject({ method: 'GET', url: `/oauth/integrations/callback?state=${url.searchParams.get('state')}&code=slack-code` });
    expect(cb.statusCode, cb.body).toBe(200);
    const post = await act(c.connection.id, 'postMessage', { text: 'hi' });
    expect(post.statusCode, post.body).toBe(200);
  });
});

describe('inbound webhooks', () => {
  const post = (path: string, body: string, headers: Record<string, string>) => t.inject({ method: 'POST', url: path, payload: body, headers: { 'content-type': 'application/json', ...headers } });
  const pathOf = (inboundUrl: string | null) => new URL(inboundUrl!).pathname;

  it('GitHub: X-Hub-Signature-256 verified, delivery id deduped, event published', async () => {
    const c = await create('github', { type: 'token', token: 'ghp_x', webhookSecret: 'gh-hook-secret' }, { owner: 'o', repo: 'r' });
    const path = pathOf(c.inboundUrl);
    const body = JSON.stringify({ action: 'opened', issue: { number: 5 } });
    const headers = { 'x-hub-signature-256': githubSignature('gh-hook-secret', body), 'x-github-delivery': 'deliv-1', 'x-github-event': 'issues' };
    const ok = await post(path, body, headers);
    expect(ok.statusCode, ok.body).toBe(200);
    expect(ok.json()).toEqual({ status: 'accepted' });
    expect((await post(path, body, headers)).json()).toEqual({ status: 'duplicate' });
    const events = (await outbox('integration.webhook.received.v1')).filter((e) => e.payload.connectionId === c.connection.id);
    expect(events).toHaveLength(1);
    expect(events[0]!.payload).toMatchObject({ connector: 'github', deliveryId: 'deliv-1', eventType: 'issues', payload: { action: 'opened', issue: { number: 5 } } });
    expect(problem(await post(path, body, { ...headers, 'x-github-delivery': 'deliv-2', 'x-hub-signature-256': githubSignature('wrong', body) })).code).toBe('webhook_signature_invalid');
    expect(problem(await post(path, `${body} `, { ...headers, 'x-github-delivery': 'deliv-3' })).code).toBe('webhook_signature_invalid');
    expect((await post('/hooks/connections/unknown-token-unknown-token-xx', body, headers)).statusCode).toBe(404);
  });

  it('Slack: signing secret with timestamp tolerance, url_verification challenge', async () => {
    const c = await create('slack', { type: 'bot_token', token: 'xoxb-1', signingSecret: 'slack-signing' }, {});
    const path = pathOf(c.inboundUrl);
    const now = Math.floor(t.clock.now().getTime() / 1000);
    const body = JSON.stringify({ type: 'event_callback', event_id: 'Ev01', event: { type: 'app_mention', text: 'hi' } });
    const ok = await post(path, body, { 'x-slack-request-timestamp': String(now), 'x-slack-signature': slackSignature('slack-signing', now, body) });
    expect(ok.json()).toEqual({ status: 'accepted' });
    const stale = now - 600;
    const old = await post(path, body.replace('Ev01', 'Ev02'), { 'x-slack-request-timestamp': String(stale), 'x-slack-signature': slackSignature('slack-signing', stale, body.replace('Ev01', 'Ev02')) });
    expect(problem(old).code).toBe('webhook_signature_invalid');
    const challengeBody = JSON.stringify({ type: 'url_verification', challenge: 'abc123' });
    const ch = await post(path, challengeBody, { 'x-slack-request-timestamp': String(now), 'x-slack-signature': slackSignature('slack-signing', now, challengeBody) });
    expect(ch.json()).toEqual({ status: 'accepted', challenge: 'abc123' });
    const events = (await outbox('integration.webhook.received.v1')).filter((e) => e.payload.connectionId === c.connection.id);
    expect(events.map((e) => e.payload.eventType)).toEqual(['app_mention']);
  });

  it('Standard Webhooks: webhook-id, webhook-timestamp, webhook-signature', async () => {
    const c = await create('webhook', { secret: f.webhookSecret }, { url: `${f.base}/receiver` });
    const path = pathOf(c.inboundUrl);
    const ts = Math.floor(t.clock.now().getTime() / 1000);
    const body = JSON.stringify({ type: 'invoice.paid', data: { id: 1 } });
    const h = { 'webhook-id': 'msg_1', 'webhook-timestamp': String(ts), 'webhook-signature': `v1,bogus ${standardSignature(f.webhookSecret, 'msg_1', ts, body)}` };
    expect((await post(path, body, h)).json()).toEqual({ status: 'accepted' });
    expect((await post(path, body, h)).json()).toEqual({ status: 'duplicate' });
    const late = { ...h, 'webhook-id': 'msg_2', 'webhook-timestamp': String(ts + 3600), 'webhook-signature': standardSignature(f.webhookSecret, 'msg_2', ts + 3600, body) };
    expect(problem(await post(path, body, late)).code).toBe('webhook_signature_invalid');
    const events = (await outbox('integration.webhook.received.v1')).filter((e) => e.payload.connectionId === c.connection.id);
    expect(events.map((e) => e.payload.eventType)).toEqual(['invoice.paid']);
  });
});
