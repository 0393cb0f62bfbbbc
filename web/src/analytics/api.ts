import { useQuery } from '@tanstack/react-query';
import { api, ApiError, call } from '../api/client';
import type { paths } from '../api/schema';

type Json<P extends keyof paths, M extends 'get' | 'post'> = paths[P][M] extends { responses: { 200: { content: { 'application/json': infer T } } } } ? T : never;

export type QuerySpec = NonNullable<paths['/v1/workspaces/{workspaceId}/analytics/query']['post']['requestBody']>['content']['application/json']['spec'];
export type QueryKind = QuerySpec['kind'];
export type Filter = { property: string; op: 'eq' | 'neq'; value: string };
export interface QueryResult {
  kind: string;
  columns: string[];
  rows: (string | number | null)[][];
  summary?: Record<string, unknown>;
}
export type CatalogEntry = Json<'/v1/workspaces/{workspaceId}/analytics/events', 'get'>['events'][number];
export type Report = Json<'/v1/workspaces/{workspaceId}/analytics/reports/{reportId}', 'get'>['report'];
export type Dashboard = Json<'/v1/workspaces/{workspaceId}/analytics/dashboards/{dashboardId}', 'get'>['dashboard'];
export type Tile = Dashboard['tiles'][number];
export type WriteKey = Json<'/v1/workspaces/{workspaceId}/analytics/write-keys', 'get'>['writeKeys'][number];

const ws = (workspaceId: string) => ({ params: { path: { workspaceId } } });

/** The event names and property keys the workspace has had in the last 90 days (the query builder's choices). */
export function useCatalog(workspaceId: string) {
  return useQuery({
    queryKey: ['analytics', workspaceId, 'catalog'],
    queryFn: async () => (await call(api.GET('/v1/workspaces/{workspaceId}/analytics/events', ws(workspaceId)))).events,
    staleTime: 30_000,
  });
}

export function useReports(workspaceId: string) {
  return useQuery({
    queryKey: ['analytics', workspaceId, 'reports'],
    queryFn: async () => (await call(api.GET('/v1/workspaces/{workspaceId}/analytics/reports', ws(workspaceId)))).reports,
  });
}

export function useDashboards(workspaceId: string) {
  return useQuery({
    queryKey: ['analytics', workspaceId, 'dashboards'],
    queryFn: async () => (await call(api.GET('/v1/workspaces/{workspaceId}/analytics/dashboards', ws(workspaceId)))).dashboards,
  });
}

export async function runQuery(workspaceId: string, spec: QuerySpec): Promise<QueryResult> {
  return (await call(api.POST('/v1/workspaces/{workspaceId}/analytics/query', { ...ws(workspaceId), body: { spec } }))) as unknown as QueryResult;
}

export function useReportResult(workspaceId: string, reportId: string) {
  return useQuery({
    queryKey: ['analytics', workspaceId, 'report-result', reportId],
    queryFn: async () =>
      (await call(api.GET('/v1/workspaces/{workspaceId}/analytics/reports/{reportId}/results', { params: { path: { workspaceId, reportId } } }))) as unknown as QueryResult,
  });
}

function csrfToken(): string {
  const c = document.cookie.split('; ').find((p) => p.startsWith('v01t_csrf='));
  return c ? decodeURIComponent(c.slice('v01t_csrf='.length)) : '';
}

/** Fetches the API's CSV of a query (or of a saved report) and hands it to the browser as a download. */
export async function downloadCsv(workspaceId: string, what: { spec: QuerySpec } | { reportId: string }, filename: string): Promise<void> {
  const base = `/v1/workspaces/${encodeURIComponent(workspaceId)}/analytics`;
  const res =
    'spec' in what
      ? await fetch(`${base}/query?format=csv`, { method: 'POST', credentials: 'same-origin', headers: { 'content-type': 'application/json', 'x-csrf-token': csrfToken() }, body: JSON.stringify({ spec: what.spec }) })
      : await fetch(`${base}/reports/${encodeURIComponent(what.reportId)}/results?format=csv`, { credentials: 'same-origin' });
  if (!res.ok) {
    const body = (await res.json().catch(() => ({}))) as { title?: string; detail?: string; code?: string };
    throw new ApiError({ title: body.title ?? 'Export failed', status: res.status, detail: body.detail, code: body.code ?? 'export_failed' });
  }
  const url = URL.createObjectURL(await res.blob());
  const a = document.createElement('a');
  a.href = url;
  a.download = filename;
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10_000);
}

/** A file name from a report name: letters, digits and dashes. */
export const fileNameOf = (name: string) => `${name.toLowerCase().replace(/[^a-z0-9]+/g, '-').replace(/^-|-$/g, '') || 'report'}.csv`;
