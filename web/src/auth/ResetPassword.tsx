import { useState, type FormEvent } from 'react';
import { Form, Link as AriaLink } from 'react-aria-components';
import { useSearchParams } from 'react-router';
import { api, ApiError, call } from '../api/client';
import { Button, ErrorMessage, Field } from '../ui/ui';

/** The page a reset link opens: choose a new password; every session of the account is signed out. */
export default function ResetPassword() {
  const [params] = useSearchParams();
  const token = params.get('token') ?? '';
  const [password, setPassword] = useState('');
  const [error, setError] = useState<unknown>(null);
  const [busy, setBusy] = useState(false);
  const [done, setDone] = useState(false);
  const fieldError = (f: string) => (error instanceof ApiError ? error.fieldError(f) : undefined);
  const expired = error instanceof ApiError && error.problem.code === 'link_invalid';

  async function submit(e: FormEvent) {
    e.preventDefault();
    setBusy(true);
    setError(null);
    try {
      await call(api.POST('/v1/auth/password/reset', { body: { token, password } }));
      setDone(true);
    } catch (err) {
      setError(err);
    } finally {
      setBusy(false);
    }
  }

  return (
    <main className="auth-page">
      <div className="card auth-card">
        <h1>Choose a new password</h1>
        {!token ? (
          <p role="alert">This link has no reset token. <AriaLink href="/forgot-password">Ask for a new link</AriaLink>.</p>
        ) : done ? (
          <div role="status" className="alert alert-success">
            <p>Your password was changed and every session of your account was signed out.</p>
            <p>
              <AriaLink href="/signin">Sign in with the new password</AriaLink>
            </p>
          </div>
        ) : (
          <Form onSubmit={submit} className="stack">
            <Field
              label="New password"
              type="password"
              name="password"
              autoComplete="new-password"
              description="At least 12 characters and not easy to guess."
              value={password}
              onChange={setPassword}
              isRequired
              autoFocus
              error={fieldError('password')}
            />
            <ErrorMessage error={error} />
            {expired && (
              <p>
                <AriaLink href="/forgot-password">Ask for a new link</AriaLink>
              </p>
            )}
            <Button type="submit" isDisabled={busy}>
              {busy ? 'Saving…' : 'Set the new password'}
            </Button>
          </Form>
        )}
      </div>
    </main>
  );
}
