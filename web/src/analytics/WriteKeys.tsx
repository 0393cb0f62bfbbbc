import { useState } from 'react';
import { Link } from 'react-aria-components';
import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import { useParams } from 'react-router';
import { api, ApiError, call } from '../api/client';
import { Button, Card, Empty, ErrorMessage, Field, Loading, OnceSecret, Page } from '../ui/ui';
import './analytics.css';

/** The copy-paste ingestion snippet for a workspace: curl and browser/Node fetch. */
export function snippets(origin: string, workspaceId: string, key: string): { curl: string; js: string } {
  const url = `${origin}/v1/workspaces/${workspaceId}/events`;
  return {
    curl: [
      `curl -X POST '${url}' \\`,
      `  -H 'X-Write-Key: ${key}' \\`,
      `  -H 'content-type: application/json' \\`,
      `  -d '{"batch":[{"type":"track","event":"signed_up","userId":"user-1","messageId":"'"$(uuidgen)"'","properties":{"plan":"pro"}}]}'`,
    ].join('\n'),
    js: [
      `await fetch('${url}', {`,
      `  method: 'POST',`,
      `  headers: { 'X-Write-Key': '${key}', 'content-type': 'application/json' },`,
      `  body: JSON.stringify({ batch: [`,
      `    { type: 'track', event: 'signed_up', userId: 'user-1', messageId: crypto.randomUUID(), properties: { plan: 'pro' } },`,
      `  ] }),`,
      `});`,
    ].join('\n'),
  };
}

function Snippet({ label, code }: { label: string; code: string }) {
  const [copied, setCopied] = useState(false);
  return (
    <figure className="an-snippet">
      <figcaption className="row">
        <strong>{label}</strong>
        <Button
          variant="secondary"
          onPress={() =>
            void navigator.clipboard?.writeText(code).then(() => {
              setCopied(true);
              setTimeout(() => setCopied(false), 2000);
            })
          }
          aria-label={`Copy the ${label} snippet`}
        >
          {copied ? 'Copied' : 'Copy'}
        </Button>
      </figcaption>
      <pre className="json" tabIndex={0}>
        <code>{code}</code>
      </pre>
    </figure>
  );
}

/** Write keys of the workspace: create (the key is shown once), revoke; the snippet to send events with. */
export default function WriteKeys() {
  const { workspaceId = '' } = useParams();
  const path = { params: { path: { workspaceId } } };
  const queryClient = useQueryClient();
  const keys = useQuery({ queryKey: ['analytics', workspaceId, 'write-keys'], queryFn: async () => (await call(api.GET('/v1/workspaces/{workspaceId}/analytics/write-keys', path))).writeKeys });
  const [name, setName] = useState('');
  const [created, setCreated] = useState<{ key: string; name: string } | null>(null);
  const create = useMutation({
    mutationFn: async () => call(api.POST('/v1/workspaces/{workspaceId}/analytics/write-keys', { ...path, body: { name } })),
    onSuccess: async (r) => {
      setCreated({ key: r.key, name: r.writeKey.name });
      setName('');
      await queryClient.invalidateQueries({ queryKey: ['analytics', workspaceId, 'write-keys'] });
    },
  });
  const revoke = useMutation({
    mutationFn: (writeKeyId: string) => call(api.DELETE('/v1/workspaces/{workspaceId}/analytics/write-keys/{writeKeyId}', { params: { path: { workspaceId, writeKeyId } } })),
    onSuccess: () => queryClient.invalidateQueries({ queryKey: ['analytics', workspaceId, 'write-keys'] }),
  });
  const code = snippets(location.origin, workspaceId, created?.key ?? 'wk_your_write_key');
  const forbidden = keys.error instanceof ApiError && keys.error.problem.status === 403;

  return (
    <Page
      title="Write keys"
      actions={
        <Link className="btn btn-secondary" href={`/w/${workspaceId}/analytics`}>
          Analytics overview
        </Link>
      }
    >
      <p className="muted">A write key lets an app or a server send events to this workspace, and nothing else. Keep one key per source so you can revoke it alone.</p>
      {forbidden ? (
        <div role="alert" className="alert alert-warning">
          Only owners and admins manage write keys. Ask one of them for a key.
        </div>
      ) : (
        <Card title="Create a write key">
          <form
            className="row"
            onSubmit={(e) => {
              e.preventDefault();
              setCreated(null);
              create.mutate();
            }}
          >
            <Field label="Key name" description="Where it is used, e.g. “Marketing site”" value={name} onChange={setName} isRequired error={create.error instanceof ApiError ? create.error.fieldError('name') : undefined} />
            <Button type="submit" isDisabled={!name.trim() || create.isPending}>
              {create.isPending ? 'Creating…' : 'Create write key'}
            </Button>
          </form>
          <ErrorMessage error={create.error} />
          {created && <OnceSecret label={`Write key “${created.name}”`} value={created.key} />}
        </Card>
      )}
      <Card title="Keys">
        {keys.isPending && <Loading label="Loading write keys…" />}
        {keys.isError && !forbidden && <ErrorMessage error={keys.error} />}
        <ErrorMessage error={revoke.error} />
        {keys.isSuccess && keys.data.length === 0 && (
          <Empty title="No write key yet">
            <p>Create one above, then paste the snippet below into your app.</p>
          </Empty>
        )}
        {keys.data && keys.data.length > 0 && (
          <table className="table an-rel" tabIndex={0}>
            <caption className="sr-only">Write keys</caption>
            <thead>
              <tr>
                <th scope="col">Name</th>
                <th scope="col">Starts with</th>
                <th scope="col">Created</th>
                <th scope="col">Last used</th>
                <th scope="col">Status</th>
                <th scope="col">
                  <span className="sr-only">Actions</span>
                </th>
              </tr>
            </thead>
            <tbody>
              {keys.data.map((k) => (
                <tr key={k.id}>
                  <td>{k.name}</td>
                  <td>
                    <code>{k.prefix}…</code>
                  </td>
                  <td>{new Date(k.createdAt).toLocaleString()}</td>
                  <td>{k.lastUsedAt ? new Date(k.lastUsedAt).toLocaleString() : <span className="muted">never</span>}</td>
                  <td>{k.revokedAt ? <span className="badge badge-failed">revoked</span> : <span className="badge badge-active">active</span>}</td>
                  <td>
                    {!k.revokedAt && (
                      <Button variant="danger" onPress={() => revoke.mutate(k.id)} isDisabled={revoke.isPending} aria-label={`Revoke write key ${k.name}`}>
                        Revoke
                      </Button>
                    )}
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        )}
      </Card>
      <Card title="Send events">
        <p className="muted">
          Each event needs a unique <code>messageId</code> (a retried batch is then counted once) and a <code>userId</code> or <code>anonymousId</code>. Up to 1,000 events per batch.
          {!created && ' Replace wk_your_write_key with your key.'}
        </p>
        <Snippet label="curl" code={code.curl} />
        <Snippet label="JavaScript" code={code.js} />
      </Card>
    </Page>
  );
}
