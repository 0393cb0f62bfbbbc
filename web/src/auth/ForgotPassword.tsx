import { useState, type FormEvent } from 'react';
import { Form, Link as AriaLink } from 'react-aria-components';
import { api, ApiError, call } from '../api/client';
import { Button, ErrorMessage, Field } from '../ui/ui';

/** Asks for a reset link. The answer is the same whether or not the address has an account. */
export default function ForgotPassword() {
  const [email, setEmail] = useState('');
  const [error, setError] = useState<unknown>(null);
  const [busy, setBusy] = useState(false);
  const [sent, setSent] = useState<string | null>(null);
  const fieldError = (f: string) => (error instanceof ApiError ? error.fieldError(f) : undefined);

  async function submit(e: FormEvent) {
    e.preventDefault();
    setBusy(true);
    setError(null);
    try {
      const res = await call(api.POST('/v1/auth/password/forgot', { body: { email } }));
      setSent(res.detail);
    } catch (err) {
      setError(err);
    } finally {
      setBusy(false);
    }
  }

  return (
    <main className="auth-page">
      <div className="card auth-card">
        <h1>Forgot your password?</h1>
        {sent ? (
          <div role="status" className="alert alert-success">
            <p>{sent}</p>
            <p>Check your mailbox (and its spam folder), then follow the link.</p>
          </div>
        ) : (
          <Form onSubmit={submit} className="stack">
            <p>Enter the email address of your account and we will mail you a link to choose a new password.</p>
            <Field label="Email" type="email" name="email" autoComplete="username" value={email} onChange={setEmail} isRequired autoFocus error={fieldError('email')} />
            <ErrorMessage error={error} />
            <Button type="submit" isDisabled={busy}>
              {busy ? 'Sending…' : 'Mail me a link'}
            </Button>
          </Form>
        )}
        <p>
          <AriaLink href="/signin">Back to sign-in</AriaLink>
        </p>
      </div>
    </main>
  );
}
