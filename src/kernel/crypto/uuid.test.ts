import v8 from 'node:v8';
import { describe, expect, it } from 'vitest';
import { uuidV4 } from './uuid.js';

describe('uuidV4', () => {
  it('makes RFC 9562 version-4 UUIDs, unique across many batches of its random pool', () => {
    const seen = new Set<string>();
    for (let i = 0; i < 10_000; i++) {
      const u = uuidV4();
      expect(u).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
      seen.add(u);
    }
    expect(seen.size).toBe(10_000);
    // Every hex digit of the random positions occurs (the bytes are not stuck or reused).
    const digits = new Set([...seen].flatMap((u) => [...u.replace(/-/g, '').slice(16)]));
    expect(digits.size).toBe(16);
  });

  it('returns strings independent of each other (not views of one buffer)', () => {
    const a = uuidV4();
    const copy = `${a}`;
    uuidV4();
    expect(a).toBe(copy);
  });

  it('allocates far less heap per call than crypto.randomUUID', async () => {
    const { randomUUID } = await import('node:crypto');
    const bytesPerCall = (fn: () => string) => {
      const keep: string[] = new Array<string>(100);
      for (let i = 0; i < 10_000; i++) keep[i % 100] = fn();
      const p = new v8.GCProfiler();
      p.start();
      const u0 = v8.getHeapStatistics().used_heap_size;
      for (let i = 0; i < 200_000; i++) keep[i % 100] = fn();
      const r = p.stop();
      const u1 = v8.getHeapStatistics().used_heap_size;
      let bytes = 0;
      let prev = u0;
      for (const s of r.statistics) {
        bytes += Math.max(0, s.beforeGC.heapStatistics.usedHeapSize - prev);
        prev = s.afterGC.heapStatistics.usedHeapSize;
      }
      return (bytes + Math.max(0, u1 - prev)) / 200_000;
    };
    expect(bytesPerCall(uuidV4)).toBeLessThan(bytesPerCall(() => randomUUID()) / 3);
  });
});
