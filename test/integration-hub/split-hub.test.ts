import { createHash, randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestPlatform, TEST_DB, type TestPlatform } from '../helpers/platform.js';
import { bearer, createWorkspace, signup, type TestUser } from '../helpers/api.js';
import { startFakes, type Fakes } from './fakes.js';
import { AppError } from '../../src/kernel/errors.js';
import type { IntegrationHubContract } from '../../src/services/integration-hub/contract.js';
import { IntegrationHubHttpClient } from '../../src/services/integration-hub/remote.js';
import type { WorkflowEngineInstance } from '../../src/services/workflow-engine/index.js';
import type { ContentInstance } from '../../src/services/content-scheduler/index.js';

/**
 * The distributed shape: the integration-hub in one process (platform `hub`, on a real port, with
 * the internal token), the content-scheduler and the workflow-engine in another (`split`) and the
 * orchestrator with ops in a third (`ops`), both reaching the hub through IntegrationHubHttpClient
 * registered as the `integration-hub` contract. On PostgreSQL `split` shares the hub's database, as
 * pods of one installation do; on PGlite (one process per database) it has its own, which works the
 * same since services share no tables.
 */
const internalToken = randomBytes(24).toString('hex');
const sha = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');
const png = (size: number) => Buffer.concat([Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]), randomBytes(size - 8)]);

let hub: TestPlatform;
let split: TestPlatform | undefined;
let ops: TestPlatform | undefined;
let f: Fakes;
let base: string;
let owner: TestUser;
let ws: string;
let github: string;
let mastodon: string;
let webhook: string;
let client: IntegrationHubHttpClient;

const issueCalls = () => f.calls.filter((c) => c.method === 'POST' && c.path === '/gh/repos/o/r/issues').length;
async function connection(connector: string, credentials: unknown, config: unknown): Promise<string> {
  const c = await hub.inject({ method: 'POST', url: `/v1/workspaces/${ws}/connections`, headers: bearer(owner.token), payload: { connector, name: connector, credentials, config } });
  expect(c.statusCode, c.body).toBe(201);
  return c.json().connection.id;
}
async function rejection(p: Promise<unknown>): Promise<AppError> {
  const err = await p.then(
    () => null,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(AppError);
  return err as AppError;
}

beforeAll(async () => {
  f = await startFakes();
  hub = await createTestPlatform({ V01T_SERVICES: 'orchestrator,integration-hub', V01T_INTERNAL_TOKEN: internalToken, V01T_EGRESS_ALLOW: '127.0.0.1' });
  base = await hub.platform.app.listen({ host: '127.0.0.1', port: 0 });
  owner = await signup(hub, 'Split Owner');
  ws = await createWorkspace(hub, owner, 'Split');
  github = await connection('github', { type: 'token', token: 'ghp_abc' }, { owner: 'o', repo: 'r', baseUrl: `${f.base}/gh` });
  mastodon = await connection('mastodon', { accessToken: 'masto-token' }, { instanceUrl: `${f.base}/masto` });
  webhook = await connection('webhook', { secret: f.webhookSecret }, { url: `${f.base}/receiver` });
  client = new IntegrationHubHttpClient(base, internalToken);
}, 60_000);
afterAll(async () => {
  await ops?.close();
  await split?.close();
  await hub?.close();
  await f?.close();
});

describe('the integration-hub contract over HTTP (IntegrationHubHttpClient)', () => {
  it('lists the workspace connections as in process', async () => {
    const inProcess = await hub.platform.ctx.contracts.get<IntegrationHubContract>('integration-hub').listConnections(ws);
    const remote = await client.listConnections(ws);
    expect(remote).toEqual(inProcess);
    expect(remote.map((c) => c.connector).sort()).toEqual(['github', 'mastodon', 'webhook']);
    expect(remote.find((c) => c.id === mastodon)).toMatchObject({ workspaceId: ws, status: 'active', canPublish: true });
  });

  it('runs an action at most once per idempotency key across the boundary', async () => {
    const before = issueCalls();
    const first = await client.runAction(ws, github, 'createIssue', { title: 'Remote once' }, { idempotencyKey: 'split-k1' });
    expect(first.output).toEqual({ number: expect.any(Number), url: expect.stringContaining('/issues/') });
    const again = await client.runAction(ws, github, 'createIssue', { title: 'Remote once' }, { idempotencyKey: 'split-k1' });
    expect(again).toEqual(first);
    expect(issueCalls()).toBe(before + 1);
    // The same key for another action: the hub's conflict arrives as the same AppError.
    const err = await rejection(client.runAction(ws, github, 'comment', { issueNumber: 1, body: 'x' }, { idempotencyKey: 'split-k1' }));
    expect({ code: err.code, status: err.status, message: err.message }).toEqual({ code: 'conflict', status: 409, message: 'The idempotency key was used for the action "createIssue" on this connection' });
    expect(issueCalls()).toBe(before + 1);
  });

  it('publishes media whose bytes reach the provider unchanged, once per key', async () => {
    // Larger than the default 1 MiB body limit once in base64: the publish route's own limit admits it.
    const image = png(2_000_000);
    const content = { text: 'Over the wire', media: [{ contentType: 'image/png', filename: 'wire.png', size: image.length, sha256: sha(image), altText: 'A wire', data: new Uint8Array(image) }] };
    const uploadsBefore = f.uploads.length;
    const result = await client.publish(ws, mastodon, content, 'split-pub-1');
    expect(result).toEqual({ externalId: expect.any(String), url: expect.stringContaining('masto.example') });
    const uploads = f.uploads.slice(uploadsBefore);
    expect(uploads).toEqual([expect.objectContaining({ provider: 'mastodon', filename: 'wire.png', size: image.length, sha256: sha(image), altText: 'A wire' })]);
    expect(await client.publish(ws, mastodon, content, 'split-pub-1')).toEqual(result);
    expect(f.uploads.length).toBe(uploadsBefore + 1);
  });

  it('carries AppError codes, details and extras back to the caller', async () => {
    const unknown = await rejection(client.runAction(ws, '00000000-0000-4000-8000-000000000000', 'createIssue', { title: 'x' }));
    expect({ code: unknown.code, status: unknown.status, message: unknown.message }).toEqual({ code: 'not_found', status: 404, message: 'Connection not found' });

    const image = png(1000);
    const bad = await rejection(client.publish(ws, mastodon, { text: 'x', media: [{ contentType: 'image/png', filename: 'a.png', size: image.length, sha256: sha(png(1000)), data: new Uint8Array(image) }] }, 'split-bad-sha'));
    expect(bad.code).toBe('validation_failed');
    expect(bad.extra.errors).toEqual([{ path: 'media.0.sha256', message: 'the bytes do not match the SHA-256' }]);

    // A provider refusal keeps providerStatus, which the content-scheduler's retry decision reads.
    const refused = await rejection(client.publish(ws, mastodon, { text: '' }, 'split-empty'));
    expect(refused.code).toBe('provider_error');
    expect(refused.extra.providerStatus).toBe(422);
  });

  it("keeps the hub's conflict for a key in progress, which callers retry later without a second call", async () => {
    await hub.platform.database.query(
      "INSERT INTO integration_hub.publications (connection_id, idempotency_key, status, claimed_at, kind, action) VALUES ($1, 'split-busy', 'pending', $2, 'action', 'createIssue')",
      [github, hub.clock.now().toISOString()],
    );
    const before = issueCalls();
    const err = await rejection(client.runAction(ws, github, 'createIssue', { title: 'Busy' }, { idempotencyKey: 'split-busy' }));
    expect({ code: err.code, status: err.status, message: err.message }).toEqual({ code: 'conflict', status: 409, message: 'An action run with this idempotency key is in progress' });
    expect(issueCalls()).toBe(before);
  });

  it('refuses a wrong internal token before reading the body, and keeps the API out of the OpenAPI document', async () => {
    const before = issueCalls();
    const stranger = new IntegrationHubHttpClient(base, 'x'.repeat(48));
    const err = await rejection(stranger.runAction(ws, github, 'createIssue', { title: 'Nope' }));
    expect({ code: err.code, status: err.status }).toEqual({ code: 'unauthenticated', status: 401 });
    await expect(stranger.listConnections(ws)).rejects.toMatchObject({ code: 'unauthenticated' });
    const res = await fetch(`${base}/internal/integration-hub/connections/list`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ workspaceId: ws }) });
    expect(res.status).toBe(401);
    expect(res.headers.get('content-type')).toMatch(/application\/problem\+json/);
    expect(issueCalls()).toBe(before);
    const doc = (await hub.inject({ method: 'GET', url: '/openapi.json' })).json();
    expect(Object.keys(doc.paths).filter((p) => p.startsWith('/internal'))).toEqual([]);
  });

  it('answers service_unavailable when the hub cannot be reached', async () => {
    const down = new IntegrationHubHttpClient('http://127.0.0.1:9/', internalToken, { listTimeoutMs: 2000 });
    await expect(down.listConnections(ws)).rejects.toMatchObject({ code: 'service_unavailable' });
  });
});

describe('services split from the integration-hub', () => {
  let channelId: string;
  beforeAll(async () => {
    split = await createTestPlatform({
      V01T_SERVICES: 'content-scheduler,workflow-engine',
      V01T_INTERNAL_TOKEN: internalToken,
      V01T_ORCHESTRATOR_URL: base,
      V01T_INTEGRATION_HUB_URL: base,
      V01T_EGRESS_ALLOW: '127.0.0.1',
      ...(TEST_DB === 'postgres' ? { DATABASE_URL: hub.platform.config.db.url! } : {}),
    });
  }, 60_000);

  it('registers the HTTP client as the integration-hub contract', () => {
    expect(split!.platform.instances.has('integration-hub')).toBe(false);
    expect(split!.platform.ctx.contracts.has('integration-hub')).toBe(true);
    expect(split!.platform.ctx.contracts.get('integration-hub')).toBeInstanceOf(IntegrationHubHttpClient);
  });

  it('binds a content channel to a connection of the remote hub, and refuses one it does not have', async () => {
    const ok = await split!.inject({ method: 'POST', url: `/v1/workspaces/${ws}/channels`, headers: bearer(owner.token), payload: { connectionId: mastodon, name: 'masto', timezone: 'UTC' } });
    expect(ok.statusCode, ok.body).toBe(201);
    channelId = ok.json().channel.id;
    const missing = await split!.inject({ method: 'POST', url: `/v1/workspaces/${ws}/channels`, headers: bearer(owner.token), payload: { connectionId: '00000000-0000-4000-8000-000000000000', name: 'none', timezone: 'UTC' } });
    expect(missing.statusCode).toBe(400);
    expect(missing.json()).toMatchObject({ code: 'validation_failed', errors: [{ path: 'connectionId', message: 'connection not found' }] });
  });

  it('runs a workflow integration step through the remote hub', async () => {
    const before = issueCalls();
    const wf = await split!.inject({
      method: 'POST',
      url: `/v1/workspaces/${ws}/workflows`,
      headers: bearer(owner.token),
      payload: { name: 'split issue', steps: [{ id: 'issue', type: 'integration', with: { connectionId: github, action: 'createIssue', input: { title: '=input.title' } } }] },
    });
    expect(wf.statusCode, wf.body).toBe(201);
    const run = await split!.inject({ method: 'POST', url: `/v1/workspaces/${ws}/workflows/${wf.json().workflow.id}/runs`, headers: bearer(owner.token), payload: { input: { title: 'From another process' } } });
    expect(run.statusCode, run.body).toBe(202);
    await (split!.platform.instances.get('workflow-engine') as WorkflowEngineInstance).executor.drain();
    const done = (await split!.inject({ method: 'GET', url: `/v1/workspaces/${ws}/runs/${run.json().run.id}`, headers: bearer(owner.token) })).json().run;
    expect(done.status).toBe('succeeded');
    expect(done.output).toEqual({ number: expect.any(Number), url: expect.stringContaining('/issues/') });
    expect(issueCalls()).toBe(before + 1);
    expect(f.calls.at(-1)?.body).toContain('From another process');
  });

  it("publishes a scheduled post with an image through the content-scheduler's publisher and the remote hub", async () => {
    const image = png(1_500_000);
    const boundary = '----v01tsplit';
    const payload = Buffer.concat([
      Buffer.from(`--${boundary}\r\nContent-Disposition: form-data; name="altText"\r\n\r\nSplit chart\r\n`),
      Buffer.from(`--${boundary}\r\nContent-Disposition: form-data; name="file"; filename="chart.png"\r\nContent-Type: image/png\r\n\r\n`),
      image,
      Buffer.from(`\r\n--${boundary}--\r\n`),
    ]);
    const up = await split!.inject({ method: 'POST', url: `/v1/workspaces/${ws}/media`, headers: { ...bearer(owner.token), 'content-type': `multipart/form-data; boundary=${boundary}` }, payload });
    expect(up.statusCode, up.body).toBe(201);
    const post = await split!.inject({ method: 'POST', url: `/v1/workspaces/${ws}/posts`, headers: bearer(owner.token), payload: { body: 'Published from a split pod', mediaIds: [up.json().media.id], channels: [{ channelId }] } });
    expect(post.statusCode, post.body).toBe(201);
    const sched = await split!.inject({ method: 'POST', url: `/v1/workspaces/${ws}/posts/${post.json().post.id}/schedule`, headers: bearer(owner.token), payload: { mode: 'now' } });
    expect(sched.statusCode, sched.body).toBe(200);
    const uploadsBefore = f.uploads.length;
    expect(await (split!.platform.instances.get('content-scheduler') as ContentInstance).services.publisher.runOnce()).toMatchObject({ claimed: 1, published: 1 });
    expect(f.uploads.slice(uploadsBefore)).toEqual([expect.objectContaining({ provider: 'mastodon', sha256: sha(image), size: image.length, altText: 'Split chart' })]);
  });

  it('publishes through the contract the content-scheduler uses', async () => {
    const image = png(50_000);
    const uploadsBefore = f.uploads.length;
    const hubContract = split!.platform.ctx.contracts.get<IntegrationHubContract>('integration-hub');
    await hubContract.publish(ws, mastodon, { text: 'split', media: [{ contentType: 'image/png', filename: 's.png', size: image.length, sha256: sha(image), data: new Uint8Array(image) }] }, 'split-platform-1');
    expect(f.uploads.slice(uploadsBefore)).toEqual([expect.objectContaining({ provider: 'mastodon', sha256: sha(image), size: image.length })]);
  });
});

describe('incident escalations with the integration-hub in another process', () => {
  it('ops sees the remote hub and the ops workspace connections as escalation targets', async () => {
    ops = await createTestPlatform({ V01T_SERVICES: 'orchestrator', V01T_INTERNAL_TOKEN: internalToken, V01T_INTEGRATION_HUB_URL: base, V01T_OPS_WORKSPACE_ID: ws });
    expect(ops.platform.ops).toBeDefined();
    const { targets, problem } = await ops.platform.ops!.incidents.targets();
    expect(problem).toBeNull();
    expect(targets).toEqual([{ connectionId: webhook, connector: 'webhook', name: 'webhook' }]);
  });

  it('delivers an escalation through the remote hub to the webhook', async () => {
    const amToken = randomBytes(24).toString('hex');
    await ops!.close();
    ops = await createTestPlatform({ V01T_SERVICES: 'orchestrator', V01T_INTERNAL_TOKEN: internalToken, V01T_INTEGRATION_HUB_URL: base, V01T_OPS_WORKSPACE_ID: ws, V01T_ALERTMANAGER_TOKEN: amToken });
    const startsAt = ops.clock.now().toISOString();
    const alert = { status: 'firing', labels: { alertname: 'SplitDown', severity: 'critical', service: 'integration-hub' }, annotations: { summary: 'split test' }, startsAt, endsAt: '0001-01-01T00:00:00Z', generatorURL: 'http://prometheus.example/', fingerprint: 'split1' };
    const opened = await ops.inject({
      method: 'POST',
      url: '/v1/ops/alertmanager',
      headers: bearer(amToken),
      payload: { version: '4', groupKey: 'split', truncatedAlerts: 0, status: 'firing', receiver: 'v01t-incidents', groupLabels: { alertname: 'SplitDown' }, commonLabels: alert.labels, commonAnnotations: alert.annotations, externalURL: 'http://alertmanager.example', alerts: [alert] },
    });
    expect(opened.statusCode, opened.body).toBe(200);
    const received = () => f.calls.filter((c) => c.path === '/receiver' && c.body.includes('v01t.incident.escalated.v1'));
    expect(received()).toHaveLength(0);
    ops.clock.advance(16 * 60_000); // past the Sev1 response target
    expect(await ops.platform.ops!.tick()).toMatchObject({ escalated: 1, sent: 1, failed: 0 });
    expect(received()).toHaveLength(1);
    expect(JSON.parse(received()[0]!.body)).toMatchObject({ type: 'v01t.incident.escalated.v1', data: { severity: 'Sev1' } });
  });

  it('refuses V01T_INTEGRATION_HUB_URL without the internal token at start-up', async () => {
    await expect(createTestPlatform({ V01T_SERVICES: 'orchestrator', V01T_INTEGRATION_HUB_URL: base })).rejects.toThrow(/V01T_INTERNAL_TOKEN/);
  });
});
