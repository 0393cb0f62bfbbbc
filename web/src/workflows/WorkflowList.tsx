import { useMemo, useState } from 'react';
import { Link, SearchField, Input, Label } from 'react-aria-components';
import { useParams } from 'react-router';
import { Button, Card, Empty, ErrorMessage, Loading, Page } from '../ui/ui';
import { runPath, useLastRuns, useWorkflows } from './api';

/** Rows rendered at a time: a workspace with thousands of workflows stays quick; "Show more" adds the next page. */
const PAGE = 100;

/** The workspace's workflows: search by name, enabled state, trigger and last run. */
export default function WorkflowList() {
  const { workspaceId = '' } = useParams();
  const workflows = useWorkflows(workspaceId);
  const lastRuns = useLastRuns(workspaceId);
  const [search, setSearch] = useState('');
  const [limit, setLimit] = useState(PAGE);
  const shown = useMemo(() => {
    const q = search.trim().toLowerCase();
    return (workflows.data ?? []).filter((w) => !q || w.name.toLowerCase().includes(q));
  }, [workflows.data, search]);

  return (
    <Page
      title="Workflows"
      actions={
        <Link className="btn btn-primary" href={`/w/${workspaceId}/workflows/new`}>
          New workflow
        </Link>
      }
    >
      <Card>
        <SearchField
          className="field"
          value={search}
          onChange={(v) => {
            setSearch(v);
            setLimit(PAGE);
          }}
          aria-describedby="workflow-count"
        >
          <Label>Search workflows</Label>
          <Input />
        </SearchField>
        <p id="workflow-count" className="muted" aria-live="polite">
          {workflows.isSuccess && `${shown.length} of ${workflows.data.length} workflows`}
        </p>
        {workflows.isPending && <Loading />}
        {workflows.isError && <ErrorMessage error={workflows.error} />}
        {workflows.isSuccess && workflows.data.length === 0 && (
          <Empty title="No workflows yet">
            <p>Start from a template made for your persona, or build one step by step on the canvas.</p>
            <Link className="btn btn-primary" href={`/w/${workspaceId}/workflows/new`}>
              Create your first workflow
            </Link>
          </Empty>
        )}
        {workflows.isSuccess && workflows.data.length > 0 && shown.length === 0 && <Empty title="No workflow matches your search" />}
        {shown.length > 0 && (
          <table className="table">
            <caption className="sr-only">Workflows</caption>
            <thead>
              <tr>
                <th scope="col">Name</th>
                <th scope="col">State</th>
                <th scope="col">Trigger</th>
                <th scope="col">Version</th>
                <th scope="col">Last run</th>
              </tr>
            </thead>
            <tbody>
              {shown.slice(0, limit).map((w) => {
                const run = lastRuns.data?.last.get(w.id);
                return (
                  <tr key={w.id}>
                    <td>
                      <Link href={`/w/${workspaceId}/workflows/${w.id}`}>{w.name}</Link>
                    </td>
                    <td>
                      <span className={`badge ${w.enabled ? 'badge-on' : 'badge-off'}`}>{w.enabled ? 'Enabled' : 'Disabled'}</span>
                    </td>
                    <td>{w.triggerType === 'event' && w.triggerEvent ? `event: ${w.triggerEvent}` : w.triggerType}</td>
                    <td>v{w.currentVersion}</td>
                    <td>
                      {lastRuns.isPending ? (
                        '…'
                      ) : lastRuns.isError ? (
                        <span className="muted">unavailable</span>
                      ) : run ? (
                        <Link href={runPath(workspaceId, run.id)}>
                          {run.status}, {new Date(run.createdAt).toLocaleString()}
                        </Link>
                      ) : (
                        <span className="muted">{lastRuns.data?.complete === false ? 'none among the latest 200 runs' : 'never'}</span>
                      )}
                    </td>
                  </tr>
                );
              })}
            </tbody>
          </table>
        )}
        {shown.length > limit && (
          <Button variant="secondary" onPress={() => setLimit((l) => l + PAGE)}>
            Show more ({shown.length - limit} more)
          </Button>
        )}
      </Card>
    </Page>
  );
}
