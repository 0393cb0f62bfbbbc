import { useState, type FormEvent } from 'react';
import { Form, Link as AriaLink } from 'react-aria-components';
import { useQuery, useQueryClient } from '@tanstack/react-query';
import { useNavigate, useSearchParams } from 'react-router';
import { api, ApiError, call } from '../api/client';
import { meKey } from '../app/session';
import { Button, ErrorMessage, Field } from '../ui/ui';

/** What a failed single sign-on brings back as ?sso_error=<code>. */
const SSO_ERRORS: Record<string, string> = {
  sso_failed: 'Single sign-on failed. Start it again; if it keeps failing, ask an administrator to look at the security events.',
  sso_not_provisioned: 'Your identity provider signed you in, but this instance has no account for you. Ask an administrator to invite you.',
  rate_limited: 'Too many sign-in attempts from this address; wait a moment and try again.',
};

/** "Sign in with <provider>" links: each starts the provider's flow, which comes back here only on failure. */
function SsoButtons({ next }: { next: string | null }) {
  const providers = useQuery({ queryKey: ['sso-providers'], queryFn: async () => call(api.GET('/v1/auth/sso/providers')), staleTime: 60_000 });
  if (providers.isPending) return <p className="muted" role="status">Loading sign-in options…</p>;
  if (providers.isError || providers.data.providers.length === 0) return null;
  const returnTo = next && next.startsWith('/') && !next.startsWith('//') ? `?returnTo=${encodeURIComponent(next)}` : '';
  return (
    <div className="stack sso-buttons">
      {providers.data.providers.map((p) => (
        <a key={p.slug} className="btn btn-secondary" href={`${p.startUrl}${returnTo}`}>
          Sign in with {p.name}
        </a>
      ))}
      <p className="sso-divider muted" aria-hidden="true">
        or
      </p>
    </div>
  );
}

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
  const ssoError = params.get('sso_error');
  const sso = useQuery({ queryKey: ['sso-providers'], queryFn: async () => call(api.GET('/v1/auth/sso/providers')), staleTime: 60_000 });
  const ssoOnly = sso.data?.ssoOnly ?? false;
  const [breakGlass, setBreakGlass] = useState(false);

  async function submit(e: FormEvent) {
    e.preventDefault();
    setBusy(true);
    setError(null);
    try {
      const { user } = await call(api.POST('/v1/auth/browser/login', { body: { email, password, ...(needsOtp ? { otp } : {}), ...(ssoOnly ? { breakGlass: true } : {}) } }));
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
        {ssoError && (
          <div role="alert" className="alert alert-error">
            <p>{SSO_ERRORS[ssoError] ?? 'Single sign-on failed. Start it again.'}</p>
          </div>
        )}
        <SsoButtons next={params.get('next')} />
        {ssoOnly && !breakGlass ? (
          <p className="muted">
            This instance signs in through single sign-on only.{' '}
            <button type="button" className="link-button" onClick={() => setBreakGlass(true)}>
              Platform administrator? Sign in with a password
            </button>
          </p>
        ) : (
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
        )}
        {!needsOtp && (!ssoOnly || breakGlass) && (
          <p>
            <AriaLink href="/forgot-password">Forgot password?</AriaLink>
          </p>
        )}
        {!ssoOnly && <p>
          New here? <AriaLink href={`/signup${params.get("next") ? `?next=${encodeURIComponent(params.get("next")!)}` : ""}`}>Create an account</AriaLink>
        </p>}
      </div>
    </main>
  );
}
