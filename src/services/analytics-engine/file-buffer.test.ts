import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import fsp from 'node:fs/promises';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { createLogger } from '../../kernel/telemetry/logger.js';
import { FileBuffer, type FileBufferOptions } from './file-buffer.js';
import type { BufferedEvent } from './ingest-buffer.js';

const WS = '11111111-1111-4111-8111-111111111111';
const OTHER = '22222222-2222-4222-8222-222222222222';
const NOW = Date.parse('2026-03-02T12:00:00Z');
const DAY = 86_400_000;
const ev = (messageId: string, extra: Partial<BufferedEvent> = {}): BufferedEvent => ({
  type: 'track',
  event: 'view',
  userId: 'u1',
  anonymousId: null,
  previousId: null,
  ts: NOW,
  properties: { plan: 'pro' },
  messageId,
  ...extra,
});

const dirs: string[] = [];
const buffers: FileBuffer[] = [];
afterEach(async () => {
  vi.restoreAllMocks();
  for (const b of buffers.splice(0)) await b.close().catch(() => undefined);
  for (const d of dirs.splice(0)) fs.rmSync(d, { recursive: true, force: true });
});

function tempDir(): string {
  const d = fs.mkdtempSync(path.join(os.tmpdir(), 'v01t-fb-test-'));
  dirs.push(d);
  return d;
}

async function open(dir: string, over: Partial<FileBufferOptions> = {}): Promise<FileBuffer> {
  const b = await FileBuffer.open({
    dir,
    logger: createLogger('silent'),
    now: () => NOW,
    segmentEvents: 1000,
    storedMessageIds: async () => [],
    dedupeWindowMs: 7 * DAY,
    ...over,
  });
  buffers.push(b);
  return b;
}

const segments = (dir: string) => fs.readdirSync(dir).filter((f) => f.endsWith('.seg'));

describe('FileBuffer', () => {
  it('accepts a messageId once per workspace, also among concurrent requests and within a batch', async () => {
    const b = await open(tempDir());
    const results = await Promise.all(Array.from({ length: 20 }, (_, i) => b.append(WS, new Date(NOW), [ev(`m${i % 5}`), ev(`m${i % 5}`), ev(`only-${i}`)])));
    const accepted = results.flatMap((r) => [...r]);
    expect(accepted.filter((m) => m.startsWith('m')).sort()).toEqual(['m0', 'm1', 'm2', 'm3', 'm4']);
    expect(accepted.filter((m) => m.startsWith('only-'))).toHaveLength(20);
    expect([...(await b.append(OTHER, new Date(NOW), [ev('m0')]))]).toEqual(['m0']);
    expect(await b.pendingCount()).toBe(26);
  });

  it('survives a restart: segments are replayed (torn tail skipped), remembered for dedupe, and held until recovery', async () => {
    const dir = tempDir();
    const a = await open(dir);
    await a.append(WS, new Date(NOW), [ev('a1'), ev('a2')]);
    await a.append(WS, new Date(NOW), [ev('a3')]);
    // The process dies in the middle of writing a request that was never acknowledged.
    const [seg] = segments(dir);
    fs.appendFileSync(path.join(dir, seg!), '{"w":"' + WS + '","r":1,"e":[{"messageId":"torn"');
    const b = await open(dir);
    expect(await b.pendingCount()).toBe(3);
    expect([...(await b.append(WS, new Date(NOW), [ev('a1'), ev('a3'), ev('torn')]))]).toEqual(['torn']);
    // Nothing is handed out before recovery has looked at what the dead process left.
    const unfinished = await b.unfinished(new Date(NOW));
    expect(unfinished).toEqual([{ batchId: expect.any(String), size: 3 }]);
    const first = await b.claim(1000, new Date(NOW));
    expect(first?.rows.map((r) => r.payload.messageId)).toEqual(['torn']);
    await b.release(unfinished[0]!.batchId);
    const second = await b.claim(1000, new Date(NOW));
    expect(second?.batchId).toBe(unfinished[0]!.batchId);
    expect(second?.rows.map((r) => r.payload.messageId)).toEqual(['a1', 'a2', 'a3']);
    expect(second?.rows[0]).toMatchObject({ workspaceId: WS, receivedAt: new Date(NOW) });
    await b.complete(second!.batchId);
    await b.complete(first!.batchId);
    expect(await b.pendingCount()).toBe(0);
    expect(segments(dir)).toEqual([]);
  });

  it('remembers messageIds already in the store for the dedupe window, and forgets them after it', async () => {
    const b = await open(tempDir(), { storedMessageIds: async (since) => (since <= NOW - 6 * DAY ? [{ workspaceId: WS, messageId: 'stored', receivedAt: NOW - 6 * DAY }] : []) });
    expect((await b.append(WS, new Date(NOW), [ev('stored')])).size).toBe(0);
    expect(await b.purgeDedupe(new Date(NOW - 5 * DAY))).toBe(1);
    expect((await b.append(WS, new Date(NOW), [ev('stored')])).size).toBe(1);
  });

  it('seals a segment at the flush batch size and hands out segments oldest first', async () => {
    const dir = tempDir();
    const b = await open(dir, { segmentEvents: 3 });
    await b.append(WS, new Date(NOW), [ev('1'), ev('2')]);
    await b.append(WS, new Date(NOW), [ev('3')]);
    await b.append(WS, new Date(NOW), [ev('4')]);
    const c1 = await b.claim(3, new Date(NOW));
    const c2 = await b.claim(3, new Date(NOW));
    expect(c1?.rows.map((r) => r.payload.messageId)).toEqual(['1', '2', '3']);
    expect(c2?.rows.map((r) => r.payload.messageId)).toEqual(['4']);
    expect(await b.claim(3, new Date(NOW))).toBeNull();
    // A claim older than the stale limit is reported for recovery.
    expect((await b.unfinished(new Date(NOW + 1))).map((u) => u.size).sort()).toEqual([1, 3]);
  });

  it('exports and erases a user\'s buffered events, including those under linked anonymous ids', async () => {
    const dir = tempDir();
    const b = await open(dir);
    await b.append(WS, new Date(NOW), [ev('x1', { userId: 'gone' }), ev('x2'), ev('x3', { userId: null, anonymousId: 'anon-gone' })]);
    await b.append(WS, new Date(NOW), [ev('x4', { userId: 'gone' })]);
    expect((await b.eventsOfUser('gone')).map((r) => r.messageId)).toEqual(['x1', 'x4']);
    expect(await b.eraseUser('gone', ['anon-gone'])).toBe(3);
    expect(await b.eventsOfUser('gone')).toEqual([]);
    expect(await b.pendingCount()).toBe(1);
    const reopened = await open(dir);
    await reopened.release((await reopened.unfinished(new Date(NOW)))[0]!.batchId);
    expect((await reopened.claim(1000, new Date(NOW)))?.rows.map((r) => r.payload.messageId)).toEqual(['x2']);
  });
});

describe('FileBuffer on a full disk', () => {
  const noSpace = () => Object.assign(new Error('ENOSPC: no space left on device, write'), { code: 'ENOSPC' });

  it('refuses the writes with analytics_buffer_unavailable (503), keeps nothing of them, and takes them once space is back', async () => {
    const dir = tempDir();
    const b = await open(dir);
    await b.append(WS, new Date(NOW), [ev('before')]);
    // Every FileHandle shares one prototype: the segment's next write fails as on a full disk.
    const probe = await fsp.open(path.join(dir, 'probe'), 'w');
    const proto = Object.getPrototypeOf(probe) as { write: (...a: unknown[]) => Promise<unknown> };
    await probe.close();
    const write = vi.spyOn(proto, 'write').mockRejectedValueOnce(noSpace());
    await expect(b.append(WS, new Date(NOW), [ev('full-1'), ev('full-2')])).rejects.toMatchObject({ code: 'analytics_buffer_unavailable', status: 503, extra: { retryAfterSeconds: 5 } });
    write.mockRestore();
    // The refused ids are not remembered as duplicates, and the segment holds only acknowledged lines.
    expect([...(await b.append(WS, new Date(NOW), [ev('full-1'), ev('full-2')]))].sort()).toEqual(['full-1', 'full-2']);
    await b.close();
    const again = await open(dir);
    expect(await again.pendingCount()).toBe(3);
  });

  it('is not ready while its disk has less than 1 MiB free, and ready again without a restart', async () => {
    const b = await open(tempDir());
    await expect(b.readiness()).resolves.toBeUndefined();
    const statfs = vi.spyOn(fsp, 'statfs').mockResolvedValue({ bavail: 100, bsize: 4096 } as never);
    await expect(b.readiness()).rejects.toThrow(/disk is full \(409600 bytes free/);
    statfs.mockRestore();
    await expect(b.readiness()).resolves.toBeUndefined();
  });
});
