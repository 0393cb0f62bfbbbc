import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bearer, createWorkspace, problem, signup, type TestUser } from '../helpers/api.js';
import { createTestPlatform, type TestPlatform } from '../helpers/platform.js';
import { waitFor } from '../events/poll.js';

/** The runs list the web app's runs screen and approvals inbox read: filters by trigger, time range and awaiting approval. */
describe('workflow-engine runs list filters', () => {
  let t: TestPlatform;
  let owner: TestUser;
  let other: TestUser;
  let base: string;
  let otherBase: string;
  const ids = { approvalRuns: [] as string[], hookRun: '' };
  let approvalWf = '';
  let hookWf = '';
  let t0 = 0;

  beforeAll(async () => {
    t = await createTestPlatform({ V01T_EVENT_POLL_MS: '20', WORKFLOW_POLL_SECONDS: '0.5' });
    await t.platform.startServices();
    owner = await signup(t, 'Filter Owner');
    other = await signup(t, 'Other Owner');
    base = `/v1/workspaces/${await createWorkspace(t, owner)}`;
    otherBase = `/v1/workspaces/${await createWorkspace(t, other)}`;
  }, 60_000);
  afterAll(async () => {
    await t?.close();
  });

  const get = async (query: string, b = base, user = owner) => t.inject({ method: 'GET', url: `${b}/runs?${query}`, headers: bearer(user.token) });
  const listIds = async (query: string) => {
    const res = await get(query);
    expect(res.statusCode, res.body).toBe(200);
    return (res.json().runs as { id: string }[]).map((r) => r.id).sort();
  };
  const status = async (id: string) => (await t.inject({ method: 'GET', url: `${base}/runs/${id}`, headers: bearer(owner.token) })).json().run.status as string;
  const until = (id: string, want: string) => waitFor(async () => ((await status(id)) === want ? true : null), { timeoutMs: 30_000, what: `run ${id} ${want}` });

  it('filters by trigger, creation time range and awaiting=approval, combined with the workflow', async () => {
    t0 = t.clock.now().getTime();
    approvalWf = (
      await t.inject({ method: 'POST', url: `${base}/workflows`, headers: bearer(owner.token), payload: { name: 'needs ok', steps: [{ id: 'ask', type: 'approval', with: { expiresInMs: 86_400_000 } }, { id: 'done', type: 'transform', with: { expression: '1' } }] } })
    ).json().workflow.id;
    for (let i = 0; i < 2; i++) ids.approvalRuns.push((await t.inject({ method: 'POST', url: `${base}/workflows/${approvalWf}/runs`, headers: bearer(owner.token), payload: { input: {} } })).json().run.id);
    for (const id of ids.approvalRuns) await until(id, 'waiting');

    t.clock.advance(3_600_000);
    const hook = (await t.inject({ method: 'POST', url: `${base}/workflows`, headers: bearer(owner.token), payload: { name: 'hooked', trigger: { type: 'webhook' }, steps: [{ id: 'x', type: 'transform', with: { expression: 'input.n' } }] } })).json();
    hookWf = hook.workflow.id;
    const fired = await t.inject({ method: 'POST', url: hook.webhook.url, headers: { 'content-type': 'application/json' }, payload: JSON.stringify({ n: 1 }) });
    expect(fired.statusCode, fired.body).toBe(202);
    ids.hookRun = fired.json().runId;
    await until(ids.hookRun, 'succeeded');

    expect(await listIds('trigger=webhook')).toEqual([ids.hookRun]);
    expect(await listIds('trigger=manual')).toEqual([...ids.approvalRuns].sort());
    expect(await listIds('trigger=schedule')).toEqual([]);
    const mid = new Date(t0 + 1_800_000).toISOString();
    expect(await listIds(`from=${encodeURIComponent(mid)}`)).toEqual([ids.hookRun]);
    expect(await listIds(`to=${encodeURIComponent(mid)}`)).toEqual([...ids.approvalRuns].sort());
    // [from, to): a run created exactly at `to` is left out, one created exactly at `from` is in.
    const hookCreated = (await t.inject({ method: 'GET', url: `${base}/runs/${ids.hookRun}`, headers: bearer(owner.token) })).json().run.createdAt as string;
    expect(await listIds(`from=${encodeURIComponent(hookCreated)}`)).toEqual([ids.hookRun]);
    expect(await listIds(`to=${encodeURIComponent(hookCreated)}`)).toEqual([...ids.approvalRuns].sort());
    expect(await listIds(`awaiting=approval`)).toEqual([...ids.approvalRuns].sort());
    expect(await listIds(`awaiting=approval&workflowId=${hookWf}`)).toEqual([]);
    expect(await listIds(`trigger=manual&status=succeeded`)).toEqual([]);
  });

  it('drops a run from the approvals inbox once it is decided, and pages the inbox by cursor', async () => {
    const page1 = (await get('awaiting=approval&limit=1')).json();
    expect(page1.runs).toHaveLength(1);
    expect(page1.nextCursor).not.toBeNull();
    const page2 = (await get(`awaiting=approval&limit=1&cursor=${page1.nextCursor}`)).json();
    expect(page2.runs).toHaveLength(1);
    expect(page2.runs[0].id).not.toBe(page1.runs[0].id);

    const decided = ids.approvalRuns[0]!;
    const ok = await t.inject({ method: 'POST', url: `${base}/runs/${decided}/approve`, headers: bearer(owner.token), payload: {} });
    expect(ok.statusCode, ok.body).toBe(200);
    // Decided at once: it leaves the inbox even before the executor moves it on.
    expect(await listIds('awaiting=approval')).toEqual([ids.approvalRuns[1]]);
    await until(decided, 'succeeded');
    expect(await listIds('awaiting=approval')).toEqual([ids.approvalRuns[1]]);
  });

  it('keeps each workspace to its own runs and refuses bad filters with field paths', async () => {
    const res = await get('awaiting=approval', otherBase, other);
    expect(res.json().runs).toEqual([]);
    // Not a member: the workspace does not exist for them (no enumeration).
    expect((await get('awaiting=approval', base, other)).statusCode).toBe(404);
    for (const q of ['trigger=carrier-pigeon', 'from=yesterday', 'to=2026-13-45', 'awaiting=delay']) {
      const bad = await get(q);
      expect(bad.statusCode, q).toBe(400);
      expect(problem(bad).errors?.[0]?.path, q).toMatch(/trigger|from|to|awaiting/);
    }
  });
});
