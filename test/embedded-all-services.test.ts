import { afterAll, beforeAll, expect, it } from 'vitest';
import { createTestPlatform, type TestPlatform } from './helpers/platform.js';
import { bearer, createWorkspace, signup } from './helpers/api.js';

/**
 * The embedded shape as `npm start` runs it: every service and its background work in one process
 * on one PGlite connection. Guards against a consumer or worker holding that single connection
 * while waiting for another query (which would hang every request).
 */
let t: TestPlatform;
beforeAll(async () => {
  t = await createTestPlatform();
  await t.platform.startServices();
});
afterAll(async () => {
  await t?.close();
});

async function within<T>(ms: number, what: string, p: Promise<T>): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([p, new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(`${what} hung for ${ms} ms`)), ms)))]);
  } finally {
    clearTimeout(timer);
  }
}

it('runs every built service, delivers platform events to every consumer group, and keeps answering', async () => {
  expect([...t.platform.instances.keys()].length).toBeGreaterThanOrEqual(5);
  const u = await signup(t, 'Embedded');
  const ws = await createWorkspace(t, u);
  const outbox = await t.platform.database.query<{ n: number }>('SELECT count(*)::int AS n FROM kernel.outbox');
  expect(outbox[0]?.n).toBeGreaterThanOrEqual(2);
  const deadline = Date.now() + 30_000;
  let lagging: unknown[] = [];
  while (Date.now() < deadline) {
    lagging = await within(5000, 'consumer offsets read', t.platform.database.query(
      `SELECT c.group_name, c.position FROM kernel.event_consumers c WHERE c.position < (SELECT coalesce(max(position), 0) FROM kernel.outbox)`,
    ));
    const groups = await t.platform.database.query('SELECT 1 FROM kernel.event_consumers');
    if (groups.length > 0 && lagging.length === 0) break;
    await new Promise((r) => setTimeout(r, 100));
  }
  expect(lagging).toEqual([]);
  for (let i = 0; i < 3; i++) {
    const res = await within(5000, 'GET members', t.inject({ method: 'GET', url: `/v1/workspaces/${ws}/members`, headers: bearer(u.token) }));
    expect(res.statusCode).toBe(200);
  }
  expect((await within(5000, '/ready', t.inject({ method: 'GET', url: '/ready' }))).statusCode).toBe(200);
});

it("hands services the kernel's settings only; each service's own settings are composed under its key", () => {
  expect(Object.hasOwn(t.platform.ctx.config, 'settings')).toBe(false);
  expect(Object.keys(t.platform.config.settings)).toEqual(expect.arrayContaining(['orchestrator', 'ops', 'workflow-engine', 'integration-hub', 'content-scheduler', 'analytics-engine']));
});
