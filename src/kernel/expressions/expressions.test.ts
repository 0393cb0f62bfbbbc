import { afterAll, describe, expect, it } from 'vitest';
import { analyze, ExpressionGuard, ExpressionLimitError, type ExpressionLimits } from './index.js';

const limits = (o: Partial<ExpressionLimits> = {}): ExpressionLimits => ({ timeoutMs: 1000, memoryMb: 64, maxResultBytes: 1024 * 1024, maxDepth: 500, maxLength: 20_000, workers: 2, maxQueuedPerWorkspace: 8, ...o });
const guards: ExpressionGuard[] = [];
const newGuard = (o: Partial<ExpressionLimits> = {}) => {
  const g = new ExpressionGuard(limits(o));
  guards.push(g);
  return g;
};
afterAll(async () => {
  for (const g of guards) await g.close();
});

const outcome = async (p: Promise<unknown>): Promise<string> => {
  try {
    await p;
    return 'ok';
  } catch (err) {
    return err instanceof ExpressionLimitError ? err.code : `other: ${(err as Error).message}`;
  }
};

/** Runs `work` while a 10 ms timer measures how late this event loop answers; returns the worst lateness. */
async function loopLagDuring(work: () => Promise<unknown>): Promise<number> {
  let worst = 0;
  let last = performance.now();
  const probe = setInterval(() => {
    const now = performance.now();
    worst = Math.max(worst, now - last - 10);
    last = now;
  }, 10);
  try {
    await work();
  } finally {
    clearInterval(probe);
  }
  return worst;
}

describe('expression guard', () => {
  it('classifies only bounded constructs as cheap (in process)', () => {
    const g = newGuard();
    for (const cheap of ['a.b[c > 1].d', '$count(items) + 1', '{"a": x, "b": [1, 2]}', 'a ? b : c', 'x & "-" & $string(y)', '$lowercase(name) in ["a", "b"]', 'items{type: $sum(n)}']) {
      expect(g.compile(cheap).shape, cheap).toMatchObject({ cheap: true });
    }
    for (const [costly, why] of [
      ['[1..10]', 'range'],
      ['( $f := function($x){$f($x)}; $f(1) )', 'function'],
      ['$pad("", 9)', '$pad'],
      ['$join(a)', '$join'],
      ['a ~> $uppercase', '~>'],
      ['$eval("1")', '$eval'],
      ['**.a', '**'],
      ['$match(a, /x/)', '$match'],
      ['a^(b)', 'sort'],
    ] as const) {
      const shape = g.compile(costly).shape;
      expect(shape.cheap, costly).toBe(false);
      expect(shape.reason, costly).toContain(why);
    }
    expect(analyze({ type: 'path', steps: [] })).toMatchObject({ nodes: 1, depth: 1, cheap: true });
  });

  it('refuses invalid, overlong and absurdly nested sources at compile time', () => {
    const g = newGuard({ maxLength: 1000 });
    const code = (src: string) => {
      try {
        g.compile(src);
        return 'ok';
      } catch (err) {
        return (err as ExpressionLimitError).code;
      }
    };
    expect(code('a.(')).toBe('expression_invalid');
    expect(code('a + '.repeat(300) + '1')).toBe('expression_too_large');
    expect(code('('.repeat(400) + '1' + ')'.repeat(400))).toBe('expression_too_deep');
  });

  it('stops expression bombs with a code while this event loop keeps answering', async () => {
    // A generous limit, so that the memory bombs hit the memory cap first even on a busy machine;
    // the endless loop gets its own tighter limit.
    const g = newGuard({ timeoutMs: 15_000 });
    const results: Record<string, string> = {};
    const bombs: [string, string][] = [
      ['( $f := function($x){$f($x) + 1}; $f(1) )', 'expression_too_deep'],
      ['[1..10000000].$string()', 'expression_too_large'],
      ['$string([1..10000000])', 'expression_too_large'],
      ['$pad("", 100000000)', 'expression_too_large'],
      ['$join([1..10000000].$string())', 'expression_too_large'],
    ];
    const lag = await loopLagDuring(async () => {
      results.loop = await outcome(g.evaluate('( $f := function($x){$f($x)}; $f(1) )', { a: 1 }, { key: 'ws', timeoutMs: 1000 }));
      for (const [src] of bombs) results[src] = await outcome(g.evaluate(src, { a: 1 }, { key: 'ws' }));
    });
    expect(results.loop).toBe('expression_timeout');
    delete results.loop;
    expect(results).toEqual(Object.fromEntries(bombs));
    // The bombs ran in worker processes: this loop was never held. Held, it would show at least the
    // endless loop's 1,000 ms limit; on a loaded 2-core machine scheduling alone shows up to ~200 ms.
    expect(lag).toBeLessThan(500);
    // Killed workers are replaced: the guard keeps working.
    expect(await g.evaluate('$sum([1..10])', null)).toBe(55);
  });

  it('bounds results by their serialized size, in process and in a worker', async () => {
    const g = newGuard({ maxResultBytes: 10_000 });
    const big = { s: 'x'.repeat(20_000) };
    expect(await outcome(g.evaluate('s & s', big))).toBe('expression_too_large');
    expect(await outcome(g.evaluate('$join([s, s])', big))).toBe('expression_too_large');
    expect(await g.evaluate('$length(s & s)', big)).toBe(40_000);
  });

  it('falls back to a worker when a cheap expression exceeds the in-process budget, with the same answer', async () => {
    const g = newGuard({ timeoutMs: 15_000 });
    const items = Array.from({ length: 30_000 }, (_, i) => ({ n: i, even: i % 2 === 0 }));
    const alive = g.workersAlive();
    expect(await g.evaluate('$count(items[even])', { items })).toBe(15_000);
    expect(g.workersAlive()).toBeGreaterThan(alive);
    // A small input stays in process: no worker is needed.
    const g2 = newGuard();
    expect(await g2.evaluate('$count(items[even])', { items: items.slice(0, 10) })).toBe(5);
    expect(g2.workersAlive()).toBe(0);
    expect(await outcome(g2.evaluate('$sum([1..3])', null, { inProcessOnly: true }))).toBe('expression_needs_isolation');
  });

  it('honours a tighter time limit (a step or run deadline)', async () => {
    const g = newGuard({ timeoutMs: 5000 });
    const t0 = Date.now();
    expect(await outcome(g.evaluate('( $f := function($x){$f($x)}; $f(1) )', null, { timeoutMs: 200 }))).toBe('expression_timeout');
    expect(Date.now() - t0).toBeLessThan(2000);
  });

  it('serves workspaces round robin, and refuses past a workspace share when asked to', async () => {
    const g = newGuard({ timeoutMs: 15_000, workers: 1, maxQueuedPerWorkspace: 3 });
    const loop = '( $f := function($x){$f($x)}; $f(1) )';
    const finished: string[] = [];
    const track = (name: string, p: Promise<unknown>) => outcome(p).then((o) => finished.push(`${name}:${o}`));
    const a = [1, 2, 3].map((i) => track(`a${i}`, g.evaluate(loop, null, { key: 'A', admission: 'reject', timeoutMs: 1000 })));
    // A's fourth is over its share: refused at once rather than queued.
    expect(await outcome(g.evaluate(loop, null, { key: 'A', admission: 'reject', timeoutMs: 1000 }))).toBe('expression_busy');
    const b = track('b', g.evaluate('$sum([1..4])', null, { key: 'B' }));
    await Promise.all([...a, b]);
    // B came after three of A's but waited only for the one running, not for A's backlog.
    expect(finished.indexOf('b:ok')).toBe(1);
    expect(finished.filter((f) => f.endsWith('expression_timeout'))).toHaveLength(3);
  });
});
