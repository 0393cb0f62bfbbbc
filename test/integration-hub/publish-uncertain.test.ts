import { createHash, randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { bearer } from '../helpers/api.js';
import { startHubFixture } from './hub-fixture.js';
import type { IntegrationHubContract, PublishMedia } from '../../src/services/integration-hub/contract.js';

/**
 * ADR 0079: a publish whose answer never came back keeps its key as 'uncertain'; the retry with the
 * same key looks for what the first attempt published (Slack takes no idempotency key) instead of
 * publishing twice. Slack refusals still free the key, so a retry publishes afresh.
 */
let fixture: Awaited<ReturnType<typeof startHubFixture>>;
const hub = () => fixture.t.platform.ctx.contracts.get<IntegrationHubContract>('integration-hub');

beforeAll(async () => {
  // A short egress timeout: the swallowed answer turns into egress_timeout quickly.
  fixture = await startHubFixture('Uncertain', { EGRESS_TIMEOUT_MS: '400' });
}, 60_000);

afterAll(async () => {
  await fixture?.close();
});

async function slackConnection(channel: string): Promise<string> {
  const { t, owner, ws, f } = fixture;
  const res = await t.inject({
    method: 'POST',
    url: `/v1/workspaces/${ws}/connections`,
    headers: bearer(owner.token),
    payload: { connector: 'slack', name: `slack ${channel}`, credentials: { type: 'bot_token', token: 'xoxb-good' }, config: { channel, baseUrl: `${f.base}/slack/api` } },
  });
  expect(res.statusCode, res.body).toBe(201);
  return res.json().connection.id;
}

const inChannel = (channel: string) => fixture.f.slackMessages.filter((m) => m.channel === channel);
const historyCalls = () => fixture.f.calls.filter((c) => c.path === '/slack/api/conversations.history').length;

describe('a publish whose outcome is unknown is not published twice', () => {
  it('Slack posted but the answer was lost: the retry finds the message by its metadata key and returns it', async () => {
    const { f, ws } = fixture;
    const id = await slackConnection('CU1');
    f.slackSwallow = 1;
    await expect(hub().publish(ws, id, { text: 'launch day' }, 'post-1')).rejects.toMatchObject({ code: 'egress_timeout' });
    expect(inChannel('CU1')).toHaveLength(1);
    expect(inChannel('CU1')[0]!.metadata).toEqual({ event_type: 'v01t_publication', event_payload: { idempotency_key: 'post-1' } });

    const retried = await hub().publish(ws, id, { text: 'launch day' }, 'post-1');
    expect(retried).toEqual({ externalId: 'CU1/1712345678.000100', url: 'https://team.slack.com/archives/CU1/p1712345678000100' });
    expect(inChannel('CU1')).toHaveLength(1);
    // Confirmed now: a third call answers from the stored result without asking Slack.
    const calls = f.calls.length;
    expect(await hub().publish(ws, id, { text: 'launch day' }, 'post-1')).toEqual(retried);
    expect(f.calls.length).toBe(calls);
  });

  it('the first attempt never reached the channel: the retry looks, finds nothing, and posts once', async () => {
    const { f, ws } = fixture;
    const id = await slackConnection('CU2');
    f.slackSwallow = 1;
    await expect(hub().publish(ws, id, { text: 'first' }, 'post-2')).rejects.toMatchObject({ code: 'egress_timeout' });
    // The swallowed message is gone from the channel (deleted by someone, say): the retry must post.
    f.slackMessages.splice(f.slackMessages.findIndex((m) => m.channel === 'CU2'), 1);
    const before = historyCalls();
    await hub().publish(ws, id, { text: 'first' }, 'post-2');
    expect(historyCalls()).toBe(before + 1);
    expect(inChannel('CU2')).toHaveLength(1);
  });

  it('a refusal by Slack frees the key: the retry posts without reading the history', async () => {
    const { f, ws } = fixture;
    const id = await slackConnection('CU3');
    f.slackPostErrors = ['is_archived'];
    await expect(hub().publish(ws, id, { text: 'clean' }, 'post-3')).rejects.toMatchObject({ code: 'provider_error' });
    expect(inChannel('CU3')).toHaveLength(0);
    const before = historyCalls();
    await hub().publish(ws, id, { text: 'clean' }, 'post-3');
    expect(historyCalls()).toBe(before);
    expect(inChannel('CU3')).toHaveLength(1);
  });

  it('a token without history scope cannot look: the retry publishes (at least once, as before)', async () => {
    const { f, ws } = fixture;
    const id = await slackConnection('CU4');
    f.slackSwallow = 1;
    await expect(hub().publish(ws, id, { text: 'scoped' }, 'post-4')).rejects.toMatchObject({ code: 'egress_timeout' });
    f.slackHistoryErrors = ['missing_scope'];
    await hub().publish(ws, id, { text: 'scoped' }, 'post-4');
    expect(inChannel('CU4')).toHaveLength(2);
  });

  it('a file share whose answer was lost: the retry recognises the bot\'s share of the same files', async () => {
    const { f, ws } = fixture;
    const id = await slackConnection('CU5');
    const data = Buffer.concat([Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]), randomBytes(2_000)]);
    const media: PublishMedia[] = [{ filename: 'weekly.png', contentType: 'image/png', size: data.length, sha256: createHash('sha256').update(data).digest('hex'), data }];
    f.slackSwallow = 1;
    await expect(hub().publish(ws, id, { text: 'the week', media }, 'post-5')).rejects.toMatchObject({ code: 'egress_timeout' });
    const shares = inChannel('CU5');
    expect(shares).toHaveLength(1);
    const retried = await hub().publish(ws, id, { text: 'the week', media }, 'post-5');
    expect(retried.externalId).toBe(`CU5/files/${shares[0]!.files![0]!.id}`);
    expect(inChannel('CU5')).toHaveLength(1);
  });

  it('while a retry is in flight, the key is held: a concurrent publish with it is a conflict', async () => {
    const { f, ws } = fixture;
    const id = await slackConnection('CU6');
    f.slackSwallow = 1;
    const first = hub().publish(ws, id, { text: 'busy' }, 'post-6');
    // The first call holds the key once its message reached Slack (whose answer never comes).
    await vi.waitFor(() => expect(inChannel('CU6')).toHaveLength(1), { timeout: 5_000, interval: 10 });
    await expect(hub().publish(ws, id, { text: 'busy' }, 'post-6')).rejects.toMatchObject({ code: 'conflict' });
    await expect(first).rejects.toMatchObject({ code: 'egress_timeout' });
    await hub().publish(ws, id, { text: 'busy' }, 'post-6');
    expect(inChannel('CU6')).toHaveLength(1);
  });
});
