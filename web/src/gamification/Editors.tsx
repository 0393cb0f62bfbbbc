import { useEffect, useState, type FormEvent } from 'react';
import { Form, Switch } from 'react-aria-components';
import { useMutation, useQueryClient } from '@tanstack/react-query';
import { api, ApiError, call } from '../api/client';
import { SelectField } from '../ui/SchemaForm';
import { Button, Card, Empty, ErrorMessage, Field, Loading } from '../ui/ui';
import { PERSONAS } from '../workspaces/roles';
import { gKey, useBadges, useRules, useSettings, type Reward, type Rule, type Settings } from './api';
import { eventLabel, howToEarn, type Criteria } from './text';

const base = '/v1/workspaces/{workspaceId}/gamification' as const;
const PERSONA_OPTIONS = PERSONAS.map((p) => ({ value: p.id, label: p.name }));
type PersonaId = (typeof PERSONAS)[number]['id'];

/** The API's message for a field (paths like body.points, body.criteria.atLeast, or filter). */
export function errorAt(error: unknown, path: string): string | undefined {
  if (!(error instanceof ApiError)) return undefined;
  return error.problem.errors?.find((e) => e.path === `body.${path}` || e.path === path)?.message;
}
/** A number field's text as the API wants it: blank → undefined; anything else Number() (NaN → the API names the field). */
const num = (s: string): number | undefined => (s.trim() === '' ? undefined : Number(s));

// ---------------------------------------------------------------- rules

interface RuleDraft {
  name: string;
  event: string;
  filter: string;
  persona: PersonaId;
  metric: string;
  points: string;
  dailyCap: string;
  streakActivity: string;
  streakCadence: 'daily' | 'weekly';
  multipliers: { activity: string; cadence: 'daily' | 'weekly'; minStreak: string; factor: string }[];
}
const emptyRule: RuleDraft = { name: '', event: '', filter: '', persona: 'vAutomator', metric: '', points: '10', dailyCap: '', streakActivity: '', streakCadence: 'daily', multipliers: [] };
const draftOf = (r: Rule): RuleDraft => ({
  name: r.name,
  event: r.event,
  filter: r.filter ?? '',
  persona: r.persona as PersonaId,
  metric: r.metric,
  points: String(r.points),
  dailyCap: r.dailyCap === null ? '' : String(r.dailyCap),
  streakActivity: r.streak?.activity ?? '',
  streakCadence: (r.streak?.cadence ?? 'daily') as 'daily' | 'weekly',
  multipliers: r.multipliers.map((m) => ({ activity: m.activity, cadence: m.cadence as 'daily' | 'weekly', minStreak: String(m.minStreak), factor: String(m.factor) })),
});

function RuleForm({ workspaceId, rule, onDone }: { workspaceId: string; rule: Rule | null; onDone: () => void }) {
  const queryClient = useQueryClient();
  const [d, setD] = useState<RuleDraft>(rule ? draftOf(rule) : emptyRule);
  const set = (k: keyof RuleDraft) => (v: string) => setD({ ...d, [k]: v });
  const save = useMutation({
    mutationFn: () => {
      const body = {
        name: d.name,
        event: d.event.trim(),
        filter: d.filter.trim() || null,
        persona: d.persona,
        metric: d.metric,
        points: num(d.points) as number,
        dailyCap: num(d.dailyCap) ?? null,
        streak: d.streakActivity.trim() ? { activity: d.streakActivity.trim(), cadence: d.streakCadence } : null,
        multipliers: d.multipliers.map((m) => ({ activity: m.activity.trim(), cadence: m.cadence, minStreak: num(m.minStreak) as number, factor: num(m.factor) as number })),
      };
      return rule
        ? call(api.PATCH(`${base}/rules/{ruleId}`, { params: { path: { workspaceId, ruleId: rule.id } }, body }))
        : call(api.POST(`${base}/rules`, { params: { path: { workspaceId } }, body }));
    },
    onSuccess: () => {
      void queryClient.invalidateQueries({ queryKey: gKey(workspaceId) });
      onDone();
    },
  });
  const err = (p: string) => errorAt(save.error, p);
  function submit(e: FormEvent) {
    e.preventDefault();
    save.mutate();
  }
  return (
    <Form onSubmit={submit} className="stack g-editor-form" aria-label={rule ? `Edit rule ${rule.name}` : 'New rule'}>
      <h3>{rule ? `Edit “${rule.name}”` : 'New rule'}</h3>
      <div className="g-form-grid">
        <Field label="Rule name" value={d.name} onChange={set('name')} isRequired error={err('name')} />
        <Field label="Event" description="A versioned event name, e.g. workflow.run.succeeded.v1" value={d.event} onChange={set('event')} isRequired error={err('event')} />
        <SelectField label="Persona" value={d.persona} onChange={set('persona')} options={PERSONA_OPTIONS} error={err('persona')} />
        <Field label="Metric" description="The score it adds to, e.g. Automation XP" value={d.metric} onChange={set('metric')} isRequired error={err('metric')} />
        <Field label="Points" inputMode="numeric" value={d.points} onChange={set('points')} isRequired error={err('points')} />
        <Field label="Daily cap" description="Most points per member and day; blank: no cap" inputMode="numeric" value={d.dailyCap} onChange={set('dailyCap')} error={err('dailyCap')} />
        <Field label="Filter (JSONata)" description='Optional, e.g. payload.channel = "linkedin"' value={d.filter} onChange={set('filter')} error={err('filter')} />
        <Field label="Streak activity" description="Optional: matching events keep this streak going" value={d.streakActivity} onChange={set('streakActivity')} error={err('streak.activity')} />
        <SelectField label="Streak cadence" value={d.streakCadence} onChange={set('streakCadence')} options={[{ value: 'daily', label: 'Daily' }, { value: 'weekly', label: 'Weekly' }]} error={err('streak.cadence')} />
      </div>
      <fieldset className="schema-form">
        <legend>Streak bonuses</legend>
        <p className="small muted">While a member's streak is at least N, this rule's points are multiplied.</p>
        {d.multipliers.map((m, i) => {
          const setM = (patch: Partial<typeof m>) => setD({ ...d, multipliers: d.multipliers.map((x, j) => (j === i ? { ...x, ...patch } : x)) });
          return (
            <div key={i} className="row">
              <Field label={`Bonus ${i + 1} streak activity`} value={m.activity} onChange={(v) => setM({ activity: v })} error={err(`multipliers.${i}.activity`)} />
              <SelectField label={`Bonus ${i + 1} cadence`} value={m.cadence} onChange={(v) => setM({ cadence: v as 'daily' | 'weekly' })} options={[{ value: 'daily', label: 'Daily' }, { value: 'weekly', label: 'Weekly' }]} />
              <Field label={`Bonus ${i + 1} from streak`} inputMode="numeric" value={m.minStreak} onChange={(v) => setM({ minStreak: v })} error={err(`multipliers.${i}.minStreak`)} />
              <Field label={`Bonus ${i + 1} factor`} description="1 to 10, e.g. 1.5" inputMode="decimal" value={m.factor} onChange={(v) => setM({ factor: v })} error={err(`multipliers.${i}.factor`)} />
              <Button variant="danger" onPress={() => setD({ ...d, multipliers: d.multipliers.filter((_, j) => j !== i) })} aria-label={`Remove bonus ${i + 1}`}>
                Remove
              </Button>
            </div>
          );
        })}
        <Button variant="secondary" onPress={() => setD({ ...d, multipliers: [...d.multipliers, { activity: d.streakActivity, cadence: d.streakCadence, minStreak: '3', factor: '1.5' }] })}>
          Add streak bonus
        </Button>
      </fieldset>
      <ErrorMessage error={save.error} />
      <div className="row">
        <Button type="submit" isDisabled={save.isPending}>
          {rule ? 'Save rule' : 'Create rule'}
        </Button>
        <Button variant="secondary" onPress={onDone}>
          Cancel
        </Button>
      </div>
    </Form>
  );
}

export function RulesEditor({ workspaceId }: { workspaceId: string }) {
  const rules = useRules(workspaceId);
  const queryClient = useQueryClient();
  const [editing, setEditing] = useState<Rule | 'new' | null>(null);
  const refresh = () => queryClient.invalidateQueries({ queryKey: gKey(workspaceId) });
  const toggle = useMutation({
    mutationFn: (v: { rule: Rule; enabled: boolean }) => call(api.PATCH(`${base}/rules/{ruleId}`, { params: { path: { workspaceId, ruleId: v.rule.id } }, body: { enabled: v.enabled } })),
    onSettled: refresh,
  });
  const archive = useMutation({
    mutationFn: (rule: Rule) => call(api.DELETE(`${base}/rules/{ruleId}`, { params: { path: { workspaceId, ruleId: rule.id } } })),
    onSettled: refresh,
  });
  return (
    <Card title="Scoring rules">
      <p className="muted">A rule turns an event into points of a metric for a persona. Changes apply to the next events; earlier points stay.</p>
      {editing ? (
        <RuleForm key={editing === 'new' ? 'new' : editing.id} workspaceId={workspaceId} rule={editing === 'new' ? null : editing} onDone={() => setEditing(null)} />
      ) : (
        <Button onPress={() => setEditing('new')}>New rule</Button>
      )}
      <ErrorMessage error={toggle.error ?? archive.error} />
      {rules.isPending && <Loading />}
      {rules.isError && <ErrorMessage error={rules.error} />}
      {rules.data && rules.data.length === 0 && <Empty title="No rules: nothing scores" />}
      {rules.data && rules.data.length > 0 && (
        <table className="table g-rules" tabIndex={0}>
          <caption className="sr-only">Scoring rules</caption>
          <thead>
            <tr>
              <th scope="col">Rule</th>
              <th scope="col">When</th>
              <th scope="col">Gives</th>
              <th scope="col">On</th>
              <th scope="col">
                <span className="sr-only">Actions</span>
              </th>
            </tr>
          </thead>
          <tbody>
            {rules.data.map((r) => (
              <tr key={r.id}>
                <td>
                  <strong>{r.name}</strong>
                  {r.streak && <div className="small muted">streak: {r.streak.activity} ({r.streak.cadence})</div>}
                </td>
                <td>
                  {eventLabel(r.event)}
                  {r.filter && <div className="small muted">if {r.filter}</div>}
                </td>
                <td>
                  {r.points} {r.metric} <span className="muted">({PERSONAS.find((p) => p.id === r.persona)?.name ?? r.persona})</span>
                  {r.dailyCap !== null && <div className="small muted">at most {r.dailyCap} a day</div>}
                </td>
                <td>
                  <Switch className="switch" isSelected={r.enabled} onChange={(on) => toggle.mutate({ rule: r, enabled: on })} aria-label={`Rule ${r.name} enabled`}>
                    <span className="switch-track" aria-hidden="true" />
                  </Switch>
                </td>
                <td className="g-actions">
                  <Button variant="secondary" onPress={() => setEditing(r)} aria-label={`Edit rule ${r.name}`}>
                    Edit
                  </Button>
                  <Button variant="danger" onPress={() => archive.mutate(r)} aria-label={`Archive rule ${r.name}`}>
                    Archive
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

// ---------------------------------------------------------------- badges

interface BadgeDraft {
  key: string;
  name: string;
  description: string;
  persona: string;
  kind: 'count' | 'streak' | 'points';
  event: string;
  activity: string;
  cadence: 'daily' | 'weekly';
  metric: string;
  windowDays: string;
  atLeast: string;
}
const emptyBadge: BadgeDraft = { key: '', name: '', description: '', persona: '', kind: 'count', event: '', activity: '', cadence: 'daily', metric: '', windowDays: '30', atLeast: '1' };

function criteriaOf(d: BadgeDraft): Criteria {
  const atLeast = num(d.atLeast) as number;
  if (d.kind === 'count') return { kind: 'count', event: d.event.trim(), atLeast };
  if (d.kind === 'streak') return { kind: 'streak', activity: d.activity.trim(), cadence: d.cadence, atLeast };
  return { kind: 'points', metric: d.metric, atLeast, windowDays: num(d.windowDays) as number };
}

export function BadgesEditor({ workspaceId }: { workspaceId: string }) {
  const badges = useBadges(workspaceId);
  const queryClient = useQueryClient();
  const [d, setD] = useState<BadgeDraft>(emptyBadge);
  const [open, setOpen] = useState(false);
  const set = (k: keyof BadgeDraft) => (v: string) => setD({ ...d, [k]: v });
  const refresh = () => queryClient.invalidateQueries({ queryKey: gKey(workspaceId) });
  const create = useMutation({
    mutationFn: () =>
      call(
        api.POST(`${base}/badges`, {
          params: { path: { workspaceId } },
          body: { key: d.key.trim(), name: d.name, description: d.description, persona: (d.persona || null) as PersonaId | null, criteria: criteriaOf(d) },
        }),
      ),
    onSuccess: () => {
      setD(emptyBadge);
      setOpen(false);
      void refresh();
    },
  });
  const retire = useMutation({
    mutationFn: (badgeId: string) => call(api.DELETE(`${base}/badges/{badgeId}`, { params: { path: { workspaceId, badgeId } } })),
    onSettled: refresh,
  });
  const err = (p: string) => errorAt(create.error, p);
  function submit(e: FormEvent) {
    e.preventDefault();
    create.mutate();
  }
  return (
    <Card title="Badges">
      <p className="muted">Members see every badge with how to earn it. A new badge counts from now: it does not look back.</p>
      {open ? (
        <Form onSubmit={submit} className="stack g-editor-form" aria-label="New badge">
          <h3>New badge</h3>
          <div className="g-form-grid">
            <Field label="Badge key" description="lower-case letters, digits, - or _" value={d.key} onChange={set('key')} isRequired error={err('key')} />
            <Field label="Badge name" value={d.name} onChange={set('name')} isRequired error={err('name')} />
            <Field label="Description" value={d.description} onChange={set('description')} error={err('description')} />
            <SelectField label="Badge persona" value={d.persona} onChange={set('persona')} options={[{ value: '', label: 'Any persona' }, ...PERSONA_OPTIONS]} error={err('persona')} />
            <SelectField
              label="Earned by"
              value={d.kind}
              onChange={set('kind')}
              options={[
                { value: 'count', label: 'An event happening N times' },
                { value: 'streak', label: 'A streak of N days or weeks' },
                { value: 'points', label: 'N points within a window' },
              ]}
              error={err('criteria.kind')}
            />
            {d.kind === 'count' && <Field label="Counted event" description="e.g. workflow.run.succeeded.v1" value={d.event} onChange={set('event')} isRequired error={err('criteria.event')} />}
            {d.kind === 'streak' && (
              <>
                <Field label="Streak activity" value={d.activity} onChange={set('activity')} isRequired error={err('criteria.activity')} />
                <SelectField label="Streak cadence" value={d.cadence} onChange={set('cadence')} options={[{ value: 'daily', label: 'Daily' }, { value: 'weekly', label: 'Weekly' }]} />
              </>
            )}
            {d.kind === 'points' && (
              <>
                <Field label="Points metric" value={d.metric} onChange={set('metric')} isRequired error={err('criteria.metric')} />
                <Field label="Window (days)" inputMode="numeric" value={d.windowDays} onChange={set('windowDays')} error={err('criteria.windowDays')} />
              </>
            )}
            <Field label="At least" inputMode="numeric" value={d.atLeast} onChange={set('atLeast')} isRequired error={err('criteria.atLeast')} />
          </div>
          <ErrorMessage error={create.error} />
          <div className="row">
            <Button type="submit" isDisabled={create.isPending}>
              Create badge
            </Button>
            <Button variant="secondary" onPress={() => setOpen(false)}>
              Cancel
            </Button>
          </div>
        </Form>
      ) : (
        <Button onPress={() => setOpen(true)}>New badge</Button>
      )}
      <ErrorMessage error={retire.error} />
      {badges.isPending && <Loading />}
      {badges.isError && <ErrorMessage error={badges.error} />}
      {badges.data && badges.data.length === 0 && <Empty title="No badges yet" />}
      {badges.data && badges.data.length > 0 && (
        <ul className="g-badges" aria-label="Badge catalog">
          {badges.data.map((b) => (
            <li key={b.id} className="g-badge">
              <span className="g-badge-icon" aria-hidden="true">
                ★
              </span>
              <div className="g-badge-body">
                <strong>{b.name}</strong> <code className="small">{b.key}</code>
                <p className="small">{howToEarn(b.criteria as Criteria)}</p>
                <Button variant="danger" onPress={() => retire.mutate(b.id)} aria-label={`Retire badge ${b.name}`}>
                  Retire
                </Button>
              </div>
            </li>
          ))}
        </ul>
      )}
    </Card>
  );
}

// ---------------------------------------------------------------- levels, freezes, rewards

type Text<T> = { [K in keyof T]: string };
interface RewardDraft {
  key: string;
  kind: Reward['kind'];
  name: string;
  by: 'badge' | 'level';
  badge: string;
  persona: PersonaId;
  level: string;
}
const rewardDraft = (r: Reward): RewardDraft => ({
  key: r.key,
  kind: r.kind,
  name: r.name,
  by: 'badge' in r.unlock ? 'badge' : 'level',
  badge: 'badge' in r.unlock ? r.unlock.badge : '',
  persona: ('persona' in r.unlock ? r.unlock.persona : 'vAutomator') as PersonaId,
  level: 'level' in r.unlock ? String(r.unlock.level) : '2',
});

export function LevelsEditor({ workspaceId }: { workspaceId: string }) {
  const settings = useSettings(workspaceId);
  const badges = useBadges(workspaceId);
  const queryClient = useQueryClient();
  const [levels, setLevels] = useState<Record<string, Text<Settings['levels'][string]>>>({});
  const [freezes, setFreezes] = useState<Text<Settings['freezes']>>({ earnEvery: '', maxHeld: '' });
  const [rewards, setRewards] = useState<RewardDraft[]>([]);
  useEffect(() => {
    if (!settings.data) return;
    setLevels(Object.fromEntries(Object.entries(settings.data.levels).map(([p, c]) => [p, { base: String(c.base), exponent: String(c.exponent), maxLevel: String(c.maxLevel) }])));
    setFreezes({ earnEvery: String(settings.data.freezes.earnEvery), maxHeld: String(settings.data.freezes.maxHeld) });
    setRewards(settings.data.rewards.map(rewardDraft));
  }, [settings.data]);
  const save = useMutation({
    mutationFn: () =>
      call(
        api.PATCH(`${base}/settings`, {
          params: { path: { workspaceId } },
          body: {
            levels: Object.fromEntries(Object.entries(levels).map(([p, c]) => [p, { base: num(c.base) as number, exponent: num(c.exponent) as number, maxLevel: num(c.maxLevel) as number }])),
            freezes: { earnEvery: num(freezes.earnEvery) as number, maxHeld: num(freezes.maxHeld) as number },
            rewards: rewards.map((r) => ({ key: r.key.trim(), kind: r.kind, name: r.name, unlock: r.by === 'badge' ? { badge: r.badge } : { persona: r.persona, level: num(r.level) as number } })),
          },
        }),
      ),
    onSuccess: () => void queryClient.invalidateQueries({ queryKey: gKey(workspaceId) }),
  });
  const err = (p: string) => errorAt(save.error, p);
  if (settings.isPending) return <Loading />;
  if (settings.isError) return <ErrorMessage error={settings.error} />;
  const setReward = (i: number, patch: Partial<RewardDraft>) => setRewards(rewards.map((r, j) => (j === i ? { ...r, ...patch } : r)));
  function submit(e: FormEvent) {
    e.preventDefault();
    save.mutate();
  }
  return (
    <Form onSubmit={submit} aria-label="Levels, freezes and rewards">
      <Card title="Levels">
        <p className="muted">Reaching level L needs base × (L − 1)^exponent points in total.</p>
        <div className="g-level-editor">
          {PERSONAS.map((p) => {
            const c = levels[p.id] ?? { base: '', exponent: '', maxLevel: '' };
            const setC = (k: keyof typeof c) => (v: string) => setLevels({ ...levels, [p.id]: { ...c, [k]: v } });
            return (
              <fieldset key={p.id} className="schema-form">
                <legend>{p.name}</legend>
                <div className="row">
                  <Field label={`${p.name} base`} inputMode="decimal" value={c.base} onChange={setC('base')} error={err(`levels.${p.id}.base`)} />
                  <Field label={`${p.name} exponent`} inputMode="decimal" value={c.exponent} onChange={setC('exponent')} error={err(`levels.${p.id}.exponent`)} />
                  <Field label={`${p.name} max level`} inputMode="numeric" value={c.maxLevel} onChange={setC('maxLevel')} error={err(`levels.${p.id}.maxLevel`)} />
                </div>
              </fieldset>
            );
          })}
        </div>
      </Card>
      <Card title="Streak freezes">
        <div className="row">
          <Field label="Earn a freeze every" description="periods in a row (0: never)" inputMode="numeric" value={freezes.earnEvery} onChange={(v) => setFreezes({ ...freezes, earnEvery: v })} error={err('freezes.earnEvery')} />
          <Field label="Freezes held at most" inputMode="numeric" value={freezes.maxHeld} onChange={(v) => setFreezes({ ...freezes, maxHeld: v })} error={err('freezes.maxHeld')} />
        </div>
      </Card>
      <Card title="Rewards">
        {rewards.length === 0 && <p className="muted">No rewards: add one unlocked by a badge or a level.</p>}
        {rewards.map((r, i) => (
          <fieldset key={i} className="schema-form g-reward">
            <legend>Reward {i + 1}</legend>
            <div className="g-form-grid">
              <Field label={`Reward ${i + 1} key`} value={r.key} onChange={(v) => setReward(i, { key: v })} error={err(`rewards.${i}.key`)} />
              <Field label={`Reward ${i + 1} name`} value={r.name} onChange={(v) => setReward(i, { name: v })} error={err(`rewards.${i}.name`)} />
              <SelectField
                label={`Reward ${i + 1} kind`}
                value={r.kind}
                onChange={(v) => setReward(i, { kind: v as Reward['kind'] })}
                options={[
                  { value: 'workflow_template', label: 'Workflow template' },
                  { value: 'shortcut', label: 'Shortcut' },
                  { value: 'dashboard_flair', label: 'Dashboard flair' },
                ]}
              />
              <SelectField label={`Reward ${i + 1} unlocked by`} value={r.by} onChange={(v) => setReward(i, { by: v as 'badge' | 'level' })} options={[{ value: 'badge', label: 'A badge' }, { value: 'level', label: 'A persona level' }]} />
              {r.by === 'badge' ? (
                <SelectField
                  label={`Reward ${i + 1} badge`}
                  value={r.badge}
                  onChange={(v) => setReward(i, { badge: v })}
                  options={[{ value: r.badge, label: r.badge || 'Choose a badge' }, ...(badges.data ?? []).filter((b) => b.key !== r.badge).map((b) => ({ value: b.key, label: b.name }))]}
                  error={err(`rewards.${i}.unlock.badge`)}
                />
              ) : (
                <>
                  <SelectField label={`Reward ${i + 1} persona`} value={r.persona} onChange={(v) => setReward(i, { persona: v as PersonaId })} options={PERSONA_OPTIONS} />
                  <Field label={`Reward ${i + 1} level`} inputMode="numeric" value={r.level} onChange={(v) => setReward(i, { level: v })} error={err(`rewards.${i}.unlock.level`)} />
                </>
              )}
            </div>
            <Button variant="danger" onPress={() => setRewards(rewards.filter((_, j) => j !== i))} aria-label={`Remove reward ${i + 1}`}>
              Remove
            </Button>
          </fieldset>
        ))}
        <Button variant="secondary" onPress={() => setRewards([...rewards, { key: '', kind: 'dashboard_flair', name: '', by: 'badge', badge: '', persona: 'vAutomator', level: '2' }])}>
          Add reward
        </Button>
      </Card>
      <ErrorMessage error={save.error} />
      {save.isSuccess && (
        <p role="status" className="alert alert-success">
          Levels, freezes and rewards saved.
        </p>
      )}
      <Button type="submit" isDisabled={save.isPending}>
        Save levels and rewards
      </Button>
    </Form>
  );
}
