import { useEffect, useState, type FormEvent } from 'react';
import { Checkbox, CheckboxGroup, Form, Label, Switch } from 'react-aria-components';
import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import { useParams, useSearchParams } from 'react-router';
import { api, ApiError, call } from '../api/client';
import { workspacesKey } from '../app/session';
import { Button, Card, ErrorMessage, Field, Loading, Page } from '../ui/ui';
import { PERSONAS, type PersonaId } from './roles';

export function usePersonas(workspaceId: string) {
  return useQuery({
    queryKey: ['personas', workspaceId],
    queryFn: async () => (await call(api.GET('/v1/workspaces/{workspaceId}/members/me/personas', { params: { path: { workspaceId } } }))).personas as PersonaId[],
  });
}

export default function WorkspaceSettings() {
  const { workspaceId = '' } = useParams();
  const [params] = useSearchParams();
  const path = { params: { path: { workspaceId } } };
  const queryClient = useQueryClient();
  const workspace = useQuery({ queryKey: ['workspace', workspaceId], queryFn: async () => (await call(api.GET('/v1/workspaces/{workspaceId}', path))).workspace });
  const personas = usePersonas(workspaceId);
  const [name, setName] = useState('');
  const [chosen, setChosen] = useState<string[]>([]);
  useEffect(() => setName(workspace.data?.name ?? ''), [workspace.data?.name]);
  useEffect(() => setChosen(personas.data ?? []), [personas.data]);

  const update = useMutation({
    mutationFn: (body: { name?: string; requireMfa?: boolean }) => call(api.PATCH('/v1/workspaces/{workspaceId}', { ...path, body })),
    onSuccess: () => {
      void queryClient.invalidateQueries({ queryKey: ['workspace', workspaceId] });
      void queryClient.invalidateQueries({ queryKey: workspacesKey });
    },
  });
  const savePersonas = useMutation({
    mutationFn: (list: string[]) => call(api.PUT('/v1/workspaces/{workspaceId}/members/me/personas', { ...path, body: { personas: list as PersonaId[] } })),
    onSuccess: () => queryClient.invalidateQueries({ queryKey: ['personas', workspaceId] }),
  });

  function rename(e: FormEvent) {
    e.preventDefault();
    update.mutate({ name });
  }

  if (workspace.isPending) return <Loading />;
  if (workspace.isError) return <ErrorMessage error={workspace.error} />;
  const canUpdate = workspace.data.role === 'owner' || workspace.data.role === 'admin';
  return (
    <Page title="Workspace settings">
      {params.get('welcome') && (
        <div className="alert alert-success" role="status">
          <strong>Your workspace is ready.</strong> Pick the personas you work as: your home page follows them.
        </div>
      )}
      <Card title="Your personas">
        {personas.isPending && <Loading />}
        <CheckboxGroup value={chosen} onChange={setChosen} className="checkbox-group">
          <Label>I work here as</Label>
          {PERSONAS.map((p) => (
            <Checkbox key={p.id} value={p.id} className="checkbox">
              <span className="checkbox-box" aria-hidden="true" />
              <span>
                <strong>{p.name}</strong> — {p.does}
              </span>
            </Checkbox>
          ))}
        </CheckboxGroup>
        <ErrorMessage error={savePersonas.error} />
        <Button onPress={() => savePersonas.mutate(chosen)} isDisabled={savePersonas.isPending}>
          Save personas
        </Button>
        {savePersonas.isSuccess && <span role="status"> Saved.</span>}
      </Card>
      <Card title="Workspace">
        <Form onSubmit={rename} className="row">
          <Field label="Name" name="name" value={name} onChange={setName} isRequired isDisabled={!canUpdate} error={update.error instanceof ApiError ? update.error.fieldError('name') : undefined} />
          <Button type="submit" isDisabled={!canUpdate || update.isPending}>
            Rename
          </Button>
        </Form>
        <Switch className="switch" isSelected={workspace.data.requireMfa} isDisabled={!canUpdate || update.isPending} onChange={(on) => update.mutate({ requireMfa: on })}>
          <span className="switch-track" aria-hidden="true" />
          Require multi-factor authentication of every member
        </Switch>
        <ErrorMessage error={update.error} />
        {!canUpdate && <p className="muted">Only owners and admins can change these settings (your role: {workspace.data.role}).</p>}
      </Card>
    </Page>
  );
}
