import type { TestPlatform } from './platform.js';
import { bearer, type TestUser } from './api.js';

export interface FixtureContext {
  t: TestPlatform;
  /** Owner of the workspace the resource is made in. */
  owner: TestUser;
  /** A second member (developer) of that workspace. */
  member: TestUser;
  workspaceId: string;
}

/**
 * For every path parameter of the workspace routes, how to make a real resource of that kind in
 * a workspace. The tenant isolation test (test/tenant-isolation.test.ts) fails when a workspace
 * route uses a parameter that has no fixture here: a service adding routes adds its fixtures.
 */
export const RESOURCE_FIXTURES: Record<string, (ctx: FixtureContext) => Promise<string>> = {
  reportId: async ({ t, owner, workspaceId }) => {
    const now = Date.now();
    const spec = { kind: 'trends', event: 'x', interval: 'day', from: new Date(now - 86_400_000).toISOString(), to: new Date(now).toISOString() };
    const res = await t.inject({ method: 'POST', url: `/v1/workspaces/${workspaceId}/analytics/reports`, headers: bearer(owner.token), payload: { name: 'fixture', spec } });
    if (res.statusCode !== 201) throw new Error(`report fixture: ${res.statusCode} ${res.body}`);
    return res.json().report.id as string;
  },
  dashboardId: async ({ t, owner, workspaceId }) => {
    const res = await t.inject({ method: 'POST', url: `/v1/workspaces/${workspaceId}/analytics/dashboards`, headers: bearer(owner.token), payload: { name: 'fixture' } });
    if (res.statusCode !== 201) throw new Error(`dashboard fixture: ${res.statusCode} ${res.body}`);
    return res.json().dashboard.id as string;
  },
  writeKeyId: async ({ t, owner, workspaceId }) => {
    const res = await t.inject({ method: 'POST', url: `/v1/workspaces/${workspaceId}/analytics/write-keys`, headers: bearer(owner.token), payload: { name: 'fixture' } });
    if (res.statusCode !== 201) throw new Error(`write key fixture: ${res.statusCode} ${res.body}`);
    return res.json().writeKey.id as string;
  },
  userId: async ({ member }) => member.id,
  invitationId: async ({ t, owner, workspaceId }) => {
    const res = await t.inject({
      method: 'POST',
      url: `/v1/workspaces/${workspaceId}/invitations`,
      headers: bearer(owner.token),
      payload: { email: `invitee.${Math.random().toString(36).slice(2)}@example.test`, role: 'viewer' },
    });
    if (res.statusCode !== 201) throw new Error(`invitation fixture: ${res.statusCode} ${res.body}`);
    return res.json().invitation.id as string;
  },
  connectionId: async ({ t, owner, workspaceId }) => {
    const res = await t.inject({
      method: 'POST',
      url: `/v1/workspaces/${workspaceId}/connections`,
      headers: bearer(owner.token),
      payload: { connector: 'http', name: 'fixture', credentials: { type: 'bearer', token: 'fixture-token' }, config: { baseUrl: 'https://api.example.test' } },
    });
    if (res.statusCode !== 201) throw new Error(`connection fixture: ${res.statusCode} ${res.body}`);
    return res.json().connection.id as string;
  },
  workflowId: async ({ t, owner, workspaceId }) => {
    const res = await t.inject({
      method: 'POST',
      url: `/v1/workspaces/${workspaceId}/workflows`,
      headers: bearer(owner.token),
      payload: { name: 'fixture', steps: [{ id: 'a', type: 'transform', with: { expression: '1' } }] },
    });
    if (res.statusCode !== 201) throw new Error(`workflow fixture: ${res.statusCode} ${res.body}`);
    return res.json().workflow.id as string;
  },
  runId: async ({ t, owner, workspaceId }) => {
    const wf = await RESOURCE_FIXTURES.workflowId!({ t, owner, member: owner, workspaceId });
    const res = await t.inject({ method: 'POST', url: `/v1/workspaces/${workspaceId}/workflows/${wf}/runs`, headers: bearer(owner.token), payload: {} });
    if (res.statusCode !== 202) throw new Error(`run fixture: ${res.statusCode} ${res.body}`);
    return res.json().run.id as string;
  },
  /** An action name of the http connector (the connectionId fixture's connector). */
  action: async () => 'request',
  channelId: (ctx) => contentChannel(ctx),
  postId: async (ctx) => {
    const channelId = await contentChannel(ctx);
    const res = await ctx.t.inject({ method: 'POST', url: `/v1/workspaces/${ctx.workspaceId}/posts`, headers: bearer(ctx.owner.token), payload: { body: 'fixture', channels: [{ channelId }] } });
    if (res.statusCode !== 201) throw new Error(`post fixture: ${res.statusCode} ${res.body}`);
    return res.json().post.id as string;
  },
  /** A scheduled channel target of a post (due next year: the publisher leaves it alone). */
  targetId: async (ctx) => {
    const postId = await RESOURCE_FIXTURES.postId!(ctx);
    const res = await ctx.t.inject({ method: 'POST', url: `/v1/workspaces/${ctx.workspaceId}/posts/${postId}/schedule`, headers: bearer(ctx.owner.token), payload: { mode: 'at', scheduledAt: `${new Date().getUTCFullYear() + 1}-06-01T09:00`, timezone: 'UTC' } });
    if (res.statusCode !== 200) throw new Error(`target fixture: ${res.statusCode} ${res.body}`);
    return res.json().post.targets[0].id as string;
  },
  campaignId: async ({ t, owner, workspaceId }) => {
    const res = await t.inject({ method: 'POST', url: `/v1/workspaces/${workspaceId}/campaigns`, headers: bearer(owner.token), payload: { name: 'fixture', startsOn: '2026-01-01', endsOn: '2026-01-14' } });
    if (res.statusCode !== 201) throw new Error(`campaign fixture: ${res.statusCode} ${res.body}`);
    return res.json().campaign.id as string;
  },
  mediaId: async ({ t, owner, workspaceId }) => {
    const png = Buffer.concat([Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]), Buffer.alloc(16)]);
    const payload = Buffer.concat([Buffer.from('--fx\r\nContent-Disposition: form-data; name="file"; filename="f.png"\r\nContent-Type: image/png\r\n\r\n'), png, Buffer.from('\r\n--fx--\r\n')]);
    const res = await t.inject({ method: 'POST', url: `/v1/workspaces/${workspaceId}/media`, headers: { ...bearer(owner.token), 'content-type': 'multipart/form-data; boundary=fx' }, payload });
    if (res.statusCode !== 201) throw new Error(`media fixture: ${res.statusCode} ${res.body}`);
    return res.json().media.id as string;
  },
  ruleId: async ({ t, owner, workspaceId }) => {
    const res = await t.inject({
      method: 'POST',
      url: `/v1/workspaces/${workspaceId}/gamification/rules`,
      headers: bearer(owner.token),
      payload: { name: 'fixture rule', event: 'workflow.run.succeeded.v1', persona: 'vAutomator', metric: 'Automation XP', points: 1 },
    });
    if (res.statusCode !== 201) throw new Error(`gamification rule fixture: ${res.statusCode} ${res.body}`);
    return res.json().rule.id as string;
  },
  badgeId: async ({ t, owner, workspaceId }) => {
    const res = await t.inject({
      method: 'POST',
      url: `/v1/workspaces/${workspaceId}/gamification/badges`,
      headers: bearer(owner.token),
      payload: { key: 'fixture-badge', name: 'Fixture', criteria: { kind: 'count', event: 'workflow.run.succeeded.v1', atLeast: 3 } },
    });
    if (res.statusCode !== 201) throw new Error(`gamification badge fixture: ${res.statusCode} ${res.body}`);
    return res.json().badge.id as string;
  },
  /** A gamification ledger entry (an admin adjustment of the member's points). */
  entryId: async ({ t, owner, member, workspaceId }) => {
    const res = await t.inject({
      method: 'POST',
      url: `/v1/workspaces/${workspaceId}/gamification/adjustments`,
      headers: bearer(owner.token),
      payload: { userId: member.id, persona: 'vBuilder', metric: 'Build Score', points: 5, reason: 'tenant fixture' },
    });
    if (res.statusCode !== 201) throw new Error(`gamification ledger fixture: ${res.statusCode} ${res.body}`);
    return res.json().entryId as string;
  },
};

/** A content channel on a webhook connection (nothing is sent: the fixture only binds it). */
async function contentChannel({ t, owner, workspaceId }: FixtureContext): Promise<string> {
  const conn = await t.inject({
    method: 'POST',
    url: `/v1/workspaces/${workspaceId}/connections`,
    headers: bearer(owner.token),
    payload: { connector: 'webhook', name: 'content fixture', credentials: { secret: `whsec_${Buffer.from('fixture-fixture-fixture-fixture!').toString('base64')}` }, config: { url: 'https://hooks.example.test/in' } },
  });
  if (conn.statusCode !== 201) throw new Error(`content connection fixture: ${conn.statusCode} ${conn.body}`);
  const res = await t.inject({ method: 'POST', url: `/v1/workspaces/${workspaceId}/channels`, headers: bearer(owner.token), payload: { connectionId: conn.json().connection.id, name: 'fixture', timezone: 'UTC' } });
  if (res.statusCode !== 201) throw new Error(`channel fixture: ${res.statusCode} ${res.body}`);
  return res.json().channel.id as string;
}

/**
 * Request bodies for routes whose generated sample body would not pass validation (keyed
 * "METHOD /path/{param}"). Most routes need none: a sample is built from the OpenAPI schema.
 */
export const BODY_OVERRIDES: Record<string, unknown> = {
  'POST /v1/workspaces/{workspaceId}/gamification/rules': { name: 'r', event: 'workflow.run.succeeded.v1', persona: 'vAutomator', metric: 'Automation XP', points: 1 },
  'PATCH /v1/workspaces/{workspaceId}/gamification/rules/{ruleId}': { points: 2 },
  'POST /v1/workspaces/{workspaceId}/gamification/badges': { key: 'tenant-probe', name: 'Probe', criteria: { kind: 'count', event: 'workflow.run.succeeded.v1', atLeast: 1 } },
  'POST /v1/workspaces/{workspaceId}/gamification/ledger/{entryId}/reversal': { reason: 'tenant probe' },
};
