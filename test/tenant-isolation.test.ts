import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestPlatform, type TestPlatform } from './helpers/platform.js';
import { addMember, bearer, createWorkspace, signup, type TestUser } from './helpers/api.js';
import { BODY_OVERRIDES, RESOURCE_FIXTURES } from './helpers/tenant-fixtures.js';
import { sampleFromSchema } from './helpers/openapi-sample.js';

/**
 * Walks every workspace route of the OpenAPI document and proves that the owner of workspace A
 * can neither read nor change anything of workspace B: not through B's id, and not by passing
 * B's resource ids under A's id. New routes are covered as soon as they are registered.
 */
type Op = { method: string; path: string; params: string[]; bodySchema?: unknown };

let t: TestPlatform;
let ownerA: TestUser;
let ownerB: TestUser;
let memberB: TestUser;
let memberA: TestUser;
let wsA: string;
let wsB: string;
let ops: Op[];
const resourcesB: Record<string, string> = {};

const fill = (path: string, workspaceId: string, ids: Record<string, string>) =>
  path.replace(/\{(\w+)\}/g, (_, name: string) => (name === 'workspaceId' ? workspaceId : ids[name] ?? '00000000-0000-4000-8000-000000000000'));

/** A response body without what legitimately differs between two identical reads (request ids). */
const stable = (body: string) => body.replace(/"requestId":"[^"]*"/g, '"requestId":"-"');

async function snapshotOfB(): Promise<string[]> {
  const out: string[] = [];
  for (const op of ops.filter((o) => o.method === 'GET' && o.params.length === 0)) {
    const res = await t.inject({ method: 'GET', url: fill(op.path, wsB, resourcesB), headers: bearer(ownerB.token) });
    out.push(`${op.path} ${res.statusCode} ${stable(res.body)}`);
  }
  for (const op of ops.filter((o) => o.method === 'GET' && o.params.length > 0)) {
    const res = await t.inject({ method: 'GET', url: fill(op.path, wsB, resourcesB), headers: bearer(ownerB.token) });
    out.push(`${op.path} ${res.statusCode} ${stable(res.body)}`);
  }
  return out;
}

beforeAll(async () => {
  t = await createTestPlatform();
  [ownerA, ownerB, memberB, memberA] = await Promise.all([signup(t, 'Owner A'), signup(t, 'Owner B'), signup(t, 'Member B'), signup(t, 'Member A')]);
  wsA = await createWorkspace(t, ownerA, 'A');
  wsB = await createWorkspace(t, ownerB, 'B');
  await addMember(t, wsB, ownerB, memberB, 'developer');
  await addMember(t, wsA, ownerA, memberA, 'developer');
  const doc = (await t.inject({ method: 'GET', url: '/openapi.json' })).json() as {
    paths: Record<string, Record<string, { requestBody?: { content?: Record<string, { schema?: unknown }> } }>>;
  };
  ops = Object.entries(doc.paths)
    .filter(([p]) => p.startsWith('/v1/workspaces/{workspaceId}'))
    .flatMap(([path, methods]) =>
      Object.entries(methods).map(([method, op]) => ({
        method: method.toUpperCase(),
        path,
        params: [...path.matchAll(/\{(\w+)\}/g)].map((m) => m[1]!).filter((n) => n !== 'workspaceId'),
        bodySchema: op.requestBody?.content?.['application/json']?.schema,
      })),
    );
  const needed = [...new Set(ops.flatMap((o) => o.params))];
  for (const name of needed) {
    const make = RESOURCE_FIXTURES[name];
    if (make) resourcesB[name] = await make({ t, owner: ownerB, member: memberB, workspaceId: wsB });
  }
}, 120_000);

afterAll(async () => {
  await t?.close();
});

describe('tenant isolation across every workspace route', () => {
  it('finds the workspace routes in the OpenAPI document', () => {
    expect(ops.length).toBeGreaterThanOrEqual(13);
  });

  it('has a resource fixture for every path parameter', () => {
    const missing = [...new Set(ops.flatMap((o) => o.params))].filter((n) => !RESOURCE_FIXTURES[n]);
    expect(missing, `add fixtures to test/helpers/tenant-fixtures.ts for: ${missing.join(', ')}`).toEqual([]);
  });

  it("answers 404 to a member of A on every route of B, and changes nothing of B", async () => {
    const before = await snapshotOfB();
    const leaks: string[] = [];
    for (const op of ops) {
      const url = fill(op.path, wsB, resourcesB);
      const payload = BODY_OVERRIDES[`${op.method} ${op.path}`] ?? (op.bodySchema ? sampleFromSchema(op.bodySchema as never) : undefined);
      const res = await t.inject({ method: op.method as 'GET', url, headers: bearer(ownerA.token), ...(payload !== undefined ? { payload: payload as object } : {}) });
      if (res.statusCode !== 404 || res.json().code !== 'workspace_not_found') leaks.push(`${op.method} ${op.path} → ${res.statusCode} ${res.body.slice(0, 120)}`);
    }
    expect(leaks).toEqual([]);
    expect(await snapshotOfB()).toEqual(before);
  });

  it("answers 404 when B's resource ids are used under A's workspace id", async () => {
    const before = await snapshotOfB();
    const leaks: string[] = [];
    for (const op of ops.filter((o) => o.params.length > 0)) {
      const url = fill(op.path, wsA, resourcesB);
      const payload = BODY_OVERRIDES[`${op.method} ${op.path}`] ?? (op.bodySchema ? sampleFromSchema(op.bodySchema as never) : undefined);
      const res = await t.inject({ method: op.method as 'GET', url, headers: bearer(ownerA.token), ...(payload !== undefined ? { payload: payload as object } : {}) });
      if (res.statusCode !== 404) leaks.push(`${op.method} ${op.path} → ${res.statusCode} ${res.body.slice(0, 120)}`);
    }
    expect(leaks).toEqual([]);
    expect(await snapshotOfB()).toEqual(before);
  });

  it('refuses every workspace route without a token and with a revoked token', async () => {
    const logout = await signup(t, 'Gone');
    await t.inject({ method: 'POST', url: '/v1/auth/logout', headers: bearer(logout.token) });
    for (const op of ops) {
      const url = fill(op.path, wsB, resourcesB);
      const anon = await t.inject({ method: op.method as 'GET', url });
      expect(anon.statusCode, `${op.method} ${op.path}`).toBe(401);
      const revoked = await t.inject({ method: op.method as 'GET', url, headers: bearer(logout.token) });
      expect(revoked.statusCode, `${op.method} ${op.path}`).toBe(401);
    }
  });
});
