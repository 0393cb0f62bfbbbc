import { useQuery } from '@tanstack/react-query';
import { api, call } from '../api/client';

export const workflowsKey = (workspaceId: string) => ['workflows', workspaceId] as const;
export const workflowKey = (workspaceId: string, workflowId: string) => ['workflows', workspaceId, workflowId] as const;

export function useWorkflows(workspaceId: string) {
  return useQuery({
    queryKey: workflowsKey(workspaceId),
    queryFn: async () => (await call(api.GET('/v1/workspaces/{workspaceId}/workflows', { params: { path: { workspaceId } } }))).workflows,
  });
}

/** The newest run of each workflow among the workspace's latest 200 runs. */
export function useLastRuns(workspaceId: string) {
  return useQuery({
    queryKey: ['runs', workspaceId, 'latest'],
    queryFn: async () => {
      const { runs, nextCursor } = await call(api.GET('/v1/workspaces/{workspaceId}/runs', { params: { path: { workspaceId }, query: { limit: 200 } } }));
      const last = new Map<string, (typeof runs)[number]>();
      for (const r of runs) if (!last.has(r.workflowId)) last.set(r.workflowId, r);
      // Without a next page these are all the runs: a workflow missing here never ran.
      return { last, complete: nextCursor === null };
    },
  });
}

/** Where a run's page lives (the runs screens: web/src/runs/). */
export const runPath = (workspaceId: string, runId: string) => `/w/${workspaceId}/runs/${runId}`;
