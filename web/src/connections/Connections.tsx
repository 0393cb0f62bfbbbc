import { Link } from 'react-aria-components';
import { useMutation, useQuery } from '@tanstack/react-query';
import { useParams } from 'react-router';
import { api, call } from '../api/client';
import { Button, Card, Empty, ErrorMessage, Loading, Page } from '../ui/ui';
import { useCatalog } from './api';

/** The workspace's connections with their health, and the catalog of connectors to add one from. */
export default function Connections() {
  const { workspaceId = '' } = useParams();
  const path = { params: { path: { workspaceId } } };
  const catalog = useCatalog();
  const connections = useQuery({ queryKey: ['connections', workspaceId], queryFn: async () => (await call(api.GET('/v1/workspaces/{workspaceId}/connections', path))).connections });
  const health = useMutation({ mutationFn: () => call(api.GET('/v1/workspaces/{workspaceId}/connections/health', path)) });
  const healthOf = new Map((health.data?.connections ?? []).map((c) => [c.id, c]));
  const connectorName = new Map((catalog.data ?? []).map((c) => [c.id, c.name]));

  return (
    <Page title="Connections" actions={connections.data && connections.data.length > 0 ? <Button variant="secondary" onPress={() => health.mutate()} isDisabled={health.isPending}>{health.isPending ? 'Checking…' : 'Check health of all'}</Button> : undefined}>
      <Card title="Your connections">
        {connections.isPending && <Loading label="Loading connections…" />}
        {connections.isError && <ErrorMessage error={connections.error} />}
        <ErrorMessage error={health.error} />
        {connections.isSuccess && connections.data.length === 0 && (
          <Empty title="No connections yet">
            <p>Pick a service below: workflows call it through the connection, and its secrets stay sealed on the server.</p>
          </Empty>
        )}
        {connections.data && connections.data.length > 0 && (
          <table className="table" tabIndex={0}>
            <caption className="sr-only">Connections of this workspace</caption>
            <thead>
              <tr>
                <th scope="col">Name</th>
                <th scope="col">Connector</th>
                <th scope="col">Status</th>
                <th scope="col">Health</th>
              </tr>
            </thead>
            <tbody>
              {connections.data.map((c) => {
                const h = healthOf.get(c.id);
                return (
                  <tr key={c.id}>
                    <td>
                      <Link href={`/w/${workspaceId}/connections/${c.id}`}>{c.name}</Link>
                    </td>
                    <td>{connectorName.get(c.connector) ?? c.connector}</td>
                    <td>
                      <span className={`badge badge-${c.status}`}>{c.status.replace('_', ' ')}</span>
                    </td>
                    <td>{h ? <span className={`badge badge-${h.status}`} title={h.detail ?? undefined}>{h.status}</span> : <span className="muted">not checked</span>}</td>
                  </tr>
                );
              })}
            </tbody>
          </table>
        )}
      </Card>
      <Card title="Add a connection">
        {catalog.isPending && <Loading label="Loading the catalog…" />}
        {catalog.isError && <ErrorMessage error={catalog.error} />}
        <ul className="catalog">
          {catalog.data?.map((c) => (
            <li key={c.id} className="catalog-item">
              <h3>{c.name}</h3>
              <p className="muted">{c.description}</p>
              <p className="catalog-tags">
                {c.oauth && <span className="badge">OAuth</span>}
                {c.canPublish && <span className="badge">publishes</span>}
                {c.inboundWebhooks && <span className="badge">inbound webhooks</span>}
              </p>
              <Link className="btn btn-secondary" href={`/w/${workspaceId}/connections/new/${c.id}`} aria-label={`Connect ${c.name}`}>
                Connect
              </Link>
            </li>
          ))}
        </ul>
      </Card>
    </Page>
  );
}
