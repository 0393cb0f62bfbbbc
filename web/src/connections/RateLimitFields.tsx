import { Field } from '../ui/ui';
import type { RateDraft } from './api';

/** The connection's own outbound rate limit; all empty = the process default. */
export function RateLimitFields({ value, onChange, errors }: { value: RateDraft; onChange: (v: RateDraft) => void; errors: Record<string, string | undefined> }) {
  return (
    <fieldset className="schema-form">
      <legend>Rate limit</legend>
      <p className="field-description">At most “requests” calls per “window” seconds (e.g. 300 per 900 = 300 per 15 minutes). Leave all empty for the server default.</p>
      <div className="row">
        <Field label="Requests" inputMode="numeric" value={value.requests} onChange={(v) => onChange({ ...value, requests: v })} error={errors.requests} />
        <Field label="Window (seconds)" inputMode="numeric" value={value.windowSeconds} onChange={(v) => onChange({ ...value, windowSeconds: v })} error={errors.windowSeconds} />
        <Field label="Burst" description="Optional" inputMode="numeric" value={value.burst} onChange={(v) => onChange({ ...value, burst: v })} error={errors.burst} />
      </div>
    </fieldset>
  );
}
