import { useState, type FormEvent } from 'react';
import { Form } from 'react-aria-components';
import { useQueryClient } from '@tanstack/react-query';
import { useNavigate } from 'react-router';
import { api, ApiError, call } from '../api/client';
import { workspacesKey } from '../app/session';
import { Button, Card, ErrorMessage, Field, Page } from '../ui/ui';

export default function NewWorkspace() {
  const [name, setName] = useState('');
  const [error, setError] = useState<unknown>(null);
  const [busy, setBusy] = useState(false);
  const queryClient = useQueryClient();
  const navigate = useNavigate();

  async function submit(e: FormEvent) {
    e.preventDefault();
    setBusy(true);
    setError(null);
    try {
      const { workspace } = await call(api.POST('/v1/workspaces', { body: { name } }));
      await queryClient.invalidateQueries({ queryKey: workspacesKey });
      navigate(`/w/${workspace.id}/settings?welcome=1`);
    } catch (err) {
      setError(err);
    } finally {
      setBusy(false);
    }
  }

  return (
    <Page title="New workspace">
      <Card>
        <p>A workspace holds your team, workflows, connections, content and analytics. You become its owner.</p>
        <Form onSubmit={submit} className="stack">
          <Field label="Workspace name" name="name" value={name} onChange={setName} isRequired autoFocus error={error instanceof ApiError ? error.fieldError('name') : undefined} />
          <ErrorMessage error={error} />
          <Button type="submit" isDisabled={busy}>
            {busy ? 'Creating…' : 'Create workspace'}
          </Button>
        </Form>
      </Card>
    </Page>
  );
}
