import { Link } from 'react-aria-components';
import { useInfiniteQuery, useQueryClient } from '@tanstack/react-query';
import { useParams } from 'react-router';
import { api, call } from '../api/client';
import { Button, Card, Empty, ErrorMessage, Loading, Page } from '../ui/ui';
import { useWorkflowNames } from './api';
import { Decide, Json } from './RunPage';

/** Every run waiting on an undecided approval step, across the workspace's workflows, oldest request last. */
export default function Approvals() {
  const { workspaceId = '' } = useParams();
  const queryClient = useQueryClient();
  const workflows = useWorkflowNames(workspaceId);
  const waiting = useInfiniteQuery({
    queryKey: ['runs', workspaceId, 'approvals'],
    initialPageParam: undefined as string | undefined,
    queryFn: async ({ pageParam }) => call(api.GET('/v1/workspaces/{workspaceId}/runs', { params: { path: { workspaceId }, query: { awaiting: 'approval', limit: 50, ...(pageParam ? { cursor: pageParam } : {}) } } })),
    getNextPageParam: (last) => last.nextCursor ?? undefined,
    // New requests arrive while the inbox is open.
    refetchInterval: 15_000,
  });
  const names = new Map((workflows.data ?? []).map((w) => [w.id, w.name]));
  const rows = waiting.data?.pages.flatMap((p) => p.runs) ?? [];
  const decided = () => void queryClient.invalidateQueries({ queryKey: ['runs', workspaceId] });

  return (
    <Page title="Approvals">
      <Card>
        {waiting.isPending && <Loading label="Loading approvals…" />}
        {waiting.isError && <ErrorMessage error={waiting.error} />}
        {waiting.isSuccess && rows.length === 0 && (
          <Empty title="Nothing waits for your approval">
            <p>A run that reaches an approval step shows up here until someone approves or rejects it.</p>
          </Empty>
        )}
        {rows.length > 0 && (
          <ul className="plain-list approvals">
            {rows.map((r) => (
              <li key={r.id} className="approval">
                <div>
                  <strong>{names.get(r.workflowId) ?? 'Workflow'}</strong> — step “{r.wait?.stepId}”{' '}
                  <Link href={`/w/${workspaceId}/runs/${r.id}`} aria-label={`Open run ${r.id.slice(0, 8)}`}>
                    run <code>{r.id.slice(0, 8)}</code>
                  </Link>
                  <div className="muted">
                    Asked {new Date(r.startedAt ?? r.createdAt).toLocaleString()} · expires {r.wait ? new Date(r.wait.until).toLocaleString() : '—'}
                  </div>
                  <Json label={`Input of run ${r.id.slice(0, 8)}`} value={r.input} />
                </div>
                <Decide workspaceId={workspaceId} runId={r.id} onDone={decided} compact />
              </li>
            ))}
          </ul>
        )}
        {waiting.hasNextPage && (
          <Button variant="secondary" onPress={() => void waiting.fetchNextPage()} isDisabled={waiting.isFetchingNextPage}>
            More
          </Button>
        )}
      </Card>
    </Page>
  );
}
