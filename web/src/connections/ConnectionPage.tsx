import { useState, type FormEvent } from 'react';
import { Form, Link } from 'react-aria-components';
import { useInfiniteQuery, useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import { useNavigate, useParams, useSearchParams } from 'react-router';
import { api, ApiError, call } from '../api/client';
import { Button, Card, Empty, ErrorMessage, Field, Loading, Page } from '../ui/ui';
import { SchemaForm, SelectField } from '../ui/SchemaForm';
import { initialValues, serverErrors, toValue, type RawValues } from '../ui/schema-form';
import { rateDraftOf, rateLimitOf, useCatalog, type Connection, type ConnectorInfo } from './api';
import { RateLimitFields } from './RateLimitFields';

function TestConnection({ workspaceId, connectionId }: { workspaceId: string; connectionId: string }) {
  const queryClient = useQueryClient();
  const test = useMutation({
    mutationFn: () => call(api.POST('/v1/workspaces/{workspaceId}/connections/{connectionId}/test', { params: { path: { workspaceId, connectionId } } })),
    onSettled: () => void queryClient.invalidateQueries({ queryKey: ['connection-requests', workspaceId, connectionId] }),
  });
  return (
    <div className="stack">
      <div>
        <Button onPress={() => test.mutate()} isDisabled={test.isPending}>
          {test.isPending ? 'Testing…' : 'Test connection'}
        </Button>
      </div>
      <div aria-live="polite">
        {test.data && (
          <div role="status" className={`alert ${test.data.ok ? 'alert-success' : 'alert-error'}`}>
            <strong>{test.data.ok ? 'Connection works' : 'Connection test failed'}</strong>
            <p>
              {test.data.detail ?? (test.data.ok ? 'The provider answered.' : '')} ({Math.round(test.data.durationMs)} ms)
            </p>
          </div>
        )}
      </div>
      <ErrorMessage error={test.error} />
    </div>
  );
}

function OAuthConnect({ workspaceId, connection }: { workspaceId: string; connection: Connection }) {
  const start = useMutation({
    mutationFn: () =>
      call(
        api.POST('/v1/workspaces/{workspaceId}/connections/{connectionId}/oauth/start', {
          params: { path: { workspaceId, connectionId: connection.id } },
          body: { redirectUri: `${location.origin}/oauth/integrations/callback`, returnTo: `/w/${workspaceId}/connections/${connection.id}` },
        }),
      ),
    // The provider's consent page, which sends the browser back through the callback to this page.
    onSuccess: (res) => window.location.assign(res.authorizeUrl),
  });
  return (
    <div className="stack">
      <p>{connection.status === 'needs_reauth' ? 'This connection must be authorised at the provider before it can be used.' : 'Authorise again at the provider (for example after revoking access there).'}</p>
      <div>
        <Button onPress={() => start.mutate()} isDisabled={start.isPending}>
          {connection.status === 'needs_reauth' ? 'Connect with the provider' : 'Reconnect with the provider'}
        </Button>
      </div>
      <ErrorMessage error={start.error} />
    </div>
  );
}

function Settings({ workspaceId, connection, connector }: { workspaceId: string; connection: Connection; connector: ConnectorInfo }) {
  const queryClient = useQueryClient();
  const [name, setName] = useState(connection.name);
  const [config, setConfig] = useState<RawValues>(() => initialValues(connector.configSchema, connection.config));
  const [rate, setRate] = useState(rateDraftOf(connection.rateLimit));
  const [local, setLocal] = useState<{ config: Record<string, string>; rate: Record<string, string> }>({ config: {}, rate: {} });
  const save = useMutation({
    mutationFn: (body: { name: string; config: Record<string, unknown>; rateLimit: ReturnType<typeof rateLimitOf>['value'] }) =>
      call(api.PATCH('/v1/workspaces/{workspaceId}/connections/{connectionId}', { params: { path: { workspaceId, connectionId: connection.id } }, body })),
    onSuccess: (res) => queryClient.setQueryData(['connection', workspaceId, connection.id], res.connection),
  });
  function submit(e: FormEvent) {
    e.preventDefault();
    const c = toValue(connector.configSchema, config);
    const r = rateLimitOf(rate);
    setLocal({ config: Object.fromEntries(c.errors.map((x) => [x.path.split('.')[0]!, x.message])), rate: r.errors });
    if (c.errors.length || Object.keys(r.errors).length) return;
    save.mutate({ name, config: c.value, rateLimit: r.value });
  }
  const problem = save.error instanceof ApiError ? save.error.problem : undefined;
  return (
    <Form onSubmit={submit} validationBehavior="aria" className="stack" aria-label="Connection settings">
      <Field label="Connection name" value={name} onChange={setName} isRequired error={save.error instanceof ApiError ? save.error.fieldError('name') : undefined} />
      <SchemaForm legend="Settings" schema={connector.configSchema} values={config} onChange={setConfig} errors={{ ...serverErrors(problem?.errors, 'config'), ...local.config }} />
      <RateLimitFields value={rate} onChange={setRate} errors={{ ...serverErrors(problem?.errors, 'rateLimit'), ...local.rate }} />
      <ErrorMessage error={save.error} />
      {save.isSuccess && (
        <p role="status" className="alert alert-success">
          Saved.
        </p>
      )}
      <div>
        <Button type="submit" isDisabled={save.isPending}>
          Save settings
        </Button>
      </div>
    </Form>
  );
}

/** Credentials are write-only: the page lists which fields are set and lets you replace them, never read them. */
function ReplaceSecret({ workspaceId, connection, connector }: { workspaceId: string; connection: Connection; connector: ConnectorInfo }) {
  const queryClient = useQueryClient();
  const [open, setOpen] = useState(false);
  const [values, setValues] = useState<RawValues>(() => initialValues(connector.credentialsSchema));
  const [local, setLocal] = useState<Record<string, string>>({});
  const save = useMutation({
    mutationFn: (credentials: Record<string, unknown>) => call(api.PATCH('/v1/workspaces/{workspaceId}/connections/{connectionId}', { params: { path: { workspaceId, connectionId: connection.id } }, body: { credentials } })),
    onSuccess: (res) => {
      queryClient.setQueryData(['connection', workspaceId, connection.id], res.connection);
      setOpen(false);
      setValues(initialValues(connector.credentialsSchema));
    },
  });
  function submit(e: FormEvent) {
    e.preventDefault();
    // Fields left empty keep their stored value (the server merges over what it holds).
    const v = toValue(connector.credentialsSchema, values, { secrets: true, keepEmpty: true });
    setLocal(Object.fromEntries(v.errors.map((x) => [x.path.split('.')[0]!, x.message])));
    if (v.errors.length) return;
    save.mutate(v.value);
  }
  const problem = save.error instanceof ApiError ? save.error.problem : undefined;
  return (
    <div className="stack">
      <p>
        Set: {connection.credentialFields.length ? connection.credentialFields.map((f) => <code key={f} className="chip">{f}</code>) : <span className="muted">nothing</span>}
      </p>
      {save.isSuccess && !open && (
        <p role="status" className="alert alert-success">
          Secret replaced.
        </p>
      )}
      {!open ? (
        <div>
          <Button variant="secondary" onPress={() => setOpen(true)}>
            Replace secret
          </Button>
        </div>
      ) : (
        <Form onSubmit={submit} validationBehavior="aria" className="stack" aria-label="Replace credentials">
          <SchemaForm legend="New credentials" schema={connector.credentialsSchema} values={values} onChange={setValues} errors={{ ...serverErrors(problem?.errors, 'credentials'), ...local }} secrets secretPlaceholder="unchanged when left empty" />
          <ErrorMessage error={save.error} />
          <div className="row">
            <Button type="submit" isDisabled={save.isPending}>
              Save new secret
            </Button>
            <Button variant="secondary" onPress={() => setOpen(false)}>
              Cancel
            </Button>
          </div>
        </Form>
      )}
    </div>
  );
}

/** Runs one of the connector's actions with input from a form made from the action's schema. */
function RunAction({ workspaceId, connectionId, connector }: { workspaceId: string; connectionId: string; connector: ConnectorInfo }) {
  const queryClient = useQueryClient();
  const [name, setName] = useState(connector.actions[0]?.name ?? '');
  const action = connector.actions.find((a) => a.name === name);
  const [values, setValues] = useState<RawValues>(() => (action ? initialValues(action.inputSchema) : {}));
  const [local, setLocal] = useState<Record<string, string>>({});
  const run = useMutation({
    mutationFn: (input: Record<string, unknown>) => call(api.POST('/v1/workspaces/{workspaceId}/connections/{connectionId}/actions/{action}', { params: { path: { workspaceId, connectionId, action: name } }, body: { input } })),
    onSettled: () => void queryClient.invalidateQueries({ queryKey: ['connection-requests', workspaceId, connectionId] }),
  });
  if (!action) return <p className="muted">This connector has no actions.</p>;
  function submit(e: FormEvent) {
    e.preventDefault();
    const v = toValue(action!.inputSchema, values);
    setLocal(Object.fromEntries(v.errors.map((x) => [x.path.split('.')[0]!, x.message])));
    if (v.errors.length) return;
    run.mutate(v.value);
  }
  const problem = run.error instanceof ApiError ? run.error.problem : undefined;
  return (
    <Form onSubmit={submit} validationBehavior="aria" className="stack" aria-label="Run an action">
      <SelectField
        label="Action"
        value={name}
        description={action.description}
        options={connector.actions.map((a) => ({ value: a.name, label: a.name }))}
        onChange={(next) => {
          setName(next);
          const a = connector.actions.find((x) => x.name === next);
          setValues(a ? initialValues(a.inputSchema) : {});
          setLocal({});
          run.reset();
        }}
      />
      <SchemaForm legend="Input" schema={action.inputSchema} values={values} onChange={setValues} errors={{ ...serverErrors(problem?.errors, 'input'), ...local }} />
      <ErrorMessage error={run.error} />
      <div>
        <Button type="submit" isDisabled={run.isPending}>
          {run.isPending ? 'Running…' : 'Run action'}
        </Button>
      </div>
      <div aria-live="polite">
        {run.data && (
          <div role="status" className="alert alert-success">
            <strong>Action output</strong>
            <pre className="json" tabIndex={0} aria-label="Action output">
              {JSON.stringify(run.data.output, null, 2)}
            </pre>
          </div>
        )}
      </div>
    </Form>
  );
}

function RequestLog({ workspaceId, connectionId }: { workspaceId: string; connectionId: string }) {
  const log = useInfiniteQuery({
    queryKey: ['connection-requests', workspaceId, connectionId],
    initialPageParam: undefined as number | undefined,
    queryFn: async ({ pageParam }) => call(api.GET('/v1/workspaces/{workspaceId}/connections/{connectionId}/requests', { params: { path: { workspaceId, connectionId }, query: { limit: 50, ...(pageParam ? { cursor: pageParam } : {}) } } })),
    getNextPageParam: (last) => last.nextCursor ?? undefined,
  });
  const rows = log.data?.pages.flatMap((p) => p.requests) ?? [];
  return (
    <>
      {log.isPending && <Loading label="Loading the request log…" />}
      {log.isError && <ErrorMessage error={log.error} />}
      {log.isSuccess && rows.length === 0 && <Empty title="No requests yet">Test the connection or run a workflow that uses it.</Empty>}
      {rows.length > 0 && (
        <table className="table" tabIndex={0}>
          <caption className="sr-only">Outbound requests, newest first</caption>
          <thead>
            <tr>
              <th scope="col">When</th>
              <th scope="col">Request</th>
              <th scope="col">Answer</th>
              <th scope="col">Took</th>
            </tr>
          </thead>
          <tbody>
            {rows.map((r) => (
              <tr key={r.id}>
                <td>{new Date(r.occurredAt).toLocaleString()}</td>
                <td>
                  <code>
                    {r.method} {r.host}
                    {r.path}
                  </code>
                </td>
                <td>{r.status ?? <span className="field-error">{r.errorCode ?? 'no answer'}</span>}</td>
                <td>{Math.round(r.durationMs)} ms</td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
      <div className="row">
        <Button variant="secondary" onPress={() => void log.refetch()} isDisabled={log.isFetching}>
          Refresh
        </Button>
        {log.hasNextPage && (
          <Button variant="secondary" onPress={() => void log.fetchNextPage()} isDisabled={log.isFetchingNextPage}>
            Older requests
          </Button>
        )}
      </div>
    </>
  );
}

export default function ConnectionPage() {
  const { workspaceId = '', connectionId = '' } = useParams();
  const [search] = useSearchParams();
  const navigate = useNavigate();
  const queryClient = useQueryClient();
  const catalog = useCatalog();
  const [confirmDelete, setConfirmDelete] = useState(false);
  const connection = useQuery({
    queryKey: ['connection', workspaceId, connectionId],
    queryFn: async () => (await call(api.GET('/v1/workspaces/{workspaceId}/connections/{connectionId}', { params: { path: { workspaceId, connectionId } } }))).connection,
  });
  const path = { params: { path: { workspaceId, connectionId } } };
  const setStatus = useMutation({
    mutationFn: (status: 'active' | 'disabled') => call(api.PATCH('/v1/workspaces/{workspaceId}/connections/{connectionId}', { ...path, body: { status } })),
    onSuccess: (res) => queryClient.setQueryData(['connection', workspaceId, connectionId], res.connection),
  });
  const remove = useMutation({
    mutationFn: () => call(api.DELETE('/v1/workspaces/{workspaceId}/connections/{connectionId}', path)),
    onSuccess: () => {
      void queryClient.invalidateQueries({ queryKey: ['connections', workspaceId] });
      navigate(`/w/${workspaceId}/connections`);
    },
  });

  if (connection.isPending || catalog.isPending) return <Loading label="Loading the connection…" />;
  if (connection.isError || catalog.isError)
    return (
      <Page title="Connection">
        <ErrorMessage error={connection.error ?? catalog.error} />
        <Link href={`/w/${workspaceId}/connections`}>Back to connections</Link>
      </Page>
    );
  const c = connection.data;
  const connector = catalog.data.find((x) => x.id === c.connector);
  const oauth = search.get('oauth');
  return (
    <Page
      title={c.name}
      actions={
        <>
          <Button variant="secondary" onPress={() => setStatus.mutate(c.status === 'disabled' ? 'active' : 'disabled')} isDisabled={setStatus.isPending}>
            {c.status === 'disabled' ? 'Enable' : 'Disable'}
          </Button>
          {confirmDelete ? (
            <>
              <Button variant="danger" onPress={() => remove.mutate()} isDisabled={remove.isPending} autoFocus>
                Delete for good
              </Button>
              <Button variant="secondary" onPress={() => setConfirmDelete(false)}>
                Keep it
              </Button>
            </>
          ) : (
            <Button variant="danger" onPress={() => setConfirmDelete(true)}>
              Delete…
            </Button>
          )}
        </>
      }
    >
      {oauth === 'connected' && (
        <p role="status" className="alert alert-success">
          Authorised at the provider: the connection is active.
        </p>
      )}
      {oauth === 'failed' && (
        <div role="alert" className="alert alert-error">
          <strong>The provider did not authorise the connection</strong>
          <p>Reason: {search.get('code') ?? 'unknown'}. Try again, or check the client ID and secret.</p>
        </div>
      )}
      {search.get('created') && (
        <p role="status" className="alert alert-success">
          Connection created. Test it to see that the provider answers.
        </p>
      )}
      <ErrorMessage error={setStatus.error ?? remove.error} />
      <Card title="Status">
        <dl className="facts">
          <div>
            <dt>Connector</dt>
            <dd>{connector?.name ?? c.connector}</dd>
          </div>
          <div>
            <dt>Status</dt>
            <dd>
              <span className={`badge badge-${c.status}`}>{c.status.replace('_', ' ')}</span>
              {c.statusDetail && <span className="muted"> {c.statusDetail}</span>}
            </dd>
          </div>
          {c.tokenExpiresAt && (
            <div>
              <dt>Token expires</dt>
              <dd>{new Date(c.tokenExpiresAt).toLocaleString()}</dd>
            </div>
          )}
          <div>
            <dt>Rate limit</dt>
            <dd>{c.rateLimit ? `${c.rateLimit.requests} per ${c.rateLimit.windowSeconds} s (burst ${c.rateLimit.burst})` : 'server default'}</dd>
          </div>
        </dl>
        <TestConnection workspaceId={workspaceId} connectionId={c.id} />
      </Card>
      {connector?.oauth && c.credentialFields.includes('clientId') && (
        <Card title="Authorisation">
          <OAuthConnect workspaceId={workspaceId} connection={c} />
        </Card>
      )}
      {connector && (
        <>
          <Card title="Settings">
            <Settings key={c.id} workspaceId={workspaceId} connection={c} connector={connector} />
          </Card>
          <Card title="Credentials">
            <ReplaceSecret workspaceId={workspaceId} connection={c} connector={connector} />
          </Card>
        </>
      )}
      {connector && connector.actions.length > 0 && c.status === 'active' && (
        <Card title="Try an action">
          <RunAction workspaceId={workspaceId} connectionId={c.id} connector={connector} />
        </Card>
      )}
      <Card title="Request log">
        <RequestLog workspaceId={workspaceId} connectionId={c.id} />
      </Card>
    </Page>
  );
}
