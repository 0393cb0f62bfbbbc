import { randomUUID } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import type { AuditLog } from '../../kernel/audit/index.js';
import type { Persona } from '../../kernel/auth/permissions.js';
import { ManualClock } from '../../kernel/clock.js';
import type { Tx } from '../../kernel/db/transaction.js';
import type { EventEnvelope, EventPublisher } from '../../kernel/events/index.js';
import type { ConfigRepository, WorkspaceConfig } from './config.repository.js';
import { DEFAULT_SETTINGS } from './defaults.js';
import { RuleSet } from './rules.js';
import type { Rule } from './schemas.js';
import type { ScoreDelta, ScoringRepository } from './scoring.repository.js';
import { ScoringService } from './scoring.service.js';

/** ScoringService against an in-memory repository: rules, caps, balances and levels without a database. */
const TX = { fake: 'delivery tx' } as unknown as Tx;
const WS = '00000000-0000-4000-8000-00000000000a';
const USER = '00000000-0000-4000-8000-00000000000b';

class MemoryScoring implements Partial<ScoringRepository> {
  processed = new Set<string>();
  counts = new Map<string, number>();
  caps = new Map<string, number>();
  awards: { eventId: string; ruleId: string; points: number }[] = [];
  balances = new Map<string, number>();
  levels = new Map<string, number>();
  scores: ScoreDelta[] = [];
  txSeen = new Set<unknown>();
  private see = (tx: unknown) => void this.txSeen.add(tx);

  userTimezone = async () => null;
  locked: string[] = [];
  lockWorkspaces = async (ids: string[], tx: Tx) => (this.see(tx), void this.locked.push(...ids));
  markProcessed = async (eventId: string, _ws: string, _now: string, tx: Tx) => (this.see(tx), this.processed.has(eventId) ? false : (this.processed.add(eventId), true));
  countEvent = async (_ws: string, _u: string, name: string, tx: Tx) => {
    this.see(tx);
    this.counts.set(name, (this.counts.get(name) ?? 0) + 1);
    return this.counts.get(name)!;
  };
  lockDailyCap = async (_ws: string, _u: string, ruleId: string, date: string) => this.caps.get(`${ruleId}|${date}`) ?? 0;
  addToDailyCap = async (_ws: string, _u: string, ruleId: string, date: string, points: number) => void this.caps.set(`${ruleId}|${date}`, (this.caps.get(`${ruleId}|${date}`) ?? 0) + points);
  insertAward = async (e: { eventId: string; ruleId: string; points: number }, tx: Tx) => {
    this.see(tx);
    if (this.awards.some((a) => a.eventId === e.eventId && a.ruleId === e.ruleId)) return false;
    this.awards.push({ eventId: e.eventId, ruleId: e.ruleId, points: e.points });
    return true;
  };
  addToBalance = async (_ws: string, _u: string, persona: Persona, metric: string, delta: number) => void this.balances.set(`${persona}|${metric}`, (this.balances.get(`${persona}|${metric}`) ?? 0) + delta);
  addScores = async (entries: ScoreDelta[]) => void this.scores.push(...entries);
  personaXp = async (_ws: string, _u: string, persona: Persona) => [...this.balances].filter(([k]) => k.startsWith(`${persona}|`)).reduce((n, [, v]) => n + v, 0);
  lockLevel = async (_ws: string, _u: string, persona: Persona) => this.levels.get(persona) ?? null;
  saveLevel = async (_ws: string, _u: string, persona: Persona, level: number) => void this.levels.set(persona, level);
  grantEntitlement = async () => false;
  awardBadge = async () => false;
}

const rule = (over: Partial<Rule>): Rule => ({
  id: randomUUID(),
  name: 'Run succeeded',
  event: 'workflow.run.succeeded.v1',
  filter: null,
  persona: 'vAutomator',
  metric: 'Automation XP',
  points: 60,
  dailyCap: null,
  streak: null,
  multipliers: [],
  enabled: true,
  createdAt: '2026-01-01T00:00:00Z',
  updatedAt: '2026-01-01T00:00:00Z',
  ...over,
});

function setup(rules: Rule[]) {
  const repo = new MemoryScoring();
  const config: WorkspaceConfig = { version: 1, settings: DEFAULT_SETTINGS, rules, ruleSet: new RuleSet(rules), badges: [] };
  const published: { name: string; payload: unknown; tx: unknown }[] = [];
  const events = { publish: async (e: { name: string; payload: unknown }, tx: unknown) => (published.push({ name: e.name, payload: e.payload, tx }), e) } as unknown as EventPublisher;
  const clock = new ManualClock('2026-03-10T12:00:00Z');
  const scoring = new ScoringService(
    { transaction: (fn) => fn(TX) },
    repo as unknown as ScoringRepository,
    { load: async () => config } as unknown as ConfigRepository,
    events,
    {} as AuditLog,
    clock,
    { redis: false },
  );
  const event = (): EventEnvelope =>
    ({ id: randomUUID(), name: 'workflow.run.succeeded.v1', workspaceId: WS, actorId: USER, occurredAt: clock.now().toISOString(), payload: { runId: randomUUID() } }) as unknown as EventEnvelope;
  return { repo, scoring, published, event };
}

describe('ScoringService (in-memory repository)', () => {
  it('scores an event once: a redelivery is a duplicate and writes nothing more', async () => {
    const { repo, scoring, event } = setup([rule({})]);
    const e = event();
    expect(await scoring.handle(e, TX)).toMatchObject({ status: 'scored', entries: [{ points: 60 }] });
    expect(await scoring.handle(e, TX)).toEqual({ status: 'duplicate' });
    expect(repo.awards).toHaveLength(1);
    expect(repo.balances.get('vAutomator|Automation XP')).toBe(60);
    // Both boards (workspace and persona) in every period, in the delivery's transaction.
    expect(new Set(repo.scores.map((s) => s.board))).toEqual(new Set(['workspace', 'vAutomator']));
    expect([...repo.txSeen]).toEqual([TX]);
    expect(repo.locked).toEqual([WS, WS]); // the workspace's score lock first, for each delivery
  });

  it('grants what the daily cap leaves, then nothing until the next day', async () => {
    const { repo, scoring, event } = setup([rule({ points: 10, dailyCap: 25 })]);
    const granted = [];
    for (let i = 0; i < 4; i++) {
      const o = await scoring.handle(event(), TX);
      granted.push(o.status === 'scored' ? o.entries.reduce((n, x) => n + x.points, 0) : -1);
    }
    expect(granted).toEqual([10, 10, 5, 0]);
    expect(repo.balances.get('vAutomator|Automation XP')).toBe(25);
  });

  it('publishes a level-up in the same transaction when the persona XP crosses the curve', async () => {
    const { scoring, published, event } = setup([rule({ points: 60 })]);
    await scoring.handle(event(), TX);
    expect(published).toEqual([]);
    await scoring.handle(event(), TX); // 120 XP: level 2 on the default curve (base 100)
    expect(published).toEqual([{ name: 'gamification.level.up.v1', payload: { userId: USER, persona: 'vAutomator', level: 2, previousLevel: 1, xp: 120 }, tx: TX }]);
  });
});
