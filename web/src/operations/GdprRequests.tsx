import { useState, type FormEvent } from 'react';
import { Form } from 'react-aria-components';
import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import { api, ApiError, call } from '../api/client';
import type { paths } from '../api/schema';
import { SelectField } from '../ui/SchemaForm';
import { Button, Card, Empty, ErrorMessage, Field, Loading } from '../ui/ui';
import { opsKey } from './api';

type Ok<P extends keyof paths> = paths[P]['get'] extends { responses: { 200: { content: { 'application/json': infer J } } } } ? J : never;
export type GdprRequest = Ok<'/v1/admin/gdpr-requests'>['requests'][number];
type Kind = GdprRequest['kind'];
type Filter = 'open' | 'overdue' | 'all' | 'completed' | 'refused';

export const GDPR_KIND_LABEL: Record<Kind, string> = {
  access: 'Access / export (art. 15, 20)',
  erasure: 'Erasure (art. 17)',
  rectification: 'Rectification (art. 16)',
  restriction: 'Restriction (art. 18)',
  objection: 'Objection (art. 21)',
};
const DAY = 86_400_000;
const day = (iso: string) => new Date(iso).toLocaleDateString('en-GB', { day: 'numeric', month: 'short', year: 'numeric' });

/** "due in 3 days", "due today", "overdue by 2 days": judged against the server's time of the answer. */
export function dueText(r: Pick<GdprRequest, 'dueAt' | 'status' | 'overdue'>, now: string): string {
  if (r.status === 'completed' || r.status === 'refused') return `was due ${day(r.dueAt)}`;
  const left = Date.parse(r.dueAt) - Date.parse(now);
  if (r.overdue) return `overdue by ${Math.max(1, Math.floor(-left / DAY))} day(s)`;
  const days = Math.floor(left / DAY);
  return days < 1 ? 'due today' : `due in ${days} day(s)`;
}

const gdprKey = (...rest: unknown[]) => opsKey('gdpr', ...rest);

function RecordRequest({ onDone }: { onDone: () => void }) {
  const [kind, setKind] = useState<Kind>('access');
  const [email, setEmail] = useState('');
  const [received, setReceived] = useState('');
  const [details, setDetails] = useState('');
  const add = useMutation({
    mutationFn: () =>
      call(
        api.POST('/v1/admin/gdpr-requests', {
          body: { kind, email: email.trim(), ...(details.trim() ? { details: details.trim() } : {}), ...(received ? { receivedAt: new Date(`${received}T00:00:00Z`).toISOString() } : {}) },
        }),
      ),
    onSuccess: () => {
      setEmail('');
      setDetails('');
      setReceived('');
      onDone();
    },
  });
  const err = (f: string) => (add.error instanceof ApiError ? add.error.fieldError(f) : undefined);
  return (
    <Form
      className="stack"
      aria-label="Record a GDPR request"
      onSubmit={(e: FormEvent) => {
        e.preventDefault();
        add.mutate();
      }}
    >
      <h3>Record a request received by email</h3>
      <div className="row">
        <SelectField label="Kind" value={kind} onChange={(v) => setKind(v as Kind)} options={Object.entries(GDPR_KIND_LABEL).map(([value, label]) => ({ value, label }))} />
        <Field label="Requester's email" type="email" value={email} onChange={setEmail} isRequired error={err('email')} />
        <Field label="Received on" type="date" value={received} onChange={setReceived} description="Default today: the 30 days count from it" error={err('receivedAt')} />
      </div>
      <Field label="Details" value={details} onChange={setDetails} error={err('details')} />
      <ErrorMessage error={add.error} />
      <div className="row">
        <Button type="submit" isDisabled={add.isPending}>
          Record request
        </Button>
      </div>
    </Form>
  );
}

function Actions({ r, onDone }: { r: GdprRequest; onDone: () => void }) {
  const [refusing, setRefusing] = useState(false);
  const [reason, setReason] = useState('');
  const path = { params: { path: { requestId: r.id } } };
  const act = useMutation({
    mutationFn: (what: 'start' | 'complete' | 'refuse') =>
      what === 'start'
        ? call(api.POST('/v1/admin/gdpr-requests/{requestId}/start', path))
        : what === 'complete'
          ? call(api.POST('/v1/admin/gdpr-requests/{requestId}/complete', { ...path, body: {} }))
          : call(api.POST('/v1/admin/gdpr-requests/{requestId}/refuse', { ...path, body: { reason } })),
    onSuccess: () => {
      setRefusing(false);
      onDone();
    },
  });
  if (r.status === 'completed' || r.status === 'refused') return null;
  return (
    <div className="stack">
      <div className="row">
        {r.status === 'received' && (
          <Button variant="secondary" onPress={() => act.mutate('start')} isDisabled={act.isPending}>
            Start
          </Button>
        )}
        <Button onPress={() => act.mutate('complete')} isDisabled={act.isPending}>
          Complete
        </Button>
        <Button variant="danger" onPress={() => setRefusing((v) => !v)} isDisabled={act.isPending}>
          Refuse…
        </Button>
      </div>
      {refusing && (
        <Form
          className="row"
          aria-label={`Refuse request #${r.number}`}
          onSubmit={(e: FormEvent) => {
            e.preventDefault();
            act.mutate('refuse');
          }}
        >
          <Field label="Reason given to the requester" value={reason} onChange={setReason} isRequired autoFocus />
          <Button variant="danger" type="submit" isDisabled={act.isPending}>
            Refuse request
          </Button>
        </Form>
      )}
      <ErrorMessage error={act.error} />
    </div>
  );
}

/** The GDPR requests register (platform admins): open requests by due date, overdue ones highlighted, complete / refuse. */
export function GdprRequestsTab() {
  const queryClient = useQueryClient();
  const [filter, setFilter] = useState<Filter>('open');
  const list = useQuery({
    queryKey: gdprKey(filter),
    queryFn: () => call(api.GET('/v1/admin/gdpr-requests', { params: { query: { status: filter, limit: 200 } } })),
    refetchInterval: 60_000,
    retry: false,
  });
  const refresh = () => queryClient.invalidateQueries({ queryKey: gdprKey() });
  return (
    <Card title="GDPR requests">
      <p className="muted">
        Data subject requests and their one-month deadline (GDPR art. 12(3)). Exports and erasures made in the web app are recorded completed; answer an export or erasure received by email with{' '}
        <code>v01t gdpr export|erase --user-id … --request N</code>, which completes the request.
      </p>
      <RecordRequest onDone={refresh} />
      <div className="row">
        <SelectField
          label="Show"
          value={filter}
          onChange={(v) => setFilter(v as Filter)}
          options={[
            { value: 'open', label: 'Open (by due date)' },
            { value: 'overdue', label: 'Overdue' },
            { value: 'completed', label: 'Completed' },
            { value: 'refused', label: 'Refused' },
            { value: 'all', label: 'All' },
          ]}
        />
      </div>
      {list.isPending && <Loading />}
      {list.isError && <ErrorMessage error={list.error} />}
      {list.data && list.data.requests.length === 0 && <Empty title={filter === 'open' ? 'No open GDPR request' : 'No GDPR request here'} />}
      {list.data && list.data.requests.length > 0 && (
        <table className="table" aria-label="GDPR requests">
          <thead>
            <tr>
              <th>#</th>
              <th>Kind</th>
              <th>Requester</th>
              <th>Received</th>
              <th>Due</th>
              <th>Status</th>
              <th>Actions</th>
            </tr>
          </thead>
          <tbody>
            {list.data.requests.map((r) => (
              <tr key={r.id} className={r.overdue ? 'gdpr-overdue' : undefined} data-testid="gdpr-request" data-overdue={r.overdue}>
                <td>{r.number}</td>
                <td>
                  {GDPR_KIND_LABEL[r.kind]}
                  {r.details && <div className="small muted">{r.details}</div>}
                </td>
                <td>
                  {r.email ?? '—'}
                  <div className="small muted">{r.channel === 'self_service' ? 'web app' : r.channel}</div>
                </td>
                <td>{day(r.receivedAt)}</td>
                <td>
                  {day(r.dueAt)}
                  <div className="small">{r.overdue ? <span className="badge badge-failed">{dueText(r, list.data.now)}</span> : <span className="muted">{dueText(r, list.data.now)}</span>}</div>
                </td>
                <td>
                  <span className={`badge badge-gdpr-${r.status}`}>{r.status.replace('_', ' ')}</span>
                  {r.refusalReason && <div className="small muted">{r.refusalReason}</div>}
                  {r.resolution && <div className="small muted">{r.resolution}</div>}
                </td>
                <td>
                  <Actions r={r} onDone={refresh} />
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </Card>
  );
}
