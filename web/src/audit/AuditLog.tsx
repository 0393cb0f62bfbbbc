import { useState, type FormEvent } from 'react';
import { Form } from 'react-aria-components';
import { useInfiniteQuery } from '@tanstack/react-query';
import { useParams } from 'react-router';
import { api, call } from '../api/client';
import { Button, Card, Empty, ErrorMessage, Field, Loading, Page } from '../ui/ui';

const PAGE = 50;

/** The workspace's audit log, newest first, filtered by action (prefix with *) and dates, paged by cursor. */
export default function AuditLog() {
  const { workspaceId = '' } = useParams();
  const [draft, setDraft] = useState({ action: '', from: '', to: '' });
  const [filters, setFilters] = useState(draft);
  const entries = useInfiniteQuery({
    queryKey: ['audit', workspaceId, filters],
    initialPageParam: undefined as number | undefined,
    queryFn: async ({ pageParam }) =>
      call(
        api.GET('/v1/workspaces/{workspaceId}/audit', {
          params: {
            path: { workspaceId },
            query: {
              limit: PAGE,
              ...(pageParam !== undefined ? { cursor: pageParam } : {}),
              ...(filters.action ? { action: filters.action } : {}),
              ...(filters.from ? { from: new Date(filters.from).toISOString() } : {}),
              ...(filters.to ? { to: new Date(filters.to).toISOString() } : {}),
            },
          },
        }),
      ),
    getNextPageParam: (last) => last.nextCursor ?? undefined,
  });

  function apply(e: FormEvent) {
    e.preventDefault();
    setFilters(draft);
  }

  const rows = entries.data?.pages.flatMap((p) => p.entries) ?? [];
  return (
    <Page title="Audit log">
      <Card>
        <Form onSubmit={apply} className="row" aria-label="Filter the audit log">
          <Field label="Action" description="Exact, or a prefix ending in * (member.*)" value={draft.action} onChange={(v) => setDraft({ ...draft, action: v })} />
          <Field label="From" type="date" value={draft.from} onChange={(v) => setDraft({ ...draft, from: v })} />
          <Field label="To" type="date" value={draft.to} onChange={(v) => setDraft({ ...draft, to: v })} />
          <Button type="submit">Filter</Button>
        </Form>
      </Card>
      <Card>
        {entries.isPending && <Loading />}
        {entries.isError && <ErrorMessage error={entries.error} />}
        {entries.isSuccess && rows.length === 0 && <Empty title="No entries match" />}
        {rows.length > 0 && (
          <table className="table" tabIndex={0}>
            <caption className="sr-only">Audit entries, newest first</caption>
            <thead>
              <tr>
                <th scope="col">When</th>
                <th scope="col">Action</th>
                <th scope="col">Actor</th>
                <th scope="col">Target</th>
                <th scope="col">From</th>
              </tr>
            </thead>
            <tbody>
              {rows.map((e) => (
                <tr key={e.seq}>
                  <td>{new Date(e.occurredAt).toLocaleString()}</td>
                  <td>
                    <code>{e.action}</code>
                  </td>
                  <td>{e.actorId ?? 'system'}</td>
                  <td>{e.targetType ? `${e.targetType} ${e.targetId ?? ''}` : '—'}</td>
                  <td>{e.actorIp ?? '—'}</td>
                </tr>
              ))}
            </tbody>
          </table>
        )}
        {entries.hasNextPage && (
          <Button variant="secondary" onPress={() => void entries.fetchNextPage()} isDisabled={entries.isFetchingNextPage}>
            {entries.isFetchingNextPage ? 'Loading…' : 'Older entries'}
          </Button>
        )}
      </Card>
    </Page>
  );
}
