import { useMemo, useState } from 'react';
import { Button } from '../ui/ui';
import type { QueryResult } from './api';
import { EChart, type ChartOption } from './EChart';
import { bucketLabel, count, duration, pct } from './format';

const human = (c: string) => c.replace(/_/g, ' ');

/** Any result as a table: the text alternative of every chart, and what the CSV holds. */
export function DataTable({ result, caption }: { result: QueryResult; caption: string }) {
  return (
    <table className="table an-table" tabIndex={0}>
      <caption className="sr-only">{caption}</caption>
      <thead>
        <tr>
          {result.columns.map((c) => (
            <th key={c} scope="col">
              {human(c)}
            </th>
          ))}
        </tr>
      </thead>
      <tbody>
        {result.rows.map((r, i) => (
          <tr key={i}>
            {r.map((v, j) => (
              <td key={j}>{v === null ? '–' : String(v)}</td>
            ))}
          </tr>
        ))}
      </tbody>
    </table>
  );
}

/** A chart with a button to show its numbers as a table instead. */
function ChartOrTable({ option, summary, result, caption, height }: { option: ChartOption; summary: string; result: QueryResult; caption: string; height?: number }) {
  const [table, setTable] = useState(false);
  return (
    <div className="an-result">
      <div className="an-result-bar">
        <Button variant="secondary" onPress={() => setTable(!table)} aria-pressed={table}>
          {table ? 'Show chart' : 'Show data table'}
        </Button>
      </div>
      {table ? <DataTable result={result} caption={caption} /> : <EChart option={option} summary={summary} height={height} />}
    </div>
  );
}

export function TrendsView({ result, chart = 'line', height }: { result: QueryResult; chart?: 'line' | 'bar'; height?: number }) {
  const interval = String(result.summary?.interval ?? 'day');
  const breakdown = result.columns.length === 3;
  const { option, summary } = useMemo(() => {
    const buckets = [...new Set(result.rows.map((r) => String(r[0])))];
    const series = new Map<string, number[]>();
    for (const r of result.rows) {
      const name = breakdown ? String(r[1]) || '(none)' : result.columns[1]!;
      if (!series.has(name)) series.set(name, []);
      series.get(name)!.push(Number(r[breakdown ? 2 : 1]));
    }
    const option: ChartOption = {
      legend: breakdown ? { type: 'scroll' } : undefined,
      xAxis: { type: 'category', data: buckets.map((b) => bucketLabel(b, interval)) },
      yAxis: { type: 'value' },
      series: [...series.entries()].map(([name, data]) => ({ name, type: chart, data, smooth: false, showSymbol: buckets.length < 40, stack: chart === 'bar' && breakdown ? 'total' : undefined })),
    };
    const totals = [...series.entries()].map(([name, d]) => `${name} ${count(d.reduce((a, b) => a + b, 0))}`);
    const peak = Math.max(0, ...[...series.values()].flat());
    const summary = `${chart === 'bar' ? 'Bar' : 'Line'} chart of ${human(result.columns[result.columns.length - 1]!)} per ${interval} over ${buckets.length} ${interval}s${
      breakdown ? `, by ${result.columns[1]}` : ''
    }. Totals: ${totals.join(', ')}. Highest ${interval}: ${count(peak)}.`;
    return { option, summary };
  }, [result, chart, interval, breakdown]);
  return <ChartOrTable option={option} summary={summary} result={result} caption="Trend by bucket" height={height} />;
}

/** Funnel steps with users, conversion from the first step and the previous one, drop-off and the median time between steps. */
export function FunnelView({ result, height = 260 }: { result: QueryResult; height?: number }) {
  const rows = result.rows.map((r) => ({
    step: Number(r[0]),
    event: String(r[1]),
    users: Number(r[2]),
    conversion: r[3] as number | null,
    stepConversion: r[4] as number | null,
    dropOff: Number(r[5]),
    median: r[6] as number | null,
  }));
  const option: ChartOption = {
    xAxis: { type: 'category', data: rows.map((r) => `${r.step}. ${r.event}`) },
    yAxis: { type: 'value', minInterval: 1 },
    tooltip: { trigger: 'axis' },
    legend: {},
    // Each step's bar is the first step's height: converted in colour, lost since the first step shaded.
    series: [
      {
        name: 'converted',
        type: 'bar',
        stack: 'funnel',
        data: rows.map((r) => r.users),
        label: { show: true, position: 'inside', formatter: (p: { dataIndex: number }) => `${count(rows[p.dataIndex]!.users)} · ${pct(rows[p.dataIndex]!.conversion)}` },
      },
      {
        name: 'dropped off',
        type: 'bar',
        stack: 'funnel',
        data: rows.map((r) => (rows[0]?.users ?? 0) - r.users),
        itemStyle: { color: 'rgba(148, 148, 184, 0.35)' },
      },
    ],
  };
  const summary = `Funnel of ${rows.length} steps: ${rows.map((r) => `${r.event} ${count(r.users)} users (${pct(r.conversion)})`).join(', then ')}.`;
  return (
    <div className="an-result">
      <EChart option={option} summary={summary} height={height} />
      <table className="table an-table" tabIndex={0} data-testid="funnel-table">
        <caption className="sr-only">Funnel steps</caption>
        <thead>
          <tr>
            <th scope="col">Step</th>
            <th scope="col">Event</th>
            <th scope="col">Users</th>
            <th scope="col">Conversion</th>
            <th scope="col">From previous</th>
            <th scope="col">Drop-off</th>
            <th scope="col">Median time from previous</th>
          </tr>
        </thead>
        <tbody>
          {rows.map((r) => (
            <tr key={r.step}>
              <td>{r.step}</td>
              <td>{r.event}</td>
              <td>{count(r.users)}</td>
              <td>{pct(r.conversion)}</td>
              <td>{r.step === 1 ? '–' : pct(r.stepConversion)}</td>
              <td>{r.step === 1 ? '–' : count(r.dropOff)}</td>
              <td>{r.step === 1 ? '–' : duration(r.median)}</td>
            </tr>
          ))}
        </tbody>
      </table>
      <p className="muted small">Overall conversion: {pct(result.summary?.overallConversionRate as number | null)}</p>
    </div>
  );
}

/** A colour step for a retention rate: light cells with dark text, dark cells with white text, all above 4.5:1. */
export function retentionShade(rate: number | null): { background: string; color: string } | undefined {
  if (rate === null) return undefined;
  const levels = [97, 88, 78, 68, 56, 46, 36];
  const i = Math.min(levels.length - 1, Math.floor(rate * levels.length));
  const l = levels[i]!;
  return { background: `hsl(239 70% ${l}%)`, color: l >= 68 ? '#000' : '#fff' };
}

/** Weekly cohorts: rows of cohorts, columns of weeks since, each cell the share of the cohort that came back, coloured by it. */
export function RetentionView({ result }: { result: QueryResult }) {
  const weeks = result.columns.slice(2);
  if (result.rows.length === 0) return <p className="muted">No one did the start event in this range.</p>;
  return (
    <div className="an-result">
      <table className="table an-table an-retention" tabIndex={0}>
        <caption className="sr-only">Retention by weekly cohort: the share of each cohort that returned in each week since</caption>
        <thead>
          <tr>
            <th scope="col">Cohort (week of)</th>
            <th scope="col">Users</th>
            {weeks.map((w) => (
              <th key={w} scope="col">
                {human(w)}
              </th>
            ))}
          </tr>
        </thead>
        <tbody>
          {result.rows.map((r) => {
            const size = Number(r[1]);
            return (
              <tr key={String(r[0])}>
                <th scope="row">{String(r[0])}</th>
                <td>{count(size)}</td>
                {r.slice(2).map((v, k) => {
                  const rate = v === null || size === 0 ? null : Number(v) / size;
                  return (
                    <td key={k} style={retentionShade(rate)} className="an-cell" title={v === null ? 'not yet' : `${count(Number(v))} of ${count(size)}`}>
                      {rate === null ? '–' : pct(rate, 0)}
                    </td>
                  );
                })}
              </tr>
            );
          })}
        </tbody>
      </table>
      <p className="muted small" aria-hidden="true">
        Darker is more retained; – is a week that has not happened yet.
      </p>
    </div>
  );
}

/** DAU, WAU and MAU per day, with stickiness (DAU/MAU) on its own axis and as headline figures. */
export function ActiveUsersView({ result, height }: { result: QueryResult; height?: number }) {
  const days = result.rows.map((r) => String(r[0]));
  const last = result.rows[result.rows.length - 1];
  const sticky = result.rows.map((r) => (r[4] === null ? null : Number(r[4])));
  const known = sticky.filter((s): s is number => s !== null);
  const avg = known.length ? known.reduce((a, b) => a + b, 0) / known.length : null;
  const option: ChartOption = {
    legend: {},
    xAxis: { type: 'category', data: days },
    yAxis: [
      { type: 'value', minInterval: 1 },
      { type: 'value', max: 1, axisLabel: { formatter: (v: number) => `${Math.round(v * 100)} %` }, splitLine: { show: false } },
    ],
    series: [
      { name: 'DAU', type: 'line', data: result.rows.map((r) => Number(r[1])), showSymbol: false },
      { name: 'WAU', type: 'line', data: result.rows.map((r) => Number(r[2])), showSymbol: false },
      { name: 'MAU', type: 'line', data: result.rows.map((r) => Number(r[3])), showSymbol: false },
      { name: 'Stickiness', type: 'bar', yAxisIndex: 1, data: sticky, barMaxWidth: 8 },
    ],
  };
  const summary = last
    ? `Active users per day over ${days.length} days. On ${String(last[0])}: DAU ${count(Number(last[1]))}, WAU ${count(Number(last[2]))}, MAU ${count(Number(last[3]))}, stickiness ${pct(last[4] as number | null)}.`
    : 'No days in range.';
  return (
    <div className="an-result">
      {last && (
        <dl className="an-figures">
          <div>
            <dt>DAU</dt>
            <dd>{count(Number(last[1]))}</dd>
          </div>
          <div>
            <dt>WAU</dt>
            <dd>{count(Number(last[2]))}</dd>
          </div>
          <div>
            <dt>MAU</dt>
            <dd>{count(Number(last[3]))}</dd>
          </div>
          <div>
            <dt>Stickiness (DAU/MAU)</dt>
            <dd>{pct(last[4] as number | null)}</dd>
          </div>
          <div>
            <dt>Average stickiness</dt>
            <dd>{pct(avg)}</dd>
          </div>
        </dl>
      )}
      <ChartOrTable option={option} summary={summary} result={result} caption="Active users per day" height={height} />
    </div>
  );
}

export function ResultView({ result, chart, height }: { result: QueryResult; chart?: 'line' | 'bar'; height?: number }) {
  switch (result.kind) {
    case 'trends':
      return <TrendsView result={result} chart={chart} height={height} />;
    case 'funnel':
      return <FunnelView result={result} height={height} />;
    case 'retention':
      return <RetentionView result={result} />;
    case 'active_users':
      return <ActiveUsersView result={result} height={height} />;
    default:
      return <DataTable result={result} caption="Result" />;
  }
}
