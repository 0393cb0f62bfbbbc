import { useEffect, useId, useMemo, useState, type ReactNode } from 'react';
import { Link, Tab, TabList, TabPanel, Tabs } from 'react-aria-components';
import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import { useParams, useSearchParams } from 'react-router';
import { api, call } from '../api/client';
import { Button, Card, Empty, ErrorMessage, Field, Loading, Page } from '../ui/ui';
import { downloadCsv, fileNameOf, runQuery, useCatalog, useDashboards, type CatalogEntry, type Filter, type QueryKind, type QueryResult, type QuerySpec } from './api';
import { ResultView } from './Results';
import './analytics.css';

/** The builder's state: every kind's fields kept, so switching tabs does not lose what was typed. */
export interface Draft {
  kind: QueryKind;
  rangeDays: number;
  event: string;
  measure: 'count' | 'unique_users' | 'sum';
  property: string;
  interval: 'hour' | 'day' | 'week' | 'month';
  breakdown: string;
  chart: 'line' | 'bar';
  filters: Filter[];
  steps: string[];
  windowDays: number;
  startEvent: string;
  returnEvent: string;
  weeks: number;
  activeEvent: string;
}

const RANGES = [
  { days: 1, label: 'Last 24 hours' },
  { days: 7, label: 'Last 7 days' },
  { days: 30, label: 'Last 30 days' },
  { days: 90, label: 'Last 90 days' },
  { days: 365, label: 'Last 12 months' },
];
const KINDS: { id: QueryKind; label: string }[] = [
  { id: 'trends', label: 'Trends' },
  { id: 'funnel', label: 'Funnel' },
  { id: 'retention', label: 'Retention' },
  { id: 'active_users', label: 'Active users' },
];
const HOUR = 3_600_000;
const DAY = 86_400_000;

export const emptyDraft = (kind: QueryKind = 'trends'): Draft => ({
  kind,
  rangeDays: 30,
  event: '',
  measure: 'count',
  property: '',
  interval: 'day',
  breakdown: '',
  chart: 'line',
  filters: [],
  steps: ['', '', ''],
  windowDays: 14,
  startEvent: '',
  returnEvent: '',
  weeks: 8,
  activeEvent: '',
});

/** The spec the API runs: the range ends at the next full hour, so the current hour is included. */
export function specOf(d: Draft, now = Date.now()): { spec: QuerySpec | null; errors: Record<string, string> } {
  const errors: Record<string, string> = {};
  const to = new Date(Math.ceil((now + 1) / HOUR) * HOUR);
  const from = new Date(to.getTime() - d.rangeDays * DAY);
  const range = { from: from.toISOString(), to: to.toISOString() };
  const filters = d.filters.filter((f) => f.property);
  d.filters.forEach((f, i) => {
    if (f.property && !f.value) errors[`filter${i}`] = 'Give the value to compare with';
  });
  let spec: QuerySpec | null = null;
  if (d.kind === 'trends') {
    if (!d.event) errors.event = 'Pick an event';
    if (d.measure === 'sum' && !d.property) errors.property = 'Pick the numeric property to sum';
    spec = { kind: 'trends', event: d.event, measure: d.measure, interval: d.interval, filters, chart: d.chart, ...(d.measure === 'sum' ? { property: d.property } : {}), ...(d.breakdown ? { breakdown: d.breakdown } : {}), ...range };
  } else if (d.kind === 'funnel') {
    const steps = d.steps.filter(Boolean);
    d.steps.forEach((s, i) => {
      if (!s) errors[`step${i}`] = 'Pick an event or remove this step';
    });
    if (steps.length < 2) errors.steps = 'A funnel needs at least two steps';
    spec = { kind: 'funnel', steps, windowSeconds: d.windowDays * 86_400, filters, ...range };
  } else if (d.kind === 'retention') {
    if (!d.startEvent) errors.startEvent = 'Pick the event that starts a cohort';
    if (!d.returnEvent) errors.returnEvent = 'Pick the event that counts as coming back';
    spec = { kind: 'retention', startEvent: d.startEvent, returnEvent: d.returnEvent, weeks: d.weeks, ...range };
  } else {
    spec = { kind: 'active_users', ...(d.activeEvent ? { event: d.activeEvent } : {}), ...range };
  }
  return Object.keys(errors).length ? { spec: null, errors } : { spec, errors };
}

/** A saved spec back into the builder (its range becomes the nearest preset). */
export function draftOf(spec: Record<string, unknown>): Draft {
  const d = emptyDraft(spec.kind as QueryKind);
  const days = (Date.parse(String(spec.to)) - Date.parse(String(spec.from))) / DAY;
  d.rangeDays = RANGES.reduce((best, r) => (Math.abs(r.days - days) < Math.abs(best - days) ? r.days : best), 30);
  const s = spec as Record<string, never>;
  if (d.kind === 'trends') Object.assign(d, { event: s.event ?? '', measure: s.measure ?? 'count', property: s.property ?? '', interval: s.interval ?? 'day', breakdown: s.breakdown ?? '', chart: s.chart ?? 'line', filters: s.filters ?? [] });
  if (d.kind === 'funnel') Object.assign(d, { steps: s.steps ?? ['', ''], windowDays: Math.max(1, Math.round(Number(s.windowSeconds ?? 14 * 86_400) / 86_400)), filters: s.filters ?? [] });
  if (d.kind === 'retention') Object.assign(d, { startEvent: s.startEvent ?? '', returnEvent: s.returnEvent ?? '', weeks: s.weeks ?? 8 });
  if (d.kind === 'active_users') d.activeEvent = s.event ?? '';
  return d;
}

/** A labelled native select: keyboard and screen readers work without help. */
function Select({ label, value, onChange, options, error, placeholder }: { label: string; value: string; onChange: (v: string) => void; options: { value: string; label: string }[]; error?: string; placeholder?: string }) {
  const id = useId();
  return (
    <div className="field an-field">
      <label htmlFor={id}>{label}</label>
      <select id={id} className="select-native" value={value} onChange={(e) => onChange(e.target.value)} aria-invalid={error ? true : undefined} aria-describedby={error ? `${id}-e` : undefined}>
        {placeholder !== undefined && <option value="">{placeholder}</option>}
        {/* A saved value the catalog no longer lists stays choosable. */}
        {value && !options.some((o) => o.value === value) && <option value={value}>{value}</option>}
        {options.map((o) => (
          <option key={o.value} value={o.value}>
            {o.label}
          </option>
        ))}
      </select>
      {error && (
        <span id={`${id}-e`} className="field-error">
          {error}
        </span>
      )}
    </div>
  );
}

function NumberField({ label, value, onChange, min, max }: { label: string; value: number; onChange: (v: number) => void; min: number; max: number }) {
  const id = useId();
  return (
    <div className="field an-field an-field-narrow">
      <label htmlFor={id}>{label}</label>
      <input id={id} type="number" min={min} max={max} value={value} onChange={(e) => onChange(Math.min(max, Math.max(min, Number(e.target.value) || min)))} />
    </div>
  );
}

function FilterRows({ filters, properties, errors, onChange }: { filters: Filter[]; properties: string[]; errors: Record<string, string>; onChange: (f: Filter[]) => void }) {
  const set = (i: number, patch: Partial<Filter>) => onChange(filters.map((f, j) => (j === i ? { ...f, ...patch } : f)));
  return (
    <fieldset className="an-fieldset">
      <legend>Filters</legend>
      {filters.length === 0 && <p className="muted small">No filter: every event counts.</p>}
      {filters.map((f, i) => (
        <div key={i} className="row">
          <Select label={`Filter ${i + 1} property`} value={f.property} onChange={(v) => set(i, { property: v })} options={properties.map((p) => ({ value: p, label: p }))} placeholder="Choose a property" />
          <Select label={`Filter ${i + 1} operator`} value={f.op} onChange={(v) => set(i, { op: v as Filter['op'] })} options={[{ value: 'eq', label: 'equals' }, { value: 'neq', label: 'does not equal' }]} />
          <Field label={`Filter ${i + 1} value`} value={f.value} onChange={(v) => set(i, { value: v })} error={errors[`filter${i}`]} />
          <Button variant="secondary" onPress={() => onChange(filters.filter((_, j) => j !== i))} aria-label={`Remove filter ${i + 1}`}>
            Remove
          </Button>
        </div>
      ))}
      {filters.length < 10 && (
        <Button variant="secondary" onPress={() => onChange([...filters, { property: properties[0] ?? '', op: 'eq', value: '' }])}>
          Add filter
        </Button>
      )}
    </fieldset>
  );
}

/** The builder's fields for one kind of query. */
function Builder({ draft, set, catalog, errors }: { draft: Draft; set: (p: Partial<Draft>) => void; catalog: CatalogEntry[]; errors: Record<string, string> }) {
  const events = catalog.map((e) => ({ value: e.name, label: `${e.name} (${e.count})` }));
  const propsOf = (names: string[]) => [...new Set(catalog.filter((e) => names.includes(e.name)).flatMap((e) => e.properties))].sort();
  const rangeSelect = <Select label="Range" value={String(draft.rangeDays)} onChange={(v) => set({ rangeDays: Number(v) })} options={RANGES.map((r) => ({ value: String(r.days), label: r.label }))} />;
  if (draft.kind === 'trends') {
    const properties = propsOf([draft.event]);
    return (
      <div className="stack">
        <div className="row">
          <Select label="Event" value={draft.event} onChange={(v) => set({ event: v })} options={events} placeholder="Choose an event" error={errors.event} />
          <Select label="Measure" value={draft.measure} onChange={(v) => set({ measure: v as Draft['measure'] })} options={[{ value: 'count', label: 'Count of events' }, { value: 'unique_users', label: 'Unique users' }, { value: 'sum', label: 'Sum of a property' }]} />
          {draft.measure === 'sum' && <Select label="Property to sum" value={draft.property} onChange={(v) => set({ property: v })} options={properties.map((p) => ({ value: p, label: p }))} placeholder="Choose a property" error={errors.property} />}
          <Select label="Interval" value={draft.interval} onChange={(v) => set({ interval: v as Draft['interval'] })} options={['hour', 'day', 'week', 'month'].map((i) => ({ value: i, label: `By ${i}` }))} />
          <Select label="Breakdown" value={draft.breakdown} onChange={(v) => set({ breakdown: v })} options={properties.map((p) => ({ value: p, label: p }))} placeholder="No breakdown" />
          <Select label="Chart" value={draft.chart} onChange={(v) => set({ chart: v as Draft['chart'] })} options={[{ value: 'line', label: 'Line' }, { value: 'bar', label: 'Bar' }]} />
          {rangeSelect}
        </div>
        <FilterRows filters={draft.filters} properties={properties} errors={errors} onChange={(filters) => set({ filters })} />
      </div>
    );
  }
  if (draft.kind === 'funnel') {
    const properties = propsOf(draft.steps);
    return (
      <div className="stack">
        <fieldset className="an-fieldset">
          <legend>Steps, in order</legend>
          <ol className="an-steps">
            {draft.steps.map((s, i) => (
              <li key={i} className="row">
                <Select label={`Step ${i + 1}`} value={s} onChange={(v) => set({ steps: draft.steps.map((x, j) => (j === i ? v : x)) })} options={events} placeholder="Choose an event" error={errors[`step${i}`]} />
                {draft.steps.length > 2 && (
                  <Button variant="secondary" onPress={() => set({ steps: draft.steps.filter((_, j) => j !== i) })} aria-label={`Remove step ${i + 1}`}>
                    Remove
                  </Button>
                )}
              </li>
            ))}
          </ol>
          {errors.steps && <p className="field-error">{errors.steps}</p>}
          {draft.steps.length < 10 && (
            <Button variant="secondary" onPress={() => set({ steps: [...draft.steps, ''] })}>
              Add step
            </Button>
          )}
        </fieldset>
        <div className="row">
          <NumberField label="Conversion window (days)" value={draft.windowDays} onChange={(v) => set({ windowDays: v })} min={1} max={366} />
          {rangeSelect}
        </div>
        <FilterRows filters={draft.filters} properties={properties} errors={errors} onChange={(filters) => set({ filters })} />
      </div>
    );
  }
  if (draft.kind === 'retention') {
    return (
      <div className="row">
        <Select label="Cohort by first" value={draft.startEvent} onChange={(v) => set({ startEvent: v })} options={events} placeholder="Choose an event" error={errors.startEvent} />
        <Select label="Came back with" value={draft.returnEvent} onChange={(v) => set({ returnEvent: v })} options={events} placeholder="Choose an event" error={errors.returnEvent} />
        <NumberField label="Weeks" value={draft.weeks} onChange={(v) => set({ weeks: v })} min={1} max={52} />
        {rangeSelect}
      </div>
    );
  }
  return (
    <div className="row">
      <Select label="Active means did" value={draft.activeEvent} onChange={(v) => set({ activeEvent: v })} options={events} placeholder="Any event" />
      {rangeSelect}
    </div>
  );
}

/** Save the current query as a report, optionally onto a dashboard (an existing one or a new one). */
function SaveReport({ workspaceId, spec, defaultName, onSaved }: { workspaceId: string; spec: QuerySpec; defaultName: string; onSaved: (reportId: string, dashboardId: string | null) => void }) {
  const dashboards = useDashboards(workspaceId);
  const queryClient = useQueryClient();
  const [name, setName] = useState(defaultName);
  const [target, setTarget] = useState('');
  const [newDashboard, setNewDashboard] = useState('');
  const save = useMutation({
    mutationFn: async () => {
      const path = { params: { path: { workspaceId } } };
      const { report } = await call(api.POST('/v1/workspaces/{workspaceId}/analytics/reports', { ...path, body: { name, spec } }));
      let dashboardId: string | null = null;
      const tile = (y: number) => ({ reportId: report.id, x: 0, y, w: 12, h: 4 });
      if (target === '__new') {
        dashboardId = (await call(api.POST('/v1/workspaces/{workspaceId}/analytics/dashboards', { ...path, body: { name: newDashboard, tiles: [tile(0)] } }))).dashboard.id;
      } else if (target) {
        const current = dashboards.data?.find((d) => d.id === target);
        const tiles = current?.tiles ?? [];
        const y = tiles.reduce((m, t) => Math.max(m, t.y + t.h), 0);
        dashboardId = (await call(api.PATCH('/v1/workspaces/{workspaceId}/analytics/dashboards/{dashboardId}', { params: { path: { workspaceId, dashboardId: target } }, body: { tiles: [...tiles, tile(y)] } }))).dashboard.id;
      }
      return { reportId: report.id, dashboardId };
    },
    onSuccess: async ({ reportId, dashboardId }) => {
      await queryClient.invalidateQueries({ queryKey: ['analytics', workspaceId] });
      onSaved(reportId, dashboardId);
    },
  });
  const nameError = save.error && 'fieldError' in save.error ? (save.error as { fieldError: (f: string) => string | undefined }).fieldError('name') : undefined;
  return (
    <form
      className="stack"
      onSubmit={(e) => {
        e.preventDefault();
        save.mutate();
      }}
    >
      <div className="row">
        <Field label="Report name" value={name} onChange={setName} isRequired error={nameError} />
        <Select
          label="Add to dashboard"
          value={target}
          onChange={setTarget}
          placeholder="No dashboard"
          options={[...(dashboards.data ?? []).map((d) => ({ value: d.id, label: d.name })), { value: '__new', label: '+ New dashboard…' }]}
        />
        {target === '__new' && <Field label="New dashboard name" value={newDashboard} onChange={setNewDashboard} isRequired />}
        <Button type="submit" isDisabled={save.isPending || !name.trim() || (target === '__new' && !newDashboard.trim())}>
          {save.isPending ? 'Saving…' : 'Save report'}
        </Button>
      </div>
      <ErrorMessage error={save.error} />
    </form>
  );
}

/** The query builder: pick a kind, events and properties from what the workspace has, run, chart, export, save. */
export default function Explore() {
  const { workspaceId = '' } = useParams();
  const [params, setParams] = useSearchParams();
  const reportId = params.get('report');
  const catalog = useCatalog(workspaceId);
  const saved = useQuery({
    queryKey: ['analytics', workspaceId, 'report', reportId],
    queryFn: async () => (await call(api.GET('/v1/workspaces/{workspaceId}/analytics/reports/{reportId}', { params: { path: { workspaceId, reportId: reportId! } } }))).report,
    enabled: Boolean(reportId),
  });
  const [draft, setDraft] = useState<Draft>(() => emptyDraft((params.get('kind') as QueryKind | null) ?? 'trends'));
  const [shown, setShown] = useState(false);
  const [savedNote, setSavedNote] = useState<ReactNode>(null);
  const run = useMutation({ mutationFn: (s: QuerySpec) => runQuery(workspaceId, s) });
  const { mutate } = run;
  useEffect(() => {
    if (!saved.data) return;
    // A saved report opens run, over the same length of range up to now.
    const d = draftOf(saved.data.spec);
    setDraft(d);
    const s = specOf(d).spec;
    if (s) {
      setShown(true);
      mutate(s);
    }
  }, [saved.data, mutate]);
  const set = (p: Partial<Draft>) => setDraft((d) => ({ ...d, ...p }));
  const { spec, errors } = useMemo(() => specOf(draft), [draft]);
  const exporting = useMutation({ mutationFn: (s: QuerySpec) => downloadCsv(workspaceId, { spec: s }, fileNameOf(saved.data?.name ?? `${s.kind}`)) });
  const result: QueryResult | undefined = run.data;
  const ranSpec = run.variables;
  const kindLabel = KINDS.find((k) => k.id === draft.kind)!.label;

  function onRun() {
    setShown(true);
    setSavedNote(null);
    if (spec) run.mutate(spec);
  }

  return (
    <Page
      title={saved.data ? saved.data.name : 'Explore events'}
      actions={
        <>
          <Link className="btn btn-secondary" href={`/w/${workspaceId}/analytics`}>
            Analytics overview
          </Link>
          <Link className="btn btn-secondary" href={`/w/${workspaceId}/analytics/dashboards`}>
            Dashboards
          </Link>
        </>
      }
    >
      {catalog.isPending && <Loading label="Loading the workspace's events…" />}
      {catalog.isError && <ErrorMessage error={catalog.error} />}
      {saved.isError && <ErrorMessage error={saved.error} />}
      {catalog.isSuccess && catalog.data.length === 0 && (
        <Empty title="No events in the last 90 days">
          <p>
            Send events with a write key first: <Link href={`/w/${workspaceId}/analytics/write-keys`}>create a write key</Link> and paste its snippet into your app.
          </p>
        </Empty>
      )}
      {catalog.isSuccess && catalog.data.length > 0 && (
        <Card>
          <Tabs
            selectedKey={draft.kind}
            onSelectionChange={(k) => {
              set({ kind: k as QueryKind });
              setShown(false);
              run.reset();
              if (reportId) setParams({}, { replace: true });
            }}
          >
            <TabList aria-label="Kind of analysis" className="tabs">
              {KINDS.map((k) => (
                <Tab key={k.id} id={k.id} className="tab">
                  {k.label}
                </Tab>
              ))}
            </TabList>
            {KINDS.map((k) => (
              <TabPanel key={k.id} id={k.id} className="an-panel">
                <form
                  onSubmit={(e) => {
                    e.preventDefault();
                    onRun();
                  }}
                  className="stack"
                >
                  <Builder draft={draft} set={set} catalog={catalog.data} errors={shown ? errors : {}} />
                  <div className="row">
                    <Button type="submit" isDisabled={run.isPending}>
                      {run.isPending ? 'Running…' : `Run ${kindLabel.toLowerCase()}`}
                    </Button>
                  </div>
                </form>
              </TabPanel>
            ))}
          </Tabs>
        </Card>
      )}
      {run.isPending && <Loading label="Running the query…" />}
      <ErrorMessage error={run.error} />
      {result && ranSpec && !run.isPending && (
        <Card title={`${kindLabel} result`}>
          <div className="row an-actions">
            <Button variant="secondary" onPress={() => exporting.mutate(ranSpec)} isDisabled={exporting.isPending}>
              {exporting.isPending ? 'Exporting…' : 'Export CSV'}
            </Button>
          </div>
          <ErrorMessage error={exporting.error} />
          {result.rows.length === 0 ? <Empty title="Nothing matched">Try a longer range or fewer filters.</Empty> : <ResultView result={result} chart={draft.chart} />}
          <h3 className="an-subtitle">Save this report</h3>
          {savedNote}
          <SaveReport
            key={JSON.stringify(ranSpec)}
            workspaceId={workspaceId}
            spec={ranSpec}
            defaultName={saved.data?.name ?? defaultReportName(ranSpec)}
            onSaved={(id, dashboardId) =>
              setSavedNote(
                <div role="status" className="alert alert-success">
                  Report saved.{' '}
                  {dashboardId ? <Link href={`/w/${workspaceId}/analytics/dashboards/${dashboardId}`}>Open its dashboard</Link> : <Link href={`/w/${workspaceId}/analytics/explore?report=${id}`}>Open the report</Link>}
                </div>,
              )
            }
          />
        </Card>
      )}
    </Page>
  );
}

export function defaultReportName(s: QuerySpec): string {
  if (s.kind === 'trends') return `${s.event} per ${s.interval ?? 'day'}`;
  if (s.kind === 'funnel') return `Funnel: ${s.steps.join(' → ')}`;
  if (s.kind === 'retention') return `Retention: ${s.startEvent} → ${s.returnEvent}`;
  return s.event ? `Active users (${s.event})` : 'Active users';
}
