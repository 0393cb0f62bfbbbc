import { useState, type FormEvent } from 'react';
import { Checkbox, CheckboxGroup, Form, Label, Link, TextArea, TextField } from 'react-aria-components';
import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import { useParams } from 'react-router';
import { api, ApiError, call } from '../api/client';
import { SelectField } from '../ui/SchemaForm';
import { Button, Card, ErrorMessage, Field, Loading, Page } from '../ui/ui';
import { dateTime, opsKey, useIncident, useNow, useResponders, type IncidentDetail } from './api';
import { breachingTimers } from './countdown';
import { SeverityBadge, TargetCountdown } from './Operations';

const ROLES = [
  { id: 'incidentCommander', name: 'Incident commander' },
  { id: 'technicalLead', name: 'Technical lead' },
  { id: 'communicationsLead', name: 'Communications lead' },
] as const;
type RoleId = (typeof ROLES)[number]['id'];
const COMPONENTS = [
  { id: 'api', name: 'API and sign-in' },
  { id: 'workflows', name: 'Workflows' },
  { id: 'integrations', name: 'Integrations' },
  { id: 'content', name: 'Content scheduling' },
  { id: 'analytics', name: 'Analytics' },
  { id: 'gamification', name: 'Gamification' },
];

/** The runbook's first minutes (ADR 0060). */
const FIRST_MINUTES = { acknowledge: 'Acknowledge (< 5 min)', assess: 'Assess impact (< 10 min)', assemble: 'Assemble the team (< 15 min)' } as const;

/** The first minutes' timers: met (on time or late), or breaching live by the clock. */
function FirstMinutes({ incident, offset }: { incident: IncidentDetail; offset: number }) {
  const now = useNow();
  const late = breachingTimers(incident, now + offset);
  return (
    <>
      {(['acknowledge', 'assess', 'assemble'] as const).map((k) => {
        const t = incident.timers![k];
        return (
          <div key={k} data-testid={`timer-${k}`}>
            <dt>{FIRST_MINUTES[k]}</dt>
            <dd>
              {t.doneAt ? `done ${dateTime(t.doneAt)} ` : `due ${dateTime(t.dueAt)} `}
              {t.doneAt && t.breached && <span className="badge badge-failed">late</span>}
              {late.includes(k) && <span className="badge badge-failed">breaching</span>}
            </dd>
          </div>
        );
      })}
    </>
  );
}

function MultilineField({ label, value, onChange, error, description, isRequired }: { label: string; value: string; onChange: (v: string) => void; error?: string; description?: string; isRequired?: boolean }) {
  return (
    <TextField className="field" value={value} onChange={onChange} isInvalid={Boolean(error)} isRequired={isRequired} validationBehavior="aria">
      <Label>{label}</Label>
      <TextArea rows={3} className="textarea" />
      {description && <span className="field-description">{description}</span>}
      {error && <span className="field-error">{error}</span>}
    </TextField>
  );
}

const fieldErr = (e: unknown, path: string) => (e instanceof ApiError ? e.problem.errors?.find((x) => x.path === `body.${path}`)?.message : undefined);

function Roles({ incident, names }: { incident: IncidentDetail; names: Map<string, string> }) {
  const queryClient = useQueryClient();
  const responders = useResponders();
  const assign = useMutation({
    mutationFn: (v: { role: RoleId; userId: string | null }) => call(api.POST('/v1/ops/incidents/{incidentId}/roles', { params: { path: { incidentId: incident.id } }, body: { [v.role]: v.userId } })),
    onSettled: () => queryClient.invalidateQueries({ queryKey: opsKey('incident', incident.id) }),
  });
  const people = responders.data ?? [];
  return (
    <Card title="Response team">
      {responders.isError && <ErrorMessage error={responders.error} />}
      <div className="row">
        {ROLES.map((r) => {
          const current = incident.roles[r.id];
          const options = [
            { value: '', label: 'Unassigned' },
            ...people.map((p) => ({ value: p.id, label: p.you ? `${p.name} (you)` : p.name })),
            ...(current && !people.some((p) => p.id === current) ? [{ value: current, label: names.get(current) ?? current.slice(0, 8) }] : []),
          ];
          return <SelectField key={r.id} label={r.name} value={current ?? ''} options={options} onChange={(v) => assign.mutate({ role: r.id, userId: v || null })} error={fieldErr(assign.error, r.id)} />;
        })}
      </div>
      <ErrorMessage error={assign.error} />
    </Card>
  );
}

function PublicUpdate({ incident }: { incident: IncidentDetail }) {
  const queryClient = useQueryClient();
  const first = incident.publicUpdates.length === 0;
  const [status, setStatus] = useState<'investigating' | 'identified' | 'monitoring' | 'resolved'>('investigating');
  const [message, setMessage] = useState('');
  const [title, setTitle] = useState('');
  const [components, setComponents] = useState<string[]>(incident.components.filter((c) => COMPONENTS.some((x) => x.id === c)));
  const post = useMutation({
    mutationFn: () =>
      call(
        api.POST('/v1/ops/incidents/{incidentId}/public-updates', {
          params: { path: { incidentId: incident.id } },
          body: { status, message, ...(title.trim() ? { title } : {}), ...(components.length ? { components: components as 'api'[] } : {}) },
        }),
      ),
    onSuccess: () => {
      setMessage('');
      void queryClient.invalidateQueries({ queryKey: opsKey() });
    },
  });
  function submit(e: FormEvent) {
    e.preventDefault();
    post.mutate();
  }
  return (
    <Card title="Status page update">
      <p className="muted small">The communications lead publishes what the public sees at /status: a title, the affected components and the updates — never alerts or notes.</p>
      <Form onSubmit={submit} className="stack" aria-label="Post a status page update">
        <div className="row">
          <SelectField
            label="Public status"
            value={status}
            onChange={(v) => setStatus(v as typeof status)}
            options={['investigating', 'identified', 'monitoring', 'resolved'].map((s) => ({ value: s, label: s[0]!.toUpperCase() + s.slice(1) }))}
            error={fieldErr(post.error, 'status')}
          />
          <Field label="Public title" description={first ? 'Required for the first update' : `Now “${incident.publicTitle ?? ''}”; leave blank to keep it`} value={title} onChange={setTitle} error={fieldErr(post.error, 'title')} />
        </div>
        <CheckboxGroup className="checkbox-group" value={components} onChange={setComponents}>
          <Label>Affected components</Label>
          <div className="row">
            {COMPONENTS.map((c) => (
              <Checkbox key={c.id} value={c.id} className="checkbox">
                <span className="checkbox-box" aria-hidden="true" />
                {c.name}
              </Checkbox>
            ))}
          </div>
        </CheckboxGroup>
        <MultilineField label="Public message" value={message} onChange={setMessage} isRequired error={fieldErr(post.error, 'message')} />
        <ErrorMessage error={post.error} />
        <Button type="submit" isDisabled={post.isPending}>
          Publish update
        </Button>
      </Form>
      {incident.publicUpdates.length > 0 && (
        <ol className="timeline" aria-label="Published updates">
          {incident.publicUpdates.map((u) => (
            <li key={u.id} className="timeline-item">
              <strong>{u.status}</strong> <span className="muted small">{dateTime(u.at)}</span>
              <p>{u.message}</p>
            </li>
          ))}
        </ol>
      )}
    </Card>
  );
}

function Postmortem({ incident }: { incident: IncidentDetail }) {
  const queryClient = useQueryClient();
  const [show, setShow] = useState(false);
  const [url, setUrl] = useState(incident.postmortemUrl ?? '');
  const markdown = useQuery({
    queryKey: opsKey('postmortem', incident.id, incident.status),
    queryFn: () => call(api.GET('/v1/ops/incidents/{incidentId}/postmortem', { params: { path: { incidentId: incident.id } }, parseAs: 'text' })) as Promise<string>,
    enabled: show,
  });
  const done = useMutation({
    mutationFn: () => call(api.POST('/v1/ops/incidents/{incidentId}/postmortem/done', { params: { path: { incidentId: incident.id } }, body: url.trim() ? { url: url.trim() } : {} })),
    onSuccess: () => void queryClient.invalidateQueries({ queryKey: opsKey('incident', incident.id) }),
  });
  return (
    <Card title="Post-mortem">
      {incident.postmortemDoneAt ? (
        <p role="status" className="alert alert-success">
          Post-mortem done {dateTime(incident.postmortemDoneAt)}
          {incident.postmortemUrl && (
            <>
              {' '}
              — <a href={incident.postmortemUrl}>{incident.postmortemUrl}</a>
            </>
          )}
        </p>
      ) : (
        incident.postmortemDueAt && <p>Due {dateTime(incident.postmortemDueAt)} (24 h after resolution).</p>
      )}
      <Button variant="secondary" onPress={() => setShow(!show)} aria-expanded={show}>
        {show ? 'Hide the post-mortem draft' : 'Preview the post-mortem draft'}
      </Button>
      {show && markdown.isPending && <Loading />}
      {show && markdown.isError && <ErrorMessage error={markdown.error} />}
      {show && markdown.data && (
        <pre className="json postmortem" tabIndex={0} aria-label="Post-mortem draft (Markdown)">
          {markdown.data}
        </pre>
      )}
      {incident.status === 'resolved' && !incident.postmortemDoneAt && (
        <Form
          className="row"
          onSubmit={(e) => {
            e.preventDefault();
            done.mutate();
          }}
          aria-label="Mark the post-mortem done"
        >
          <Field label="Post-mortem link" description="Optional: where the written post-mortem lives" type="url" value={url} onChange={setUrl} error={fieldErr(done.error, 'url')} />
          <Button type="submit" isDisabled={done.isPending}>
            Mark post-mortem done
          </Button>
        </Form>
      )}
      <ErrorMessage error={done.error} />
    </Card>
  );
}

export default function IncidentPage() {
  const { incidentId = '' } = useParams();
  const queryClient = useQueryClient();
  const q = useIncident(incidentId);
  const responders = useResponders();
  const [note, setNote] = useState('');
  const [resolution, setResolution] = useState('');
  const refresh = () => queryClient.invalidateQueries({ queryKey: opsKey() });
  const ack = useMutation({ mutationFn: () => call(api.POST('/v1/ops/incidents/{incidentId}/acknowledge', { params: { path: { incidentId } } })), onSettled: refresh });
  const resolve = useMutation({
    mutationFn: () => call(api.POST('/v1/ops/incidents/{incidentId}/resolve', { params: { path: { incidentId } }, body: resolution.trim() ? { resolution } : {} })),
    onSettled: refresh,
  });
  const addNote = useMutation({
    mutationFn: () => call(api.POST('/v1/ops/incidents/{incidentId}/notes', { params: { path: { incidentId } }, body: { text: note } })),
    onSuccess: () => {
      setNote('');
      void refresh();
    },
  });
  if (q.isPending) return <Loading />;
  if (q.isError) return <ErrorMessage error={q.error} />;
  const i = q.data.incident;
  const names = new Map((responders.data ?? []).map((p) => [p.id, p.name]));
  const who = (id: string | null) => (id ? (names.get(id) ?? `user ${id.slice(0, 8)}`) : 'v01t');
  return (
    <Page title={`Incident #${i.number}: ${i.title}`} actions={<Link href="/operations">All incidents</Link>}>
      <Card>
        <div className="incident-head">
          <div className="row">
            <SeverityBadge level={i.severityLevel} />
            <span className={`badge badge-${i.status}`} data-testid="incident-status">
              {i.status}
            </span>
            <span className="muted small">Response target: {i.responseTarget}</span>
          </div>
          <div className="incident-countdown">
            <TargetCountdown incident={i} offset={q.data.offset} />
          </div>
        </div>
        <dl className="facts">
          <div>
            <dt>Opened</dt>
            <dd>{dateTime(i.openedAt)}</dd>
          </div>
          <div>
            <dt>Respond by</dt>
            <dd>{dateTime(i.respondBy)}</dd>
          </div>
          <div>
            <dt>Acknowledged</dt>
            <dd>{i.acknowledgedAt ? `${dateTime(i.acknowledgedAt)} by ${who(i.acknowledgedBy)}` : '—'}</dd>
          </div>
          <div>
            <dt>Escalated</dt>
            <dd>{i.escalatedAt ? dateTime(i.escalatedAt) : '—'}</dd>
          </div>
          {i.timers && <FirstMinutes incident={i} offset={q.data.offset} />}
          {i.internalUpdateDueAt && (
            <div>
              <dt>Next internal update due</dt>
              <dd>{dateTime(i.internalUpdateDueAt)}</dd>
            </div>
          )}
          {i.publicUpdateDueAt && (
            <div>
              <dt>Next status page update due</dt>
              <dd>{dateTime(i.publicUpdateDueAt)}</dd>
            </div>
          )}
          <div>
            <dt>Components</dt>
            <dd>{i.components.join(', ') || '—'}</dd>
          </div>
          {i.resolvedAt && (
            <div>
              <dt>Resolved</dt>
              <dd>
                {dateTime(i.resolvedAt)} {i.resolution && `— ${i.resolution}`}
              </dd>
            </div>
          )}
        </dl>
        <div className="row incident-actions">
          {i.status === 'open' && (
            <Button onPress={() => ack.mutate()} isDisabled={ack.isPending}>
              Acknowledge
            </Button>
          )}
        </div>
        <ErrorMessage error={ack.error} />
        {i.status !== 'resolved' && (
          <Form
            className="row"
            onSubmit={(e) => {
              e.preventDefault();
              resolve.mutate();
            }}
            aria-label="Resolve the incident"
          >
            <Field label="Resolution" description="Optional: what fixed it" value={resolution} onChange={setResolution} error={fieldErr(resolve.error, 'resolution')} />
            <Button type="submit" variant="secondary" isDisabled={resolve.isPending}>
              Resolve
            </Button>
          </Form>
        )}
        <ErrorMessage error={resolve.error} />
      </Card>
      <Roles incident={i} names={names} />
      <div className="incident-grid">
        <Card title="Timeline">
          <Form
            className="stack"
            onSubmit={(e) => {
              e.preventDefault();
              addNote.mutate();
            }}
            aria-label="Add a note"
          >
            <MultilineField label="Note" value={note} onChange={setNote} isRequired error={fieldErr(addNote.error, 'text')} />
            <ErrorMessage error={addNote.error} />
            <Button type="submit" isDisabled={addNote.isPending}>
              Add note
            </Button>
          </Form>
          <ol className="timeline incident-timeline" aria-label="Timeline, newest first">
            {[...i.timeline].reverse().map((t) => (
              <li key={t.id} className={`timeline-item tl-${t.kind}`}>
                <div className="row timeline-head small">
                  <span className="badge">{t.kind.replace(/_/g, ' ')}</span>
                  <span className="muted">
                    {dateTime(t.at)} · {who(t.actorId)}
                  </span>
                </div>
                <p>{t.text}</p>
              </li>
            ))}
          </ol>
        </Card>
        <Card title="Alerts">
          {i.alerts.length === 0 && <p className="muted">No alert (opened by hand).</p>}
          <ul className="plain-list">
            {i.alerts.map((a) => (
              <li key={a.fingerprint} className="alert-item">
                <span className={`badge badge-${a.status === 'firing' ? 'failed' : 'succeeded'}`}>{a.status}</span> <strong>{a.alertname ?? a.fingerprint}</strong>
                {a.annotations.summary && <p className="small">{a.annotations.summary}</p>}
                <p className="small muted">
                  {Object.entries(a.labels)
                    .map(([k, v]) => `${k}=${v}`)
                    .join(' ')}
                </p>
              </li>
            ))}
          </ul>
          {i.notifications.length > 0 && (
            <>
              <h3>Escalation deliveries</h3>
              <ul className="plain-list small">
                {i.notifications.map((n) => (
                  <li key={n.id}>
                    {n.event} → {n.connector}: <span className={`badge badge-${n.status === 'sent' ? 'succeeded' : n.status === 'failed' ? 'failed' : 'queued'}`}>{n.status}</span>
                    {n.lastError && <span className="muted"> {n.lastError}</span>}
                  </li>
                ))}
              </ul>
            </>
          )}
        </Card>
      </div>
      <PublicUpdate incident={i} />
      <Postmortem incident={i} />
    </Page>
  );
}
