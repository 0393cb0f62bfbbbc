import { useEffect, useState, type ReactNode } from 'react';
import { Button as AriaButton, Link, ListBox, ListBoxItem, Popover, Select, SelectValue, Label } from 'react-aria-components';
import { useQuery, useQueryClient } from '@tanstack/react-query';
import { useNavigate, useParams } from 'react-router';
import { api, call } from '../api/client';
import { useWorkspaces } from './session';

type Theme = 'light' | 'dark';

function useTheme(): [Theme, (t: Theme) => void] {
  const initial = (localStorage.getItem('v01t.theme') as Theme | null) ?? (matchMedia('(prefers-color-scheme: dark)').matches ? 'dark' : 'light');
  const [theme, setTheme] = useState<Theme>(initial);
  useEffect(() => {
    document.documentElement.dataset.theme = theme;
    localStorage.setItem('v01t.theme', theme);
  }, [theme]);
  return [theme, setTheme];
}

export function Layout({ user, children }: { user: { name: string; email: string; emailVerified?: boolean; platformAdmin?: boolean }; children: ReactNode }) {
  const { workspaceId } = useParams();
  const workspaces = useWorkspaces();
  const navigate = useNavigate();
  const queryClient = useQueryClient();
  const [theme, setTheme] = useTheme();
  const current = workspaces.data?.find((w) => w.id === workspaceId);
  // issue 16: gamification + operations — operators (members of the ops workspace) see the console too: asked once per session.
  const operator = useQuery({ queryKey: ['ops', 'access'], queryFn: () => call(api.GET('/v1/ops/responders')), retry: false, staleTime: Infinity, enabled: !user.platformAdmin });

  async function signOut() {
    await call(api.POST('/v1/auth/browser/logout'));
    queryClient.clear();
    navigate('/signin', { replace: true });
  }

  return (
    <div className="shell">
      <a className="skip-link" href="#main">
        Skip to content
      </a>
      <header className="topbar">
        <Link href="/" className="brand" aria-label="v01t home">
          v01t
        </Link>
        <Select
          className="workspace-switcher"
          aria-label="Workspace"
          placeholder="Choose a workspace"
          selectedKey={workspaceId ?? null}
          onSelectionChange={(key) => (key === '__new' ? navigate('/workspaces/new') : navigate(`/w/${String(key)}`))}
        >
          <Label className="sr-only">Workspace</Label>
          <AriaButton className="select-button">
            <SelectValue />
            <span aria-hidden="true">▾</span>
          </AriaButton>
          <Popover className="popover">
            <ListBox className="listbox">
              {(workspaces.data ?? []).map((w) => (
                <ListBoxItem key={w.id} id={w.id} className="listbox-item" textValue={w.name}>
                  {w.name}
                </ListBoxItem>
              ))}
              <ListBoxItem id="__new" className="listbox-item" textValue="New workspace">
                + New workspace
              </ListBoxItem>
            </ListBox>
          </Popover>
        </Select>
        <nav aria-label="Main" className="nav">
          {current && (
            <>
              <Link href={`/w/${current.id}`}>Home</Link>
              <Link href={`/w/${current.id}/workflows`}>Workflows</Link>
              <Link href={`/w/${current.id}/runs`}>Runs</Link>
              <Link href={`/w/${current.id}/approvals`}>Approvals</Link>
              <Link href={`/w/${current.id}/connections`}>Connections</Link>
              {/* issue 16: content + homes */}
              <Link href={`/w/${current.id}/content`}>Calendar</Link>
              {/* end issue 16: content + homes */}
              {/* issue 16: analytics */}
              <Link href={`/w/${current.id}/analytics`}>Analytics</Link>
              <Link href={`/w/${current.id}/members`}>Members</Link>
              <Link href={`/w/${current.id}/audit`}>Audit log</Link>
              <Link href={`/w/${current.id}/settings`}>Settings</Link>
              {/* issue 16: gamification + operations */}
              <Link href={`/w/${current.id}/progress`}>Progress</Link>
            </>
          )}
          {/* issue 16: gamification + operations */}
          {(user.platformAdmin || operator.isSuccess) && <Link href="/operations">Operations</Link>}
        </nav>
        <div className="topbar-end">
          <AriaButton className="btn btn-secondary" onPress={() => setTheme(theme === 'dark' ? 'light' : 'dark')} aria-label={`Switch to ${theme === 'dark' ? 'light' : 'dark'} theme`}>
            {theme === 'dark' ? '☀' : '☾'}
          </AriaButton>
          <Link href="/account" className="user-link">
            {user.name}
          </Link>
          <AriaButton className="btn btn-secondary" onPress={() => void signOut()}>
            Sign out
          </AriaButton>
        </div>
      </header>
      <main id="main" className="main">
        {user.emailVerified === false && (
          <div role="status" className="alert alert-warning verify-banner">
            <p>
              Please confirm your email address, <strong>{user.email}</strong>: follow the link we mailed you. <Link href="/verify-email">Send a new link</Link>
            </p>
          </div>
        )}
        {children}
      </main>
    </div>
  );
}
