import { useMutation, useQueryClient } from '@tanstack/react-query';
import { useNavigate, useSearchParams } from 'react-router';
import { api, call } from '../api/client';
import { useMe, workspacesKey } from '../app/session';
import { Button, Card, ErrorMessage, Page } from '../ui/ui';

/** The page an invitation link opens: signed in as the invited address, one press joins the workspace. */
export default function AcceptInvitation() {
  const [params] = useSearchParams();
  const token = params.get('token') ?? '';
  const me = useMe();
  const navigate = useNavigate();
  const queryClient = useQueryClient();
  const accept = useMutation({
    mutationFn: () => call(api.POST('/v1/invitations/accept', { body: { token } })),
    onSuccess: async ({ workspace }) => {
      await queryClient.invalidateQueries({ queryKey: workspacesKey });
      navigate(`/w/${workspace.id}`);
    },
  });
  return (
    <Page title="Join a workspace">
      <Card>
        {!token ? (
          <p>This link has no invitation token. Ask the person who invited you for a new link.</p>
        ) : (
          <>
            <p>
              You were invited to a workspace. The invitation must be for your address, <strong>{me.data?.email}</strong>.
            </p>
            <ErrorMessage error={accept.error} />
            <Button onPress={() => accept.mutate()} isDisabled={accept.isPending}>
              Accept the invitation
            </Button>
          </>
        )}
      </Card>
    </Page>
  );
}
