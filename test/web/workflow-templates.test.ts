import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bearer, createWorkspace, signup, type TestUser } from '../helpers/api.js';
import { createTestPlatform, type TestPlatform } from '../helpers/platform.js';
import { waitFor } from '../events/poll.js';
import { TEMPLATES } from '../../web/src/workflows/templates.js';
import { addStep, type Definition } from '../../web/src/workflows/graph.js';
import { fromServer, type ServerStepType } from '../../web/src/workflows/stepTypes.js';

/**
 * The web app's workflow templates (web/src/workflows/templates.ts) are definitions the server
 * accepts: each is saved through the API without warnings, and run with its sample input it
 * reaches the state its steps promise (an approval waits; the others succeed).
 */
describe('workflow templates against the server', () => {
  let t: TestPlatform;
  let owner: TestUser;
  let base: string;

  beforeAll(async () => {
    t = await createTestPlatform({ V01T_EVENT_POLL_MS: '20', WORKFLOW_POLL_SECONDS: '0.5' });
    await t.platform.startServices();
    owner = await signup(t, 'Template Owner');
    base = `/v1/workspaces/${await createWorkspace(t, owner)}`;
  });
  afterAll(async () => t?.close());

  it('offers at least one template per persona', () => {
    expect(new Set(TEMPLATES.map((x) => x.persona))).toEqual(new Set(['founder', 'vCreator', 'vBuilder', 'vAnalyst', 'vAutomator']));
  });

  it.each(TEMPLATES.map((x) => [x.key, x] as const))('%s is saved without errors or warnings and runs', async (_key, template) => {
    const res = await t.inject({ method: 'POST', url: `${base}/workflows`, headers: bearer(owner.token), payload: template.definition });
    expect(res.statusCode, res.body).toBe(201);
    const body = res.json() as { workflow: { id: string; triggerType: string }; warnings: unknown[]; webhook?: { url: string } };
    expect(body.warnings).toEqual([]);
    expect(body.workflow.triggerType).toBe(template.definition.trigger?.type);
    if (template.definition.trigger?.type === 'webhook') expect(body.webhook?.url).toMatch(/^\/hooks\/workflows\//);
    const id = body.workflow.id;
    expect((await t.inject({ method: 'POST', url: `${base}/workflows/${id}/enable`, headers: bearer(owner.token) })).statusCode).toBe(200);
    const started = await t.inject({ method: 'POST', url: `${base}/workflows/${id}/runs`, headers: bearer(owner.token), payload: { input: template.sampleInput } });
    expect(started.statusCode, started.body).toBe(202);
    const runId = (started.json() as { run: { id: string } }).run.id;
    const waits = template.definition.steps.some((s) => s.type === 'approval');
    const run = await waitFor(
      async () => {
        const r = (await t.inject({ method: 'GET', url: `${base}/runs/${runId}`, headers: bearer(owner.token) })).json().run as { status: string; error: string | null };
        return ['succeeded', 'failed', 'waiting', 'timed_out', 'cancelled'].includes(r.status) ? r : null;
      },
      { timeoutMs: 30_000, what: `run of ${template.key}` },
    );
    expect(run, JSON.stringify(run)).toMatchObject({ status: waits ? 'waiting' : 'succeeded' });
  });

  it('a step of every type the server lists, added as the editor adds it, is a definition the server accepts', async () => {
    const res = await t.inject({ method: 'GET', url: '/v1/workflow-step-types', headers: bearer(owner.token) });
    expect(res.statusCode).toBe(200);
    const types = fromServer((res.json() as { stepTypes: ServerStepType[] }).stepTypes);
    expect(types.map((x) => x.type)).toEqual(expect.arrayContaining(['http', 'transform', 'condition', 'emit', 'delay', 'approval']));
    let def: Definition = { name: 'every step type', trigger: { type: 'manual' }, steps: [] };
    for (const type of types) def = addStep(def, type.type, type.example).definition;
    const saved = await t.inject({ method: 'POST', url: `${base}/workflows`, headers: bearer(owner.token), payload: def });
    expect(saved.statusCode, saved.body).toBe(201);
  });
});
