import { KERNEL_SHARED_SECRETS, SharedSecretRegistry } from '../auth/shared-secrets.js';
import { loadConfig } from '../config/index.js';
import { Writable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { AppError } from '../errors.js';
import { CORE_PERMISSIONS, PermissionRegistry } from '../auth/permissions.js';
import { createLogger } from '../telemetry/logger.js';
import { CoreMetrics } from '../telemetry/metrics.js';
import { createHttpServer, type App } from './server.js';
import { problemResponses } from './problem.js';

const lines: string[] = [];
let app: App;

beforeAll(async () => {
  const sink = new Writable({
    write(chunk: Buffer, _enc, done) {
      lines.push(...chunk.toString('utf8').split('\n').filter(Boolean));
      done();
    },
  });
  app = await createHttpServer({
    logger: createLogger('info', sink),
    metrics: new CoreMetrics({ collectDefaults: false }),
    permissions: new PermissionRegistry(CORE_PERMISSIONS),
    identity: () => ({ authenticate: async () => null, workspaceAccess: async () => null }) as never,
    secrets: new SharedSecretRegistry(loadConfig({}), KERNEL_SHARED_SECRETS),
    bodyLimit: 1024,
    trustProxy: false,
    version: 'test',
  });
  app.post('/things', {
    config: { auth: 'none' },
    schema: { body: z.object({ name: z.string() }), response: { 201: z.object({ id: z.string() }), ...problemResponses(409) } },
    handler: async (req) => {
      if (req.body.name === 'taken') throw new AppError('conflict', 'taken');
      throw new Error('boom');
    },
  });
  await app.ready();
});
afterAll(async () => app?.close());

describe('the HTTP kernel', () => {
  it('writes the request id once per log line, for rejected and failed requests alike', async () => {
    await app.inject({ method: 'POST', url: '/things', payload: { name: 'taken' }, headers: { 'x-request-id': 'req-409' } });
    await app.inject({ method: 'POST', url: '/things', payload: { name: 'other' }, headers: { 'x-request-id': 'req-500' } });
    const logged = lines.filter((l) => l.includes('req-409') || l.includes('req-500'));
    expect(logged.map((l) => (JSON.parse(l) as { msg: string }).msg).sort()).toEqual(['request failed', 'request rejected']);
    for (const l of logged) expect(l.match(/"reqId"/g), l).toHaveLength(1);
  });

  it('documents every route\'s errors as problem+json: what the route declares plus what the kernel answers for its shape', () => {
    const doc = app.swagger() as unknown as { paths: Record<string, Record<string, { responses: Record<string, { content?: Record<string, { schema: unknown }> }> }>>; components: { schemas: Record<string, unknown> } };
    const responses = doc.paths['/things']!.post!.responses;
    expect(Object.keys(responses).sort()).toEqual(['201', '400', '409', '413', '415', '500']);
    for (const s of ['400', '409', '413', '415', '500']) expect(responses[s]!.content).toEqual({ 'application/problem+json': { schema: { $ref: '#/components/schemas/Problem' } } });
    expect(doc.components.schemas.Problem).toMatchObject({ type: 'object', required: expect.arrayContaining(['type', 'title', 'status', 'detail', 'code']) });
  });
});
