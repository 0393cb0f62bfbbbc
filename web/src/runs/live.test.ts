import { describe, expect, it } from 'vitest';
import { backoffDelay, duration, PollSchedule, RUN_BACKOFF } from './live';

const run = (status: string, steps: { id: string; status: string; finishedAt: string | null }[] = [], wait: unknown = null) => ({ status, currentStep: steps.at(-1)?.id ?? null, stepAttempt: 1, wait, steps });

describe('run page polling schedule', () => {
  it('grows geometrically from the base delay and stops at the cap', () => {
    const o = { baseMs: 500, factor: 2, maxMs: 5000 };
    expect([0, 1, 2, 3, 4, 5, 10].map((n) => backoffDelay(n, o))).toEqual([500, 1000, 2000, 4000, 5000, 5000, 5000]);
    expect(backoffDelay(-3, o)).toBe(500);
    expect(backoffDelay(1000)).toBe(RUN_BACKOFF.maxMs);
  });

  it('backs off while a run is unchanged, resets on progress and stops once the run is final', () => {
    const s = new PollSchedule({ baseMs: 100, factor: 2, maxMs: 1000 });
    const waiting = run('running', [{ id: 'a', status: 'started', finishedAt: null }]);
    expect(s.next(undefined)).toBe(100);
    expect(s.next(waiting)).toBe(100);
    expect(s.next(waiting)).toBe(200);
    expect(s.next(waiting)).toBe(400);
    expect(s.next(waiting)).toBe(800);
    expect(s.next(waiting)).toBe(1000);
    // A step finished: poll soon again.
    const progressed = run('running', [{ id: 'a', status: 'succeeded', finishedAt: '2026-01-01T00:00:01Z' }, { id: 'b', status: 'started', finishedAt: null }]);
    expect(s.next(progressed)).toBe(100);
    expect(s.next(progressed)).toBe(200);
    // A waiting run whose wait changes (a decision was recorded) counts as progress.
    const asked = run('waiting', [], { kind: 'approval', stepId: 'b', until: 'x' });
    expect(s.next(asked)).toBe(100);
    expect(s.next(run('waiting', [], { kind: 'approval', stepId: 'b', until: 'x', decision: { approved: true } }))).toBe(100);
    for (const final of ['succeeded', 'failed', 'cancelled', 'timed_out']) expect(s.next(run(final))).toBe(false);
  });

  it('moves only on a new answer: asking again for the same answer (a re-render) keeps the delay', () => {
    const s = new PollSchedule({ baseMs: 100, factor: 2, maxMs: 10_000 });
    const r = run('running');
    expect(s.next(r, 1)).toBe(100);
    expect(s.next(r, 1)).toBe(100);
    expect(s.next(r, 1)).toBe(100);
    expect(s.next(r, 2)).toBe(200);
    expect(s.next(r, 2)).toBe(200);
    expect(s.next(r, 3)).toBe(400);
  });

  it('starts over after the user acts', () => {
    const s = new PollSchedule({ baseMs: 100, factor: 3, maxMs: 10_000 });
    const r = run('waiting');
    s.next(r);
    s.next(r);
    expect(s.next(r)).toBe(900);
    s.reset();
    expect(s.next(r)).toBe(100);
  });

  it('formats durations from milliseconds to hours, and a running one against now', () => {
    const at = (ms: number) => new Date(Date.parse('2026-01-01T00:00:00Z') + ms).toISOString();
    expect(duration(null, null)).toBe('—');
    expect(duration(at(0), at(250))).toBe('250 ms');
    expect(duration(at(0), at(1_234))).toBe('1.2 s');
    expect(duration(at(0), at(184_000))).toBe('3 min 4 s');
    expect(duration(at(0), at(2 * 3_600_000 + 5 * 60_000))).toBe('2 h 5 min');
    expect(duration(at(0), null, Date.parse(at(2_000)))).toBe('2.0 s');
  });
});
