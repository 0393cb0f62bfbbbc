import { useState } from 'react';
import { Link } from 'react-aria-components';
import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import { useParams } from 'react-router';
import { api, call } from '../api/client';
import { Button, Empty, ErrorMessage, Loading, Page } from '../ui/ui';
import { downloadCsv, fileNameOf, useReportResult, useReports, type Report, type Tile } from './api';
import { ResultView } from './Results';
import './analytics.css';

/** Tiles in reading order: by row, then column. */
export const ordered = (tiles: Tile[]) => [...tiles].sort((a, b) => a.y - b.y || a.x - b.x);

/** Re-lays tiles out in the given order on a 12-column grid: full-width tiles take a row, half-width ones pair up. */
export function relayout(tiles: Tile[]): Tile[] {
  let x = 0;
  let y = 0;
  return tiles.map((t) => {
    if (x + t.w > 12) {
      x = 0;
      y += 4;
    }
    const placed = { ...t, x, y, h: 4 };
    x += t.w;
    if (x >= 12) {
      x = 0;
      y += 4;
    }
    return placed;
  });
}

function TileCard({ workspaceId, tile, report, index, total, onMove, onWidth, onRemove, busy }: {
  workspaceId: string;
  tile: Tile;
  report: Report | undefined;
  index: number;
  total: number;
  onMove: (delta: -1 | 1) => void;
  onWidth: () => void;
  onRemove: () => void;
  busy: boolean;
}) {
  const result = useReportResult(workspaceId, tile.reportId);
  const exporting = useMutation({ mutationFn: () => downloadCsv(workspaceId, { reportId: tile.reportId }, fileNameOf(report?.name ?? 'report')) });
  const name = report?.name ?? 'Report';
  const chart = report?.spec.kind === 'trends' && report.spec.chart === 'bar' ? 'bar' : 'line';
  return (
    <li className={`card an-tile ${tile.w >= 12 ? 'an-tile-full' : 'an-tile-half'}`} aria-label={name}>
      <div className="an-tile-head">
        <h2 className="card-title">
          <Link href={`/w/${workspaceId}/analytics/explore?report=${tile.reportId}`}>{name}</Link>
        </h2>
        <div className="an-tile-tools" role="group" aria-label={`Arrange ${name}`}>
          <Button variant="secondary" onPress={() => onMove(-1)} isDisabled={busy || index === 0} aria-label={`Move ${name} earlier`}>
            ↑
          </Button>
          <Button variant="secondary" onPress={() => onMove(1)} isDisabled={busy || index === total - 1} aria-label={`Move ${name} later`}>
            ↓
          </Button>
          <Button variant="secondary" onPress={onWidth} isDisabled={busy} aria-label={tile.w >= 12 ? `Make ${name} half width` : `Make ${name} full width`}>
            {tile.w >= 12 ? '½' : '↔'}
          </Button>
          <Button variant="secondary" onPress={() => exporting.mutate()} isDisabled={exporting.isPending} aria-label={`Export ${name} as CSV`}>
            CSV
          </Button>
          <Button variant="danger" onPress={onRemove} isDisabled={busy} aria-label={`Remove ${name} from the dashboard`}>
            ✕
          </Button>
        </div>
      </div>
      <ErrorMessage error={exporting.error} />
      {result.isPending && <Loading label={`Running ${name}…`} />}
      {result.isError && <ErrorMessage error={result.error} />}
      {result.data && (result.data.rows.length === 0 ? <p className="muted">No data in this report's range.</p> : <ResultView result={result.data} chart={chart} height={240} />)}
    </li>
  );
}

/** A dashboard: its reports as tiles, each run live; tiles move, resize, leave; saved reports join. */
export default function DashboardPage() {
  const { workspaceId = '', dashboardId = '' } = useParams();
  const queryClient = useQueryClient();
  const key = ['analytics', workspaceId, 'dashboard', dashboardId];
  const dashboard = useQuery({
    queryKey: key,
    queryFn: async () => (await call(api.GET('/v1/workspaces/{workspaceId}/analytics/dashboards/{dashboardId}', { params: { path: { workspaceId, dashboardId } } }))).dashboard,
  });
  const reports = useReports(workspaceId);
  const [adding, setAdding] = useState('');
  const save = useMutation({
    mutationFn: async (tiles: Tile[]) =>
      (await call(api.PATCH('/v1/workspaces/{workspaceId}/analytics/dashboards/{dashboardId}', { params: { path: { workspaceId, dashboardId } }, body: { tiles: relayout(tiles) } }))).dashboard,
    onSuccess: (d) => {
      queryClient.setQueryData(key, d);
      void queryClient.invalidateQueries({ queryKey: ['analytics', workspaceId, 'dashboards'] });
    },
  });
  if (dashboard.isPending) return <Loading label="Loading the dashboard…" />;
  if (dashboard.isError) return <ErrorMessage error={dashboard.error} />;
  const tiles = ordered(dashboard.data.tiles);
  const reportOf = new Map((reports.data ?? []).map((r) => [r.id, r]));
  const onBoard = new Set(tiles.map((t) => t.reportId));
  const addable = (reports.data ?? []).filter((r) => !onBoard.has(r.id));
  const move = (i: number, delta: -1 | 1) => {
    const next = [...tiles];
    [next[i], next[i + delta]] = [next[i + delta]!, next[i]!];
    save.mutate(next);
  };

  return (
    <Page
      title={dashboard.data.name}
      actions={
        <>
          <Link className="btn btn-secondary" href={`/w/${workspaceId}/analytics/dashboards`}>
            All dashboards
          </Link>
          <Link className="btn btn-secondary" href={`/w/${workspaceId}/analytics/explore`}>
            Explore events
          </Link>
        </>
      }
    >
      <form
        className="row an-create"
        onSubmit={(e) => {
          e.preventDefault();
          if (adding) save.mutate([...tiles, { reportId: adding, x: 0, y: 0, w: 6, h: 4 }]);
          setAdding('');
        }}
      >
        <div className="field an-field">
          <label htmlFor="add-report">Add a saved report</label>
          <select id="add-report" className="select-native" value={adding} onChange={(e) => setAdding(e.target.value)} disabled={addable.length === 0}>
            <option value="">{addable.length === 0 ? 'Every saved report is here' : 'Choose a report'}</option>
            {addable.map((r) => (
              <option key={r.id} value={r.id}>
                {r.name}
              </option>
            ))}
          </select>
        </div>
        <Button type="submit" isDisabled={!adding || save.isPending}>
          Add to dashboard
        </Button>
      </form>
      <ErrorMessage error={save.error} />
      {tiles.length === 0 ? (
        <Empty title="This dashboard has no reports yet">
          <p>
            Add a saved report above, or build one in <Link href={`/w/${workspaceId}/analytics/explore`}>Explore</Link> and save it here.
          </p>
        </Empty>
      ) : (
        <ul className="an-grid" aria-label="Reports on this dashboard">
          {tiles.map((t, i) => (
            <TileCard
              key={t.reportId}
              workspaceId={workspaceId}
              tile={t}
              report={reportOf.get(t.reportId)}
              index={i}
              total={tiles.length}
              busy={save.isPending}
              onMove={(d) => move(i, d)}
              onWidth={() => save.mutate(tiles.map((x) => (x === t ? { ...x, w: x.w >= 12 ? 6 : 12 } : x)))}
              onRemove={() => save.mutate(tiles.filter((x) => x !== t))}
            />
          ))}
        </ul>
      )}
    </Page>
  );
}
