import { useState, type FormEvent } from 'react';
import { Form, Link as AriaLink } from 'react-aria-components';
import { useQueryClient } from '@tanstack/react-query';
import { useNavigate, useSearchParams } from 'react-router';
import { api, ApiError, call } from '../api/client';
import { meKey } from '../app/session';
import { Button, ErrorMessage, Field } from '../ui/ui';

export default function SignUp() {
  const [name, setName] = useState('');
  const [email, setEmail] = useState('');
  const [password, setPassword] = useState('');
  const [error, setError] = useState<unknown>(null);
  const [busy, setBusy] = useState(false);
  const queryClient = useQueryClient();
  const navigate = useNavigate();
  const [params] = useSearchParams();
  const fieldError = (f: string) => (error instanceof ApiError ? error.fieldError(f) : undefined);

  async function submit(e: FormEvent) {
    e.preventDefault();
    setBusy(true);
    setError(null);
    try {
      const { user } = await call(api.POST('/v1/auth/browser/signup', { body: { name, email, password } }));
      // The session is the user's now: drop what the signed-out browser cached, then seed who is signed in.
      queryClient.clear();
      queryClient.setQueryData(meKey, user);
      navigate(params.get('next') ?? '/', { replace: true });
    } catch (err) {
      setError(err);
    } finally {
      setBusy(false);
    }
  }

  return (
    <main className="auth-page">
      <div className="card auth-card">
        <h1>Create your v01t account</h1>
        <Form onSubmit={submit} className="stack">
          <Field label="Name" name="name" autoComplete="name" value={name} onChange={setName} isRequired autoFocus error={fieldError('name')} />
          <Field label="Email" type="email" name="email" autoComplete="email" value={email} onChange={setEmail} isRequired error={fieldError('email')} />
          <Field
            label="Password"
            type="password"
            name="password"
            autoComplete="new-password"
            value={password}
            onChange={setPassword}
            isRequired
            error={fieldError('password')}
          />
          <ErrorMessage error={error} />
          <Button type="submit" isDisabled={busy}>
            {busy ? 'Creating…' : 'Create account'}
          </Button>
        </Form>
        <p>
          Already have an account? <AriaLink href="/signin">Sign in</AriaLink>
        </p>
      </div>
    </main>
  );
}
