import { useQuery } from '@tanstack/react-query';
import { api, call } from '../api/client';
import type { paths } from '../api/schema';

export type Run = paths['/v1/workspaces/{workspaceId}/runs']['get']['responses']['200']['content']['application/json']['runs'][number];
export type RunWithSteps = paths['/v1/workspaces/{workspaceId}/runs/{runId}']['get']['responses']['200']['content']['application/json']['run'];
export type RunFilters = paths['/v1/workspaces/{workspaceId}/runs']['get']['parameters']['query'];

export const RUN_STATUSES = ['queued', 'running', 'waiting', 'succeeded', 'failed', 'cancelled', 'timed_out'] as const;
export const RUN_TRIGGERS = ['manual', 'schedule', 'event', 'webhook', 'service'] as const;

/** Workflow names by id, for lists that show runs of many workflows. */
export function useWorkflowNames(workspaceId: string) {
  return useQuery({
    queryKey: ['workflows', workspaceId, 'names'],
    queryFn: async () => (await call(api.GET('/v1/workspaces/{workspaceId}/workflows', { params: { path: { workspaceId } } }))).workflows,
  });
}

export function StatusBadge({ status }: { status: string }) {
  return <span className={`badge badge-${status}`}>{status.replace('_', ' ')}</span>;
}
