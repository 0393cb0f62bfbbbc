import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { EventEnvelope } from '../../src/kernel/events/index.js';
import { addMember, bearer, createWorkspace, problem, signup, type TestUser } from '../helpers/api.js';
import { createTestPlatform, type TestPlatform } from '../helpers/platform.js';
import type { GamificationInstance } from '../../src/services/gamification/index.js';

/**
 * What the web app's gamification screens read (issue 16): the streak calendar with the days
 * freezes bridged, the badge catalog with progress for locked badges, and the editors' per-field
 * validation errors.
 */
let t: TestPlatform;
let g: GamificationInstance['services'];
let owner: TestUser;
let member: TestUser;
let outsider: TestUser;
let ws: string;
const D = 86_400_000;

beforeAll(async () => {
  t = await createTestPlatform({ V01T_SERVICES: 'orchestrator,gamification' });
  t.clock.set('2026-11-23T12:00:00Z'); // a Monday
  g = (t.platform.instances.get('gamification') as GamificationInstance).services;
  [owner, member, outsider] = await Promise.all([signup(t, 'Owner'), signup(t, 'Member'), signup(t, 'Outsider')]);
  ws = await createWorkspace(t, owner, 'Calendars');
  await createWorkspace(t, outsider, 'Elsewhere');
  await addMember(t, ws, owner, member, 'developer');
}, 60_000);

afterAll(async () => {
  await t?.close();
});

const run = (actorId: string): EventEnvelope =>
  ({ id: randomUUID(), name: 'workflow.run.succeeded.v1', occurredAt: t.clock.now().toISOString(), workspaceId: ws, actorId, payload: { runId: randomUUID(), workflowId: 'wf', workflowVersion: 1, durationMs: 5 } }) as EventEnvelope;
const score = (e: EventEnvelope) => t.platform.database.orm.transaction((tx) => g.scoring.handle(e, tx));
const get = (user: TestUser, path: string) => t.inject({ method: 'GET', url: `/v1/workspaces/${ws}/gamification${path}`, headers: bearer(user.token) });

describe('streak calendar', () => {
  it('shows the active days and the days a freeze bridged, spent or about to be', async () => {
    const patched = await t.inject({ method: 'PATCH', url: `/v1/workspaces/${ws}/gamification/settings`, headers: bearer(owner.token), payload: { freezes: { earnEvery: 2, maxHeld: 2 } } });
    expect(patched.statusCode, patched.body).toBe(200);
    // Mon 23, Tue 24 (a freeze earned), Wed 25 missed (the freeze spent), Thu 26, Fri 27 (another freeze), Sat 28 missed.
    for (const day of [0, 1, 3, 4]) {
      t.clock.set(new Date(Date.parse('2026-11-23T12:00:00Z') + day * D));
      expect((await score(run(member.id))).status).toBe('scored');
    }
    t.clock.set('2026-11-29T09:00:00Z');
    const res = await get(member, '/me/calendar?days=14');
    expect(res.statusCode, res.body).toBe(200);
    const cal = res.json();
    expect(cal).toMatchObject({ timezone: 'UTC', from: '2026-11-16', to: '2026-11-29' });
    const automate = cal.streaks.find((s: { activity: string }) => s.activity === 'automate');
    expect(automate).toMatchObject({ cadence: 'daily', current: 4, alive: true, freezes: 0 });
    expect(automate.activeDays).toEqual(['2026-11-23', '2026-11-24', '2026-11-26', '2026-11-27']);
    expect(automate.frozenPeriods).toEqual(['2026-11-25', '2026-11-28']);
  });

  it('follows the member\'s own time zone for the calendar days', async () => {
    expect((await t.inject({ method: 'PUT', url: `/v1/workspaces/${ws}/gamification/me/settings`, headers: bearer(member.token), payload: { timezone: 'Pacific/Kiritimati' } })).statusCode).toBe(200);
    const cal = (await get(member, '/me/calendar?days=14')).json();
    expect(cal).toMatchObject({ timezone: 'Pacific/Kiritimati', to: '2026-11-29' }); // 09:00 UTC is 23:00 at +14
    // 12:00 UTC is 02:00 the next day at +14: every active day moves one day on.
    expect(cal.streaks.find((s: { activity: string }) => s.activity === 'automate').activeDays).toEqual(['2026-11-24', '2026-11-25', '2026-11-27', '2026-11-28']);
    await t.inject({ method: 'PUT', url: `/v1/workspaces/${ws}/gamification/me/settings`, headers: bearer(member.token), payload: { timezone: 'UTC' } });
  });

  it('refuses a window outside 7–90 days and members of other workspaces', async () => {
    expect(problem(await get(member, '/me/calendar?days=365'))).toMatchObject({ status: 400, code: 'validation_failed' });
    expect((await get(outsider, '/me/calendar')).statusCode).toBe(404);
    expect((await get(outsider, '/me/badges')).statusCode).toBe(404);
  });
});

describe('badges from the member\'s side', () => {
  it('lists earned badges with their time and locked ones with progress towards them', async () => {
    const created = await t.inject({
      method: 'POST',
      url: `/v1/workspaces/${ws}/gamification/badges`,
      headers: bearer(owner.token),
      payload: { key: 'ten-runs', name: 'Ten runs', persona: 'vAutomator', criteria: { kind: 'count', event: 'workflow.run.succeeded.v1', atLeast: 10 } },
    });
    expect(created.statusCode, created.body).toBe(201);
    const res = await get(member, '/me/badges');
    expect(res.statusCode, res.body).toBe(200);
    const byKey = new Map((res.json().badges as { badge: { key: string } }[]).map((b) => [b.badge.key, b]));
    expect(byKey.get('first-automation')).toMatchObject({ earned: true, awardedAt: '2026-11-23T12:00:00.000Z', current: 4, target: 1 });
    expect(byKey.get('ten-runs')).toMatchObject({ earned: false, awardedAt: null, current: 4, target: 10 });
    expect(byKey.get('automation-week')).toMatchObject({ earned: false, current: 4, target: 7 });
    expect(byKey.get('insight-machine')).toMatchObject({ earned: false, current: 0, target: 500 });
    // Another member starts from nothing.
    const other = (await get(owner, '/me/badges')).json().badges as { badge: { key: string }; current: number; earned: boolean }[];
    expect(other.every((b) => b.current === 0 && !b.earned)).toBe(true);
  });
});

describe('editor validation names the field', () => {
  it('a badge key already taken', async () => {
    const res = await t.inject({
      method: 'POST',
      url: `/v1/workspaces/${ws}/gamification/badges`,
      headers: bearer(owner.token),
      payload: { key: 'ten-runs', name: 'Again', criteria: { kind: 'count', event: 'workflow.run.succeeded.v1', atLeast: 3 } },
    });
    expect(problem(res)).toMatchObject({ status: 409, code: 'conflict', errors: [{ path: 'body.key' }] });
  });

  it('a reward unlocked by an unknown badge, and a duplicate reward key', async () => {
    const res = await t.inject({
      method: 'PATCH',
      url: `/v1/workspaces/${ws}/gamification/settings`,
      headers: bearer(owner.token),
      payload: {
        rewards: [
          { key: 'flair', kind: 'dashboard_flair', name: 'Flair', unlock: { badge: 'ten-runs' } },
          { key: 'flair', kind: 'shortcut', name: 'Shortcut', unlock: { badge: 'no-such-badge' } },
        ],
      },
    });
    const p = problem(res);
    expect(p).toMatchObject({ status: 400, code: 'validation_failed' });
    expect(p.errors!.map((e) => e.path).sort()).toEqual(['body.rewards.1.key', 'body.rewards.1.unlock.badge']);
    const tz = problem(await t.inject({ method: 'PATCH', url: `/v1/workspaces/${ws}/gamification/settings`, headers: bearer(owner.token), payload: { timezone: 'Mars/Olympus' } }));
    expect(tz.errors).toEqual([{ path: 'body.timezone', message: 'not an IANA time zone' }]);
  });

  it('a rule with bad points and a bad event name, per field', async () => {
    const res = await t.inject({
      method: 'POST',
      url: `/v1/workspaces/${ws}/gamification/rules`,
      headers: bearer(owner.token),
      payload: { name: 'Bad', event: 'not-an-event', persona: 'vAutomator', metric: 'Automation XP', points: 0 },
    });
    const p = problem(res);
    expect(p.code).toBe('validation_failed');
    expect(p.errors!.map((e) => e.path).sort()).toEqual(['body.event', 'body.points']);
  });
});
