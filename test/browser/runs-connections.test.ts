import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { expectAccessible, launchBrowser, newContext, screenshot, startServer, type Server, apiCallIn } from './harness.js';

/**
 * Runs, approvals and connections in Debian's Chromium against a real `v01t start`: a run page that
 * follows a run live through an approval, the approvals inbox, the runs list's filters; a connection
 * created through the form made from the connector's JSON Schema, tested against a local receiver
 * (the egress guard lets loopback through only because V01T_EGRESS_ALLOW names it), a secret
 * replaced without ever being shown; the audit log showing these actions; axe on every screen.
 */
let server: Server;
let browser: Browser;
let context: BrowserContext;
let page: Page;
let workspaceId = '';

/** The local service the connection talks to: records each request and answers its health probe. */
const seen: { method: string; url: string; authorization?: string }[] = [];
const receiver = http.createServer((req, res) => {
  seen.push({ method: req.method ?? '', url: req.url ?? '', authorization: req.headers.authorization });
  const url = new URL(req.url ?? '/', 'http://receiver');
  if (url.pathname === '/health') res.writeHead(200, { 'content-type': 'application/json' }).end('{"ok":true}');
  // A stand-in OAuth provider: its consent page approves at once and sends the browser back.
  else if (url.pathname === '/oauth/login/oauth/authorize') {
    const back = new URL(url.searchParams.get('redirect_uri')!);
    back.searchParams.set('code', 'consented-code');
    back.searchParams.set('state', url.searchParams.get('state')!);
    res.writeHead(302, { location: back.href }).end();
  } else if (url.pathname === '/oauth/login/oauth/access_token') {
    let body = '';
    req.on('data', (c) => (body += c));
    req.on('end', () => {
      const ok = new URLSearchParams(body).get('code') === 'consented-code';
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(ok ? { access_token: 'gho_browser', token_type: 'bearer', scope: 'repo' } : { error: 'bad_verification_code' }));
    });
  } else res.writeHead(404).end();
});
let receiverUrl = '';

beforeAll(async () => {
  await new Promise<void>((r) => receiver.listen(0, '127.0.0.1', () => r()));
  receiverUrl = `http://127.0.0.1:${(receiver.address() as AddressInfo).port}`;
  // Loopback is refused by the egress guard unless listed: this receiver's address and port only.
  [server, browser] = await Promise.all([startServer({ V01T_EGRESS_ALLOW: `127.0.0.1:${(receiver.address() as AddressInfo).port}`, WORKFLOW_POLL_SECONDS: '1' }), launchBrowser()]);
  context = await newContext(browser);
  page = await context.newPage();
});

afterAll(async () => {
  await context?.close();
  await browser?.close();
  await server?.stop();
  await new Promise((r) => receiver.close(r));
});

const apiCall = <T>(method: string, path: string, body?: unknown) => apiCallIn<T>(page, method, path, body);

const nav = () => page.getByRole('navigation', { name: 'Main' });

describe('web app: runs, approvals and connections', () => {
  let runId = '';
  let workflowId = '';

  it('signs up and creates a workspace', async () => {
    await page.goto(`${server.url}/signup`);
    await page.getByLabel('Name').fill('Rita Runner');
    await page.getByLabel('Email').fill('rita@example.test');
    await page.getByLabel('Password').fill('a long and careful passphrase 31');
    await page.getByRole('button', { name: 'Create account' }).click();
    await page.waitForURL(/\/workspaces\/new/);
    await page.getByLabel('Workspace name').fill('Runner Studio');
    await page.getByRole('button', { name: 'Create workspace' }).click();
    await page.waitForURL(/\/w\/[0-9a-f-]+\/settings/);
    workspaceId = /\/w\/([0-9a-f-]+)\//.exec(page.url())![1]!;
  });

  it('shows the empty runs list and approvals inbox', async () => {
    await nav().getByRole('link', { name: 'Runs' }).click();
    await page.getByText('No runs yet').waitFor();
    await expectAccessible(page, 'runs (empty)');
    await nav().getByRole('link', { name: 'Approvals' }).click();
    await page.getByText('Nothing waits for your approval').waitFor();
    await expectAccessible(page, 'approvals (empty)');
  });

  it('follows a run live on its page: the steps update without a reload until it waits for approval', async () => {
    const created = await apiCall<{ workflow: { id: string } }>('POST', `/v1/workspaces/${workspaceId}/workflows`, {
      name: 'Publish with sign-off',
      steps: [
        { id: 'gate', type: 'approval', with: { expiresInMs: 3_600_000 } },
        { id: 'prepare', type: 'transform', with: { expression: '{"title": input.title & "!"}' } },
        { id: 'ask', type: 'approval', with: { expiresInMs: 3_600_000 } },
        { id: 'finish', type: 'transform', with: { expression: 'steps.prepare.output.title' } },
      ],
    });
    expect(created.status).toBe(201);
    workflowId = created.body.workflow.id;
    const started = await apiCall<{ run: { id: string } }>('POST', `/v1/workspaces/${workspaceId}/workflows/${created.body.workflow.id}/runs`, { input: { title: 'Launch' } });
    expect(started.status).toBe(202);
    runId = started.body.run.id;

    await page.goto(`${server.url}/w/${workspaceId}/runs/${runId}`);
    await page.getByRole('heading', { name: 'Run of Publish with sign-off' }).waitFor();
    await page.getByRole('heading', { name: 'Waiting for approval at step “gate”' }).waitFor({ timeout: 60_000 });
    await expectAccessible(page, 'run page (waiting)');

    // Decided elsewhere (another teammate, the API): this page, never reloaded, follows.
    const marker = await page.evaluate(() => ((globalThis as unknown as { __notReloaded: boolean }).__notReloaded = true));
    expect(marker).toBe(true);
    const approved = await apiCall('POST', `/v1/workspaces/${workspaceId}/runs/${runId}/approve`, { comment: 'gate open' });
    expect(approved.status).toBe(200);
    await page.getByRole('heading', { name: 'Waiting for approval at step “ask”' }).waitFor({ timeout: 60_000 });
    await page.locator('.timeline-item', { hasText: 'prepare' }).getByText('succeeded').waitFor();
    expect(await page.evaluate(() => (globalThis as unknown as { __notReloaded?: boolean }).__notReloaded)).toBe(true);
    await page.locator('summary', { hasText: 'Output of prepare (attempt 1)' }).click();
    await page.getByText('"title": "Launch!"').waitFor();
    await screenshot(page, 'run-live');
  });

  it('approves the run from the approvals inbox and sees it succeed', async () => {
    await nav().getByRole('link', { name: 'Approvals' }).click();
    await page.getByText('Publish with sign-off').waitFor();
    await page.getByText('step “ask”').waitFor();
    await expectAccessible(page, 'approvals inbox');
    await screenshot(page, 'approvals');
    await page.getByRole('button', { name: `Approve run ${runId.slice(0, 8)}` }).click();
    await page.getByText('Nothing waits for your approval').waitFor();

    await page.goto(`${server.url}/w/${workspaceId}/runs/${runId}`);
    await page.getByTestId('run-status').getByText('succeeded').waitFor({ timeout: 60_000 });
    await page.locator('.timeline-item', { hasText: 'finish' }).getByText('succeeded').waitFor();
    await expectAccessible(page, 'run page (succeeded)');
  });

  it('lists runs with filters', async () => {
    await nav().getByRole('link', { name: 'Runs' }).click();
    await page.getByRole('link', { name: new RegExp(`Run ${runId.slice(0, 8)}`) }).waitFor();
    await page.getByLabel('Status').selectOption('failed');
    await page.getByRole('button', { name: 'Filter' }).click();
    await page.getByText('No runs match these filters').waitFor();
    await page.getByLabel('Status').selectOption('succeeded');
    await page.getByLabel('Trigger').selectOption('manual');
    await page.getByRole('button', { name: 'Filter' }).click();
    await page.getByRole('link', { name: new RegExp(`Run ${runId.slice(0, 8)}`) }).waitFor();
    await expectAccessible(page, 'runs list');
  });

  it('cancels a waiting run from its page, which then stops updating', async () => {
    const started = await apiCall<{ run: { id: string } }>('POST', `/v1/workspaces/${workspaceId}/workflows/${workflowId}/runs`, { input: { title: 'Never' } });
    await page.goto(`${server.url}/w/${workspaceId}/runs/${started.body.run.id}`);
    await page.getByRole('heading', { name: 'Waiting for approval at step “gate”' }).waitFor({ timeout: 60_000 });
    await page.getByText('(updating live)').waitFor();
    await page.getByRole('button', { name: 'Cancel run' }).click();
    await page.getByTestId('run-status').getByText('cancelled').waitFor({ timeout: 30_000 });
    await page.getByText('(updating live)').waitFor({ state: 'detached' });
    await page.getByRole('button', { name: 'Cancel run' }).waitFor({ state: 'detached' });
    await expectAccessible(page, 'run page (cancelled)');
  });

  it('creates an HTTP connection through the form made from its schema, with errors next to the fields', async () => {
    await nav().getByRole('link', { name: 'Connections' }).click();
    await page.getByText('No connections yet').waitFor();
    await expectAccessible(page, 'connections catalog');
    await page.getByRole('link', { name: 'Connect HTTP (generic REST)' }).click();
    await page.getByRole('heading', { name: 'Connect HTTP (generic REST)' }).waitFor();
    await expectAccessible(page, 'new connection');
    await page.getByLabel('Connection name').fill('Local API');
    // The browser's own check, beside the field.
    await page.getByLabel('Base URL (required)').fill('not a url');
    await page.getByRole('button', { name: 'Create connection' }).click();
    await page.getByText('A full URL, e.g. https://example.com/path').waitFor();
    await page.getByLabel('Health path', { exact: true }).fill('no-leading-slash');
    await page.getByRole('button', { name: 'Create connection' }).click();
    await page.locator('.field', { has: page.getByLabel('Health path', { exact: true }) }).locator('.field-error').getByText(/expected format/).waitFor();
    // The server's check (problem+json detail and field path), beside the field too.
    await page.getByLabel('Base URL (required)').fill(receiverUrl);
    await page.getByLabel('Health path', { exact: true }).fill('/health');
    await page.getByLabel('Connection name').fill('x'.repeat(101));
    await page.getByRole('button', { name: 'Create connection' }).click();
    await page.getByRole('alert').filter({ hasText: 'name' }).waitFor();
    await page.locator('.field', { has: page.getByLabel('Connection name') }).locator('.field-error').waitFor();
    await expectAccessible(page, 'new connection (errors)');
    await page.getByLabel('Connection name').fill('Local API');
    await page.getByRole('button', { name: 'Create connection' }).click();
    await page.waitForURL(/\/connections\/[0-9a-f-]{36}\?created=1/);
    await page.getByRole('heading', { name: 'Local API' }).waitFor();
  });

  it('refuses a loopback port the allow list does not name', async () => {
    const other = await apiCall<{ code: string; detail: string }>('POST', `/v1/workspaces/${workspaceId}/connections`, { connector: 'http', name: 'Other port', credentials: { type: 'none' }, config: { baseUrl: `http://127.0.0.1:${Number(new URL(receiverUrl).port) + 1}` } });
    const connectionId = (other.body as unknown as { connection?: { id: string } }).connection?.id;
    if (connectionId) {
      const tested = await apiCall<{ ok?: boolean; code?: string; detail: string }>('POST', `/v1/workspaces/${workspaceId}/connections/${connectionId}/test`);
      // Refused before any connection: a problem (egress_blocked) or a failed test naming it.
      expect(tested.body.ok ?? false).toBe(false);
      expect(`${tested.body.code ?? ''} ${tested.body.detail}`).toMatch(/egress_blocked|V01T_EGRESS_ALLOW/);
      expect((await apiCall('DELETE', `/v1/workspaces/${workspaceId}/connections/${connectionId}`)).status).toBe(204);
    } else {
      expect(other.body.code).toBe('egress_blocked');
    }
  });

  it('tests the connection against the local receiver and shows the request log', async () => {
    await page.getByRole('button', { name: 'Test connection' }).click();
    await page.getByText('Connection works').waitFor({ timeout: 30_000 });
    expect(seen.filter((r) => r.url === '/health').length).toBeGreaterThanOrEqual(1);
    // Health probes are measured, not logged; the log is the connection's activity: an action call.
    await page.getByText('No requests yet').waitFor();
    // An action run from its own schema form: the receiver's answer comes back, the log records it.
    await page.getByLabel('Action', { exact: true }).selectOption('request');
    await page.getByRole('group', { name: 'Input' }).getByLabel('Path', { exact: true }).fill('/health');
    await page.getByRole('button', { name: 'Run action' }).click();
    await page.getByLabel('Action output').getByText('"status": 200').waitFor({ timeout: 30_000 });
    await expect
      .poll(
        async () => {
          await page.getByRole('button', { name: 'Refresh' }).click();
          return page.getByRole('table', { name: 'Outbound requests, newest first' }).getByText('/health').count();
        },
        { timeout: 30_000 },
      )
      .toBeGreaterThanOrEqual(1);
    await expectAccessible(page, 'connection page');
    await page.getByRole('heading', { name: 'Local API' }).scrollIntoViewIfNeeded();
    await page.evaluate(() => (globalThis as unknown as { scrollTo: (x: number, y: number) => void }).scrollTo(0, 0));
    await screenshot(page, 'connection');
  });

  it('replaces the secret without ever showing it back', async () => {
    const token = 'sk-browser-test-9f8e7d6c5b4a';
    await page.getByRole('button', { name: 'Replace secret' }).click();
    await page.getByLabel('Type', { exact: true }).selectOption('bearer');
    await page.getByLabel('Token (required)').fill(token);
    await page.getByRole('button', { name: 'Save new secret' }).click();
    await page.getByText('Secret replaced.').waitFor();
    await page.locator('code.chip', { hasText: 'token' }).waitFor();
    await page.getByRole('button', { name: 'Test connection' }).click();
    await expect.poll(() => seen.filter((r) => r.authorization === `Bearer ${token}`).length, { timeout: 30_000 }).toBeGreaterThanOrEqual(1);
    await page.reload();
    await page.getByRole('heading', { name: 'Local API' }).waitFor();
    expect(await page.content()).not.toContain(token);
  });

  it('sets a rate limit on the connection', async () => {
    await page.getByLabel('Requests', { exact: true }).fill('300');
    await page.getByLabel('Window (seconds)').fill('900');
    await page.getByRole('button', { name: 'Save settings' }).click();
    await page.getByText('300 per 900 s (burst 1)').waitFor();
    await page.getByLabel('Requests', { exact: true }).fill('0');
    await page.getByRole('button', { name: 'Save settings' }).click();
    await page.getByText('A whole number from 1 to 100000').waitFor();
  });

  it('connects an OAuth connection: the browser goes to the provider and comes back to the connection page', async () => {
    await nav().getByRole('link', { name: 'Connections' }).click();
    await page.getByRole('link', { name: /^Connect GitHub/ }).click();
    await page.getByLabel('Owner (required)').fill('octo');
    await page.getByLabel('Repo (required)').fill('site');
    await page.getByLabel('OAuth base URL', { exact: true }).fill(`${receiverUrl}/oauth`);
    await page.getByLabel('Type', { exact: true }).selectOption('oauth2');
    await page.getByLabel('Client ID (required)').fill('client-1');
    await page.getByLabel('Client secret (required)').fill('client-secret-1');
    await page.getByRole('button', { name: 'Create connection' }).click();
    // GitHub posts inbound webhooks: their secret URL is shown once, then the connection opens.
    await page.getByText('Copy it now: it will not be shown again.').waitFor();
    expect(await page.locator('code.secret').textContent()).toMatch(new RegExp(`^${server.url}/hooks/connections/[A-Za-z0-9_-]{20,}$`));
    await page.getByRole('link', { name: 'Open the connection' }).click();
    await page.waitForURL(/\/connections\/[0-9a-f-]{36}$/);
    await page.getByText('needs reauth').first().waitFor();
    await page.getByRole('button', { name: 'Connect with the provider' }).click();
    await page.waitForURL(/\/connections\/[0-9a-f-]{36}\?oauth=connected$/, { timeout: 30_000 });
    await page.getByText('Authorised at the provider: the connection is active.').waitFor();
    await page.locator('.facts .badge-active').waitFor();
    expect(seen.some((r) => r.url.startsWith('/oauth/login/oauth/access_token'))).toBe(true);
    await expectAccessible(page, 'connection page (after OAuth)');
    // Deleting asks once more.
    await page.getByRole('button', { name: 'Delete…' }).click();
    await page.getByRole('button', { name: 'Keep it' }).click();
    await page.getByRole('button', { name: 'Delete…' }).click();
    await page.getByRole('button', { name: 'Delete for good' }).click();
    await page.waitForURL(/\/connections$/);
    await page.getByRole('link', { name: 'Local API' }).waitFor();
    await page.getByRole('table', { name: 'Connections of this workspace' }).getByRole('link', { name: 'GitHub', exact: true }).waitFor({ state: 'detached' });
  });

  it('the audit log shows the approvals and the connection changes, in the dark theme at 375 px', async () => {
    await page.setViewportSize({ width: 375, height: 800 });
    await page.getByRole('button', { name: 'Switch to dark theme' }).click();
    expect(await page.evaluate(() => (globalThis as unknown as { document: { documentElement: { dataset: { theme?: string } } } }).document.documentElement.dataset.theme)).toBe('dark');
    await nav().getByRole('link', { name: 'Audit log' }).click();
    for (const action of ['workflow.run.approved', 'workflow.run.cancelled', 'integration.connection.created', 'integration.connection.updated', 'integration.connection.deleted']) {
      await page.getByRole('cell', { name: action }).first().waitFor();
    }
    expect(await page.getByRole('cell', { name: 'workflow.run.approved' }).count()).toBe(2);
    await expectAccessible(page, 'audit log (375 px)');
    await nav().getByRole('link', { name: 'Connections' }).click();
    await page.getByRole('link', { name: 'Local API' }).waitFor();
    await page.getByRole('button', { name: 'Check health of all' }).click();
    await page.getByRole('row', { name: /Local API/ }).getByText('up', { exact: true }).waitFor({ timeout: 30_000 });
    await expectAccessible(page, 'connections (375 px)');
    const overflow = await page.evaluate(() => {
      const d = (globalThis as unknown as { document: { documentElement: { scrollWidth: number; clientWidth: number } } }).document.documentElement;
      return d.scrollWidth - d.clientWidth;
    });
    expect(overflow).toBeLessThanOrEqual(1);
  });
});
