import { useState } from 'react';
import { Link } from 'react-aria-components';
import { useMutation, useQueryClient } from '@tanstack/react-query';
import { useNavigate, useParams } from 'react-router';
import { api, call } from '../api/client';
import { Button, Card, Empty, ErrorMessage, Field, Loading, Page } from '../ui/ui';
import { useDashboards, useReports } from './api';
import './analytics.css';

/** The workspace's dashboards and its saved reports; a new dashboard starts empty. */
export default function Dashboards() {
  const { workspaceId = '' } = useParams();
  const dashboards = useDashboards(workspaceId);
  const reports = useReports(workspaceId);
  const navigate = useNavigate();
  const queryClient = useQueryClient();
  const [name, setName] = useState('');
  const create = useMutation({
    mutationFn: async () => (await call(api.POST('/v1/workspaces/{workspaceId}/analytics/dashboards', { params: { path: { workspaceId } }, body: { name, tiles: [] } }))).dashboard,
    onSuccess: async (d) => {
      await queryClient.invalidateQueries({ queryKey: ['analytics', workspaceId, 'dashboards'] });
      navigate(`/w/${workspaceId}/analytics/dashboards/${d.id}`);
    },
  });
  const removeReport = useMutation({
    mutationFn: (reportId: string) => call(api.DELETE('/v1/workspaces/{workspaceId}/analytics/reports/{reportId}', { params: { path: { workspaceId, reportId } } })),
    onSuccess: () => queryClient.invalidateQueries({ queryKey: ['analytics', workspaceId] }),
  });

  return (
    <Page
      title="Dashboards"
      actions={
        <Link className="btn btn-secondary" href={`/w/${workspaceId}/analytics/explore`}>
          Explore events
        </Link>
      }
    >
      <Card title="Dashboards">
        {dashboards.isPending && <Loading label="Loading dashboards…" />}
        {dashboards.isError && <ErrorMessage error={dashboards.error} />}
        {dashboards.isSuccess && dashboards.data.length === 0 && (
          <Empty title="No dashboard yet">
            <p>Create one below, or save a report from Explore straight onto a new dashboard.</p>
          </Empty>
        )}
        {dashboards.data && dashboards.data.length > 0 && (
          <ul className="plain-list">
            {dashboards.data.map((d) => (
              <li key={d.id}>
                <Link href={`/w/${workspaceId}/analytics/dashboards/${d.id}`}>{d.name}</Link> <span className="muted small">{d.tiles.length === 1 ? '1 report' : `${d.tiles.length} reports`}</span>
              </li>
            ))}
          </ul>
        )}
        <form
          className="row an-create"
          onSubmit={(e) => {
            e.preventDefault();
            create.mutate();
          }}
        >
          <Field label="New dashboard name" value={name} onChange={setName} isRequired />
          <Button type="submit" isDisabled={!name.trim() || create.isPending}>
            Create dashboard
          </Button>
        </form>
        <ErrorMessage error={create.error} />
      </Card>
      <Card title="Saved reports">
        {reports.isPending && <Loading label="Loading reports…" />}
        {reports.isError && <ErrorMessage error={reports.error} />}
        {reports.isSuccess && reports.data.length === 0 && (
          <Empty title="No saved report yet">
            <p>
              Build one in <Link href={`/w/${workspaceId}/analytics/explore`}>Explore</Link> and save it.
            </p>
          </Empty>
        )}
        <ErrorMessage error={removeReport.error} />
        {reports.data && reports.data.length > 0 && (
          <table className="table an-rel" tabIndex={0}>
            <caption className="sr-only">Saved reports</caption>
            <thead>
              <tr>
                <th scope="col">Report</th>
                <th scope="col">Kind</th>
                <th scope="col">Updated</th>
                <th scope="col">
                  <span className="sr-only">Actions</span>
                </th>
              </tr>
            </thead>
            <tbody>
              {reports.data.map((r) => (
                <tr key={r.id}>
                  <td>
                    <Link href={`/w/${workspaceId}/analytics/explore?report=${r.id}`}>{r.name}</Link>
                  </td>
                  <td>{String(r.spec.kind).replace('_', ' ')}</td>
                  <td>{new Date(r.updatedAt).toLocaleString()}</td>
                  <td>
                    <Button variant="danger" onPress={() => removeReport.mutate(r.id)} aria-label={`Delete report ${r.name}`}>
                      Delete
                    </Button>
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        )}
      </Card>
    </Page>
  );
}
