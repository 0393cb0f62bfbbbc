import { useEffect, useState, type FormEvent } from 'react';
import { Checkbox, CheckboxGroup, Form, Label, Link, Meter, Switch, Tab, TabList, TabPanel, Tabs, type Key } from 'react-aria-components';
import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import { useSearchParams } from 'react-router';
import { api, ApiError, call } from '../api/client';
import { SelectField } from '../ui/SchemaForm';
import { Button, Card, Empty, ErrorMessage, Loading, Page } from '../ui/ui';
import { dateTime, opsKey, SEVERITY_NAMES, useIncidents, useNow, type Incident, type RoutesDocument, type StatusDoc } from './api';
import { breachingTimers, countdown } from './countdown';
import { GdprRequestsTab } from './GdprRequests';
import { useMe } from '../app/session';

/** The response-target countdown: ticks with the browser's clock corrected by the server's offset; frozen once acknowledged. */
export function TargetCountdown({ incident, offset }: { incident: Pick<Incident, 'respondBy' | 'acknowledgedAt' | 'resolvedAt' | 'responseTarget'>; offset: number }) {
  const now = useNow();
  const c = countdown(incident, now + offset);
  return (
    <span className={`countdown countdown-${c.state}`} role="timer" aria-live="off" data-testid="countdown" data-state={c.state} data-remaining-ms={c.remainingMs}>
      <span className="countdown-dot" aria-hidden="true" />
      {c.text}
    </span>
  );
}

export function SeverityBadge({ level }: { level: number }) {
  return <span className={`badge sev sev-${level}`}>{SEVERITY_NAMES[level] ?? `Sev${level}`}</span>;
}

const TIMER_LABEL: Record<string, string> = { acknowledge: 'acknowledge (5 min)', assess: 'assess (10 min)', assemble: 'assemble the team (15 min)' };

export function BreachBadge({ incident, offset }: { incident: Pick<Incident, 'status' | 'timers'>; offset: number }) {
  const now = useNow();
  const late = breachingTimers(incident, now + offset);
  if (!late.length) return null;
  return (
    <span className="badge badge-failed" data-testid="breaching">
      late: {late.map((k) => TIMER_LABEL[k] ?? k).join(', ')}
    </span>
  );
}

function IncidentsTab() {
  const [status, setStatus] = useState('active');
  const list = useIncidents(status);
  return (
    <Card>
      <div className="row">
        <SelectField
          label="Show"
          value={status}
          onChange={setStatus}
          options={[
            { value: 'active', label: 'Active (open or acknowledged)' },
            { value: 'open', label: 'Open' },
            { value: 'acknowledged', label: 'Acknowledged' },
            { value: 'resolved', label: 'Resolved' },
            { value: 'all', label: 'All' },
          ]}
        />
      </div>
      {list.isPending && <Loading />}
      {list.isError && <ErrorMessage error={list.error} />}
      {list.data && list.data.incidents.length === 0 && (
        <Empty title={status === 'active' ? 'No active incident' : 'No incident here'}>
          <p>Alertmanager opens incidents by posting to /v1/ops/alertmanager; each alert group is one incident.</p>
        </Empty>
      )}
      {list.data && list.data.incidents.length > 0 && (
        <ul className="incident-list" aria-label="Incidents">
          {list.data.incidents.map((i) => (
            <li key={i.id} className={`incident-row sev-border-${i.severityLevel}`}>
              <div className="incident-row-main">
                <Link href={`/operations/incidents/${i.id}`} className="incident-link">
                  #{i.number} {i.title}
                </Link>
                <div className="row small">
                  <SeverityBadge level={i.severityLevel} />
                  <span className={`badge badge-${i.status}`}>{i.status}</span>
                  <span className="muted">opened {dateTime(i.openedAt)}</span>
                  {i.components.length > 0 && <span className="muted">· {i.components.join(', ')}</span>}
                  <BreachBadge incident={i} offset={list.data.offset} />
                </div>
              </div>
              {i.status !== 'resolved' && <TargetCountdown incident={i} offset={list.data.offset} />}
            </li>
          ))}
        </ul>
      )}
    </Card>
  );
}

const SEVS = [1, 2, 3, 4] as const;

function RoutesTab() {
  const queryClient = useQueryClient();
  const routes = useQuery({ queryKey: opsKey('routes'), queryFn: () => call(api.GET('/v1/ops/escalation-routes')), retry: false });
  const [draft, setDraft] = useState<Record<string, { severities: string[]; immediate: string[]; reminders: boolean }>>({});
  useEffect(() => {
    if (!routes.data) return;
    setDraft(Object.fromEntries(routes.data.connections.map((c) => [c.connectionId, { severities: c.severities.map(String), immediate: c.immediate.map(String), reminders: c.reminders }])));
  }, [routes.data]);
  const save = useMutation({
    mutationFn: (doc: RoutesDocument) =>
      call(
        api.PUT('/v1/ops/escalation-routes', {
          body: { routes: doc.connections.map((c) => ({ connectionId: c.connectionId, severities: (draft[c.connectionId]?.severities ?? []).map(Number), immediate: (draft[c.connectionId]?.immediate ?? []).map(Number), reminders: draft[c.connectionId]?.reminders ?? false })) },
        }),
      ),
    onSuccess: (doc) => queryClient.setQueryData(opsKey('routes'), doc),
  });
  if (routes.isPending) return <Loading />;
  if (routes.isError) {
    const status = routes.error instanceof ApiError ? routes.error.problem.status : 0;
    return (
      <Card title="Escalation routes">
        {status === 409 ? (
          <Empty title="No ops workspace">
            <p>Escalations go to the connections of the ops workspace: set V01T_OPS_WORKSPACE_ID to a workspace and add PagerDuty, webhook or email connections to it.</p>
          </Empty>
        ) : (
          <ErrorMessage error={routes.error} />
        )}
      </Card>
    );
  }
  const doc = routes.data;
  const err = (i: number, f: string) => (save.error instanceof ApiError ? save.error.problem.errors?.find((e) => e.path === `body.routes.${i}.${f}`)?.message : undefined);
  function submit(e: FormEvent) {
    e.preventDefault();
    save.mutate(doc);
  }
  return (
    <Card title="Escalation routes">
      <p className="muted">Per connection of the ops workspace: the severities it is paged for when the response target passes (Sev4: a bug ticket at open), those it hears at once when an incident opens, and whether it gets the communication reminders.</p>
      {doc.connections.length === 0 ? (
        <Empty title="No escalation connection">
          <p>Add a PagerDuty, webhook or email connection to the ops workspace.</p>
        </Empty>
      ) : (
        <Form onSubmit={submit} className="stack" aria-label="Escalation routes">
          {doc.connections.map((c, i) => {
            const d = draft[c.connectionId] ?? { severities: [], immediate: [], reminders: false };
            const set = (patch: Partial<typeof d>) => setDraft({ ...draft, [c.connectionId]: { ...d, ...patch } });
            return (
              <fieldset key={c.connectionId} className="schema-form">
                <legend>
                  {c.name} <span className="muted small">({c.connector}{c.routed ? '' : ', default route'})</span>
                </legend>
                <div className="row">
                  <CheckboxGroup className="checkbox-group" value={d.severities} onChange={(v) => set({ severities: v })} isInvalid={Boolean(err(i, 'severities'))}>
                    <Label>Severities of {c.name}</Label>
                    {SEVS.map((s) => (
                      <Checkbox key={s} value={String(s)} className="checkbox">
                        <span className="checkbox-box" aria-hidden="true" />
                        {SEVERITY_NAMES[s]}
                      </Checkbox>
                    ))}
                    {err(i, 'severities') && <span className="field-error">{err(i, 'severities')}</span>}
                  </CheckboxGroup>
                  <CheckboxGroup className="checkbox-group" value={d.immediate} onChange={(v) => set({ immediate: v })} isInvalid={Boolean(err(i, 'immediate'))}>
                    <Label>Notified at open ({c.name})</Label>
                    {SEVS.slice(0, 3).map((s) => (
                      <Checkbox key={s} value={String(s)} className="checkbox">
                        <span className="checkbox-box" aria-hidden="true" />
                        Sev{s}
                      </Checkbox>
                    ))}
                    {err(i, 'immediate') && <span className="field-error">{err(i, 'immediate')}</span>}
                  </CheckboxGroup>
                </div>
                <Switch className="switch" isSelected={d.reminders} onChange={(on) => set({ reminders: on })}>
                  <span className="switch-track" aria-hidden="true" />
                  Communication reminders for {c.name}
                </Switch>
                {err(i, 'reminders') && <span className="field-error">{err(i, 'reminders')}</span>}
              </fieldset>
            );
          })}
          <ErrorMessage error={save.error} />
          {save.isSuccess && (
            <p role="status" className="alert alert-success">
              Routes saved.
            </p>
          )}
          <Button type="submit" isDisabled={save.isPending}>
            Save routes
          </Button>
        </Form>
      )}
    </Card>
  );
}

function DeploymentsTab() {
  const deployments = useQuery({ queryKey: opsKey('deployments'), queryFn: () => call(api.GET('/v1/ops/deployments', { params: { query: { limit: 50 } } })) });
  if (deployments.isPending) return <Loading />;
  if (deployments.isError) return <ErrorMessage error={deployments.error} />;
  const d = deployments.data;
  if (d.deployments.length === 0)
    return (
      <Card>
        <Empty title="No deployment recorded">
          <p>CI records each deployment with v01t deploy record (or POST /v1/ops/deployments with V01T_DEPLOY_TOKEN).</p>
        </Empty>
      </Card>
    );
  return (
    <>
      <div className="deploy-envs">
        {d.environments.map((e) => (
          <Card key={e.environment} title={e.environment}>
            <Meter className="g-bar" value={Math.round(e.successRate * 1000) / 10} minValue={0} maxValue={100} valueLabel={`${(e.successRate * 100).toFixed(1)} %`}>
              {({ percentage, valueText }) => (
                <>
                  <div className="g-bar-head">
                    <Label>Success rate</Label>
                    <span className="g-bar-value deploy-rate">{valueText}</span>
                  </div>
                  <div className="g-bar-track">
                    <div className={`g-bar-fill ${e.successRate >= 0.9 ? 'fill-good' : e.successRate >= 0.75 ? 'fill-warn' : 'fill-bad'}`} style={{ width: `${percentage}%` }} />
                  </div>
                </>
              )}
            </Meter>
            <p className="small">
              {e.total} deployments: {e.success} succeeded, {e.failed} failed, {e.rolledBack} rolled back
            </p>
            {e.lastDeployment && (
              <p className="small muted">
                Last: {e.lastDeployment.version} ({e.lastDeployment.result}) {dateTime(e.lastDeployment.recordedAt)}
              </p>
            )}
          </Card>
        ))}
      </div>
      <Card title="History">
        <table className="table" tabIndex={0}>
          <caption className="sr-only">Deployments, newest first</caption>
          <thead>
            <tr>
              <th scope="col">When</th>
              <th scope="col">Environment</th>
              <th scope="col">Version</th>
              <th scope="col">Result</th>
              <th scope="col">Via</th>
              <th scope="col">Notes</th>
            </tr>
          </thead>
          <tbody>
            {d.deployments.map((x) => (
              <tr key={x.id}>
                <td>{dateTime(x.recordedAt)}</td>
                <td>{x.environment}</td>
                <td>
                  <code>{x.version}</code>
                </td>
                <td>
                  <span className={`badge badge-${x.result === 'success' ? 'succeeded' : 'failed'}`}>{x.result.replace('_', ' ')}</span>
                </td>
                <td>{x.via}</td>
                <td>{x.notes ?? ''}</td>
              </tr>
            ))}
          </tbody>
        </table>
      </Card>
    </>
  );
}

const STATUS_LABEL: Record<string, string> = { operational: 'Operational', degraded_performance: 'Degraded performance', partial_outage: 'Partial outage', major_outage: 'Major outage' };

/** What the public sees at /status: only what communications leads published. */
export function StatusPreview() {
  const status = useQuery({ queryKey: opsKey('status'), queryFn: () => call(api.GET('/status.json')), refetchInterval: 30_000 });
  if (status.isPending) return <Loading />;
  if (status.isError) return <ErrorMessage error={status.error} />;
  const s: StatusDoc = status.data;
  return (
    <Card>
      <div className="row status-head">
        <h2 className="card-title">{s.title}</h2>
        <a href="/status" target="_blank" rel="noreferrer">
          Open the public page
        </a>
      </div>
      <p className={`status-banner status-${s.status}`} data-testid="status-banner">
        {s.description}
      </p>
      <ul className="status-components" aria-label="Components">
        {s.components.map((c) => (
          <li key={c.id}>
            <span>{c.name}</span>
            <span className={`status-dot status-${c.status}`}>{STATUS_LABEL[c.status] ?? c.status}</span>
          </li>
        ))}
      </ul>
      <h3>Incidents</h3>
      {s.incidents.length === 0 && <p className="muted">Nothing published.</p>}
      {s.incidents.map((i) => (
        <article key={i.id} className="status-incident">
          <h4>
            {i.title} <span className="badge">{i.status}</span>
          </h4>
          <ol className="timeline">
            {i.updates.map((u, k) => (
              <li key={k} className="timeline-item">
                <strong>{u.status}</strong> <span className="muted small">{dateTime(u.at)}</span>
                <p>{u.message}</p>
              </li>
            ))}
          </ol>
        </article>
      ))}
      <p className="small muted">Updated {dateTime(s.updatedAt)}.</p>
    </Card>
  );
}

const TABS = ['incidents', 'routes', 'deployments', 'status', 'gdpr'] as const;

/** The operations console: incidents, escalation routes, the deployment history, the public status page and (platform admins) the GDPR requests register. */
export default function Operations() {
  const [params, setParams] = useSearchParams();
  const platformAdmin = useMe().data?.platformAdmin ?? false;
  const requested = params.get('tab') as (typeof TABS)[number] | null;
  const tab = requested && TABS.includes(requested) && (requested !== 'gdpr' || platformAdmin) ? requested : 'incidents';
  const select = (k: Key) => setParams(k === 'incidents' ? {} : { tab: String(k) }, { replace: true });
  return (
    <Page title="Operations">
      <Tabs selectedKey={tab} onSelectionChange={select}>
        <TabList aria-label="Operations views" className="tabs">
          <Tab id="incidents" className="tab">
            Incidents
          </Tab>
          <Tab id="routes" className="tab">
            Escalation routes
          </Tab>
          <Tab id="deployments" className="tab">
            Deployments
          </Tab>
          <Tab id="status" className="tab">
            Status page
          </Tab>
          {platformAdmin && (
            <Tab id="gdpr" className="tab">
              GDPR requests
            </Tab>
          )}
        </TabList>
        <TabPanel id="incidents">
          <IncidentsTab />
        </TabPanel>
        <TabPanel id="routes">
          <RoutesTab />
        </TabPanel>
        <TabPanel id="deployments">
          <DeploymentsTab />
        </TabPanel>
        <TabPanel id="status">
          <StatusPreview />
        </TabPanel>
        {platformAdmin && (
          <TabPanel id="gdpr">
            <GdprRequestsTab />
          </TabPanel>
        )}
      </Tabs>
    </Page>
  );
}
