import { useEffect, useState } from 'react';
import { Checkbox, CheckboxGroup, Label } from 'react-aria-components';
import { RRule, Weekday } from 'rrule';
import { NativeSelect } from './ContentNav';

const DAYS: { id: string; label: string; day: Weekday }[] = [
  { id: 'MO', label: 'Mon', day: RRule.MO },
  { id: 'TU', label: 'Tue', day: RRule.TU },
  { id: 'WE', label: 'Wed', day: RRule.WE },
  { id: 'TH', label: 'Thu', day: RRule.TH },
  { id: 'FR', label: 'Fri', day: RRule.FR },
  { id: 'SA', label: 'Sat', day: RRule.SA },
  { id: 'SU', label: 'Sun', day: RRule.SU },
];
const FREQS = { none: null, daily: RRule.DAILY, weekly: RRule.WEEKLY, monthly: RRule.MONTHLY } as const;
type Freq = keyof typeof FREQS;

/** Reads a stored rule back into the builder's fields (a rule it cannot show starts empty). */
function parse(rule: string | null) {
  const empty = { freq: 'none' as Freq, interval: 1, days: [] as string[], end: 'never', count: 5, until: '' };
  if (!rule) return empty;
  try {
    const o = RRule.parseString(rule.replace(/^RRULE:/i, ''));
    const freq = (Object.entries(FREQS).find(([, v]) => v === o.freq)?.[0] ?? 'none') as Freq;
    const byday = (Array.isArray(o.byweekday) ? o.byweekday : o.byweekday ? [o.byweekday] : []).map((d) => DAYS[typeof d === 'number' ? d : (d as Weekday).weekday]!.id);
    return { freq, interval: o.interval ?? 1, days: byday, end: o.count ? 'count' : o.until ? 'until' : 'never', count: o.count ?? 5, until: o.until ? o.until.toISOString().slice(0, 10) : '' };
  } catch {
    return empty;
  }
}

/** The RRULE (without DTSTART: the schedule's local time anchors it) and its summary in words. */
export function buildRule(s: ReturnType<typeof parse>): { rule: string | null; summary: string } {
  const freq = FREQS[s.freq];
  if (freq === null) return { rule: null, summary: 'Does not repeat' };
  const r = new RRule({
    freq,
    interval: Math.max(1, s.interval),
    byweekday: s.freq === 'weekly' && s.days.length ? s.days.map((d) => DAYS.find((x) => x.id === d)!.day) : undefined,
    count: s.end === 'count' ? Math.max(1, s.count) : undefined,
    until: s.end === 'until' && s.until ? new Date(`${s.until}T23:59:59Z`) : undefined,
  });
  return { rule: r.toString().replace(/^RRULE:/, ''), summary: r.toText() };
}

export function RruleBuilder({ value, onChange }: { value: string | null; onChange: (rule: string | null) => void }) {
  const [s, setS] = useState(() => parse(value));
  const built = buildRule(s);
  useEffect(() => onChange(built.rule), [built.rule, onChange]);
  return (
    <fieldset className="cs-fieldset">
      <legend>Repeat</legend>
      <div className="row">
        <NativeSelect
          id="rr-freq"
          label="Frequency"
          value={s.freq}
          onChange={(v) => setS({ ...s, freq: v as Freq })}
          options={[
            { value: 'none', label: 'Does not repeat' },
            { value: 'daily', label: 'Daily' },
            { value: 'weekly', label: 'Weekly' },
            { value: 'monthly', label: 'Monthly' },
          ]}
        />
        {s.freq !== 'none' && (
          <div className="field cs-narrow">
            <label htmlFor="rr-interval">Every</label>
            <input id="rr-interval" type="number" min={1} max={99} value={s.interval} onChange={(e) => setS({ ...s, interval: Number(e.target.value) || 1 })} />
          </div>
        )}
        {s.freq !== 'none' && (
          <NativeSelect
            id="rr-end"
            label="Ends"
            value={s.end}
            onChange={(v) => setS({ ...s, end: v })}
            options={[
              { value: 'never', label: 'Never' },
              { value: 'count', label: 'After a number of times' },
              { value: 'until', label: 'On a date' },
            ]}
          />
        )}
        {s.freq !== 'none' && s.end === 'count' && (
          <div className="field cs-narrow">
            <label htmlFor="rr-count">Times</label>
            <input id="rr-count" type="number" min={1} max={500} value={s.count} onChange={(e) => setS({ ...s, count: Number(e.target.value) || 1 })} />
          </div>
        )}
        {s.freq !== 'none' && s.end === 'until' && (
          <div className="field">
            <label htmlFor="rr-until">Last day</label>
            <input id="rr-until" type="date" value={s.until} onChange={(e) => setS({ ...s, until: e.target.value })} />
          </div>
        )}
      </div>
      {s.freq === 'weekly' && (
        <CheckboxGroup value={s.days} onChange={(days) => setS({ ...s, days })} className="checkbox-group cs-days">
          <Label>On</Label>
          <div className="row">
            {DAYS.map((d) => (
              <Checkbox key={d.id} value={d.id} className="checkbox">
                <span className="checkbox-box" aria-hidden="true" />
                {d.label}
              </Checkbox>
            ))}
          </div>
        </CheckboxGroup>
      )}
      <p className="cs-summary" aria-live="polite">
        <strong>{built.summary.charAt(0).toUpperCase() + built.summary.slice(1)}</strong>
        {built.rule && (
          <>
            {' '}
            <code className="muted">{built.rule}</code>
          </>
        )}
      </p>
    </fieldset>
  );
}
