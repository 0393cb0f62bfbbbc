import { useState, type FormEvent } from 'react';
import { Form, Link as AriaLink } from 'react-aria-components';
import { useQueryClient } from '@tanstack/react-query';
import { useNavigate, useSearchParams } from 'react-router';
import { api, ApiError, call } from '../api/client';
import { meKey } from '../app/session';
import { Button, ErrorMessage, Field } from '../ui/ui';

/** Sign in, then the one-time password step when the account has MFA (a recovery code works there too). */
export default function SignIn() {
  const [email, setEmail] = useState('');
  const [password, setPassword] = useState('');
  const [otp, setOtp] = useState('');
  const [needsOtp, setNeedsOtp] = useState(false);
  const [error, setError] = useState<unknown>(null);
  const [busy, setBusy] = useState(false);
  const queryClient = useQueryClient();
  const navigate = useNavigate();
  const [params] = useSearchParams();

  async function submit(e: FormEvent) {
    e.preventDefault();
    setBusy(true);
    setError(null);
    try {
      const { user } = await call(api.POST('/v1/auth/browser/login', { body: { email, password, ...(needsOtp ? { otp } : {}) } }));
      // The session is the user's now: drop what the signed-out browser cached, then seed who is signed in.
      queryClient.clear();
      queryClient.setQueryData(meKey, user);
      navigate(params.get('next') ?? '/', { replace: true });
    } catch (err) {
      if (err instanceof ApiError && err.problem.code === 'mfa_required') setNeedsOtp(true);
      else setError(err);
    } finally {
      setBusy(false);
    }
  }

  return (
    <main className="auth-page">
      <div className="card auth-card">
        <h1>Sign in to v01t</h1>
        <Form onSubmit={submit} className="stack">
          {!needsOtp ? (
            <>
              <Field label="Email" type="email" name="email" autoComplete="username" value={email} onChange={setEmail} isRequired autoFocus />
              <Field label="Password" type="password" name="password" autoComplete="current-password" value={password} onChange={setPassword} isRequired />
            </>
          ) : (
            <Field
              label="One-time code"
              name="otp"
              autoComplete="one-time-code"
              description="The 6-digit code from your authenticator app, or one of your recovery codes."
              value={otp}
              onChange={setOtp}
              isRequired
              autoFocus
            />
          )}
          <ErrorMessage error={error} />
          <Button type="submit" isDisabled={busy}>
            {busy ? 'Signing in…' : needsOtp ? 'Verify' : 'Sign in'}
          </Button>
        </Form>
        {!needsOtp && (
          <p>
            <AriaLink href="/forgot-password">Forgot password?</AriaLink>
          </p>
        )}
        <p>
          New here? <AriaLink href={`/signup${params.get("next") ? `?next=${encodeURIComponent(params.get("next")!)}` : ""}`}>Create an account</AriaLink>
        </p>
      </div>
    </main>
  );
}
