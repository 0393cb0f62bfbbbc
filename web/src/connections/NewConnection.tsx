import { useState, type FormEvent } from 'react';
import { Form, Link } from 'react-aria-components';
import { useMutation, useQueryClient } from '@tanstack/react-query';
import { useNavigate, useParams } from 'react-router';
import { api, ApiError, call } from '../api/client';
import { Button, Card, ErrorMessage, Field, Loading, OnceSecret, Page } from '../ui/ui';
import { SchemaForm } from '../ui/SchemaForm';
import { initialValues, serverErrors, toValue, type RawValues } from '../ui/schema-form';
import { rateDraftOf, rateLimitOf, useCatalog, type ConnectorInfo } from './api';
import { RateLimitFields } from './RateLimitFields';
import type { paths } from '../api/schema';

type ConnectorId = NonNullable<paths['/v1/workspaces/{workspaceId}/connections']['post']['requestBody']>['content']['application/json']['connector'];

function NewConnectionForm({ workspaceId, connector }: { workspaceId: string; connector: ConnectorInfo }) {
  const navigate = useNavigate();
  const queryClient = useQueryClient();
  const [name, setName] = useState(connector.name.replace(/\s*\(.*\)$/, ''));
  const [config, setConfig] = useState<RawValues>(() => initialValues(connector.configSchema));
  const [credentials, setCredentials] = useState<RawValues>(() => initialValues(connector.credentialsSchema));
  const [rate, setRate] = useState(rateDraftOf(null));
  const [local, setLocal] = useState<{ config: Record<string, string>; credentials: Record<string, string>; rate: Record<string, string> }>({ config: {}, credentials: {}, rate: {} });
  const [inboundUrl, setInboundUrl] = useState<{ id: string; url: string } | null>(null);

  const create = useMutation({
    mutationFn: (body: { config: Record<string, unknown>; credentials: Record<string, unknown>; rateLimit: ReturnType<typeof rateLimitOf>['value'] }) =>
      call(api.POST('/v1/workspaces/{workspaceId}/connections', { params: { path: { workspaceId } }, body: { connector: connector.id as ConnectorId, name, ...body } })),
    onSuccess: (res) => {
      void queryClient.invalidateQueries({ queryKey: ['connections', workspaceId] });
      if (res.inboundUrl) setInboundUrl({ id: res.connection.id, url: new URL(res.inboundUrl, location.origin).href });
      else navigate(`/w/${workspaceId}/connections/${res.connection.id}?created=1`);
    },
  });

  function submit(e: FormEvent) {
    e.preventDefault();
    const c = toValue(connector.configSchema, config);
    const s = toValue(connector.credentialsSchema, credentials, { secrets: true });
    const r = rateLimitOf(rate);
    const byName = (errs: { path: string; message: string }[]) => Object.fromEntries(errs.map((x) => [x.path.split('.')[0]!, x.message]));
    setLocal({ config: byName(c.errors), credentials: byName(s.errors), rate: r.errors });
    if (c.errors.length || s.errors.length || Object.keys(r.errors).length) return;
    create.mutate({ config: c.value, credentials: s.value, rateLimit: r.value });
  }

  const problem = create.error instanceof ApiError ? create.error.problem : undefined;
  const fromServer = { config: serverErrors(problem?.errors, 'config'), credentials: serverErrors(problem?.errors, 'credentials'), rate: serverErrors(problem?.errors, 'rateLimit') };

  if (inboundUrl) {
    return (
      <Card title="Connection created">
        <OnceSecret label="Inbound webhook URL" value={inboundUrl.url} />
        <Link className="btn btn-primary" href={`/w/${workspaceId}/connections/${inboundUrl.id}`}>
          Open the connection
        </Link>
      </Card>
    );
  }
  return (
    <Card>
      <p className="muted">{connector.description}</p>
      <Form onSubmit={submit} validationBehavior="aria" className="stack" aria-label={`New ${connector.name} connection`}>
        <Field label="Connection name" value={name} onChange={setName} isRequired error={create.error instanceof ApiError ? create.error.fieldError('name') : undefined} />
        <SchemaForm legend="Settings" schema={connector.configSchema} values={config} onChange={setConfig} errors={{ ...fromServer.config, ...local.config }} />
        <SchemaForm legend="Credentials (write-only: stored sealed, never shown again)" schema={connector.credentialsSchema} values={credentials} onChange={setCredentials} errors={{ ...fromServer.credentials, ...local.credentials }} secrets />
        <RateLimitFields value={rate} onChange={setRate} errors={{ ...fromServer.rate, ...local.rate }} />
        <ErrorMessage error={create.error} />
        <div className="row">
          <Button type="submit" isDisabled={create.isPending}>
            {create.isPending ? 'Creating…' : 'Create connection'}
          </Button>
          <Link className="btn btn-secondary" href={`/w/${workspaceId}/connections`}>
            Cancel
          </Link>
        </div>
      </Form>
    </Card>
  );
}

export default function NewConnection() {
  const { workspaceId = '', connectorId = '' } = useParams();
  const catalog = useCatalog();
  const connector = catalog.data?.find((c) => c.id === connectorId);
  return (
    <Page title={connector ? `Connect ${connector.name}` : 'New connection'}>
      {catalog.isPending && <Loading label="Loading the catalog…" />}
      {catalog.isError && <ErrorMessage error={catalog.error} />}
      {catalog.isSuccess && !connector && (
        <div role="alert" className="alert alert-error">
          <strong>Unknown connector “{connectorId}”</strong>
          <p>
            <Link href={`/w/${workspaceId}/connections`}>Back to the catalog</Link>
          </p>
        </div>
      )}
      {connector && <NewConnectionForm key={connector.id} workspaceId={workspaceId} connector={connector} />}
    </Page>
  );
}
