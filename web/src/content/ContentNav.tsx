import { Link } from 'react-aria-components';
import { useLocation } from 'react-router';
import './content.css';

/** The content area's own navigation: calendar, compose, campaigns, channels. */
export function ContentNav({ workspaceId }: { workspaceId: string }) {
  const { pathname } = useLocation();
  const base = `/w/${workspaceId}/content`;
  const items = [
    { href: base, label: 'Calendar', exact: true },
    { href: `${base}/compose`, label: 'Compose' },
    { href: `${base}/campaigns`, label: 'Campaigns' },
    { href: `${base}/channels`, label: 'Channels' },
  ];
  return (
    <nav aria-label="Content" className="cs-subnav">
      {items.map((i) => {
        const current = i.exact ? pathname === i.href : pathname.startsWith(i.href);
        return (
          <Link key={i.href} href={i.href} aria-current={current ? 'page' : undefined} className={current ? 'cs-subnav-current' : undefined}>
            {i.label}
          </Link>
        );
      })}
    </nav>
  );
}

/** A labelled native select: keyboard and screen-reader friendly, and fine for long lists such as time zones. */
export function NativeSelect({ label, value, onChange, options, id, description }: { label: string; value: string; onChange: (v: string) => void; options: { value: string; label: string }[]; id: string; description?: string }) {
  return (
    <div className="field">
      <label htmlFor={id}>{label}</label>
      <select id={id} className="cs-select" value={value} onChange={(e) => onChange(e.target.value)} aria-describedby={description ? `${id}-desc` : undefined}>
        {options.map((o) => (
          <option key={o.value} value={o.value}>
            {o.label}
          </option>
        ))}
      </select>
      {description && (
        <span id={`${id}-desc`} className="field-description">
          {description}
        </span>
      )}
    </div>
  );
}

/** A progress bar with its numbers in words (the colour is never the only signal). */
export function Bar({ label, value, max, tone }: { label: string; value: number; max: number; tone: 'scheduled' | 'published' | 'failed' | 'accent' }) {
  const pct = max > 0 ? Math.round((value / max) * 100) : 0;
  return (
    <div className="cs-bar-row">
      <span className="cs-bar-label">
        {label}: <strong>{value}</strong>
        {max > 0 && <span className="muted"> / {max}</span>}
      </span>
      <div className="cs-bar" role="progressbar" aria-label={label} aria-valuemin={0} aria-valuemax={max} aria-valuenow={value} aria-valuetext={`${value} of ${max}`}>
        <div className={`cs-bar-fill cs-fill-${tone}`} style={{ width: `${pct}%` }} />
      </div>
    </div>
  );
}
