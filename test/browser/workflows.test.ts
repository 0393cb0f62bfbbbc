import { afterAll, beforeAll, beforeEach, describe, expect, it, onTestFailed } from 'vitest';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { expectAccessible, launchBrowser, newContext, screenshot, startServer, type Server } from './harness.js';

/**
 * The workflows screens as a person uses them, in Debian's Chromium against a real `v01t start`:
 * a 3-step workflow built on the canvas (steps added from the toolbar, settings typed into the
 * forms generated from each step type), a validation error pinned to its node and field, save,
 * enable, run now and the run succeeding, a second version and its diff, templates; axe on the
 * list, the template gallery and the editor, also at 375 px in the dark theme.
 */
let server: Server;
let browser: Browser;
let context: BrowserContext;
let page: Page;
let workspaceUrl = '';

beforeAll(async () => {
  [server, browser] = await Promise.all([startServer(), launchBrowser()]);
  context = await newContext(browser);
  page = await context.newPage();
  // A script error in the app fails loudly in the output instead of as a later timeout.
  page.on('pageerror', (err) => console.error(`page error: ${err.message}`));
});

afterAll(async () => {
  await browser?.close();
  await server?.stop();
});

const scrollWidth = (p: Page) => p.evaluate(() => (globalThis as unknown as { document: { documentElement: { scrollWidth: number } } }).document.documentElement.scrollWidth);

/** Picks an option of the React Aria select labelled `label` inside `scope`. */
async function choose(p: Page, scope: string, option: string) {
  await p.locator(scope).locator('.select-button').first().click();
  await p.getByRole('option', { name: option, exact: true }).click();
}

async function addStep(p: Page, title: string) {
  await choose(p, '.wf-toolbar', title);
  await p.getByRole('button', { name: 'Add step' }).click();
}

describe('web app: workflows', () => {
  // What the page showed when a step failed, for the CI log's artefacts.
  beforeEach(() => onTestFailed(async () => void (await page?.screenshot({ path: `${process.env.TMPDIR ?? '/tmp'}/v01t-workflows-failure.png`, fullPage: true }).catch(() => undefined))));

  it('signs up and creates a workspace', async () => {
    await page.goto(`${server.url}/signup`);
    await page.getByLabel('Name').fill('Wanda Flow');
    await page.getByLabel('Email').fill('wanda@example.test');
    await page.getByLabel('Password').fill('a long enough passphrase 31');
    await page.getByRole('button', { name: 'Create account' }).click();
    await page.waitForURL(/\/workspaces\/new/);
    await page.getByLabel('Workspace name').fill('Flow Studio');
    await page.getByRole('button', { name: 'Create workspace' }).click();
    await page.waitForURL(/\/w\/[0-9a-f-]+\/settings/);
    workspaceUrl = page.url().replace(/\/settings.*$/, '');
    await page.locator('label.checkbox', { hasText: 'vAnalyst' }).click();
    await page.getByRole('button', { name: 'Save personas' }).click();
    await page.getByText('Saved.').waitFor();
  });

  it('shows an empty list that teaches the next step, and templates per persona', async () => {
    await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Workflows' }).click();
    await page.waitForURL(/\/workflows$/);
    await page.getByRole('heading', { name: 'No workflows yet' }).waitFor();
    await expectAccessible(page, 'workflows (empty)');
    await page.getByRole('link', { name: 'Create your first workflow' }).click();
    await page.waitForURL(/\/workflows\/new$/);
    await page.getByRole('heading', { name: 'Templates' }).waitFor();
    for (const persona of ['Founder', 'vCreator', 'vBuilder', 'vAnalyst', 'vAutomator']) await expect(page.getByText(`For ${persona}`).count()).resolves.toBeGreaterThan(0);
    // The persona picked for this workspace comes first.
    await expect(page.locator('.template-card').first().textContent()).resolves.toMatch(/Suggested for you.*For vAnalyst/);
    await expectAccessible(page, 'new workflow (templates)');
    await page.getByRole('link', { name: 'Start from scratch' }).click();
    await page.waitForURL(/\/workflows\/draft$/);
  });

  it('builds a 3-step workflow on the canvas; a missing field is pinned to its node and field', async () => {
    await page.getByLabel('Workflow name').fill('Greet and signal');
    await page.locator('.react-flow__node').first().waitFor();
    await addStep(page, 'Transform');
    await page.getByLabel('Expression (required)').fill('{"greeting": "Hello " & input.name}');
    await addStep(page, 'Condition');
    await page.getByLabel('Expression (required)').fill('$contains(steps.transform_1.output.greeting, "Hello")');
    await addStep(page, 'Emit signal');
    // The trigger and three steps are nodes on the canvas, joined in list order.
    await expect.poll(() => page.locator('.react-flow__node').count()).toBe(4);
    await expect.poll(() => page.locator('.react-flow__edge').count()).toBe(3);
    // Leave the emit step's required signal empty: the server refuses and the error lands on the node and the field.
    await page.getByLabel('Signal (required)').fill('');
    await page.getByRole('button', { name: 'Create workflow' }).click();
    await page.getByRole('navigation', { name: 'Validation errors' }).waitFor();
    await expect(page.getByRole('navigation', { name: 'Validation errors' }).textContent()).resolves.toContain('steps[2].with.signal');
    await expect(page.locator('.react-flow__node', { hasText: 'emit_1' }).locator('.wf-node-badge').textContent()).resolves.toBe('1 error');
    await expect(page.getByLabel('Signal (required)').getAttribute('aria-invalid')).resolves.toBe('true');
    await expectAccessible(page, 'workflow editor with errors');
    await page.getByLabel('Signal (required)').fill('greeting.sent');
    await page.getByRole('button', { name: 'Create workflow' }).click();
    await page.waitForURL(/\/workflows\/[0-9a-f-]{36}$/);
    await page.getByText('All changes saved.').waitFor();
    await expect(page.locator('.wf-node-badge').count()).resolves.toBe(0);
    await page.locator('.react-flow__node').nth(3).waitFor();
    await expectAccessible(page, 'workflow editor');
  });

  it('reaches every node from the keyboard and edits a step from the outline', async () => {
    // Canvas nodes are focusable; Enter selects one and opens its settings.
    await page.locator('.react-flow__node', { hasText: 'condition_1' }).focus();
    await page.keyboard.press('Enter');
    await page.getByRole('heading', { name: /Step 2: Condition/ }).waitFor();
    await page.getByRole('navigation', { name: 'Steps' }).getByRole('button', { name: /3\. emit_1/ }).press('Enter');
    await page.getByRole('heading', { name: /Step 3: Emit signal/ }).waitFor();
    await page.getByRole('tab', { name: 'Canvas' }).scrollIntoViewIfNeeded();
    await page.evaluate(() => (globalThis as unknown as { scrollBy(x: number, y: number): void }).scrollBy(0, 280));
    await screenshot(page, 'workflow-editor');
  });

  it('enables the workflow, runs it with an input and sees the run succeed', async () => {
    // A new workflow starts enabled; turning it off and on again goes through the API each time.
    await page.locator('.badge', { hasText: 'Enabled' }).waitFor();
    await page.getByRole('button', { name: 'Disable', exact: true }).click();
    await page.locator('.badge', { hasText: 'Disabled' }).waitFor();
    await page.getByRole('tab', { name: 'Run' }).click();
    await expect(page.getByRole('button', { name: 'Run now' }).isDisabled()).resolves.toBe(true);
    await page.getByRole('button', { name: 'Enable', exact: true }).click();
    await page.locator('.badge', { hasText: 'Enabled' }).waitFor();
    await page.getByRole('tab', { name: 'Run' }).click();
    await page.getByLabel('Run input (JSON)').fill('{"name": "Ada"}');
    await page.getByRole('button', { name: 'Run now' }).click();
    const status = page.getByTestId('run-status');
    await expect.poll(() => status.textContent(), { timeout: 60_000 }).toBe('succeeded');
    const href = await page.locator('.run-summary a').getAttribute('href');
    expect(href).toMatch(new RegExp(`^${new URL(workspaceUrl).pathname}/runs/[0-9a-f-]{36}$`));
    await expect(page.locator('.run-summary pre').textContent()).resolves.toContain('greeting.sent');
    await expectAccessible(page, 'workflow run now');
  });

  it('saves a second version and shows the diff between versions', async () => {
    await page.getByRole('tab', { name: 'Canvas' }).click();
    await page.getByRole('navigation', { name: 'Steps' }).getByRole('button', { name: /3\. emit_1/ }).click();
    await page.getByLabel('Signal (required)').fill('greeting.delivered');
    await page.getByRole('button', { name: 'Save new version' }).click();
    await page.getByText('Saved as version 2.').waitFor();
    await page.getByRole('tab', { name: 'Versions' }).click();
    await page.getByText('v1 → v2: 1 lines added, 1 removed').waitFor();
    const diff = page.locator('pre.diff');
    await expect(diff.locator('.diff-add').textContent()).resolves.toContain('greeting.delivered');
    await expect(diff.locator('.diff-remove').textContent()).resolves.toContain('greeting.sent');
    await expectAccessible(page, 'workflow versions');
  });

  it('shows the whole definition as JSON that round-trips onto the canvas', async () => {
    await page.getByRole('tab', { name: 'JSON' }).click();
    const json = JSON.parse(await page.getByLabel('Definition (JSON)').inputValue()) as { steps: { id: string; type: string }[] };
    expect(json.steps.map((s) => `${s.id}:${s.type}`)).toEqual(['transform_1:transform', 'condition_1:condition', 'emit_1:emit']);
    // Rename a step in the JSON, apply: the canvas follows.
    await page.getByLabel('Definition (JSON)').fill(JSON.stringify({ ...json, steps: json.steps.map((s) => (s.id === 'emit_1' ? { ...s, id: 'announce' } : s)) }, null, 2));
    await page.getByRole('button', { name: 'Apply JSON' }).click();
    await page.getByRole('tab', { name: 'Canvas' }).click();
    await page.locator('.react-flow__node', { hasText: 'announce' }).waitFor();
    await page.getByText('Unsaved changes.').waitFor();
  });

  it('lists the workflow with its state and last run, and finds it by search', async () => {
    await page.goto(`${workspaceUrl}/workflows`);
    const row = page.getByRole('row', { name: /Greet and signal/ });
    await row.waitFor();
    await expect(row.textContent()).resolves.toMatch(/Enabled.*manual.*v2.*succeeded/);
    await page.getByLabel('Search workflows').fill('nothing like it');
    await page.getByText('No workflow matches your search').waitFor();
    await page.getByLabel('Search workflows').fill('greet');
    await row.waitFor();
    await expectAccessible(page, 'workflows list');
    await screenshot(page, 'workflows-list');
  });

  it('creates a workflow from a template and shows its webhook URL once, with a copy button', async () => {
    await page.goto(`${workspaceUrl}/workflows/new`);
    await page.getByRole('link', { name: /Use this template.*Route incoming webhooks/ }).click();
    await page.locator('.react-flow__node', { hasText: 'is_urgent' }).waitFor();
    await expect(page.locator('.react-flow__edge').count()).resolves.toBe(5);
    await page.getByRole('button', { name: 'Create workflow' }).click();
    await page.waitForURL(/\/workflows\/[0-9a-f-]{36}$/);
    const url = await page.getByTestId('webhook-url').textContent();
    expect(url).toMatch(new RegExp(`^${server.url}/hooks/workflows/`));
    await page.getByRole('button', { name: 'Copy URL' }).waitFor();
    // The template's sample input is ready in "Run now"; its urgent branch runs to the end.
    await page.getByRole('tab', { name: 'Run' }).click();
    expect(JSON.parse(await page.getByLabel('Run input (JSON)').inputValue())).toMatchObject({ priority: 'high' });
    await page.getByRole('button', { name: 'Run now' }).click();
    await expect.poll(() => page.getByTestId('run-status').textContent(), { timeout: 60_000 }).toBe('succeeded');
    await expect(page.locator('.run-summary pre').textContent()).resolves.toContain('"handled": true');
  });

  it('connects steps from the panel and by dragging on the canvas, and removes an edge with the keyboard', async () => {
    await page.goto(`${workspaceUrl}/workflows/draft`);
    await page.locator('.react-flow__node').first().waitFor();
    for (const title of ['Transform', 'Transform', 'Emit signal']) await addStep(page, title);
    await expect.poll(() => page.locator('.react-flow__node').count()).toBe(4);
    // transform_1 skips transform_2: its "Next step" is emit_1 (the keyboard twin of dragging a handle).
    await page.getByRole('navigation', { name: 'Steps' }).getByRole('button', { name: /1\. transform_1/ }).click();
    await choose(page, '.wf-panel section:has(h2:has-text("Step 1"))', 'emit_1');
    const explicit = page.locator('.react-flow__edge.wf-edge-next');
    await expect.poll(() => explicit.count()).toBe(1);
    await page.getByRole('tab', { name: 'JSON' }).click();
    expect((JSON.parse(await page.getByLabel('Definition (JSON)').inputValue()) as { steps: { id: string; next?: string }[] }).steps[0]).toMatchObject({ id: 'transform_1', next: 'emit_1' });
    // The same edge, focused and selected with the keyboard, is removed with Delete.
    await page.getByRole('tab', { name: 'Canvas' }).click();
    await explicit.first().focus();
    await page.keyboard.press('Enter');
    await page.keyboard.press('Delete');
    await expect.poll(() => explicit.count()).toBe(0);
    await page.getByRole('tab', { name: 'JSON' }).click();
    const after = JSON.parse(await page.getByLabel('Definition (JSON)').inputValue()) as { steps: { id: string; next?: string }[] };
    expect(after.steps.map((x) => x.id)).toEqual(['transform_1', 'transform_2', 'emit_1']);
    expect(after.steps[0]!.next).toBeUndefined();
    // With a pointer: drag from transform_1's bottom handle onto emit_1's top handle.
    await page.getByRole('tab', { name: 'Canvas' }).click();
    await page.locator('.wf-canvas').scrollIntoViewIfNeeded();
    await page.getByRole('button', { name: /fit view/i }).click();
    const from = await page.locator('.react-flow__node[data-id="transform_1"] .react-flow__handle.source').boundingBox();
    const to = await page.locator('.react-flow__node[data-id="emit_1"] .react-flow__handle.target').boundingBox();
    await page.mouse.move(from!.x + from!.width / 2, from!.y + from!.height / 2);
    await page.mouse.down();
    await page.mouse.move(to!.x + to!.width / 2, to!.y + to!.height / 2, { steps: 12 });
    await page.mouse.up();
    await expect.poll(() => explicit.count()).toBe(1);
  });

  it('holds at 375 px in the dark theme and stays accessible', async () => {
    const small = await browser.newContext({ viewport: { width: 375, height: 800 }, colorScheme: 'dark', storageState: await context.storageState() });
    const p = await small.newPage();
    await p.goto(`${workspaceUrl}/workflows`);
    await p.getByRole('row', { name: /Greet and signal/ }).waitFor();
    await expectAccessible(p, 'workflows list at 375 px (dark)');
    expect(await scrollWidth(p)).toBeLessThanOrEqual(375);
    await p.getByRole('link', { name: 'Greet and signal' }).click();
    await p.locator('.react-flow__node').nth(3).waitFor();
    await expectAccessible(p, 'workflow editor at 375 px (dark)');
    expect(await scrollWidth(p)).toBeLessThanOrEqual(375);
    await small.close();
  });
});
