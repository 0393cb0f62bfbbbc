import { lazy, Suspense, type ReactNode } from 'react';
import { QueryClient, QueryClientProvider } from '@tanstack/react-query';
import { createBrowserRouter, Navigate, Outlet, RouterProvider, useHref, useLocation, useNavigate, type NavigateOptions } from 'react-router';
import { RouterProvider as AriaRouterProvider } from 'react-aria-components';
import { ApiError } from '../api/client';
import { ErrorMessage, Loading } from '../ui/ui';
import { useMe, useWorkspaces } from './session';
import { Layout } from './Layout';

declare module 'react-aria-components' {
  interface RouterConfig {
    routerOptions: NavigateOptions;
  }
}

// Every screen is its own chunk: the shell loads only what the first screen needs.
const SignIn = lazy(() => import('../auth/SignIn'));
const SignUp = lazy(() => import('../auth/SignUp'));
const ForgotPassword = lazy(() => import('../auth/ForgotPassword'));
const ResetPassword = lazy(() => import('../auth/ResetPassword'));
const VerifyEmail = lazy(() => import('../auth/VerifyEmail'));
const AcceptInvitation = lazy(() => import('../workspaces/AcceptInvitation'));
const NewWorkspace = lazy(() => import('../workspaces/NewWorkspace'));
const Members = lazy(() => import('../workspaces/Members'));
const WorkspaceSettings = lazy(() => import('../workspaces/WorkspaceSettings'));
const AuditLog = lazy(() => import('../audit/AuditLog'));
const Account = lazy(() => import('../account/Account'));
const WorkflowList = lazy(() => import('../workflows/WorkflowList'));
const NewWorkflow = lazy(() => import('../workflows/NewWorkflow'));
const WorkflowEditor = lazy(() => import('../workflows/WorkflowEditor'));
const RunsList = lazy(() => import('../runs/RunsList'));
const RunPage = lazy(() => import('../runs/RunPage'));
const Approvals = lazy(() => import('../runs/Approvals'));
const Connections = lazy(() => import('../connections/Connections'));
const NewConnection = lazy(() => import('../connections/NewConnection'));
const ConnectionPage = lazy(() => import('../connections/ConnectionPage'));
// issue 16: content + homes
const Home = lazy(() => import('../homes/Home'));
const ContentCalendar = lazy(() => import('../content/Calendar'));
const Compose = lazy(() => import('../content/Compose'));
const PostPage = lazy(() => import('../content/PostPage'));
const Campaigns = lazy(() => import('../content/Campaigns'));
const Channels = lazy(() => import('../content/Channels'));
// end issue 16: content + homes
// issue 16: analytics
const AnalyticsOverview = lazy(() => import('../analytics/Overview'));
const AnalyticsExplore = lazy(() => import('../analytics/Explore'));
const AnalyticsDashboards = lazy(() => import('../analytics/Dashboards'));
const AnalyticsDashboard = lazy(() => import('../analytics/DashboardPage'));
const AnalyticsWriteKeys = lazy(() => import('../analytics/WriteKeys'));
// end issue 16: analytics
// issue 16: gamification + operations
const Gamification = lazy(() => import('../gamification/Gamification'));
const Operations = lazy(() => import('../operations/Operations'));
const IncidentPage = lazy(() => import('../operations/IncidentPage'));
// end issue 16: gamification + operations

const queryClient = new QueryClient({
  defaultOptions: {
    queries: {
      // A 4xx will not get better by asking again; network errors and 5xx are retried with backoff.
      retry: (count, err) => !(err instanceof ApiError && err.problem.status < 500) && count < 3,
      refetchOnWindowFocus: false,
    },
  },
});

/** React Aria's links and buttons navigate through the router, keeping client-side transitions. */
function AriaRouting({ children }: { children: ReactNode }) {
  const navigate = useNavigate();
  return (
    <AriaRouterProvider navigate={(to, options) => void navigate(to, options)} useHref={useHref}>
      {children}
    </AriaRouterProvider>
  );
}

function Root() {
  return (
    <AriaRouting>
      <Suspense fallback={<Loading />}>
        <Outlet />
      </Suspense>
    </AriaRouting>
  );
}

/** Screens behind sign-in: without a session the browser goes to /signin and comes back after. */
function RequireSession() {
  const me = useMe();
  const location = useLocation();
  if (me.isPending) return <Loading />;
  if (me.isError) return <ErrorMessage error={me.error} />;
  if (!me.data) return <Navigate to={`/signin?next=${encodeURIComponent(location.pathname + location.search)}`} replace />;
  return (
    <Layout user={me.data}>
      <Suspense fallback={<Loading />}>
        <Outlet />
      </Suspense>
    </Layout>
  );
}

/** `/`: the first workspace's home, or the creation of a first workspace. */
function Start() {
  const workspaces = useWorkspaces();
  if (workspaces.isPending) return <Loading />;
  if (workspaces.isError) return <ErrorMessage error={workspaces.error} />;
  const first = workspaces.data[0];
  return <Navigate to={first ? `/w/${first.id}` : '/workspaces/new'} replace />;
}

function NotFound() {
  return (
    <main className="auth-page">
      <div className="card auth-card">
        <h1>Page not found</h1>
        <p>
          <a href="/">Back to v01t</a>
        </p>
      </div>
    </main>
  );
}

const router = createBrowserRouter([
  {
    element: <Root />,
    children: [
      { path: '/signin', element: <SignIn /> },
      { path: '/signup', element: <SignUp /> },
      { path: '/forgot-password', element: <ForgotPassword /> },
      { path: '/reset-password', element: <ResetPassword /> },
      { path: '/verify-email', element: <VerifyEmail /> },
      {
        element: <RequireSession />,
        children: [
          { path: '/', element: <Start /> },
          { path: '/invitations/accept', element: <AcceptInvitation /> },
          { path: '/workspaces/new', element: <NewWorkspace /> },
          { path: '/account', element: <Account /> },
          { path: '/w/:workspaceId', element: <Home /> },
          { path: '/w/:workspaceId/members', element: <Members /> },
          { path: '/w/:workspaceId/settings', element: <WorkspaceSettings /> },
          { path: '/w/:workspaceId/audit', element: <AuditLog /> },
          { path: '/w/:workspaceId/workflows', element: <WorkflowList /> },
          { path: '/w/:workspaceId/workflows/new', element: <NewWorkflow /> },
          { path: '/w/:workspaceId/workflows/:workflowId', element: <WorkflowEditor /> },
          { path: '/w/:workspaceId/runs', element: <RunsList /> },
          { path: '/w/:workspaceId/runs/:runId', element: <RunPage /> },
          { path: '/w/:workspaceId/approvals', element: <Approvals /> },
          { path: '/w/:workspaceId/connections', element: <Connections /> },
          { path: '/w/:workspaceId/connections/new/:connectorId', element: <NewConnection /> },
          { path: '/w/:workspaceId/connections/:connectionId', element: <ConnectionPage /> },
          // issue 16: content + homes
          { path: '/w/:workspaceId/content', element: <ContentCalendar /> },
          { path: '/w/:workspaceId/content/compose', element: <Compose /> },
          { path: '/w/:workspaceId/content/posts/:postId', element: <PostPage /> },
          { path: '/w/:workspaceId/content/posts/:postId/edit', element: <Compose /> },
          { path: '/w/:workspaceId/content/campaigns', element: <Campaigns /> },
          { path: '/w/:workspaceId/content/channels', element: <Channels /> },
          // end issue 16: content + homes
          // issue 16: analytics
          { path: '/w/:workspaceId/analytics', element: <AnalyticsOverview /> },
          { path: '/w/:workspaceId/analytics/explore', element: <AnalyticsExplore /> },
          { path: '/w/:workspaceId/analytics/dashboards', element: <AnalyticsDashboards /> },
          { path: '/w/:workspaceId/analytics/dashboards/:dashboardId', element: <AnalyticsDashboard /> },
          { path: '/w/:workspaceId/analytics/write-keys', element: <AnalyticsWriteKeys /> },
          // end issue 16: analytics
          // issue 16: gamification + operations
          { path: '/w/:workspaceId/progress', element: <Gamification /> },
          { path: '/operations', element: <Operations /> },
          { path: '/operations/incidents/:incidentId', element: <IncidentPage /> },
          // end issue 16: gamification + operations
        ],
      },
      { path: '*', element: <NotFound /> },
    ],
  },
]);

export function App() {
  return (
    <QueryClientProvider client={queryClient}>
      <RouterProvider router={router} />
    </QueryClientProvider>
  );
}
