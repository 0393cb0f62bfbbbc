import type { TestPlatform } from '../helpers/platform.js';
import { bearer, type TestUser } from '../helpers/api.js';

export { startFakeChannel, type FakeChannel, type Delivery } from '../../bench/support/fake-receiver.js';

export const WEBHOOK_SECRET = `whsec_${Buffer.from('0123456789abcdef0123456789abcdef').toString('base64')}`;

/** A real integration-hub webhook connection to the fake, and a channel bound to it. */
export async function webhookChannel(t: TestPlatform, owner: TestUser, workspaceId: string, url: string, channel: Record<string, unknown> = {}): Promise<{ connectionId: string; channelId: string }> {
  const c = await t.inject({
    method: 'POST',
    url: `/v1/workspaces/${workspaceId}/connections`,
    headers: bearer(owner.token),
    payload: { connector: 'webhook', name: 'fake channel', credentials: { secret: WEBHOOK_SECRET }, config: { url } },
  });
  if (c.statusCode !== 201) throw new Error(`connection: ${c.statusCode} ${c.body}`);
  const connectionId = c.json().connection.id as string;
  const ch = await t.inject({
    method: 'POST',
    url: `/v1/workspaces/${workspaceId}/channels`,
    headers: bearer(owner.token),
    payload: { connectionId, name: 'Fake', timezone: 'UTC', ...channel },
  });
  if (ch.statusCode !== 201) throw new Error(`channel: ${ch.statusCode} ${ch.body}`);
  return { connectionId, channelId: ch.json().channel.id as string };
}

/** Runs a publisher's passes until one claims nothing; returns how many posts it published. */
export async function drainPublisher(p: { runOnce(): Promise<{ claimed: number; published: number }> }): Promise<number> {
  let published = 0;
  for (;;) {
    const s = await p.runOnce();
    published += s.published;
    if (s.claimed === 0) return published;
  }
}
