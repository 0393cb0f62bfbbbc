import { z } from 'zod';
import http from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestPlatform, type TestPlatform } from '../helpers/platform.js';
import { bearer, problem, signup } from '../helpers/api.js';

let t: TestPlatform;
beforeAll(async () => {
  t = await createTestPlatform({ BODY_LIMIT_BYTES: '2048' }, {
    extraRoutes: (app) => {
      app.get('/test/explode', { config: { auth: 'none' }, schema: { response: { 200: z.object({}) } } }, async () => {
        throw new Error('relation "orchestrator.secret_table" does not exist at SELECT * FROM orchestrator.users');
      });
    },
  });
});
afterAll(async () => {
  await t?.close();
});

describe('errors are application/problem+json with a stable code', () => {
  it('malformed JSON → 400 invalid_json', async () => {
    const res = await t.inject({ method: 'POST', url: '/v1/auth/login', headers: { 'content-type': 'application/json' }, payload: '{"email": "a@b.c", ' });
    expect(res.statusCode).toBe(400);
    expect(problem(res)).toMatchObject({ code: 'invalid_json', status: 400, type: expect.stringContaining('invalid-json'), title: expect.any(String), detail: expect.any(String) });
  });

  it('schema violations → 400 validation_failed with every offending path', async () => {
    const res = await t.inject({ method: 'POST', url: '/v1/auth/signup', payload: { email: 12, name: 'x' } });
    expect(res.statusCode).toBe(400);
    const body = problem(res);
    expect(body.code).toBe('validation_failed');
    expect(body.errors?.map((e) => e.path).sort()).toEqual(['body.email', 'body.password']);
  });

  it('unknown route → 404 not_found; wrong method → 405 with Allow', async () => {
    const missing = await t.inject({ method: 'GET', url: '/v1/nothing-here' });
    expect(missing.statusCode).toBe(404);
    expect(problem(missing).code).toBe('not_found');
    const wrong = await t.inject({ method: 'PUT', url: '/v1/auth/login', payload: {} });
    expect(wrong.statusCode).toBe(405);
    expect(problem(wrong).code).toBe('method_not_allowed');
    expect(wrong.headers.allow).toBe('POST');
  });

  it('a body over the limit → 413 payload_too_large', async () => {
    const res = await t.inject({ method: 'POST', url: '/v1/auth/signup', payload: { email: 'a@example.test', password: 'x'.repeat(4000), name: 'A' } });
    expect(res.statusCode).toBe(413);
    expect(problem(res).code).toBe('payload_too_large');
  });

  it('an unsupported content type → 415', async () => {
    const res = await t.inject({ method: 'POST', url: '/v1/auth/login', headers: { 'content-type': 'application/xml' }, payload: '<a/>' });
    expect(res.statusCode).toBe(415);
    expect(problem(res).code).toBe('unsupported_media_type');
  });

  it('an unexpected failure → 500 internal_error with a request id and no stack trace or SQL', async () => {
    const res = await t.inject({ method: 'GET', url: '/test/explode', headers: { 'x-request-id': 'trace-me-123' } });
    expect(res.statusCode).toBe(500);
    const body = problem(res);
    expect(body.code).toBe('internal_error');
    expect(res.json().requestId).toBe('trace-me-123');
    expect(res.headers['x-request-id']).toBe('trace-me-123');
    expect(res.body).not.toMatch(/SELECT|orchestrator\.|at .*\.js|stack/i);
  });
});

describe('operations endpoints (runbook)', () => {
  it('/health answers 200 {"status":"ok"}', async () => {
    const res = await t.inject({ method: 'GET', url: '/health' });
    expect(res.statusCode).toBe(200);
    expect(res.json()).toEqual({ status: 'ok' });
  });

  it('/ready checks the database and migrations (and Redis when configured)', async () => {
    const res = await t.inject({ method: 'GET', url: '/ready' });
    expect(res.statusCode).toBe(200);
    expect(res.json().checks).toMatchObject({ database: 'ok', migrations: 'ok', ...(t.platform.cache.kind === 'redis' ? { redis: 'ok' } : {}) });
  });

  it('/metrics exposes the series the runbook alerts read', async () => {
    const u = await signup(t, 'Metrics');
    await t.inject({ method: 'GET', url: '/v1/me', headers: bearer(u.token) });
    const text = (await t.inject({ method: 'GET', url: '/metrics' })).body;
    expect(text).toMatch(/http_requests_total\{method="GET",route="\/v1\/me",status="200"[^}]*\} 1/);
    for (const le of ['0.1', '0.25', '0.5', '1', '2.5', '5', '10']) expect(text).toContain(`request_duration_seconds_bucket{le="${le}"`);
    expect(text).toMatch(/database_query_duration_seconds_count\{[^}]*query_type="select",table="orchestrator.users"[^}]*\} [1-9]/);
    expect(text).toMatch(/database_query_duration_seconds_count\{[^}]*query_type="insert",table="orchestrator.tokens"[^}]*\} [1-9]/);
    expect(text).toMatch(/^database_connections_active\{[^}]*\} \d+/m);
    expect(text).toMatch(new RegExp(`^database_connections_max\\{[^}]*\\} ${t.platform.database.kind === 'postgres' ? 5 : 1}$`, 'm'));
    expect(text).toContain('process_resident_memory_bytes');
  });

  it('/openapi.json is OpenAPI 3.1 generated from the routes; /docs serves the reference', async () => {
    const doc = (await t.inject({ method: 'GET', url: '/openapi.json' })).json();
    expect(doc.openapi).toBe('3.1.0');
    expect(Object.keys(doc.paths)).toEqual(expect.arrayContaining(['/v1/auth/signup', '/v1/me', '/v1/workspaces/{workspaceId}/members/me/personas', '/health', '/ready']));
    expect(doc.paths['/v1/auth/signup'].post.requestBody.content['application/json'].schema.required).toEqual(expect.arrayContaining(['email', 'password', 'name']));
    expect(doc.paths['/test/explode']).toBeDefined();
    const docs = await t.inject({ method: 'GET', url: '/docs/' });
    expect(docs.statusCode).toBe(200);
    expect(docs.headers['content-type']).toContain('text/html');
  });
});

describe('readiness failure and graceful shutdown', () => {
  it('/ready answers 503 naming the database when it is gone, while /health stays 200', async () => {
    const broken = await createTestPlatform();
    try {
      await broken.platform.database.close();
      const res = await broken.inject({ method: 'GET', url: '/ready' });
      expect(res.statusCode).toBe(503);
      const body = problem(res);
      expect(body.code).toBe('service_unavailable');
      expect(body.detail).toContain('database');
      expect((await broken.inject({ method: 'GET', url: '/health' })).statusCode).toBe(200);
    } finally {
      await broken.close().catch(() => {});
    }
  });

  it('close() lets an in-flight request finish and refuses new connections', async () => {
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    let entered!: () => void;
    const inside = new Promise<void>((r) => (entered = r));
    const s = await createTestPlatform({}, {
      extraRoutes: (app) => {
        app.get('/test/slow', { config: { auth: 'none' }, schema: { response: { 200: z.object({ finished: z.boolean() }) } } }, async () => {
          entered();
          await gate;
          return { finished: true };
        });
      },
    });
    await s.platform.app.listen({ host: '127.0.0.1', port: 0 });
    const port = (s.platform.app.server.address() as { port: number }).port;
    const get = (path: string) =>
      new Promise<{ status: number; body: string }>((resolve, reject) => {
        const req = http.get({ host: '127.0.0.1', port, path, agent: false }, (res) => {
          let body = '';
          res.on('data', (c) => (body += c));
          res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
        });
        req.on('error', reject);
      });
    const slow = get('/test/slow');
    await inside;
    const closing = s.close();
    await new Promise((r) => setImmediate(r));
    await expect(get('/health')).rejects.toThrow(/ECONNREFUSED|ECONNRESET|socket hang up/);
    release();
    const done = await slow;
    expect(done.status).toBe(200);
    expect(JSON.parse(done.body)).toEqual({ finished: true });
    await closing;
  });
});
