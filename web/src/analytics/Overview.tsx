import { useEffect, useState } from 'react';
import { Link } from 'react-aria-components';
import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import { useParams } from 'react-router';
import { api, call } from '../api/client';
import { Button, Card, ErrorMessage, Loading, Page } from '../ui/ui';
import { useCatalog, useDashboards } from './api';
import { pct } from './format';
import './analytics.css';

/** The runbook's thresholds (docs/runbook.md; the API applies the same ones in kpi.service.ts). */
export const THRESHOLDS = { activationTarget: 0.7, activationWarning: 0.6, mrrDeviationCritical: 0.05, errorRateTarget: 0.001, errorRateCritical: 0.01 };

export type Tone = 'good' | 'caution' | 'bad' | 'none';

export function activationTone(rate: number | null | undefined): Tone {
  if (rate === null || rate === undefined) return 'none';
  return rate >= THRESHOLDS.activationTarget ? 'good' : rate >= THRESHOLDS.activationWarning ? 'caution' : 'bad';
}
export function mrrTone(deviation: number | null | undefined): Tone {
  if (deviation === null || deviation === undefined) return 'none';
  return Math.abs(deviation) > THRESHOLDS.mrrDeviationCritical ? 'bad' : 'good';
}
export function errorRateTone(rate: number | null | undefined): Tone {
  if (rate === null || rate === undefined) return 'none';
  return rate < THRESHOLDS.errorRateTarget ? 'good' : rate > THRESHOLDS.errorRateCritical ? 'bad' : 'caution';
}

const TONE_TEXT: Record<Tone, string> = { good: 'On target', caution: 'Below target', bad: 'Critical', none: 'No data' };

function KpiTile({ title, value, tone, note, detail }: { title: string; value: string; tone: Tone; note?: string; detail: string }) {
  return (
    <li className={`an-kpi an-kpi-${tone}`} data-tone={tone} aria-label={`${title}: ${value}, ${note ?? TONE_TEXT[tone]}`}>
      <span className="an-kpi-title">{title}</span>
      <span className="an-kpi-value">{value}</span>
      <span className="an-kpi-status">
        <span aria-hidden="true" className="an-kpi-dot" /> {note ?? TONE_TEXT[tone]}
      </span>
      <span className="an-kpi-detail">{detail}</span>
    </li>
  );
}

interface Activation {
  rate: number | null;
  status: string;
  signups: number;
  activated: number;
  signupEvent: string;
  activationEvent: string | null;
}
interface MrrDay {
  date: string;
  currency: string;
  mrr: number;
  forecast: number | null;
  deviation: number | null;
  status: string;
}
interface ErrorRate {
  rate: number | null;
  status: string;
  requests: number;
  errors: number;
}

const money = (amount: number, currency: string) => {
  try {
    return new Intl.NumberFormat('en', { style: 'currency', currency, maximumFractionDigits: 0 }).format(amount);
  } catch {
    return `${amount.toFixed(0)} ${currency}`;
  }
};

/** The runbook KPIs as tiles coloured by their thresholds: activation, MRR against forecast (per currency), error rate. */
export function KpiTiles({ workspaceId }: { workspaceId: string }) {
  const kpis = useQuery({
    queryKey: ['analytics', workspaceId, 'kpis'],
    queryFn: async () => call(api.GET('/v1/workspaces/{workspaceId}/analytics/kpis', { params: { path: { workspaceId }, query: {} } })),
  });
  if (kpis.isPending) return <Loading label="Loading KPIs…" />;
  if (kpis.isError) return <ErrorMessage error={kpis.error} />;
  const activation = kpis.data.activation as unknown as Activation;
  const errorRate = kpis.data.errorRate as unknown as ErrorRate;
  const daily = kpis.data.mrr.daily as unknown as MrrDay[];
  const latest = new Map<string, MrrDay>();
  for (const d of daily) if (!latest.has(d.currency) || latest.get(d.currency)!.date < d.date) latest.set(d.currency, d);
  return (
    <ul className="an-kpis" aria-label="Key performance indicators, last 30 days">
      <KpiTile
        title="Activation rate"
        value={pct(activation.rate)}
        tone={activationTone(activation.rate)}
        note={activation.status === 'not_configured' ? 'Set the activation event below' : undefined}
        detail={activation.activationEvent ? `${activation.activated} of ${activation.signups} sign-ups did “${activation.activationEvent}” within 7 days · target > 70 %, warning < 60 %` : 'target > 70 %, warning < 60 %'}
      />
      {[...latest.values()].map((m) => (
        <KpiTile
          key={m.currency}
          title={`MRR (${m.currency})`}
          value={money(m.mrr, m.currency)}
          tone={mrrTone(m.deviation)}
          note={m.deviation === null ? 'No forecast' : `${m.deviation > 0 ? '+' : ''}${pct(m.deviation)} vs forecast`}
          detail={`${m.forecast === null ? 'no forecast' : `forecast ${money(m.forecast, m.currency)}`} on ${m.date} · critical beyond ±5 %`}
        />
      ))}
      {latest.size === 0 && <KpiTile title="MRR" value="–" tone="none" note="No subscription events" detail="send subscription.started / changed / cancelled with amount and currency" />}
      <KpiTile title="Error rate" value={pct(errorRate.rate, 2)} tone={errorRateTone(errorRate.rate)} detail={`${errorRate.errors} of ${errorRate.requests} requests failed · target < 0.1 %, critical > 1 %`} />
    </ul>
  );
}

/** Which events count as a sign-up and as activation (the activation KPI's definition). */
function KpiSettings({ workspaceId }: { workspaceId: string }) {
  const path = { params: { path: { workspaceId } } };
  const queryClient = useQueryClient();
  const catalog = useCatalog(workspaceId);
  const settings = useQuery({ queryKey: ['analytics', workspaceId, 'settings'], queryFn: async () => (await call(api.GET('/v1/workspaces/{workspaceId}/analytics/settings', path))).settings });
  const [signup, setSignup] = useState('');
  const [activation, setActivation] = useState('');
  useEffect(() => {
    if (settings.data) {
      setSignup(settings.data.signupEvent);
      setActivation(settings.data.activationEvent ?? '');
    }
  }, [settings.data]);
  const save = useMutation({
    mutationFn: () => call(api.PUT('/v1/workspaces/{workspaceId}/analytics/settings', { ...path, body: { signupEvent: signup, activationEvent: activation || null } })),
    onSuccess: () => queryClient.invalidateQueries({ queryKey: ['analytics', workspaceId] }),
  });
  const names = [...new Set([...(catalog.data ?? []).map((e) => e.name), signup, activation].filter(Boolean))].sort();
  if (settings.isPending) return <Loading label="Loading KPI settings…" />;
  if (settings.isError) return <ErrorMessage error={settings.error} />;
  return (
    <form
      className="row"
      onSubmit={(e) => {
        e.preventDefault();
        save.mutate();
      }}
    >
      <div className="field an-field">
        <label htmlFor="kpi-signup">Sign-up event</label>
        <select id="kpi-signup" className="select-native" value={signup} onChange={(e) => setSignup(e.target.value)}>
          {names.map((n) => (
            <option key={n}>{n}</option>
          ))}
        </select>
      </div>
      <div className="field an-field">
        <label htmlFor="kpi-activation">Activation event</label>
        <select id="kpi-activation" className="select-native" value={activation} onChange={(e) => setActivation(e.target.value)}>
          <option value="">Not set</option>
          {names.map((n) => (
            <option key={n}>{n}</option>
          ))}
        </select>
      </div>
      <Button type="submit" isDisabled={save.isPending}>
        {save.isPending ? 'Saving…' : 'Save KPI settings'}
      </Button>
      {save.isSuccess && (
        <span role="status" className="muted">
          Saved
        </span>
      )}
      <ErrorMessage error={save.error} />
    </form>
  );
}

/** Analytics for the analyst and the founder: the KPIs first, then where to go next. */
export default function Overview() {
  const { workspaceId = '' } = useParams();
  const dashboards = useDashboards(workspaceId);
  const base = `/w/${workspaceId}/analytics`;
  return (
    <Page
      title="Analytics"
      actions={
        <>
          <Link className="btn btn-primary" href={`${base}/explore`}>
            Explore events
          </Link>
          <Link className="btn btn-secondary" href={`${base}/dashboards`}>
            Dashboards
          </Link>
          <Link className="btn btn-secondary" href={`${base}/write-keys`}>
            Write keys
          </Link>
        </>
      }
    >
      <Card title="Key performance indicators (last 30 days)">
        <KpiTiles workspaceId={workspaceId} />
        <details className="an-settings">
          <summary>KPI settings</summary>
          <KpiSettings workspaceId={workspaceId} />
        </details>
      </Card>
      <Card title="Analyses">
        <ul className="an-links">
          <li>
            <Link href={`${base}/explore?kind=trends`}>Trends</Link> <span className="muted">events over time, by hour to month, broken down and filtered</span>
          </li>
          <li>
            <Link href={`${base}/explore?kind=funnel`}>Funnels</Link> <span className="muted">who goes from one step to the next, with drop-off and time between steps</span>
          </li>
          <li>
            <Link href={`${base}/explore?kind=retention`}>Retention</Link> <span className="muted">weekly cohorts and who comes back</span>
          </li>
          <li>
            <Link href={`${base}/explore?kind=active_users`}>Active users</Link> <span className="muted">DAU, WAU, MAU and stickiness</span>
          </li>
        </ul>
      </Card>
      <Card title="Dashboards">
        {dashboards.isPending && <Loading label="Loading dashboards…" />}
        {dashboards.isError && <ErrorMessage error={dashboards.error} />}
        {dashboards.isSuccess && dashboards.data.length === 0 && <p className="muted">No dashboard yet: save a report onto one from Explore.</p>}
        {dashboards.data && dashboards.data.length > 0 && (
          <ul className="plain-list">
            {dashboards.data.map((d) => (
              <li key={d.id}>
                <Link href={`${base}/dashboards/${d.id}`}>{d.name}</Link>
              </li>
            ))}
          </ul>
        )}
      </Card>
    </Page>
  );
}
