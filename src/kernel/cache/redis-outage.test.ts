import net from 'node:net';
import { afterAll, describe, expect, it } from 'vitest';
import { RedisCache } from './index.js';

/** A Redis that is away: a loopback port nobody listens on (no Redis server needed). */
async function closedPort(): Promise<number> {
  const srv = net.createServer();
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  const { port } = srv.address() as net.AddressInfo;
  await new Promise<void>((r) => srv.close(() => r()));
  return port;
}

describe('RedisCache while Redis is away', () => {
  let cache: RedisCache | undefined;
  afterAll(() => cache?.client.disconnect());

  it('fails each command as service_unavailable (503, Retry-After), not as an unexpected error', async () => {
    cache = new RedisCache(`redis://127.0.0.1:${await closedPort()}`);
    const unavailable = { code: 'service_unavailable', status: 503, extra: { retryAfterSeconds: 2 } };
    await expect(cache.get('k')).rejects.toMatchObject(unavailable);
    await expect(cache.set('k', 'v', 10)).rejects.toMatchObject(unavailable);
    await expect(cache.incr('n', 10)).rejects.toMatchObject(unavailable);
    await expect(cache.ttl('k')).rejects.toMatchObject(unavailable);
    await expect(cache.del('k')).rejects.toMatchObject(unavailable);
  });
});
