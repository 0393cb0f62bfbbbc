import { useEffect, useRef } from 'react';
import { useMutation, useQueryClient } from '@tanstack/react-query';
import { Link as AriaLink } from 'react-aria-components';
import { useSearchParams } from 'react-router';
import { api, call } from '../api/client';
import { meKey, useMe } from '../app/session';
import { Button, ErrorMessage, Loading } from '../ui/ui';

/**
 * The page a verification or email-change link opens: confirms the token once on arrival (no
 * session needed, the link may be opened on another device). Without a token, a signed-in user
 * with an unconfirmed address can ask for a new link.
 */
export default function VerifyEmail() {
  const [params] = useSearchParams();
  const token = params.get('token') ?? '';
  const queryClient = useQueryClient();
  const me = useMe();
  const verify = useMutation({
    mutationFn: () => call(api.POST('/v1/auth/email/verify', { body: { token } })),
    onSuccess: () => queryClient.invalidateQueries({ queryKey: meKey }),
  });
  const resend = useMutation({ mutationFn: () => call(api.POST('/v1/me/email/verification')) });
  const started = useRef(false);
  useEffect(() => {
    if (token && !started.current) {
      started.current = true;
      verify.mutate();
    }
  }, [token, verify]);

  const signedIn = Boolean(me.data);
  return (
    <main className="auth-page">
      <div className="card auth-card">
        <h1>Confirm your email address</h1>
        {token && verify.isPending && <Loading label="Confirming…" />}
        {verify.isSuccess && (
          <div role="status" className="alert alert-success">
            <p>
              {verify.data.purpose === 'email_change' ? 'Your email address is now' : 'Thank you: this address is confirmed,'} <strong>{verify.data.email}</strong>.
            </p>
          </div>
        )}
        <ErrorMessage error={verify.error} />
        {(!token || verify.isError) &&
          (signedIn && me.data && !me.data.emailVerified ? (
            <>
              <p>
                We can mail a new confirmation link to <strong>{me.data.email}</strong>.
              </p>
              {resend.isSuccess ? (
                <p role="status">{resend.data.detail}</p>
              ) : (
                <Button onPress={() => resend.mutate()} isDisabled={resend.isPending}>
                  {resend.isPending ? 'Sending…' : 'Send a new link'}
                </Button>
              )}
              <ErrorMessage error={resend.error} />
            </>
          ) : !signedIn ? (
            <p>Sign in to ask for a new confirmation link.</p>
          ) : null)}
        <p>
          <AriaLink href={signedIn ? '/' : '/signin'}>{signedIn ? 'Continue to v01t' : 'Sign in'}</AriaLink>
        </p>
      </div>
    </main>
  );
}
