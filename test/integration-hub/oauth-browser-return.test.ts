import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { TestPlatform } from '../helpers/platform.js';
import { bearer, problem, type TestUser } from '../helpers/api.js';
import type { Fakes } from './fakes.js';
import { startHubFixture } from './hub-fixture.js';

/** The OAuth flow the web app starts: the callback sends the browser back to the app (303), never a JSON page. */
let t: TestPlatform;
let f: Fakes;
let owner: TestUser;
let ws: string;
let fixture: Awaited<ReturnType<typeof startHubFixture>>;

beforeAll(async () => {
  fixture = await startHubFixture('OAuth return', { V01T_PUBLIC_URL: 'https://v01t.example.test' });
  ({ f, t, owner, ws } = fixture);
}, 60_000);

afterAll(async () => {
  await fixture?.close();
});

async function githubConnection(): Promise<string> {
  const res = await t.inject({
    method: 'POST',
    url: `/v1/workspaces/${ws}/connections`,
    headers: bearer(owner.token),
    payload: { connector: 'github', name: 'gh', credentials: { type: 'oauth2', clientId: 'cid-r', clientSecret: 'sec-r' }, config: { owner: 'o', repo: 'r', baseUrl: `${f.base}/gh`, oauthBaseUrl: `${f.base}/gh-oauth` } },
  });
  expect(res.statusCode, res.body).toBe(201);
  return res.json().connection.id as string;
}

async function startFlow(id: string, payload: Record<string, unknown>) {
  const res = await t.inject({ method: 'POST', url: `/v1/workspaces/${ws}/connections/${id}/oauth/start`, headers: bearer(owner.token), payload });
  return res;
}
const stateOf = (authorizeUrl: string) => new URL(authorizeUrl).searchParams.get('state')!;

describe('OAuth connect from the web app (returnTo)', () => {
  it('redirects to the app page with ?oauth=connected after a good code, and the connection is active', async () => {
    const id = await githubConnection();
    const page = `/w/${ws}/connections/${id}`;
    const start = await startFlow(id, { returnTo: page });
    expect(start.statusCode, start.body).toBe(200);
    const cb = await t.inject({ method: 'GET', url: `/oauth/integrations/callback?state=${encodeURIComponent(stateOf(start.json().authorizeUrl))}&code=good-code` });
    expect(cb.statusCode, cb.body).toBe(303);
    expect(cb.headers.location).toBe(`${page}?oauth=connected`);
    const conn = await t.inject({ method: 'GET', url: `/v1/workspaces/${ws}/connections/${id}`, headers: bearer(owner.token) });
    expect(conn.json().connection.status).toBe('active');
  });

  it('redirects with ?oauth=failed and the error code when the provider refuses, leaving the connection unauthorised', async () => {
    const id = await githubConnection();
    const page = `/w/${ws}/connections/${id}?tab=settings`;
    const start = await startFlow(id, { returnTo: page });
    const denied = await t.inject({ method: 'GET', url: `/oauth/integrations/callback?state=${encodeURIComponent(stateOf(start.json().authorizeUrl))}&error=access_denied` });
    expect(denied.statusCode).toBe(303);
    expect(denied.headers.location).toBe(`${page}&oauth=failed&code=bad_request`);
    const again = await startFlow(id, { returnTo: page });
    const badCode = await t.inject({ method: 'GET', url: `/oauth/integrations/callback?state=${encodeURIComponent(stateOf(again.json().authorizeUrl))}&code=wrong-code` });
    expect(badCode.statusCode).toBe(303);
    expect(String(badCode.headers.location)).toMatch(new RegExp(`^${page.replace(/[?]/g, '\\?')}&oauth=failed&code=[a-z_]+$`));
    const conn = await t.inject({ method: 'GET', url: `/v1/workspaces/${ws}/connections/${id}`, headers: bearer(owner.token) });
    expect(conn.json().connection.status).toBe('needs_reauth');
  });

  it('keeps answering JSON for API clients (no returnTo) and problem+json for an unknown state', async () => {
    const id = await githubConnection();
    const start = await startFlow(id, {});
    const cb = await t.inject({ method: 'GET', url: `/oauth/integrations/callback?state=${encodeURIComponent(stateOf(start.json().authorizeUrl))}&code=good-code` });
    expect(cb.statusCode).toBe(200);
    expect(cb.json()).toEqual({ connectionId: id, status: 'active' });
    expect(problem(await t.inject({ method: 'GET', url: '/oauth/integrations/callback?state=nope&code=good-code' })).code).toBe('oauth_state_invalid');
  });

  it('refuses a returnTo that leaves the app (another origin or a protocol-relative URL)', async () => {
    const id = await githubConnection();
    for (const returnTo of ['https://evil.example/x', '//evil.example/x', '/\\evil.example', 'w/relative']) {
      const res = await startFlow(id, { returnTo });
      expect(res.statusCode, returnTo).toBe(400);
      expect(problem(res).errors?.[0]?.path).toContain('returnTo');
    }
  });
});
