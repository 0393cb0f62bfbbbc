import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bearer, problem } from '../helpers/api.js';
import { startHubFixture } from './hub-fixture.js';

/**
 * A connection is bound to its base URL: an action path (or a path segment built from input)
 * that climbs out of it with "..", in any spelling, is refused before anything is sent.
 */
let fixture: Awaited<ReturnType<typeof startHubFixture>>;

beforeAll(async () => {
  fixture = await startHubFixture('Paths');
}, 60_000);

afterAll(async () => {
  await fixture?.close();
});

async function connect(connector: string, credentials: unknown, config: unknown): Promise<string> {
  const { t, ws, owner } = fixture;
  const res = await t.inject({ method: 'POST', url: `/v1/workspaces/${ws}/connections`, headers: bearer(owner.token), payload: { connector, name: connector, credentials, config } });
  if (res.statusCode !== 201) throw new Error(`create ${connector}: ${res.statusCode} ${res.body}`);
  return res.json().connection.id;
}

const act = (id: string, action: string, input: unknown) =>
  fixture.t.inject({ method: 'POST', url: `/v1/workspaces/${fixture.ws}/connections/${id}/actions/${action}`, headers: bearer(fixture.owner.token), payload: { input } });

describe('connection action paths stay under the base URL', () => {
  it('http: refuses "..", percent-encoded, double-encoded and backslash forms; sends nothing', async () => {
    const id = await connect('http', { type: 'none' }, { baseUrl: `${fixture.f.base}/rest` });
    const before = fixture.f.calls.length;
    for (const path of ['../admin', '/a/../../admin', '%2e%2e/admin', '%2E%2E%2Fadmin', '.%2e/admin', '..%2fadmin', '%252e%252e%252fadmin', '\\..\\admin', '/./x', 'ok/..']) {
      const res = await act(id, 'request', { path });
      expect(res.statusCode, `${path}: ${res.body}`).toBe(400);
      const body = problem(res);
      expect(body.code).toBe('validation_failed');
      expect(body.errors?.[0]?.path).toBe('input.path');
    }
    expect(fixture.f.calls.slice(before)).toEqual([]);
  });

  it('http: a path that merely contains dots still goes out under the base path', async () => {
    const id = await connect('http', { type: 'none' }, { baseUrl: `${fixture.f.base}/rest` });
    const res = await act(id, 'request', { path: '/v1.2/file..name' });
    expect(res.statusCode, res.body).toBe(200);
    expect(res.json().output.body.path).toBe('/rest/v1.2/file..name');
  });

  it('http: the health path is held to the same rule', async () => {
    const id = await connect('http', { type: 'none' }, { baseUrl: `${fixture.f.base}/rest`, healthPath: '/%2e%2e/gh' });
    const res = await fixture.t.inject({ method: 'POST', url: `/v1/workspaces/${fixture.ws}/connections/${id}/test`, headers: bearer(fixture.owner.token) });
    expect(res.body).toMatch(/config\.healthPath/);
  });

  it('github: a ".." owner, repo or workflow is refused instead of resolving to another endpoint', async () => {
    const bad = await connect('github', { type: 'token', token: 'ghp_abc' }, { owner: '..', repo: 'r', baseUrl: `${fixture.f.base}/gh` });
    const res = await act(bad, 'createIssue', { title: 't' });
    expect(res.statusCode, res.body).toBe(400);
    expect(problem(res).errors?.[0]?.path).toBe('config.owner');
    const good = await connect('github', { type: 'token', token: 'ghp_abc' }, { owner: 'o', repo: 'r', baseUrl: `${fixture.f.base}/gh` });
    const wf = await act(good, 'dispatchWorkflow', { workflow: '%2e%2e', ref: 'main' });
    expect(wf.statusCode, wf.body).toBe(400);
    expect(problem(wf).errors?.[0]?.path).toBe('workflow');
  });
});
