import { useState, type FormEvent } from 'react';
import { Form, ListBox, ListBoxItem, Popover, Select, SelectValue, Label, Button as AriaButton } from 'react-aria-components';
import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import { useParams } from 'react-router';
import { api, ApiError, call } from '../api/client';
import { useMe } from '../app/session';
import { Button, Card, Empty, ErrorMessage, Field, Loading, OnceSecret, Page } from '../ui/ui';
import { ROLES, type Role } from './roles';

function RolePicker({ label, value, onChange, isDisabled }: { label: string; value: Role; onChange: (r: Role) => void; isDisabled?: boolean }) {
  return (
    <Select className="select" selectedKey={value} onSelectionChange={(k) => onChange(k as Role)} isDisabled={isDisabled} aria-label={label}>
      <Label className="sr-only">{label}</Label>
      <AriaButton className="select-button">
        <SelectValue />
        <span aria-hidden="true">▾</span>
      </AriaButton>
      <Popover className="popover">
        <ListBox className="listbox">
          {ROLES.map((r) => (
            <ListBoxItem key={r} id={r} className="listbox-item">
              {r}
            </ListBoxItem>
          ))}
        </ListBox>
      </Popover>
    </Select>
  );
}

export default function Members() {
  const { workspaceId = '' } = useParams();
  const path = { params: { path: { workspaceId } } };
  const me = useMe();
  const queryClient = useQueryClient();
  const members = useQuery({ queryKey: ['members', workspaceId], queryFn: async () => (await call(api.GET('/v1/workspaces/{workspaceId}/members', path))).members });
  const invitations = useQuery({
    queryKey: ['invitations', workspaceId],
    queryFn: async () => (await call(api.GET('/v1/workspaces/{workspaceId}/invitations', path))).invitations,
    retry: false,
  });
  const refresh = () => queryClient.invalidateQueries({ queryKey: ['members', workspaceId] });
  const changeRole = useMutation({
    mutationFn: (v: { userId: string; role: Role }) =>
      call(api.PATCH('/v1/workspaces/{workspaceId}/members/{userId}', { params: { path: { workspaceId, userId: v.userId } }, body: { role: v.role } })),
    onSettled: refresh,
  });
  const remove = useMutation({
    mutationFn: (userId: string) => call(api.DELETE('/v1/workspaces/{workspaceId}/members/{userId}', { params: { path: { workspaceId, userId } } })),
    onSettled: refresh,
  });

  const [email, setEmail] = useState('');
  const [role, setRole] = useState<Role>('viewer');
  const [inviteLink, setInviteLink] = useState<string | null>(null);
  const [resent, setResent] = useState<string | null>(null);
  const invite = useMutation({
    mutationFn: () => call(api.POST('/v1/workspaces/{workspaceId}/invitations', { ...path, body: { email, role } })),
    onSuccess: (res) => {
      setInviteLink(`${location.origin}/invitations/accept?token=${encodeURIComponent(res.token)}`);
      setEmail('');
      void queryClient.invalidateQueries({ queryKey: ['invitations', workspaceId] });
    },
  });
  const revoke = useMutation({
    mutationFn: (invitationId: string) => call(api.DELETE('/v1/workspaces/{workspaceId}/invitations/{invitationId}', { params: { path: { workspaceId, invitationId } } })),
    onSettled: () => queryClient.invalidateQueries({ queryKey: ['invitations', workspaceId] }),
  });
  const resend = useMutation({
    mutationFn: (invitationId: string) => call(api.POST('/v1/workspaces/{workspaceId}/invitations/{invitationId}/resend', { params: { path: { workspaceId, invitationId } } })),
    onSuccess: (res) => {
      setResent(res.invitation.email);
      void queryClient.invalidateQueries({ queryKey: ['invitations', workspaceId] });
    },
  });
  const canManage = !(invitations.error instanceof ApiError && invitations.error.problem.status === 403);

  function submit(e: FormEvent) {
    e.preventDefault();
    setInviteLink(null);
    invite.mutate();
  }

  return (
    <Page title="Members">
      <Card title="Team">
        {members.isPending && <Loading />}
        {members.isError && <ErrorMessage error={members.error} />}
        <ErrorMessage error={changeRole.error ?? remove.error} />
        {members.data && (
          <table className="table">
            <caption className="sr-only">Members of this workspace</caption>
            <thead>
              <tr>
                <th scope="col">Name</th>
                <th scope="col">Email</th>
                <th scope="col">Role</th>
                <th scope="col">Personas</th>
                <th scope="col">MFA</th>
                <th scope="col">
                  <span className="sr-only">Actions</span>
                </th>
              </tr>
            </thead>
            <tbody>
              {members.data.map((m) => (
                <tr key={m.userId}>
                  <td>{m.name}</td>
                  <td>{m.email}</td>
                  <td>
                    {canManage ? (
                      <RolePicker label={`Role of ${m.name}`} value={m.role as Role} onChange={(r) => changeRole.mutate({ userId: m.userId, role: r })} />
                    ) : (
                      m.role
                    )}
                  </td>
                  <td>{m.personas.join(', ') || '—'}</td>
                  <td>{m.mfaEnabled ? 'on' : 'off'}</td>
                  <td>
                    {canManage && m.userId !== me.data?.id && (
                      <Button variant="danger" onPress={() => remove.mutate(m.userId)} aria-label={`Remove ${m.name}`}>
                        Remove
                      </Button>
                    )}
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        )}
      </Card>
      {canManage && (
        <Card title="Invite a teammate">
          <Form onSubmit={submit} className="row">
            <Field label="Email" type="email" name="invite-email" value={email} onChange={setEmail} isRequired error={invite.error instanceof ApiError ? invite.error.fieldError('email') : undefined} />
            <div className="field">
              <span className="label" id="invite-role-label">
                Role
              </span>
              <RolePicker label="Role of the invitee" value={role} onChange={setRole} />
            </div>
            <Button type="submit" isDisabled={invite.isPending}>
              Invite
            </Button>
          </Form>
          <ErrorMessage error={invite.error} />
          {inviteLink && <OnceSecret label="Invitation link" value={inviteLink} />}
          <h3>Pending invitations</h3>
          {resent && <p role="status">A new invitation link was mailed to {resent}; the previous link no longer works.</p>}
          <ErrorMessage error={resend.error ?? revoke.error} />
          {invitations.isPending && <Loading />}
          {invitations.data && invitations.data.filter((i) => i.status === 'pending').length === 0 && <Empty title="No pending invitations" />}
          <ul className="plain-list">
            {invitations.data
              ?.filter((i) => i.status === 'pending')
              .map((i) => (
                <li key={i.id}>
                  {i.email} as <strong>{i.role}</strong>, expires {new Date(i.expiresAt).toLocaleDateString()}{' '}
                  <Button variant="secondary" onPress={() => resend.mutate(i.id)} isDisabled={resend.isPending} aria-label={`Resend the invitation of ${i.email}`}>
                    Resend
                  </Button>{' '}
                  <Button variant="secondary" onPress={() => revoke.mutate(i.id)} aria-label={`Revoke the invitation of ${i.email}`}>
                    Revoke
                  </Button>
                </li>
              ))}
          </ul>
        </Card>
      )}
    </Page>
  );
}
