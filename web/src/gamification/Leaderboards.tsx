import { useState } from 'react';
import { Radio, RadioGroup, Label } from 'react-aria-components';
import { useQuery } from '@tanstack/react-query';
import { api, call } from '../api/client';
import { useMe } from '../app/session';
import { SelectField } from '../ui/SchemaForm';
import { Card, Empty, ErrorMessage, Loading } from '../ui/ui';
import { PERSONAS } from '../workspaces/roles';
import { gKey, useMemberNames, type Standing } from './api';

type Period = 'all' | 'week' | 'month';
const PERIODS: { id: Period; label: string }[] = [
  { id: 'all', label: 'All-time' },
  { id: 'week', label: 'This week' },
  { id: 'month', label: 'This month' },
];

function Board({ standings, me, names, caption }: { standings: Standing[]; me: string | undefined; names: Map<string, string> | undefined; caption: string }) {
  const top = standings[0]?.score ?? 0;
  return (
    <table className="table g-board">
      <caption className="sr-only">{caption}</caption>
      <thead>
        <tr>
          <th scope="col">Rank</th>
          <th scope="col">Member</th>
          <th scope="col">Points</th>
        </tr>
      </thead>
      <tbody>
        {standings.map((s) => (
          <tr key={s.userId} className={s.userId === me ? 'g-me' : undefined} aria-current={s.userId === me ? 'true' : undefined}>
            <td className="g-rank">
              <span className={`g-medal g-medal-${Math.min(s.rank, 4)}`}>{s.rank}</span>
            </td>
            <td>
              {names?.get(s.userId) ?? `Member ${s.userId.slice(0, 8)}`}
              {s.userId === me && <span className="badge g-you">you</span>}
            </td>
            <td>
              <div className="g-score">
                <span className="g-score-bar" aria-hidden="true" style={{ width: `${top ? Math.max(4, (s.score / top) * 100) : 0}%` }} />
                <strong>{s.score.toLocaleString('en')}</strong>
              </div>
            </td>
          </tr>
        ))}
      </tbody>
    </table>
  );
}

export function Leaderboards({ workspaceId }: { workspaceId: string }) {
  const me = useMe();
  const names = useMemberNames(workspaceId);
  const [period, setPeriod] = useState<Period>('all');
  const [board, setBoard] = useState<string>('workspace');
  const query = { board: board as 'workspace', period };
  const top = useQuery({
    queryKey: gKey(workspaceId, 'board', board, period),
    queryFn: () => call(api.GET('/v1/workspaces/{workspaceId}/gamification/leaderboards', { params: { path: { workspaceId }, query: { ...query, limit: 10 } } })),
    refetchInterval: 15_000,
  });
  const around = useQuery({
    queryKey: gKey(workspaceId, 'around', board, period),
    queryFn: () => call(api.GET('/v1/workspaces/{workspaceId}/gamification/leaderboards/around-me', { params: { path: { workspaceId }, query: { ...query, radius: 2 } } })),
    refetchInterval: 15_000,
  });
  const boardName = board === 'workspace' ? 'Everyone' : (PERSONAS.find((p) => p.id === board)?.name ?? board);
  const periodName = PERIODS.find((p) => p.id === period)!.label;
  return (
    <>
      <Card>
        <div className="row">
          <RadioGroup className="g-segmented" orientation="horizontal" value={period} onChange={(v) => setPeriod(v as Period)}>
            <Label className="label">Period</Label>
            <div className="g-segments">
              {PERIODS.map((p) => (
                <Radio key={p.id} value={p.id} className="g-segment">
                  {p.label}
                </Radio>
              ))}
            </div>
          </RadioGroup>
          <SelectField label="Board" value={board} onChange={setBoard} options={[{ value: 'workspace', label: 'Everyone (all personas)' }, ...PERSONAS.map((p) => ({ value: p.id, label: p.name }))]} />
        </div>
      </Card>
      <div className="g-boards">
        <Card title={`Top 10 · ${boardName} · ${periodName}`}>
          {top.isPending && <Loading />}
          {top.isError && <ErrorMessage error={top.error} />}
          {top.data && top.data.standings.length === 0 && (
            <Empty title="Nobody has scored yet">
              <p>Points appear here as soon as someone's activity matches a scoring rule.</p>
            </Empty>
          )}
          {top.data && top.data.standings.length > 0 && <Board standings={top.data.standings} me={me.data?.id} names={names.data} caption={`Top ${top.data.standings.length}, ${boardName}, ${periodName}`} />}
        </Card>
        <Card title="Around me">
          {around.isPending && <Loading />}
          {around.isError && <ErrorMessage error={around.error} />}
          {around.data && !around.data.me && <p className="muted">You are not on this board yet: score points to appear here.</p>}
          {around.data?.me && (
            <>
              <p data-testid="around-me-rank">
                You are <strong>#{around.data.me.rank}</strong> with <strong>{around.data.me.score.toLocaleString('en')}</strong> points.
              </p>
              <Board standings={around.data.neighbours} me={me.data?.id} names={names.data} caption="Your neighbours on this board" />
            </>
          )}
        </Card>
      </div>
    </>
  );
}
