import { useState, type FormEvent } from 'react';
import { Form, Link } from 'react-aria-components';
import { useInfiniteQuery } from '@tanstack/react-query';
import { useParams, useSearchParams } from 'react-router';
import { api, call } from '../api/client';
import { Button, Card, Empty, ErrorMessage, Field, Loading, Page } from '../ui/ui';
import { SelectField } from '../ui/SchemaForm';
import { RUN_STATUSES, RUN_TRIGGERS, StatusBadge, useWorkflowNames, type RunFilters } from './api';
import { duration } from './live';

const PAGE = 50;

/** Runs of the workspace, newest first, filtered on the server and paged by cursor (lists of any length stay light). */
export default function RunsList() {
  const { workspaceId = '' } = useParams();
  const workflows = useWorkflowNames(workspaceId);
  const [search] = useSearchParams();
  const empty = { workflowId: '', status: '', trigger: '', from: '', to: '' };
  const start = { ...empty, workflowId: search.get('workflowId') ?? '', status: search.get('status') ?? '' };
  const [draft, setDraft] = useState(start);
  const [filters, setFilters] = useState(start);
  const query: NonNullable<RunFilters> = {
    limit: PAGE,
    ...(filters.workflowId ? { workflowId: filters.workflowId } : {}),
    ...(filters.status ? { status: filters.status as (typeof RUN_STATUSES)[number] } : {}),
    ...(filters.trigger ? { trigger: filters.trigger as (typeof RUN_TRIGGERS)[number] } : {}),
    ...(filters.from ? { from: new Date(filters.from).toISOString() } : {}),
    ...(filters.to ? { to: new Date(filters.to).toISOString() } : {}),
  };
  const runs = useInfiniteQuery({
    queryKey: ['runs', workspaceId, query],
    initialPageParam: undefined as string | undefined,
    queryFn: async ({ pageParam }) => call(api.GET('/v1/workspaces/{workspaceId}/runs', { params: { path: { workspaceId }, query: { ...query, ...(pageParam ? { cursor: pageParam } : {}) } } })),
    getNextPageParam: (last) => last.nextCursor ?? undefined,
  });
  const names = new Map((workflows.data ?? []).map((w) => [w.id, w.name]));
  const rows = runs.data?.pages.flatMap((p) => p.runs) ?? [];
  const filtered = Object.values(filters).some(Boolean);

  function apply(e: FormEvent) {
    e.preventDefault();
    setFilters(draft);
  }

  return (
    <Page title="Runs" actions={<Link className="btn btn-secondary" href={`/w/${workspaceId}/approvals`}>Approvals inbox</Link>}>
      <Card>
        <Form onSubmit={apply} className="row" aria-label="Filter runs">
          <SelectField label="Workflow" value={draft.workflowId} onChange={(v) => setDraft({ ...draft, workflowId: v })} options={[{ value: '', label: 'All workflows' }, ...(workflows.data ?? []).map((w) => ({ value: w.id, label: w.name }))]} />
          <SelectField label="Status" value={draft.status} onChange={(v) => setDraft({ ...draft, status: v })} options={[{ value: '', label: 'Any status' }, ...RUN_STATUSES.map((s) => ({ value: s, label: s.replace('_', ' ') }))]} />
          <SelectField label="Trigger" value={draft.trigger} onChange={(v) => setDraft({ ...draft, trigger: v })} options={[{ value: '', label: 'Any trigger' }, ...RUN_TRIGGERS.map((s) => ({ value: s, label: s }))]} />
          <Field label="From" type="datetime-local" value={draft.from} onChange={(v) => setDraft({ ...draft, from: v })} />
          <Field label="Until" type="datetime-local" value={draft.to} onChange={(v) => setDraft({ ...draft, to: v })} />
          <Button type="submit">Filter</Button>
          {filtered && (
            <Button variant="secondary" onPress={() => { setDraft(empty); setFilters(empty); }}>
              Clear
            </Button>
          )}
        </Form>
      </Card>
      <Card>
        {runs.isPending && <Loading label="Loading runs…" />}
        {runs.isError && <ErrorMessage error={runs.error} />}
        {runs.isSuccess && rows.length === 0 && (
          <Empty title={filtered ? 'No runs match these filters' : 'No runs yet'}>
            {!filtered && (
              <p>
                Start one from a workflow with <strong>Run now</strong>, or let its trigger fire. <Link href={`/w/${workspaceId}/workflows`}>Go to workflows</Link>
              </p>
            )}
          </Empty>
        )}
        {rows.length > 0 && (
          <table className="table" tabIndex={0}>
            <caption className="sr-only">Runs, newest first</caption>
            <thead>
              <tr>
                <th scope="col">Run</th>
                <th scope="col">Workflow</th>
                <th scope="col">Status</th>
                <th scope="col">Trigger</th>
                <th scope="col">Started</th>
                <th scope="col">Took</th>
              </tr>
            </thead>
            <tbody>
              {rows.map((r) => (
                <tr key={r.id}>
                  <td>
                    <Link href={`/w/${workspaceId}/runs/${r.id}`} aria-label={`Run ${r.id.slice(0, 8)} of ${names.get(r.workflowId) ?? 'a workflow'}`}>
                      <code>{r.id.slice(0, 8)}</code>
                    </Link>
                  </td>
                  <td>{names.get(r.workflowId) ?? <span className="muted">deleted workflow</span>}</td>
                  <td>
                    <StatusBadge status={r.status} />
                  </td>
                  <td>{r.trigger}</td>
                  <td>{new Date(r.createdAt).toLocaleString()}</td>
                  <td>{duration(r.startedAt, r.finishedAt)}</td>
                </tr>
              ))}
            </tbody>
          </table>
        )}
        {runs.hasNextPage && (
          <Button variant="secondary" onPress={() => void runs.fetchNextPage()} isDisabled={runs.isFetchingNextPage}>
            {runs.isFetchingNextPage ? 'Loading…' : 'Older runs'}
          </Button>
        )}
      </Card>
    </Page>
  );
}
