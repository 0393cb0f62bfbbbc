import { describe, expect, it } from 'vitest';
import { bucketLabel, duration, pct } from './format';

describe('analytics formatting', () => {
  it('formats durations with at most two units', () => {
    expect(duration(45)).toBe('45 s');
    expect(duration(3600)).toBe('1 h');
    expect(duration(5400)).toBe('1 h 30 min');
    expect(duration(93_600 + 180)).toBe('1 d 2 h');
    expect(duration(null)).toBe('–');
  });
  it('formats rates as percentages and buckets by interval', () => {
    expect(pct(0.6)).toBe('60.0 %');
    expect(pct(2 / 3)).toBe('66.7 %');
    expect(pct(null)).toBe('–');
    expect(bucketLabel('2026-01-05T13:00:00.000Z', 'hour')).toBe('01-05 13:00');
    expect(bucketLabel('2026-01-01T00:00:00.000Z', 'month')).toBe('Jan 2026');
  });
});
