import { describe, expect, it } from 'vitest';
import { draftOf, emptyDraft, specOf } from './Explore';
import { relayout } from './DashboardPage';
import { activationTone, errorRateTone, mrrTone } from './Overview';
import { retentionShade } from './Results';

const NOW = Date.parse('2026-03-02T12:34:00Z');

describe('the query builder', () => {
  it('turns a draft into the API spec, over a range ending at the next full hour', () => {
    const d = { ...emptyDraft('funnel'), steps: ['a', 'b', 'c'], windowDays: 7, rangeDays: 7 };
    expect(specOf(d, NOW)).toEqual({
      spec: { kind: 'funnel', steps: ['a', 'b', 'c'], windowSeconds: 7 * 86_400, filters: [], from: '2026-02-23T13:00:00.000Z', to: '2026-03-02T13:00:00.000Z' },
      errors: {},
    });
  });

  it('names what is missing instead of sending a spec the API would refuse', () => {
    expect(specOf({ ...emptyDraft('funnel'), steps: ['a', ''] }, NOW)).toEqual({ spec: null, errors: { step1: 'Pick an event or remove this step', steps: 'A funnel needs at least two steps' } });
    expect(specOf({ ...emptyDraft('trends'), event: 'x', measure: 'sum' }, NOW).errors).toEqual({ property: 'Pick the numeric property to sum' });
    expect(specOf({ ...emptyDraft('trends'), event: 'x', filters: [{ property: 'plan', op: 'eq', value: '' }] }, NOW).errors).toEqual({ filter0: 'Give the value to compare with' });
    expect(specOf(emptyDraft('retention'), NOW).spec).toBeNull();
    // Active users need nothing: any event counts.
    expect(specOf(emptyDraft('active_users'), NOW).spec).toMatchObject({ kind: 'active_users' });
  });

  it('reads a saved spec back into the builder', () => {
    const { spec } = specOf({ ...emptyDraft('trends'), event: 'view', interval: 'week', breakdown: 'plan', chart: 'bar', rangeDays: 90 }, NOW);
    const back = draftOf(spec as unknown as Record<string, unknown>);
    expect(back).toMatchObject({ kind: 'trends', event: 'view', interval: 'week', breakdown: 'plan', chart: 'bar', rangeDays: 90 });
    expect(specOf(back, NOW).spec).toEqual(spec);
  });
});

describe('dashboards', () => {
  it('lays tiles out in order: full-width ones alone on a row, half-width ones in pairs', () => {
    const t = (reportId: string, w: number) => ({ reportId, x: 9, y: 9, w, h: 9 });
    expect(relayout([t('a', 12), t('b', 6), t('c', 6), t('d', 6), t('e', 12)]).map(({ reportId, x, y }) => [reportId, x, y])).toEqual([
      ['a', 0, 0],
      ['b', 0, 4],
      ['c', 6, 4],
      ['d', 0, 8],
      ['e', 0, 12],
    ]);
  });
});

describe('KPI tones by the runbook thresholds', () => {
  it('colours activation, MRR deviation and error rate', () => {
    expect([0.75, 0.7, 0.65, 0.6, 0.59, null].map(activationTone)).toEqual(['good', 'good', 'caution', 'caution', 'bad', 'none']);
    expect([0.05, -0.05, 0.051, -0.2, null].map(mrrTone)).toEqual(['good', 'good', 'bad', 'bad', 'none']);
    expect([0, 0.0009, 0.001, 0.01, 0.011, null].map(errorRateTone)).toEqual(['good', 'good', 'caution', 'caution', 'bad', 'none']);
  });

  it('shades retention cells darker as more come back, with text that stays readable', () => {
    expect(retentionShade(null)).toBeUndefined();
    expect(retentionShade(0)).toEqual({ background: 'hsl(239 70% 97%)', color: '#000' });
    expect(retentionShade(1)).toEqual({ background: 'hsl(239 70% 36%)', color: '#fff' });
    expect(retentionShade(0.5)?.color).toBe('#000');
    expect(retentionShade(0.6)?.color).toBe('#fff');
  });
});
