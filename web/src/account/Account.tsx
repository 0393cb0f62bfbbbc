import { useState, type FormEvent } from 'react';
import { Dialog, DialogTrigger, Form, Heading, Modal, Radio, RadioGroup, Label } from 'react-aria-components';
import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import { useNavigate } from 'react-router';
import QRCode from 'qrcode';
import { api, ApiError, call } from '../api/client';
import { meKey, useMe } from '../app/session';
import { Button, Card, Empty, ErrorMessage, Field, Loading, OnceSecret, Page } from '../ui/ui';

function fieldError(err: unknown, field: string) {
  return err instanceof ApiError ? err.fieldError(field) : undefined;
}

function Profile({ name: initial }: { name: string }) {
  const [name, setName] = useState(initial);
  const queryClient = useQueryClient();
  const save = useMutation({ mutationFn: () => call(api.PATCH('/v1/me', { body: { name } })), onSuccess: () => queryClient.invalidateQueries({ queryKey: meKey }) });
  return (
    <Card title="Profile">
      <Form
        className="row"
        onSubmit={(e: FormEvent) => {
          e.preventDefault();
          save.mutate();
        }}
      >
        <Field label="Name" value={name} onChange={setName} isRequired error={fieldError(save.error, 'name')} />
        <Button type="submit" isDisabled={save.isPending}>
          Save
        </Button>
        {save.isSuccess && <span role="status">Saved.</span>}
      </Form>
      <ErrorMessage error={save.error} />
    </Card>
  );
}

/** The address, whether it is confirmed, and a change confirmed from the new address (ADR 0040). */
function EmailAddress({ email, verified }: { email: string; verified: boolean }) {
  const [next, setNext] = useState('');
  const [password, setPassword] = useState('');
  const resend = useMutation({ mutationFn: () => call(api.POST('/v1/me/email/verification')) });
  const change = useMutation({
    mutationFn: () => call(api.POST('/v1/me/email', { body: { email: next, password } })),
    onSuccess: () => setPassword(''),
  });
  return (
    <Card title="Email address">
      <p>
        <strong>{email}</strong> {verified ? '(confirmed)' : '(not confirmed yet)'}
      </p>
      {!verified &&
        (resend.isSuccess ? (
          <p role="status">{resend.data.detail}</p>
        ) : (
          <Button variant="secondary" onPress={() => resend.mutate()} isDisabled={resend.isPending}>
            Send a new confirmation link
          </Button>
        ))}
      <ErrorMessage error={resend.error} />
      <Form
        className="stack"
        onSubmit={(e: FormEvent) => {
          e.preventDefault();
          change.mutate();
        }}
      >
        <Field label="New email address" type="email" autoComplete="email" value={next} onChange={setNext} isRequired error={fieldError(change.error, 'email')} />
        <Field label="Your password, to confirm" type="password" autoComplete="current-password" value={password} onChange={setPassword} isRequired />
        <ErrorMessage error={change.error} />
        <Button type="submit" isDisabled={change.isPending}>
          Change email address
        </Button>
        {change.isSuccess && <p role="status">{change.data.detail} Your current address keeps working until then.</p>}
      </Form>
    </Card>
  );
}

function Password() {
  const [currentPassword, setCurrent] = useState('');
  const [newPassword, setNew] = useState('');
  const change = useMutation({
    mutationFn: () => call(api.POST('/v1/me/password', { body: { currentPassword, newPassword } })),
    onSuccess: () => {
      setCurrent('');
      setNew('');
    },
  });
  return (
    <Card title="Password">
      <Form
        className="stack"
        onSubmit={(e: FormEvent) => {
          e.preventDefault();
          change.mutate();
        }}
      >
        <Field label="Current password" type="password" autoComplete="current-password" value={currentPassword} onChange={setCurrent} isRequired />
        <Field label="New password" type="password" autoComplete="new-password" value={newPassword} onChange={setNew} isRequired error={fieldError(change.error, 'newPassword')} />
        <ErrorMessage error={change.error} />
        <Button type="submit" isDisabled={change.isPending}>
          Change password
        </Button>
        {change.isSuccess && <p role="status">Password changed. Your other sessions and API tokens were signed out.</p>}
      </Form>
    </Card>
  );
}

function Mfa({ enabled }: { enabled: boolean }) {
  const queryClient = useQueryClient();
  const [enrolment, setEnrolment] = useState<{ secret: string; qr: string } | null>(null);
  const [code, setCode] = useState('');
  const [recoveryCodes, setRecoveryCodes] = useState<string[] | null>(null);
  const begin = useMutation({
    mutationFn: () => call(api.POST('/v1/auth/mfa/totp')),
    onSuccess: async (res) => setEnrolment({ secret: res.secret, qr: await QRCode.toDataURL(res.otpauthUrl, { margin: 1, width: 200 }) }),
  });
  const done = (res: { recoveryCodes: string[] }) => {
    setRecoveryCodes(res.recoveryCodes);
    setEnrolment(null);
    setCode('');
    void queryClient.invalidateQueries({ queryKey: meKey });
  };
  const confirm = useMutation({ mutationFn: () => call(api.POST('/v1/auth/mfa/totp/confirm', { body: { otp: code } })), onSuccess: done });
  const regenerate = useMutation({ mutationFn: () => call(api.POST('/v1/auth/mfa/recovery-codes', { body: { otp: code } })), onSuccess: done });
  const disable = useMutation({
    mutationFn: () => call(api.POST('/v1/auth/mfa/totp/disable', { body: { otp: code } })),
    onSuccess: () => {
      setCode('');
      setRecoveryCodes(null);
      void queryClient.invalidateQueries({ queryKey: meKey });
    },
  });
  const error = begin.error ?? confirm.error ?? regenerate.error ?? disable.error;
  return (
    <Card title="Two-factor authentication">
      <p>
        Status: <strong>{enabled ? 'on' : 'off'}</strong>
      </p>
      {recoveryCodes && (
        <div className="alert alert-success" role="status">
          <strong>Recovery codes</strong>
          <p>Each works once if you lose your authenticator. Store them now: they will not be shown again.</p>
          <ul className="codes">
            {recoveryCodes.map((c) => (
              <li key={c}>
                <code>{c}</code>
              </li>
            ))}
          </ul>
        </div>
      )}
      {!enabled && !enrolment && (
        <Button onPress={() => begin.mutate()} isDisabled={begin.isPending}>
          Set up an authenticator app
        </Button>
      )}
      {enrolment && (
        <div className="stack">
          <p>Scan this code with your authenticator app, or enter the secret by hand, then type the 6-digit code it shows.</p>
          <img src={enrolment.qr} width={200} height={200} alt="QR code for your authenticator app" />
          <p>
            Secret: <code className="secret" data-testid="totp-secret">{enrolment.secret}</code>
          </p>
          <Field label="Code from the app" autoComplete="one-time-code" value={code} onChange={setCode} isRequired />
          <Button onPress={() => confirm.mutate()} isDisabled={confirm.isPending}>
            Turn on
          </Button>
        </div>
      )}
      {enabled && (
        <div className="row">
          <Field label="Current code" description="From your app, or a recovery code" autoComplete="one-time-code" value={code} onChange={setCode} />
          <Button variant="secondary" onPress={() => regenerate.mutate()} isDisabled={!code || regenerate.isPending}>
            New recovery codes
          </Button>
          <Button variant="danger" onPress={() => disable.mutate()} isDisabled={!code || disable.isPending}>
            Turn off
          </Button>
        </div>
      )}
      <ErrorMessage error={error} />
    </Card>
  );
}

const SCOPE_PRESETS = [
  { id: 'read', label: 'Read everything (read)' },
  { id: '*', label: 'Full access (*)' },
  { id: 'account.read', label: 'Read my account (account.read)' },
];

function Tokens() {
  const queryClient = useQueryClient();
  const tokens = useQuery({ queryKey: ['tokens'], queryFn: async () => (await call(api.GET('/v1/me/tokens'))).tokens });
  const [name, setName] = useState('');
  const [scope, setScope] = useState('read');
  const [days, setDays] = useState('90');
  const [created, setCreated] = useState<string | null>(null);
  const create = useMutation({
    mutationFn: () => call(api.POST('/v1/me/tokens', { body: { name, scopes: [scope], expiresInDays: Number(days) } })),
    onSuccess: (res) => {
      setCreated(res.token);
      setName('');
      void queryClient.invalidateQueries({ queryKey: ['tokens'] });
    },
  });
  const revoke = useMutation({
    mutationFn: (tokenId: string) => call(api.DELETE('/v1/me/tokens/{tokenId}', { params: { path: { tokenId } } })),
    onSettled: () => queryClient.invalidateQueries({ queryKey: ['tokens'] }),
  });
  const live = tokens.data?.filter((t) => !t.revoked) ?? [];
  return (
    <Card title="Personal API tokens">
      <Form
        className="row"
        onSubmit={(e: FormEvent) => {
          e.preventDefault();
          setCreated(null);
          create.mutate();
        }}
      >
        <Field label="Token name" value={name} onChange={setName} isRequired error={fieldError(create.error, 'name')} />
        <RadioGroup value={scope} onChange={setScope} className="radio-group">
          <Label>Scope</Label>
          {SCOPE_PRESETS.map((s) => (
            <Radio key={s.id} value={s.id} className="radio">
              {s.label}
            </Radio>
          ))}
        </RadioGroup>
        <Field label="Expires in (days)" type="number" value={days} onChange={setDays} error={fieldError(create.error, 'expiresInDays')} />
        <Button type="submit" isDisabled={create.isPending}>
          Create token
        </Button>
      </Form>
      <ErrorMessage error={create.error ?? revoke.error} />
      {created && <OnceSecret label="Your new token" value={created} />}
      {tokens.isPending && <Loading />}
      {tokens.isError && <ErrorMessage error={tokens.error} />}
      {tokens.isSuccess && live.length === 0 && <Empty title="No tokens yet">Create one to call the API from scripts.</Empty>}
      {live.length > 0 && (
        <table className="table">
          <caption className="sr-only">Your API tokens</caption>
          <thead>
            <tr>
              <th scope="col">Name</th>
              <th scope="col">Scopes</th>
              <th scope="col">Expires</th>
              <th scope="col">Last used</th>
              <th scope="col">
                <span className="sr-only">Actions</span>
              </th>
            </tr>
          </thead>
          <tbody>
            {live.map((t) => (
              <tr key={t.id}>
                <td>{t.name}</td>
                <td>{t.scopes.join(', ')}</td>
                <td>{t.expiresAt ? new Date(t.expiresAt).toLocaleDateString() : 'never'}</td>
                <td>{t.lastUsedAt ? new Date(t.lastUsedAt).toLocaleString() : 'never'}</td>
                <td>
                  <Button variant="danger" onPress={() => revoke.mutate(t.id)} aria-label={`Revoke ${t.name}`}>
                    Revoke
                  </Button>
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </Card>
  );
}

const REQUEST_KIND: Record<string, string> = {
  access: 'Copy of my data',
  erasure: 'Account deletion',
  rectification: 'Correction',
  restriction: 'Restriction of processing',
  objection: 'Objection to processing',
};

/** The user's data subject requests (the register, ADR 0064) and a form for what an operator answers. */
function MyRequests() {
  const queryClient = useQueryClient();
  const requests = useQuery({ queryKey: ['me', 'gdpr-requests'], queryFn: () => call(api.GET('/v1/me/gdpr-requests')) });
  const [kind, setKind] = useState<'rectification' | 'restriction' | 'objection'>('rectification');
  const [details, setDetails] = useState('');
  const ask = useMutation({
    mutationFn: () => call(api.POST('/v1/me/gdpr-requests', { body: { kind, details } })),
    onSuccess: () => {
      setDetails('');
      void queryClient.invalidateQueries({ queryKey: ['me', 'gdpr-requests'] });
    },
  });
  return (
    <Card title="Your privacy requests">
      <p>Ask us to correct your data, to restrict its processing, or object to it: we answer within one month (GDPR art. 16, 18, 21).</p>
      <Form
        className="stack"
        aria-label="Privacy request"
        onSubmit={(e: FormEvent) => {
          e.preventDefault();
          ask.mutate();
        }}
      >
        <RadioGroup value={kind} onChange={(v) => setKind(v as typeof kind)} className="row">
          <Label>Request</Label>
          <Radio value="rectification">Correct my data</Radio>
          <Radio value="restriction">Restrict processing</Radio>
          <Radio value="objection">Object to processing</Radio>
        </RadioGroup>
        <Field label="What should we do?" value={details} onChange={setDetails} isRequired error={fieldError(ask.error, 'details')} />
        <div className="row">
          <Button type="submit" variant="secondary" isDisabled={ask.isPending}>
            Send request
          </Button>
          {ask.isSuccess && <span role="status">Request sent: due {new Date(ask.data.request.dueAt).toLocaleDateString()}.</span>}
        </div>
        <ErrorMessage error={ask.error} />
      </Form>
      {requests.isPending && <Loading />}
      {requests.isError && <ErrorMessage error={requests.error} />}
      {requests.data && requests.data.requests.length > 0 && (
        <table className="table" aria-label="Your privacy requests">
          <thead>
            <tr>
              <th>Request</th>
              <th>Made</th>
              <th>Answer due</th>
              <th>Status</th>
            </tr>
          </thead>
          <tbody>
            {requests.data.requests.map((r) => (
              <tr key={r.id}>
                <td>{REQUEST_KIND[r.kind] ?? r.kind}</td>
                <td>{new Date(r.receivedAt).toLocaleDateString()}</td>
                <td>{new Date(r.dueAt).toLocaleDateString()}</td>
                <td>
                  {r.status.replace('_', ' ')}
                  {r.refusalReason && <div className="small muted">{r.refusalReason}</div>}
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </Card>
  );
}

function MyData() {
  const navigate = useNavigate();
  const queryClient = useQueryClient();
  const [password, setPassword] = useState('');
  const exportData = useMutation({
    mutationFn: () => call(api.GET('/v1/me/export')),
    onSuccess: (data) => {
      // The export is recorded as a completed request: show it in the list.
      void queryClient.invalidateQueries({ queryKey: ['me', 'gdpr-requests'] });
      const url = URL.createObjectURL(new Blob([JSON.stringify(data, null, 2)], { type: 'application/json' }));
      const a = document.createElement('a');
      a.href = url;
      a.download = `v01t-my-data-${new Date().toISOString().slice(0, 10)}.json`;
      a.click();
      URL.revokeObjectURL(url);
    },
  });
  const erase = useMutation({
    mutationFn: () => call(api.DELETE('/v1/me', { body: { password } })),
    onSuccess: () => {
      queryClient.clear();
      navigate('/signin', { replace: true });
    },
  });
  return (
    <Card title="Your data">
      <p>Download everything v01t keeps about you in every service (GDPR art. 15 and 20). Each download and a deletion are recorded in our register of privacy requests.</p>
      <Button variant="secondary" onPress={() => exportData.mutate()} isDisabled={exportData.isPending}>
        {exportData.isPending ? 'Preparing…' : 'Download my data'}
      </Button>
      <ErrorMessage error={exportData.error} />
      <DialogTrigger>
        <Button variant="danger">Delete my account…</Button>
        <Modal className="modal-overlay" isDismissable>
          <Dialog className="modal">
            {({ close }) => (
              <Form
                className="stack"
                onSubmit={(e: FormEvent) => {
                  e.preventDefault();
                  erase.mutate();
                }}
              >
                <Heading slot="title">Delete your account?</Heading>
                <p>Your account and your personal data in every service are erased. This cannot be undone.</p>
                <Field label="Your password" type="password" autoComplete="current-password" value={password} onChange={setPassword} isRequired autoFocus />
                <ErrorMessage error={erase.error} />
                <div className="row">
                  <Button variant="secondary" onPress={close}>
                    Cancel
                  </Button>
                  <Button variant="danger" type="submit" isDisabled={erase.isPending}>
                    Delete for good
                  </Button>
                </div>
              </Form>
            )}
          </Dialog>
        </Modal>
      </DialogTrigger>
    </Card>
  );
}

export default function Account() {
  const me = useMe();
  if (me.isPending) return <Loading />;
  if (me.isError || !me.data) return <ErrorMessage error={me.error} />;
  return (
    <Page title="Your account">
      <Profile name={me.data.name} />
      <EmailAddress email={me.data.email} verified={me.data.emailVerified} />
      <Mfa enabled={me.data.mfaEnabled} />
      <Password />
      <Tokens />
      <MyData />
      <MyRequests />
    </Page>
  );
}
