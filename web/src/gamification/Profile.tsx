import { Label, ProgressBar } from 'react-aria-components';
import { Card, Empty, ErrorMessage, Loading } from '../ui/ui';
import { PERSONAS } from '../workspaces/roles';
import { useCalendar, useMyBadges, useProfile, type BadgeProgress, type Calendar } from './api';
import { calendarWeeks, howToEarn, progressText, type Criteria } from './text';

const personaName = (id: string) => PERSONAS.find((p) => p.id === id)?.name ?? id;
const dateText = (iso: string) => new Date(iso).toLocaleDateString('en-GB', { day: 'numeric', month: 'short', year: 'numeric' });

/** A labelled bar: React Aria gives it role="progressbar" with the value and the text we choose. */
export function Bar({ label, value, max, text }: { label: string; value: number; max: number; text: string }) {
  return (
    <ProgressBar className="g-bar" value={Math.min(value, max)} minValue={0} maxValue={max || 1} valueLabel={text}>
      {({ percentage }) => (
        <>
          <div className="g-bar-head">
            <Label>{label}</Label>
            <span className="g-bar-value">{text}</span>
          </div>
          <div className="g-bar-track">
            <div className="g-bar-fill" style={{ width: `${percentage ?? 0}%` }} />
          </div>
        </>
      )}
    </ProgressBar>
  );
}

function Levels({ profile }: { profile: NonNullable<ReturnType<typeof useProfile>['data']> }) {
  const scored = new Set(profile.points.map((p) => p.persona));
  const started = profile.levels.filter((l) => scored.has(l.persona) || l.xp > 0).sort((a, b) => b.xp - a.xp);
  const idle = profile.levels.filter((l) => !started.includes(l));
  return (
    <>
      {started.length === 0 && <p className="muted">No points yet: the activities your workspace scores (see the leaderboards) start your levels.</p>}
      <div className="g-levels">
        {started.map((l) => {
          const metrics = profile.points.filter((p) => p.persona === l.persona);
          const toNext = l.nextLevelXp === null ? null : l.nextLevelXp - l.xp;
          return (
            <div key={l.persona} className={`g-level${scored.has(l.persona) ? '' : ' g-level-idle'}`} data-testid={`level-${l.persona}`}>
              <div className="g-level-head">
                <h3>{personaName(l.persona)}</h3>
                <span className="g-level-badge" aria-label={`Level ${l.level}`}>
                  Lv {l.level}
                </span>
              </div>
              <p className="g-points">
                <strong>{l.xp.toLocaleString('en')}</strong> points
              </p>
              <Bar
                label={l.nextLevelXp === null ? 'Top level reached' : `Progress to level ${l.level + 1}`}
                value={l.nextLevelXp === null ? 1 : l.xp - l.levelXp}
                max={l.nextLevelXp === null ? 1 : l.nextLevelXp - l.levelXp}
                text={toNext === null ? 'max level' : `${toNext.toLocaleString('en')} to go`}
              />
              {metrics.length > 0 && (
                <ul className="plain-list small">
                  {metrics.map((m) => (
                    <li key={m.metric}>
                      {m.metric}: <strong>{m.points.toLocaleString('en')}</strong>
                    </li>
                  ))}
                </ul>
              )}
            </div>
          );
        })}
      </div>
      {idle.length > 0 && (
        <p className="small muted g-idle">
          Level 1, not started yet: {idle.map((l) => personaName(l.persona)).join(', ')}.
        </p>
      )}
    </>
  );
}

function Badges({ badges }: { badges: BadgeProgress[] }) {
  const earned = badges.filter((b) => b.earned);
  const locked = badges.filter((b) => !b.earned);
  return (
    <>
      <h3 className="g-subhead">Earned ({earned.length})</h3>
      {earned.length === 0 ? (
        <p className="muted">No badge yet: the locked ones below say how to earn them.</p>
      ) : (
        <ul className="g-badges" aria-label="Earned badges">
          {earned.map((b) => (
            <li key={b.badge.id} className="g-badge g-badge-earned">
              <span className="g-badge-icon" aria-hidden="true">
                ★
              </span>
              <div>
                <strong>{b.badge.name}</strong>
                <p className="small">{b.badge.description || howToEarn(b.badge.criteria as Criteria)}</p>
                <p className="small muted">Earned {b.awardedAt ? dateText(b.awardedAt) : ''}</p>
              </div>
            </li>
          ))}
        </ul>
      )}
      <h3 className="g-subhead">Locked ({locked.length})</h3>
      {locked.length === 0 ? (
        <p className="muted">You hold every badge of this workspace.</p>
      ) : (
        <ul className="g-badges" aria-label="Locked badges">
          {locked.map((b) => (
            <li key={b.badge.id} className="g-badge g-badge-locked">
              <span className="g-badge-icon g-badge-icon-locked" aria-hidden="true">
                ☆
              </span>
              <div className="g-badge-body">
                <strong>{b.badge.name}</strong>
                <p className="small">How to earn: {howToEarn(b.badge.criteria as Criteria)}</p>
                <Bar label={`Progress towards ${b.badge.name}`} value={b.current} max={b.target} text={progressText(b.badge.criteria as Criteria, b.current)} />
              </div>
            </li>
          ))}
        </ul>
      )}
    </>
  );
}

const WEEKDAYS = ['Mon', 'Tue', 'Wed', 'Thu', 'Fri', 'Sat', 'Sun'];

function StreakCalendar({ streak, from, to }: { streak: Calendar['streaks'][number]; from: string; to: string }) {
  const active = new Set(streak.activeDays);
  // A weekly freeze covers its whole week (the period's first day is its Monday).
  const frozen = new Set(
    streak.frozenPeriods.flatMap((d) => (streak.cadence === 'daily' ? [d] : Array.from({ length: 7 }, (_, i) => new Date(Date.parse(`${d}T00:00:00Z`) + i * 86_400_000).toISOString().slice(0, 10)))),
  );
  const weeks = calendarWeeks(from, to);
  const title = `${streak.activity} (${streak.cadence})`;
  return (
    <div className="g-streak" data-testid={`streak-${streak.activity}`}>
      <div className="g-streak-head">
        <h3>
          {title}
        </h3>
        <dl className="g-streak-facts">
          <div>
            <dt>Current</dt>
            <dd>{streak.current}</dd>
          </div>
          <div>
            <dt>Longest</dt>
            <dd>{streak.longest}</dd>
          </div>
          <div>
            <dt>Freezes held</dt>
            <dd>{'❄'.repeat(Math.min(streak.freezes, 5)) || '0'}</dd>
          </div>
        </dl>
      </div>
      <table className="g-calendar">
        <caption className="sr-only">
          {title} streak calendar from {from} to {to}
        </caption>
        <thead>
          <tr>
            {WEEKDAYS.map((d) => (
              <th key={d} scope="col">
                {d}
              </th>
            ))}
          </tr>
        </thead>
        <tbody>
          {weeks.map((week, i) => (
            <tr key={i}>
              {week.map((day, j) => {
                if (!day) return <td key={j} />;
                const state = active.has(day) ? 'active' : frozen.has(day) ? 'frozen' : 'none';
                const label = `${dateText(day)}: ${state === 'active' ? 'active' : state === 'frozen' ? 'covered by a freeze' : 'no activity'}`;
                return (
                  <td key={j} className={`g-day g-day-${state}${day === to ? ' g-day-today' : ''}`} data-day={day} data-state={state}>
                    <span aria-hidden="true">{state === 'frozen' ? '❄' : Number(day.slice(8))}</span>
                    <span className="sr-only">{label}</span>
                  </td>
                );
              })}
            </tr>
          ))}
        </tbody>
      </table>
      <p className="g-legend small" aria-hidden="true">
        <span className="g-day-active g-swatch" /> active <span className="g-day-frozen g-swatch" /> covered by a freeze
      </p>
    </div>
  );
}

export function MyProgress({ workspaceId }: { workspaceId: string }) {
  const profile = useProfile(workspaceId);
  const badges = useMyBadges(workspaceId);
  const calendar = useCalendar(workspaceId);
  if (profile.isPending) return <Loading />;
  if (profile.isError) return <ErrorMessage error={profile.error} />;
  const p = profile.data;
  const total = p.points.reduce((n, x) => n + x.points, 0);
  return (
    <>
      <Card>
        <div className="g-summary">
          <div>
            <span className="g-summary-number">{total.toLocaleString('en')}</span>
            <span className="muted"> points in this workspace</span>
          </div>
          <dl className="g-ranks">
            {(['all', 'week', 'month'] as const).map((k) => (
              <div key={k}>
                <dt>{k === 'all' ? 'All-time rank' : k === 'week' ? 'This week' : 'This month'}</dt>
                <dd data-testid={`rank-${k}`}>{p.rank[k] ? `#${p.rank[k]}` : '—'}</dd>
              </div>
            ))}
          </dl>
        </div>
      </Card>
      <Card title="Levels">
        <Levels profile={p} />
      </Card>
      <div className="g-columns">
        <Card title="Badges">
          {badges.isPending && <Loading />}
          {badges.isError && <ErrorMessage error={badges.error} />}
          {badges.data && <Badges badges={badges.data} />}
        </Card>
        <Card title="Streaks">
          {calendar.isPending && <Loading />}
          {calendar.isError && <ErrorMessage error={calendar.error} />}
          {calendar.data && calendar.data.streaks.length === 0 && (
            <Empty title="No streak yet">
              <p>Activities such as publishing, deploying or completing a workflow start a streak; keep it going every day (or week) and earn freezes that cover a missed one.</p>
            </Empty>
          )}
          {calendar.data && calendar.data.streaks.length > 0 && (
            <div className="g-streaks">
              {calendar.data.streaks.map((s) => (
                <StreakCalendar key={`${s.activity}|${s.cadence}`} streak={s} from={calendar.data.from} to={calendar.data.to} />
              ))}
            </div>
          )}
          {calendar.data && <p className="small muted">Days in your time zone, {calendar.data.timezone}.</p>}
        </Card>
      </div>
      {p.entitlements.length > 0 && (
        <Card title="Rewards unlocked">
          <ul className="plain-list">
            {p.entitlements.map((e) => (
              <li key={e.rewardKey}>
                <strong>{e.rewardKey}</strong> <span className="muted">({e.kind.replace(/_/g, ' ')}, from {e.source.replace(':', ' ')})</span>
              </li>
            ))}
          </ul>
        </Card>
      )}
    </>
  );
}
