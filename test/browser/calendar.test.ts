import http from 'node:http';
import { createHash } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { expectAccessible, launchBrowser, newContext, screenshot, startServer, type Server, apiCallIn } from './harness.js';

/**
 * The creator's journey in Debian's Chromium against a real `v01t start`: a webhook channel pointed
 * at a local receiver (loopback allowed only because V01T_EGRESS_ALLOW names it), a campaign, a post
 * composed with an image and its alt text, scheduled, dragged to another day on the calendar, then
 * published by the server's own publisher loop: the receiver gets it exactly once and the
 * campaign's progress moves. A published post refuses to move and the calendar says why. Persona
 * homes switch. axe on every screen, 375 px and the dark theme.
 */
let server: Server;
let browser: Browser;
let context: BrowserContext;
let page: Page;
let workspaceId = '';

// A real 1×1 PNG, so the preview shows an image and the server's type sniffing accepts it.
const PNG = Buffer.from('iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg==', 'base64');
const ALT = 'A sunrise over the harbour';
const TEXT = 'Spring launch: our new studio opens today!';

interface Delivery {
  id: string;
  text: string;
  media: { altText: string | null; sha256: string; contentType: string }[];
}
const deliveries: Delivery[] = [];
const refused = new Set<string>();
const receiver = http.createServer((req, res) => {
  const chunks: Buffer[] = [];
  req.on('data', (c: Buffer) => chunks.push(c));
  req.on('end', () => {
    const body = JSON.parse(Buffer.concat(chunks).toString('utf8') || '{}') as { data?: { text?: string; media?: Delivery['media'] } };
    const text = body.data?.text ?? '';
    // The provider refuses the first attempt of a post that asks for it (a permanent 4xx).
    if (text.startsWith('Refuse me') && !refused.has(text)) {
      refused.add(text);
      res.writeHead(422, { 'content-type': 'application/json' }).end('{"message":"duplicate status: this text was already posted"}');
      return;
    }
    deliveries.push({ id: String(req.headers['webhook-id']), text, media: body.data?.media ?? [] });
    res.writeHead(200, { 'content-type': 'application/json' }).end('{"ok":true}');
  });
});

const dayPlus = (n: number) => new Date(Date.now() + n * 86_400_000).toISOString().slice(0, 10);

beforeAll(async () => {
  await new Promise<void>((r) => receiver.listen(0, '127.0.0.1', () => r()));
  const port = (receiver.address() as AddressInfo).port;
  [server, browser] = await Promise.all([startServer({ V01T_EGRESS_ALLOW: `127.0.0.1:${port}` }), launchBrowser()]);
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

const scrollWidth = (p: Page) => p.evaluate(() => (globalThis as unknown as { document: { documentElement: { scrollWidth: number } } }).document.documentElement.scrollWidth);

/** Drags an element onto another with the mouse, in steps (FullCalendar starts a drag after a few pixels). */
async function drag(from: ReturnType<Page['locator']>, to: ReturnType<Page['locator']>) {
  const a = (await from.boundingBox())!;
  const b = (await to.boundingBox())!;
  await page.mouse.move(a.x + a.width / 2, a.y + a.height / 2);
  await page.mouse.down();
  await page.mouse.move(a.x + a.width / 2 + 10, a.y + a.height / 2 + 10, { steps: 5 });
  await page.mouse.move(b.x + b.width / 2, b.y + b.height / 2, { steps: 15 });
  await page.mouse.up();
}

describe('web app: content calendar and persona homes', () => {
  let postId = '';
  let campaignId = '';
  const firstDay = dayPlus(2);
  let movedDay = '';

  it('signs up, picks the Founder and vCreator personas, and connects a webhook', async () => {
    await page.goto(`${server.url}/signup`);
    await page.getByLabel('Name').fill('Cleo Creator');
    await page.getByLabel('Email').fill('cleo@example.test');
    await page.getByLabel('Password').fill('a long and careful passphrase 42');
    await page.getByRole('button', { name: 'Create account' }).click();
    await page.waitForURL(/\/workspaces\/new/);
    await page.getByLabel('Workspace name').fill('Cleo Studio');
    await page.getByRole('button', { name: 'Create workspace' }).click();
    await page.waitForURL(/\/w\/[0-9a-f-]+\/settings/);
    workspaceId = /\/w\/([0-9a-f-]+)\//.exec(page.url())![1]!;
    await page.locator('label.checkbox', { hasText: 'Founder' }).click();
    await page.locator('label.checkbox', { hasText: 'vCreator' }).click();
    await page.getByRole('button', { name: 'Save personas' }).click();
    await page.getByText('Saved.').waitFor();
    // The connection is seeded through the public API (its form is covered by runs-connections.test.ts).
    const port = (receiver.address() as AddressInfo).port;
    const conn = await apiCall<{ connection: { id: string } }>('POST', `/v1/workspaces/${workspaceId}/connections`, {
      connector: 'webhook',
      name: 'Studio hook',
      credentials: { secret: `whsec_${Buffer.from('0123456789abcdef0123456789abcdef').toString('base64')}` },
      config: { url: `http://127.0.0.1:${port}/hook` },
    });
    expect(conn.status, JSON.stringify(conn.body)).toBe(201);
  });

  it('adds a channel with weekly queue slots', async () => {
    await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Calendar' }).click();
    await page.getByText('No channel yet').waitFor();
    await expectAccessible(page, 'calendar (no channel)');
    await page.getByRole('navigation', { name: 'Content' }).getByRole('link', { name: 'Channels' }).click();
    await page.getByLabel('Channel name').fill('Launch hook');
    await page.getByLabel('Time zone').selectOption('UTC');
    await page.getByRole('button', { name: 'Add channel' }).click();
    await page.getByRole('heading', { name: 'Launch hook · Webhook' }).waitFor();
    await page.getByRole('button', { name: 'Settings of Launch hook' }).click();
    await page.getByLabel('Slot day').selectOption('3');
    await page.getByLabel('Slot time').fill('14:30');
    await page.getByRole('button', { name: 'Add slot' }).click();
    await page.getByLabel('Text limit (characters)').fill('280');
    await page.getByRole('button', { name: 'Remove Wed 14:30' }).waitFor();
    await expectAccessible(page, 'channel settings');
    await page.getByRole('button', { name: 'Save settings' }).click();
    await page.getByText('up to 280 characters, 10 media · 1 queue slot a week').waitFor();
    const channels = await apiCall<{ channels: Record<string, unknown>[] }>('GET', `/v1/workspaces/${workspaceId}/channels`);
    expect(channels.body.channels[0]).toMatchObject({ queueSlots: [{ weekday: 3, time: '14:30' }], limits: { maxTextLength: 280 } });
  });

  it('creates a campaign with a date range and a goal', async () => {
    await page.getByRole('navigation', { name: 'Content' }).getByRole('link', { name: 'Campaigns' }).click();
    await page.getByText('No campaign yet').waitFor();
    await page.getByLabel('Name').fill('Spring launch');
    await page.getByLabel('Ends on').fill(dayPlus(30));
    await page.getByLabel('Goal').fill('Fill the studio for the opening week');
    await page.getByRole('button', { name: 'Create campaign' }).click();
    await page.getByRole('heading', { name: 'Spring launch' }).waitFor();
    await expectAccessible(page, 'campaigns');
    const list = await apiCall<{ campaigns: { id: string }[] }>('GET', `/v1/workspaces/${workspaceId}/campaigns`);
    campaignId = list.body.campaigns[0]!.id;
  });

  it('composes a post with an image and alt text, with live counts and a preview, and schedules it', async () => {
    await page.getByRole('navigation', { name: 'Content' }).getByRole('link', { name: 'Compose' }).click();
    await page.getByRole('heading', { name: 'Compose a post' }).waitFor();
    await page.getByLabel('Text', { exact: true }).fill(TEXT);
    // The counter counts as the API does and names the channel's limit.
    await page.getByText(`${[...TEXT].length} / 280 characters`).waitFor();
    await page.getByRole('group', { name: 'Preview on Webhook' }).getByText(TEXT).waitFor();
    // A per-channel text over its limit shows how far over, before any request.
    await page.getByRole('button', { name: 'Write different text for Launch hook' }).click();
    await page.getByLabel('Text for Launch hook').fill('x'.repeat(285));
    await page.getByText('285 / 280 characters — 5 over the limit').waitFor();
    await page.getByRole('button', { name: 'Use the main text' }).click();

    // A transfer that does not match the browser's SHA-256 is refused by the server, and the page says so.
    await page.route('**/media', (route) => route.continue({ headers: { ...route.request().headers(), 'x-checksum-sha256': 'a'.repeat(64) } }), { times: 1 });
    await page.locator('#cs-file').setInputFiles({ name: 'corrupt.png', mimeType: 'image/png', buffer: PNG });
    await page.getByRole('alert').getByText('The file does not match the given SHA-256 checksum').waitFor();
    await page.getByRole('button', { name: 'Remove corrupt.png' }).click();

    await page.getByLabel('Alt text for the next file').fill('A sunrise');
    await page.locator('#cs-file').setInputFiles({ name: 'sunrise.png', mimeType: 'image/png', buffer: PNG });
    await page.getByText('Uploaded').waitFor();
    await page.getByText('Alt: A sunrise').waitFor();
    await page.getByRole('button', { name: 'Edit alt text of sunrise.png' }).click();
    await page.getByLabel('Alt text of sunrise.png').fill(ALT);
    await page.getByRole('button', { name: 'Save alt text' }).click();
    await page.getByText(`Alt: ${ALT}`).waitFor();
    await page.getByRole('group', { name: 'Preview on Webhook' }).getByRole('img', { name: ALT }).waitFor();
    await page.getByLabel('Campaign').selectOption(campaignId);
    await page.locator('label.radio', { hasText: 'Schedule at a time' }).click();
    await page.getByLabel('Date and time').fill(`${firstDay}T10:00`);
    await page.getByLabel('Time zone').selectOption('UTC');
    await page.getByLabel('Frequency').selectOption('weekly');
    await page.getByText(/^Every week/).waitFor();
    await page.getByLabel('Frequency').selectOption('none');
    await expectAccessible(page, 'compose');
    await page.evaluate(() => (globalThis as unknown as { scrollTo: (x: number, y: number) => void }).scrollTo(0, 0));
    await page.locator('#cs-body').blur();
    await screenshot(page, 'compose');
    await page.getByRole('button', { name: 'Schedule', exact: true }).click();
    await page.waitForURL(/\/content\?date=/);
    const posts = await apiCall<{ posts: { id: string; status: string; scheduledAt: string; mediaIds: string[]; campaignId: string }[] }>('GET', `/v1/workspaces/${workspaceId}/posts`);
    const post = posts.body.posts[0]!;
    expect(post).toMatchObject({ status: 'scheduled', scheduledAt: `${firstDay}T10:00:00`, campaignId });
    expect(post.mediaIds).toHaveLength(1);
    postId = post.id;
  });

  it('shows the post on the calendar and drags it to another day', async () => {
    const event = page.locator(`.fc-event[data-post-id="${postId}"]`);
    await event.waitFor();
    expect(await page.locator(`td.fc-daygrid-day[data-date="${firstDay}"] .fc-event[data-post-id="${postId}"]`).count()).toBe(1);
    expect(await event.getAttribute('data-status')).toBe('scheduled');
    await expectAccessible(page, 'calendar (month)');
    await page.evaluate(() => (globalThis as unknown as { scrollTo: (x: number, y: number) => void }).scrollTo(0, 0));
    await screenshot(page, 'calendar');
    // Before publishing, the campaign counts the post as scheduled.
    const before = await apiCall<{ campaign: { progress: { scheduled: number; published: number } } }>('GET', `/v1/workspaces/${workspaceId}/campaigns/${campaignId}`);
    expect(before.body.campaign.progress).toMatchObject({ scheduled: 1, published: 0 });

    // The next day when the grid shows it, else the day before (both in the future).
    movedDay = (await page.locator(`td.fc-daygrid-day[data-date="${dayPlus(3)}"]`).count()) ? dayPlus(3) : dayPlus(1);
    await drag(event, page.locator(`td.fc-daygrid-day[data-date="${movedDay}"]`));
    await page.getByText(`Moved to ${movedDay} 10:00 (UTC).`).waitFor();
    await page.locator(`td.fc-daygrid-day[data-date="${movedDay}"] .fc-event[data-post-id="${postId}"]`).waitFor();
    const moved = await apiCall<{ post: { scheduledAt: string; targets: { dueAt: string }[] } }>('GET', `/v1/workspaces/${workspaceId}/posts/${postId}`);
    expect(moved.body.post.scheduledAt).toBe(`${movedDay}T10:00:00`);
    expect(moved.body.post.targets[0]!.dueAt).toBe(`${movedDay}T10:00:00.000Z`);
    expect(deliveries).toHaveLength(0);

    // The week and list views show it too.
    await page.getByRole('button', { name: 'List' }).click();
    await page.locator(`.fc-list-event[data-post-id="${postId}"]`).waitFor();
    await expectAccessible(page, 'calendar (list)');
    await page.getByRole('button', { name: 'Month' }).click();
  });

  it('publishes it now: the receiver gets it once, with the image and its alt text; the campaign moves', async () => {
    // Keyboard: an event takes focus and Enter opens the post (where its time can be typed too).
    await page.locator(`.fc-event[data-post-id="${postId}"]`).focus();
    await page.keyboard.press('Enter');
    await page.waitForURL(new RegExp(`/content/posts/${postId}$`));
    await page.getByRole('heading', { name: 'Channels' }).waitFor();
    await expectAccessible(page, 'post (scheduled)');
    await page.getByRole('button', { name: 'Publish now' }).click();
    // The server's own publisher loop (1 s period) sends it; the page follows the post's status.
    await expect.poll(() => deliveries.length, { timeout: 30_000 }).toBe(1);
    expect(deliveries[0]!.text).toBe(TEXT);
    expect(deliveries[0]!.media).toEqual([expect.objectContaining({ altText: ALT, contentType: 'image/png', sha256: createHash('sha256').update(PNG).digest('hex') })]);
    await expect
      .poll(async () => (await apiCall<{ post: { status: string } }>('GET', `/v1/workspaces/${workspaceId}/posts/${postId}`)).body.post.status, { timeout: 30_000 })
      .toBe('published');
    await page.reload();
    await page.locator('tr[data-target] .cs-badge', { hasText: 'Published' }).waitFor();
    await expectAccessible(page, 'post (published)');

    await page.getByRole('navigation', { name: 'Content' }).getByRole('link', { name: 'Campaigns' }).click();
    const progress = page.locator(`[data-campaign="${campaignId}"]`);
    await progress.getByRole('progressbar', { name: 'Published' }).and(page.locator('[aria-valuenow="1"]')).waitFor();
    await progress.getByRole('progressbar', { name: 'Scheduled' }).and(page.locator('[aria-valuenow="0"]')).waitFor();
    // Exactly once: nothing more arrives on later publisher rounds.
    await expect.poll(() => deliveries.length, { timeout: 3_000, interval: 1_000 }).toBe(1);
    expect(new Set(deliveries.map((d) => d.id)).size).toBe(1);
  });

  it('refuses to move a published post and says why', async () => {
    await page.goto(`${server.url}/w/${workspaceId}/content?tz=UTC`);
    const event = page.locator(`.fc-event[data-post-id="${postId}"]`);
    await event.waitFor();
    await expect.poll(() => event.getAttribute('data-status'), { timeout: 15_000 }).toBe('published');
    // "Publish now" sent it today: it sits on today's cell.
    const at = await page.locator(`td.fc-daygrid-day:has(.fc-event[data-post-id="${postId}"])`).getAttribute('data-date');
    expect(at).toBe(dayPlus(0));
    const target = (await page.locator(`td.fc-daygrid-day[data-date="${dayPlus(1)}"]`).count()) ? dayPlus(1) : dayPlus(-1);
    await drag(event, page.locator(`td.fc-daygrid-day[data-date="${target}"]`));
    await page.getByRole('alert').getByText(/already published/).waitFor();
    await page.locator(`td.fc-daygrid-day[data-date="${at}"] .fc-event[data-post-id="${postId}"]`).waitFor();
    expect(await page.locator(`td.fc-daygrid-day[data-date="${target}"] .fc-event[data-post-id="${postId}"]`).count()).toBe(0);
    await expectAccessible(page, 'calendar (refused move)');
    expect(deliveries).toHaveLength(1);
  });

  it('adds a post to the queue: the channel\'s next free weekly slot', async () => {
    await page.goto(`${server.url}/w/${workspaceId}/content/compose`);
    await page.getByLabel('Text', { exact: true }).fill('Queued for the next slot');
    await page.locator('label.radio', { hasText: 'Add to queue' }).click();
    await page.getByRole('button', { name: 'Add to queue' }).click();
    await page.waitForURL(/\/content\/posts\/[0-9a-f-]+$/);
    await page.locator('.cs-post-head .cs-badge', { hasText: 'Scheduled' }).waitFor();
    const id = /posts\/([0-9a-f-]+)$/.exec(page.url())![1]!;
    const post = await apiCall<{ post: { targets: { dueAt: string }[] } }>('GET', `/v1/workspaces/${workspaceId}/posts/${id}`);
    // The slot is Wednesday 14:30 in the channel's zone (UTC): the first one after now.
    const next = new Date();
    next.setUTCHours(14, 30, 0, 0);
    while (next.getUTCDay() !== 3 || next.getTime() <= Date.now()) next.setUTCDate(next.getUTCDate() + 1);
    expect(post.body.post.targets.map((t) => t.dueAt)).toEqual([next.toISOString()]);
  });

  it('asks for an approval with a comment, shows the provider\'s refusal and retries it', async () => {
    await page.goto(`${server.url}/w/${workspaceId}/content/channels`);
    await page.locator('label.switch', { hasText: 'Posts need an approval' }).click();
    await expect.poll(async () => (await apiCall<{ settings: { requireApproval: boolean } }>('GET', `/v1/workspaces/${workspaceId}/content/settings`)).body.settings.requireApproval).toBe(true);
    await page.getByRole('navigation', { name: 'Content' }).getByRole('link', { name: 'Compose' }).click();
    await page.getByLabel('Text', { exact: true }).fill('Refuse me once, then go');
    // Scheduling waits for the approval: only draft and review are offered.
    expect(await page.getByRole('radio', { name: 'Publish now' }).isDisabled()).toBe(true);
    await page.locator('label.radio', { hasText: 'Submit for review' }).click();
    await page.getByRole('button', { name: 'Submit for review' }).click();
    await page.waitForURL(/\/content\/posts\/[0-9a-f-]+$/);
    await page.getByRole('heading', { name: 'Review' }).waitFor();
    await page.locator('.cs-post-head .cs-badge', { hasText: 'In review' }).waitFor();
    await expectAccessible(page, 'post (in review)');
    await page.getByLabel('Comment (required to reject)').fill('Good to go, thanks');
    await page.getByRole('button', { name: 'Approve' }).click();
    await page.locator('.cs-post-head .cs-badge', { hasText: 'Approved' }).waitFor();
    await page.getByText('Good to go, thanks').waitFor();

    await page.getByRole('button', { name: 'Publish now' }).click();
    await page.getByText('Provider said:').waitFor({ timeout: 30_000 });
    await page.getByText(/duplicate status: this text was already posted/).waitFor();
    await page.locator('.cs-post-head .cs-badge', { hasText: 'Failed' }).waitFor();
    await expectAccessible(page, 'post (failed)');
    expect(deliveries.filter((d) => d.text.startsWith('Refuse me'))).toHaveLength(0);
    await page.getByRole('button', { name: 'Retry on Launch hook' }).click();
    await expect.poll(() => deliveries.filter((d) => d.text.startsWith('Refuse me')).length, { timeout: 30_000 }).toBe(1);
    await page.locator('.cs-post-head .cs-badge', { hasText: 'Published' }).waitFor({ timeout: 30_000 });
  });

  it('switches between the persona homes', async () => {
    await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Home' }).click();
    await page.getByRole('tab', { name: 'Founder' }).click();
    await page.getByRole('listitem', { name: /^Activation rate/ }).waitFor();
    await page.getByRole('heading', { name: 'Open incidents' }).waitFor();
    await expectAccessible(page, 'home (founder)');
    await screenshot(page, 'home-founder');
    await page.getByRole('tab', { name: 'vCreator' }).click();
    await page.getByRole('heading', { name: 'Last published' }).waitFor();
    await page.getByRole('tabpanel').getByRole('link', { name: /our new studio opens today/ }).first().waitFor();
    await page.getByRole('progressbar', { name: 'Spring launch published' }).and(page.locator('[aria-valuenow="1"]')).waitFor();
    await expectAccessible(page, 'home (vCreator)');
    expect(page.url()).toContain('as=vCreator');

    // A member working as every persona switches between all five homes.
    const all = await apiCall('PUT', `/v1/workspaces/${workspaceId}/members/me/personas`, { personas: ['founder', 'vCreator', 'vBuilder', 'vAnalyst', 'vAutomator'] });
    expect(all.status).toBe(200);
    await page.reload();
    for (const [tab, heading] of [
      ['vBuilder', 'Failing runs'],
      ['vAnalyst', 'Saved dashboards'],
      ['vAutomator', 'Runs per hour'],
    ] as const) {
      await page.getByRole('tab', { name: tab }).click();
      await page.getByRole('tabpanel').getByRole('heading', { name: heading }).waitFor();
      await page.getByRole('tabpanel').locator('.loading').first().waitFor({ state: 'detached' });
      await expectAccessible(page, `home (${tab})`);
    }
    await page.getByRole('tabpanel').getByText('Nothing waits for you.').waitFor();
  });

  it('holds at 375 px and in the dark theme', async () => {
    // The session cookies, without the stored theme choice: the dark system preference decides.
    const state = await context.storageState();
    const small = await browser.newContext({ viewport: { width: 375, height: 800 }, colorScheme: 'dark', storageState: { cookies: state.cookies, origins: [] } });
    const p = await small.newPage();
    for (const [path, ready, name] of [
      [`/w/${workspaceId}/content?tz=UTC`, `.fc-event[data-post-id="${postId}"]`, 'calendar'],
      [`/w/${workspaceId}/content/compose`, '#cs-body', 'compose'],
      [`/w/${workspaceId}/content/campaigns`, `[data-campaign="${campaignId}"]`, 'campaigns'],
      [`/w/${workspaceId}/content/channels`, 'text=Launch hook · Webhook', 'channels'],
      [`/w/${workspaceId}/content/posts/${postId}`, 'tr[data-target]', 'post'],
      [`/w/${workspaceId}?as=founder`, 'ul.an-kpis', 'home (founder)'],
      [`/w/${workspaceId}?as=vCreator`, 'text=Last published', 'home (vCreator)'],
    ] as const) {
      await p.goto(`${server.url}${path}`);
      await p.locator(ready).first().waitFor();
      expect(await p.evaluate(() => (globalThis as unknown as { document: { documentElement: { dataset: { theme?: string } } } }).document.documentElement.dataset.theme)).toBe('dark');
      await expectAccessible(p, `${name} (375 px, dark)`);
      expect(await scrollWidth(p), `${name} fits 375 px`).toBeLessThanOrEqual(375);
    }
    await small.close();
  });
});
