import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bearer, createWorkspace, problem, signup, type TestUser } from '../helpers/api.js';
import { createTestPlatform, type TestPlatform } from '../helpers/platform.js';
import { stepRegistry } from '../../src/services/workflow-engine/steps/index.js';

/** GET /v1/workflow-step-types: what the web editor renders its step forms from. */
describe('workflow step types over HTTP', () => {
  let t: TestPlatform;
  let user: TestUser;
  let ws: string;

  beforeAll(async () => {
    t = await createTestPlatform();
    user = await signup(t, 'Editor');
    ws = await createWorkspace(t, user);
  });
  afterAll(async () => t?.close());

  it('lists every registered step type with its kind, form schema and example (any signed-in user)', async () => {
    const res = await t.inject({ method: 'GET', url: '/v1/workflow-step-types', headers: bearer(user.token) });
    expect(res.statusCode).toBe(200);
    const { stepTypes } = res.json() as { stepTypes: { type: string; kind: string; title: string; withSchema: { type?: string; properties?: Record<string, unknown> }; example: { type: string } }[] };
    expect(stepTypes.map((s) => s.type)).toEqual(stepRegistry.modules.map((m) => m.type));
    for (const s of stepTypes) {
      expect(s.kind).toBe(stepRegistry.of(s.type).kind);
      expect(s.title.length).toBeGreaterThan(0);
      expect(s.withSchema.type).toBe('object');
      expect(s.example.type).toBe(s.type);
    }
    const http = stepTypes.find((s) => s.type === 'http')!;
    expect(http.kind).toBe('effect');
    expect(Object.keys(http.withSchema.properties ?? {})).toEqual(expect.arrayContaining(['url', 'method', 'headers', 'body']));
    expect((http.withSchema as { required?: string[] }).required).toContain('url');
  });

  it('refuses an anonymous caller', async () => {
    const res = await t.inject({ method: 'GET', url: '/v1/workflow-step-types' });
    expect(res.statusCode).toBe(401);
    expect(problem(res).code).toBe('unauthenticated');
  });

  it('each example is accepted in a definition as it is listed', async () => {
    const { stepTypes } = (await t.inject({ method: 'GET', url: '/v1/workflow-step-types', headers: bearer(user.token) })).json() as { stepTypes: { type: string; example: Record<string, unknown> }[] };
    // Examples may name other steps (a condition's then/else): give them targets.
    const targets = ['notify', 'skip'].map((id) => ({ id, type: 'transform', with: { expression: '1' } }));
    for (const s of stepTypes) {
      const res = await t.inject({
        method: 'POST',
        url: `/v1/workspaces/${ws}/workflows`,
        headers: bearer(user.token),
        payload: { name: `example ${s.type}`, steps: [s.example, ...targets.filter((x) => x.id !== s.example.id)] },
      });
      expect(res.statusCode, `${s.type}: ${res.body}`).toBe(201);
    }
  });

  it('the document types a definition per step type in one shared component the workflow routes refer to', async () => {
    type Variant = { properties: { type: { const: string }; with: { properties?: Record<string, unknown> } }; examples?: unknown[] };
    const doc = (await t.inject({ method: 'GET', url: '/openapi.json' })).json() as {
      paths: Record<string, Record<string, { requestBody?: unknown; responses: Record<string, unknown> }>>;
      components: { schemas: Record<string, { properties: { steps: { items: { oneOf: Variant[] } } } }> };
    };
    expect(Object.keys(doc.paths['/v1/workflow-step-types']!)).toEqual(['get']);
    for (const id of ['WorkflowDefinition', 'WorkflowDefinitionInput']) {
      const variants = doc.components.schemas[id]!.properties.steps.items.oneOf;
      expect(variants.map((v) => v.properties.type.const)).toEqual(stepRegistry.modules.map((m) => m.type));
      for (const v of variants) expect(v.examples, v.properties.type.const).toEqual([stepRegistry.of(v.properties.type.const).example]);
      expect(Object.keys(variants[0]!.properties.with.properties ?? {})).toContain('url');
    }
    const create = JSON.stringify(doc.paths['/v1/workspaces/{workspaceId}/workflows']!.post!.requestBody);
    expect(create).toContain('#/components/schemas/WorkflowDefinitionInput');
    expect(JSON.stringify(doc.paths['/v1/workspaces/{workspaceId}/workflows/{workflowId}']!.get!.responses['200'])).toContain('#/components/schemas/WorkflowDefinition"');
  });

  it('a save-time error names the step and the field of its with', async () => {
    const res = await t.inject({
      method: 'POST',
      url: `/v1/workspaces/${ws}/workflows`,
      headers: bearer(user.token),
      payload: { name: 'bad', steps: [{ id: 'a', type: 'transform', with: { expression: '1' } }, { id: 'b', type: 'http', with: { url: 'ftp://x', method: 'FETCH' } }, { id: 'c', type: 'delay', with: { ms: -1 } }] },
    });
    expect(res.statusCode).toBe(400);
    const p = problem(res);
    expect(p.code).toBe('validation_failed');
    expect(p.errors).toEqual(
      expect.arrayContaining([
        { path: 'steps[1].with.url', message: 'must be an http(s) URL' },
        { path: 'steps[1].with.method', message: 'one of GET, POST, PUT, PATCH, DELETE, HEAD' },
        { path: 'steps[2].with.ms', message: 'a number of milliseconds between 0 and one year' },
      ]),
    );
  });
});
