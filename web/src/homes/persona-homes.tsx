import type { ReactNode } from 'react';
import { Link } from 'react-aria-components';
import { useQuery } from '@tanstack/react-query';
import { api, ApiError, call } from '../api/client';
import { Card, Empty, ErrorMessage, Loading } from '../ui/ui';
import { browserZone, ContentStatus, useCampaigns, useCalendar, usePosts, wallTime } from '../content/api';
import { Bar } from '../content/ContentNav';
// One rendering of the runbook KPIs, coloured by the same thresholds as the analytics overview.
import { KpiTiles } from '../analytics/Overview';

// Light homes: tiles, lists and progress bars from the existing APIs, no charting library.

type Tone = 'ok' | 'warning' | 'critical' | 'none';

function Tile({ label, value, detail, tone = 'none', testId }: { label: string; value: ReactNode; detail?: ReactNode; tone?: Tone; testId?: string }) {
  return (
    <div className={`home-tile home-tone-${tone}`} data-testid={testId}>
      <span className="home-tile-label">{label}</span>
      <span className="home-tile-value">{value}</span>
      {detail && <span className="home-tile-detail">{detail}</span>}
      {tone !== 'none' && <span className="sr-only">Status: {tone}</span>}
    </div>
  );
}

/** A 403 is a fact about the member's role, not an error to alarm them with. */
function Restricted({ error, what }: { error: unknown; what: string }) {
  if (error instanceof ApiError && error.problem.status === 403) return <p className="muted">{what} visible to platform operators and admins only.</p>;
  return <ErrorMessage error={error} />;
}

function useIncidents() {
  return useQuery({ queryKey: ['home', 'incidents'], queryFn: async () => (await call(api.GET('/v1/ops/incidents', { params: { query: { status: 'active', limit: 5 } } }))).incidents, retry: false });
}

function useDeployments() {
  return useQuery({ queryKey: ['home', 'deployments'], queryFn: () => call(api.GET('/v1/ops/deployments', { params: { query: { limit: 5 } } })), retry: false });
}

function Incidents() {
  const incidents = useIncidents();
  return (
    <Card title="Open incidents">
      {incidents.isPending && <Loading />}
      {incidents.isError && <Restricted error={incidents.error} what="Incidents are" />}
      {incidents.isSuccess && incidents.data.length === 0 && <p className="home-good">No open incident.</p>}
      <ul className="plain-list">
        {incidents.data?.map((i) => (
          <li key={i.id}>
            <span className={`home-sev home-sev-${i.severityLevel}`}>{i.severity}</span> #{i.number} {i.title} · <span className="muted">{i.status}</span>
            {i.overdue && <strong className="home-overdue"> · response overdue</strong>}
          </li>
        ))}
      </ul>
    </Card>
  );
}

function Deployments() {
  const deployments = useDeployments();
  return (
    <Card title="Recent deployments">
      {deployments.isPending && <Loading />}
      {deployments.isError && <Restricted error={deployments.error} what="Deployment history is" />}
      {deployments.isSuccess && deployments.data.deployments.length === 0 && <p className="muted">No deployment recorded yet.</p>}
      {deployments.data?.environments.map((e) => (
        <Bar key={e.environment} label={`${e.environment} success rate (${Math.round(e.successRate * 100)} %)`} value={e.success} max={e.total} tone="published" />
      ))}
      <ul className="plain-list">
        {deployments.data?.deployments.map((d) => (
          <li key={d.id}>
            <code>{d.version}</code> → {d.environment} · <span className={`home-result home-result-${d.result}`}>{d.result}</span> · <span className="muted">{new Date(d.recordedAt).toLocaleString()}</span>
          </li>
        ))}
      </ul>
    </Card>
  );
}

export function FounderHome({ workspaceId }: { workspaceId: string }) {
  return (
    <div className="stack">
      <KpiTiles workspaceId={workspaceId} />
      <div className="home-columns">
        <Incidents />
        <Deployments />
      </div>
    </div>
  );
}

export function CreatorHome({ workspaceId }: { workspaceId: string }) {
  const tz = localStorage.getItem('v01t.calendar.tz') ?? browserZone();
  const today = wallTime(new Date(), tz).slice(0, 10);
  const end = new Date(Date.parse(`${today}T00:00:00Z`) + 6 * 86_400_000).toISOString().slice(0, 10);
  const week = useCalendar(workspaceId, today, end, tz);
  const posts = usePosts(workspaceId, { status: 'scheduled', limit: 50 });
  const campaigns = useCampaigns(workspaceId);
  const published = (posts.data ?? [])
    .flatMap((p) => p.targets.filter((t) => t.status === 'published').map((t) => ({ post: p, at: t.publishedAt ?? t.dueAt, url: t.url })))
    .sort((a, b) => b.at.localeCompare(a.at))
    .slice(0, 5);
  return (
    <div className="stack">
      <Card title="This week">
        {week.isPending && <Loading />}
        {week.isError && <ErrorMessage error={week.error} />}
        <ol className="home-week" aria-label={`The next seven days in ${tz}`}>
          {week.data?.days.map((d) => (
            <li key={d.date} className="home-day">
              <span className="home-day-name">{new Date(`${d.date}T12:00:00Z`).toLocaleDateString(undefined, { weekday: 'short', day: 'numeric', timeZone: 'UTC' })}</span>
              {d.posts.length === 0 && <span className="muted home-day-empty">—</span>}
              {d.posts.map((p) => (
                <Link key={`${p.postId}-${p.at}`} href={`/w/${workspaceId}/content/posts/${p.postId}`} className="home-day-post">
                  {p.localTime} {p.title || p.excerpt.slice(0, 40)}
                  <span className="sr-only">, {p.channels.map((c) => `${c.channelName} ${c.status}`).join(', ')}</span>
                </Link>
              ))}
            </li>
          ))}
        </ol>
        <Link className="btn btn-secondary" href={`/w/${workspaceId}/content`}>
          Open the calendar
        </Link>{' '}
        <Link className="btn btn-primary" href={`/w/${workspaceId}/content/compose`}>
          Compose a post
        </Link>
      </Card>
      <div className="home-columns">
        <Card title="Last published">
          {posts.isPending && <Loading />}
          {posts.isError && <ErrorMessage error={posts.error} />}
          {posts.isSuccess && published.length === 0 && <p className="muted">Nothing published yet.</p>}
          <ul className="plain-list">
            {published.map((x) => (
              <li key={`${x.post.id}-${x.at}`}>
                <Link href={`/w/${workspaceId}/content/posts/${x.post.id}`}>{x.post.title || x.post.body.slice(0, 50)}</Link> <ContentStatus status="published" /> <span className="muted">{new Date(x.at).toLocaleString()}</span>
              </li>
            ))}
          </ul>
        </Card>
        <Card title="Campaigns">
          {campaigns.isPending && <Loading />}
          {campaigns.isError && <ErrorMessage error={campaigns.error} />}
          {campaigns.isSuccess && campaigns.data.length === 0 && <p className="muted">No campaign yet.</p>}
          {campaigns.data?.slice(0, 4).map((c) => {
            const total = c.progress.scheduled + c.progress.published + c.progress.failed;
            return (
              <div key={c.id} className="home-campaign">
                <strong>{c.name}</strong> <span className="muted">{c.endsOn}</span>
                <Bar label={`${c.name} published`} value={c.progress.published} max={total} tone="published" />
                {c.progress.failed > 0 && <Bar label={`${c.name} failed`} value={c.progress.failed} max={total} tone="failed" />}
              </div>
            );
          })}
        </Card>
      </div>
    </div>
  );
}

function useRuns(workspaceId: string, query: { status?: 'failed' | 'waiting'; awaiting?: 'approval'; from?: string; limit?: number }) {
  return useQuery({
    queryKey: ['home', workspaceId, 'runs', query],
    queryFn: async () => (await call(api.GET('/v1/workspaces/{workspaceId}/runs', { params: { path: { workspaceId }, query: { limit: 20, ...query } } }))).runs,
  });
}

function useWorkflows(workspaceId: string) {
  return useQuery({ queryKey: ['workflows', workspaceId, 'names'], queryFn: async () => (await call(api.GET('/v1/workspaces/{workspaceId}/workflows', { params: { path: { workspaceId } } }))).workflows });
}

function FailingRuns({ workspaceId }: { workspaceId: string }) {
  const failed = useRuns(workspaceId, { status: 'failed', limit: 5 });
  const workflows = useWorkflows(workspaceId);
  const names = new Map((workflows.data ?? []).map((w) => [w.id, w.name]));
  return (
    <Card title="Failing runs">
      {failed.isPending && <Loading />}
      {failed.isError && <ErrorMessage error={failed.error} />}
      {failed.isSuccess && failed.data.length === 0 && <p className="home-good">No failed run.</p>}
      <ul className="plain-list">
        {failed.data?.map((r) => (
          <li key={r.id}>
            <Link href={`/w/${workspaceId}/runs/${r.id}`}>{names.get(r.workflowId) ?? 'Workflow'}</Link> · <span className="muted">{new Date(r.createdAt).toLocaleString()}</span>
            {r.error && <p className="cs-error-text">{r.error}</p>}
          </li>
        ))}
      </ul>
    </Card>
  );
}

export function BuilderHome({ workspaceId }: { workspaceId: string }) {
  const workflows = useWorkflows(workspaceId);
  const enabled = (workflows.data ?? []).filter((w) => w.enabled).length;
  return (
    <div className="stack">
      <Card title="Workflows">
        {workflows.isPending && <Loading />}
        {workflows.isError && <ErrorMessage error={workflows.error} />}
        {workflows.isSuccess && workflows.data.length === 0 && (
          <Empty title="No workflow yet">
            <Link className="btn btn-primary" href={`/w/${workspaceId}/workflows/new`}>
              Build a workflow
            </Link>
          </Empty>
        )}
        {workflows.isSuccess && workflows.data.length > 0 && (
          <>
            <div className="home-tiles">
              <Tile label="Workflows" value={workflows.data.length} detail={`${enabled} enabled`} />
            </div>
            <ul className="plain-list">
              {workflows.data.slice(0, 6).map((w) => (
                <li key={w.id}>
                  <Link href={`/w/${workspaceId}/workflows/${w.id}`}>{w.name}</Link> <span className="muted">· {w.triggerType} · v{w.currentVersion}</span> {!w.enabled && <span className="badge">disabled</span>}
                </li>
              ))}
            </ul>
          </>
        )}
      </Card>
      <div className="home-columns">
        <FailingRuns workspaceId={workspaceId} />
        <Deployments />
      </div>
    </div>
  );
}

export function AnalystHome({ workspaceId }: { workspaceId: string }) {
  const dashboards = useQuery({ queryKey: ['home', workspaceId, 'dashboards'], queryFn: async () => (await call(api.GET('/v1/workspaces/{workspaceId}/analytics/dashboards', { params: { path: { workspaceId } } }))).dashboards });
  const reports = useQuery({ queryKey: ['home', workspaceId, 'reports'], queryFn: async () => (await call(api.GET('/v1/workspaces/{workspaceId}/analytics/reports', { params: { path: { workspaceId } } }))).reports });
  return (
    <div className="stack">
      <KpiTiles workspaceId={workspaceId} />
      <div className="home-columns">
        <Card title="Saved dashboards">
          {dashboards.isPending && <Loading />}
          {dashboards.isError && <ErrorMessage error={dashboards.error} />}
          {dashboards.isSuccess && dashboards.data.length === 0 && <p className="muted">No dashboard yet: save a report and add it to a dashboard.</p>}
          <ul className="plain-list">
            {dashboards.data?.map((d) => (
              <li key={d.id}>
                <Link href={`/w/${workspaceId}/analytics/dashboards/${d.id}`}>{d.name}</Link> <span className="muted">· {d.tiles.length} report{d.tiles.length === 1 ? '' : 's'}</span>
              </li>
            ))}
          </ul>
        </Card>
        <Card title="Saved reports">
          {reports.isPending && <Loading />}
          {reports.isError && <ErrorMessage error={reports.error} />}
          {reports.isSuccess && reports.data.length === 0 && <p className="muted">No saved report yet.</p>}
          <ul className="plain-list">
            {reports.data?.slice(0, 8).map((r) => (
              <li key={r.id}>
                <Link href={`/w/${workspaceId}/analytics/explore?report=${r.id}`}>{r.name}</Link> <span className="muted">· {String(r.spec.kind ?? '')}</span>
              </li>
            ))}
          </ul>
        </Card>
      </div>
    </div>
  );
}

export function AutomatorHome({ workspaceId }: { workspaceId: string }) {
  const since = new Date(Date.now() - 12 * 3600_000);
  since.setMinutes(0, 0, 0);
  const recent = useRuns(workspaceId, { from: since.toISOString(), limit: 200 });
  const waiting = useRuns(workspaceId, { awaiting: 'approval', limit: 10 });
  const hours = Array.from({ length: 12 }, (_, i) => new Date(since.getTime() + (i + 1) * 3600_000));
  const perHour = hours.map((h) => {
    const runs = (recent.data ?? []).filter((r) => {
      const t = Date.parse(r.createdAt);
      return t >= h.getTime() - 3600_000 && t < h.getTime();
    });
    return { h, total: runs.length, failed: runs.filter((r) => r.status === 'failed' || r.status === 'timed_out').length };
  });
  const max = Math.max(1, ...perHour.map((x) => x.total));
  const failures = perHour.reduce((s, x) => s + x.failed, 0);
  const total = perHour.reduce((s, x) => s + x.total, 0);
  return (
    <div className="stack">
      <div className="home-tiles">
        <Tile label="Runs (12 h)" value={recent.isSuccess ? total : '…'} />
        <Tile label="Failures (12 h)" value={recent.isSuccess ? failures : '…'} tone={failures > 0 ? 'critical' : recent.isSuccess ? 'ok' : 'none'} />
        <Tile label="Waiting for approval" value={waiting.isSuccess ? waiting.data.length : '…'} tone={waiting.data?.length ? 'warning' : 'none'} />
      </div>
      <Card title="Runs per hour">
        {recent.isPending && <Loading />}
        {recent.isError && <ErrorMessage error={recent.error} />}
        {recent.isSuccess && (
          <ol className="home-hours" aria-label="Runs per hour, the last 12 hours">
            {perHour.map((x) => (
              <li key={x.h.toISOString()} className="home-hour">
                <span className="home-hour-bars" aria-hidden="true">
                  <span className="home-hour-bar" style={{ height: `${(x.total / max) * 100}%` }}>
                    <span className="home-hour-fail" style={{ height: x.total ? `${(x.failed / x.total) * 100}%` : 0 }} />
                  </span>
                </span>
                <span className="home-hour-label">{new Date(x.h.getTime() - 3600_000).getHours()}h</span>
                <span className="sr-only">
                  {x.total} runs, {x.failed} failed
                </span>
              </li>
            ))}
          </ol>
        )}
      </Card>
      <div className="home-columns">
        <Card title="Approvals waiting">
          {waiting.isPending && <Loading />}
          {waiting.isError && <ErrorMessage error={waiting.error} />}
          {waiting.isSuccess && waiting.data.length === 0 && <p className="home-good">Nothing waits for you.</p>}
          <ul className="plain-list">
            {waiting.data?.map((r) => (
              <li key={r.id}>
                <Link href={`/w/${workspaceId}/runs/${r.id}`}>Run {r.id.slice(0, 8)}</Link> · step <code>{r.currentStep}</code>
              </li>
            ))}
          </ul>
          {waiting.isSuccess && waiting.data.length > 0 && (
            <Link className="btn btn-primary" href={`/w/${workspaceId}/approvals`}>
              Review approvals
            </Link>
          )}
        </Card>
        <FailingRuns workspaceId={workspaceId} />
      </div>
    </div>
  );
}
