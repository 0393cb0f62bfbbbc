import net from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestPlatform, type TestPlatform } from './helpers/platform.js';
import { bearer, createWorkspace, problem, signup, type TestUser } from './helpers/api.js';
import { BODY_OVERRIDES } from './helpers/tenant-fixtures.js';
import { sampleFromSchema } from './helpers/openapi-sample.js';
import { findUnstorableText, MAX_JSON_DEPTH } from '../src/kernel/http/input-guard.js';

/**
 * Text PostgreSQL cannot store (NUL, lone surrogates) is refused at the edge for every route of
 * every service with a 400 invalid_text naming the field, before any handler or statement runs;
 * and what Node or Fastify refuse before routing (long segments, huge headers) is problem+json too.
 */
type Schema = { type?: string; properties?: Record<string, Schema> };
type Op = { method: string; path: string; params: string[]; query: string[]; bodySchema?: Schema };

let t: TestPlatform;
let owner: TestUser;
let ws: string;
let ops: Op[];

// Routes the owner of a workspace may call (ops and admin routes answer 403 before any input is read).
const reachable = (op: Op) => !op.path.startsWith('/v1/ops') && !op.path.startsWith('/v1/admin');
const fill = (path: string, override?: [string, string]) =>
  path.replace(/\{(\w+)\}/g, (_, name: string) =>
    override?.[0] === name ? override[1] : name === 'workspaceId' ? ws : name === 'token' ? 'x'.repeat(40) : '00000000-0000-4000-8000-000000000000',
  );

beforeAll(async () => {
  t = await createTestPlatform();
  owner = await signup(t, 'Edge Owner');
  ws = await createWorkspace(t, owner, 'Edge');
  const doc = (await t.inject({ method: 'GET', url: '/openapi.json' })).json() as {
    paths: Record<string, Record<string, { parameters?: { name: string; in: string }[]; requestBody?: { content?: Record<string, { schema?: Schema }> } }>>;
  };
  ops = Object.entries(doc.paths).flatMap(([path, methods]) =>
    Object.entries(methods).map(([method, op]) => ({
      method: method.toUpperCase(),
      path,
      params: [...path.matchAll(/\{(\w+)\}/g)].map((m) => m[1]!),
      query: (op.parameters ?? []).filter((p) => p.in === 'query').map((p) => p.name),
      bodySchema: op.requestBody?.content?.['application/json']?.schema,
    })),
  );
}, 60_000);

afterAll(async () => {
  await t?.close();
});

function expectInvalidText(res: Awaited<ReturnType<TestPlatform['inject']>>, path: string, label: string) {
  expect(res.statusCode, `${label}: ${res.body.slice(0, 200)}`).toBe(400);
  const body = problem(res);
  expect(body.code, label).toBe('invalid_text');
  expect(body.errors?.[0]?.path, label).toBe(path);
}

describe('unstorable text at the edge', () => {
  for (const [name, bad] of [
    ['a NUL character', 'before\u0000after'],
    ['a lone surrogate', 'before\ud800after'],
  ] as const) {
    it(`refuses ${name} in a string field of every JSON body`, async () => {
      const bodies = ops.filter((o) => o.bodySchema && reachable(o));
      expect(bodies.length).toBeGreaterThan(50);
      for (const op of bodies) {
        const sample = (BODY_OVERRIDES[`${op.method} ${op.path}`] ?? sampleFromSchema(op.bodySchema as never)) as Record<string, unknown>;
        const field = Object.entries(op.bodySchema!.properties ?? {}).find(([, s]) => s.type === 'string')?.[0] ?? 'note';
        const payload = { ...(typeof sample === 'object' && sample ? sample : {}), [field]: bad };
        const res = await t.inject({ method: op.method as 'POST', url: fill(op.path), headers: { ...bearer(owner.token), origin: 'http://localhost:80' }, payload });
        expectInvalidText(res, `body.${field}`, `${op.method} ${op.path}`);
      }
    });
  }

  it('refuses it in nested values and object keys (jsonb refuses both)', async () => {
    const res = await t.inject({ method: 'POST', url: `/v1/workspaces/${ws}/events`, headers: bearer(owner.token), payload: { batch: [{ event: 'e', userId: 'u', messageId: 'm', properties: { ['k\u0000']: 1 } }] } });
    expectInvalidText(res, 'body.batch.0.properties.k\uFFFD', 'nested key');
    const deep = await t.inject({ method: 'POST', url: `/v1/workspaces/${ws}/events`, headers: bearer(owner.token), payload: { batch: [{ event: 'e', userId: 'u', messageId: 'm', properties: { a: ['ok', '\udc00'] } }] } });
    expectInvalidText(deep, 'body.batch.0.properties.a.1', 'nested array');
  });

  it('refuses a NUL in every query parameter and every path parameter', async () => {
    let checked = 0;
    for (const op of ops.filter(reachable)) {
      for (const q of op.query) {
        const res = await t.inject({ method: op.method as 'GET', url: `${fill(op.path)}?${q}=a%00b`, headers: bearer(owner.token) });
        expectInvalidText(res, `query.${q}`, `${op.method} ${op.path}?${q}`);
        checked++;
      }
      for (const p of op.params.filter((n) => n !== 'workspaceId')) {
        const res = await t.inject({ method: op.method as 'GET', url: fill(op.path, [p, 'a%00b']), headers: bearer(owner.token), ...(op.bodySchema ? { payload: {} } : {}) });
        expectInvalidText(res, `params.${p}`, `${op.method} ${op.path} {${p}}`);
        checked++;
      }
    }
    expect(checked).toBeGreaterThan(80);
  });

  it('refuses it on unauthenticated routes before anything is stored', async () => {
    const res = await t.inject({ method: 'POST', url: '/v1/auth/signup', payload: { email: 'nul@example.test', password: 'long-enough-password-1', name: 'A\u0000B' } });
    expectInvalidText(res, 'body.name', 'signup');
    const login = await t.inject({ method: 'POST', url: '/v1/auth/login', payload: { email: owner.email, password: '\ud83d' } });
    expectInvalidText(login, 'body.password', 'login');
  });

  it('refuses it in a multipart upload file name', async () => {
    const payload = Buffer.concat([
      Buffer.from('--fx\r\nContent-Disposition: form-data; name="file"; filename*=UTF-8\'\'a%00b.png\r\nContent-Type: image/png\r\n\r\n'),
      Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
      Buffer.alloc(16),
      Buffer.from('\r\n--fx--\r\n'),
    ]);
    const res = await t.inject({ method: 'POST', url: `/v1/workspaces/${ws}/media`, headers: { ...bearer(owner.token), 'content-type': 'multipart/form-data; boundary=fx' }, payload });
    expectInvalidText(res, 'file.filename', 'media upload');
  });

  it('still accepts well-formed text: astral characters, other control characters', async () => {
    const res = await t.inject({ method: 'PATCH', url: `/v1/workspaces/${ws}`, headers: bearer(owner.token), payload: { name: 'Ünïcødé 🚀 tab\there' } });
    expect(res.statusCode, res.body).toBe(200);
  });

  it('refuses JSON nested deeper than the limit with nesting_too_deep, not a stack overflow', async () => {
    let deep: unknown = 'leaf';
    for (let i = 0; i < 100_000; i++) deep = [deep];
    expect(findUnstorableText(deep, 'body')?.reason).toBe('too_deep');
    const res = await t.inject({ method: 'POST', url: `/v1/workspaces/${ws}/events`, headers: { ...bearer(owner.token), 'content-type': 'application/json' }, payload: `{"batch":[{"event":"e","userId":"u","messageId":"m","properties":{"a":${'['.repeat(MAX_JSON_DEPTH + 5)}${']'.repeat(MAX_JSON_DEPTH + 5)}}}]}` });
    expect(res.statusCode, res.body).toBe(400);
    expect(problem(res).code).toBe('nesting_too_deep');
  });
});

describe('answers given before routing are problem+json', () => {
  it('414 uri_too_long for a path segment over the limit', async () => {
    const res = await t.inject({ method: 'GET', url: `/v1/workspaces/${ws}/posts/${'a'.repeat(600)}`, headers: bearer(owner.token) });
    expect(res.statusCode).toBe(414);
    expect(problem(res).code).toBe('uri_too_long');
  });

  it('400 bad_request for a malformed percent-encoding in a path parameter', async () => {
    const res = await t.inject({ method: 'GET', url: `/v1/workspaces/${ws}/posts/%E0%A4%A`, headers: bearer(owner.token) });
    expect(res.statusCode).toBe(400);
    expect(problem(res).code).toBe('bad_request');
  });

  async function raw(request: string): Promise<string> {
    const address = t.platform.app.server.address();
    const port = typeof address === 'object' && address ? address.port : 0;
    return new Promise((resolve, reject) => {
      const socket = net.connect(port, '127.0.0.1', () => socket.end(request));
      let out = '';
      socket.on('data', (d) => (out += d.toString('utf8')));
      socket.on('close', () => resolve(out));
      socket.on('error', reject);
    });
  }

  it('431 headers_too_large, and 400 for a NUL in a header, over a real socket', async () => {
    await t.platform.app.listen({ port: 0, host: '127.0.0.1' });
    const big = await raw(`GET /health HTTP/1.1\r\nHost: x\r\nX-Big: ${'a'.repeat(20_000)}\r\n\r\n`);
    expect(big).toMatch(/^HTTP\/1\.1 431 /);
    expect(big).toMatch(/content-type: application\/problem\+json/i);
    expect(JSON.parse(big.slice(big.indexOf('\r\n\r\n') + 4)).code).toBe('headers_too_large');
    const nul = await raw(`GET /health HTTP/1.1\r\nHost: x\r\nX-Name: a\u0000b\r\n\r\n`);
    expect(nul).toMatch(/^HTTP\/1\.1 400 /);
    expect(JSON.parse(nul.slice(nul.indexOf('\r\n\r\n') + 4)).code).toBe('bad_request');
    const longUrl = await raw(`GET /v1/${'a'.repeat(20_000)} HTTP/1.1\r\nHost: x\r\n\r\n`);
    expect(longUrl).toMatch(/^HTTP\/1\.1 431 /);
  });
});
