import { describe, expect, it } from 'vitest';
import { breachingTimers, countdown, duration } from './countdown';

const opened = Date.parse('2026-01-05T09:00:00Z');
const incident = { respondBy: '2026-01-05T09:15:00.000Z', acknowledgedAt: null, resolvedAt: null };

describe('response-target countdown', () => {
  it('counts down to the target, then counts how late it is', () => {
    expect(countdown(incident, opened)).toEqual({ state: 'running', remainingMs: 15 * 60_000, text: '15:00 left to respond' });
    expect(countdown(incident, opened + 14 * 60_000 + 1_500).text).toBe('0:58 left to respond');
    expect(countdown(incident, opened + 17 * 60_000)).toMatchObject({ state: 'overdue', remainingMs: -2 * 60_000, text: 'Overdue by 2:00' });
  });

  it('stops at the acknowledgement: the same value however late it is read', () => {
    const acked = { ...incident, acknowledgedAt: '2026-01-05T09:04:00.000Z' };
    const early = countdown(acked, opened + 5 * 60_000);
    expect(early).toEqual({ state: 'stopped', remainingMs: 11 * 60_000, text: 'Acknowledged with 11:00 to spare' });
    expect(countdown(acked, opened + 3 * 86_400_000)).toEqual(early);
    expect(countdown({ ...incident, acknowledgedAt: '2026-01-05T09:20:00.000Z' }, opened).text).toBe('Acknowledged 5:00 after the target');
    expect(countdown({ ...incident, resolvedAt: '2026-01-05T09:10:00.000Z' }, opened + 86_400_000).text).toBe('Resolved with 5:00 to spare');
  });

  it('formats hours and days', () => {
    expect(duration(4_000_000)).toBe('1:06:40');
    expect(duration(2 * 86_400_000 + 3_600_000)).toBe('2 d 1 h');
  });
});

describe("the first minutes' timers", () => {
  const timers = {
    acknowledge: { dueAt: '2026-01-05T09:05:00.000Z', doneAt: null, breached: false },
    assess: { dueAt: '2026-01-05T09:10:00.000Z', doneAt: '2026-01-05T09:08:00.000Z', breached: false },
    assemble: { dueAt: '2026-01-05T09:15:00.000Z', doneAt: null, breached: false },
  };
  it('are breaching once due and not met, by the clock, until resolved', () => {
    expect(breachingTimers({ status: 'open', timers }, opened + 4 * 60_000)).toEqual([]);
    expect(breachingTimers({ status: 'open', timers }, opened + 5 * 60_000)).toEqual(['acknowledge']);
    expect(breachingTimers({ status: 'acknowledged', timers: { ...timers, acknowledge: { ...timers.acknowledge, doneAt: '2026-01-05T09:06:00.000Z', breached: true } } }, opened + 16 * 60_000)).toEqual(['assemble']);
    expect(breachingTimers({ status: 'resolved', timers }, opened + 16 * 60_000)).toEqual([]);
    expect(breachingTimers({ status: 'open', timers: null }, opened + 16 * 60_000)).toEqual([]);
  });
});
