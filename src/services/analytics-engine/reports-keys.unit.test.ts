import { describe, expect, it } from 'vitest';
import type { AuditLog } from '../../kernel/audit/index.js';
import { ManualClock } from '../../kernel/clock.js';
import { WriteKeyService } from './ingest.service.js';
import { ReportsService } from './reports.service.js';
import type { ReportsRepository } from './reports.repository.js';
import type { WriteKeysRepository } from './write-keys.repository.js';

/** Services of the analytics-engine against fake repositories (no database). */
const WS = '00000000-0000-4000-8000-0000000000aa';
const REPORT = '00000000-0000-4000-8000-0000000000bb';

describe('WriteKeyService (fake repository)', () => {
  it('remembers a valid key briefly instead of a database round trip per batch, and forgets it on revocation', async () => {
    const uses: string[] = [];
    let revoked = false;
    const repo = {
      useKey: async (hash: string) => (uses.push(hash), revoked ? null : WS),
      revoke: async () => ((revoked = true), true),
    } as unknown as WriteKeysRepository;
    const clock = new ManualClock('2026-04-01T10:00:00Z');
    const keys = new WriteKeyService(repo, { record: async () => ({}) } as unknown as AuditLog, clock);
    const key = `wk_${'a'.repeat(43)}`;

    expect(await keys.authenticate(key)).toBe(WS);
    expect(await keys.authenticate(key)).toBe(WS);
    expect(uses).toHaveLength(1);
    expect(await keys.authenticate('not-a-key')).toBeNull();
    expect(uses).toHaveLength(1); // malformed keys never reach the database

    await keys.revoke(WS, 'key-id', { userId: 'u', ip: '127.0.0.1' });
    expect(await keys.authenticate(key)).toBeNull();
    expect(uses).toHaveLength(2);
  });
});

describe('ReportsService (fake repository)', () => {
  it('refuses a dashboard tile that names a report of another workspace, before writing anything', async () => {
    const inserted: unknown[] = [];
    const repo = {
      existingReports: async (_ws: string, ids: string[]) => new Set(ids.filter((i) => i === REPORT)),
      insertDashboard: async (d: { id: string; name: string; tiles: unknown; now: string }) => (inserted.push(d), { id: d.id, name: d.name, tiles: d.tiles, created_at: d.now, updated_at: d.now }),
    } as unknown as ReportsRepository;
    const reports = new ReportsService(repo, new ManualClock('2026-04-01T10:00:00Z'));
    const other = '00000000-0000-4000-8000-0000000000cc';

    await expect(reports.createDashboard(WS, 'u', 'Mixed', [{ reportId: REPORT, x: 0, y: 0, w: 4, h: 3 }, { reportId: other, x: 4, y: 0, w: 4, h: 3 }])).rejects.toMatchObject({
      code: 'validation_failed',
      extra: { errors: [{ path: 'body.tiles.reportId', message: `report ${other} not found` }] },
    });
    expect(inserted).toEqual([]);

    const d = await reports.createDashboard(WS, 'u', 'Mine', [{ reportId: REPORT, x: 0, y: 0, w: 4, h: 3 }]);
    expect(d).toMatchObject({ name: 'Mine', tiles: [{ reportId: REPORT }], createdAt: new Date('2026-04-01T10:00:00Z') });
    expect(inserted).toHaveLength(1);
  });

  it('answers not_found for an id that is not a uuid without asking the repository', async () => {
    const reports = new ReportsService({} as ReportsRepository, new ManualClock());
    await expect(reports.getReport(WS, 'nope')).rejects.toMatchObject({ code: 'not_found' });
  });
});
