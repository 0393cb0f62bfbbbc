import { z } from 'zod';
import { PERSONAS } from '../../kernel/auth/permissions.js';

export const persona = z.enum(PERSONAS);
export const cadence = z.enum(['daily', 'weekly']);
const key = z.string().trim().regex(/^[a-z0-9][a-z0-9_-]{0,63}$/, 'lower-case letters, digits, "_" or "-" (at most 64)');
const metric = z.string().trim().min(1).max(64);
const eventName = z.string().regex(/^[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)+\.v[1-9][0-9]*$/, 'a versioned event name such as content.post.published.v1');

/** A streak bonus: while the user's streak of `activity` is at least `minStreak`, points are multiplied by `factor`. */
export const multiplier = z.object({
  activity: key,
  cadence: cadence.default('daily'),
  minStreak: z.number().int().min(1).max(10_000),
  factor: z.number().min(1).max(10),
});

export const ruleBody = z.object({
  name: z.string().trim().min(1).max(100),
  event: eventName,
  /** A JSONata boolean expression over { name, payload, actorId, occurredAt }; omitted = every event of that name. */
  filter: z.string().trim().max(500).nullable().default(null),
  persona,
  metric,
  points: z.number().int().min(1).max(1_000_000),
  /** Most points this rule gives one user per day (in the user's time zone). */
  dailyCap: z.number().int().min(1).max(10_000_000).nullable().default(null),
  /** The streak activity a matching event counts towards. */
  streak: z.object({ activity: key, cadence: cadence }).nullable().default(null),
  multipliers: z.array(multiplier).max(10).default([]),
  enabled: z.boolean().default(true),
});
export type RuleInput = z.infer<typeof ruleBody>;
export const rulePatch = ruleBody.partial();

export const ruleSchema = ruleBody.extend({ id: z.uuid(), createdAt: z.string(), updatedAt: z.string() });
export type Rule = z.infer<typeof ruleSchema>;

export const badgeCriteria = z.discriminatedUnion('kind', [
  z.object({ kind: z.literal('count'), event: eventName, atLeast: z.number().int().min(1).max(1_000_000) }),
  z.object({ kind: z.literal('streak'), activity: key, cadence: cadence.default('daily'), atLeast: z.number().int().min(1).max(10_000) }),
  z.object({
    kind: z.literal('points'),
    metric,
    atLeast: z.number().int().min(1).max(1_000_000_000),
    /** Rolling window in days ending now; within the ledger's 90-day retention. */
    windowDays: z.number().int().min(1).max(90),
  }),
]);
export type BadgeCriteria = z.infer<typeof badgeCriteria>;

export const badgeBody = z.object({
  key,
  name: z.string().trim().min(1).max(100),
  description: z.string().trim().max(500).default(''),
  persona: persona.nullable().default(null),
  criteria: badgeCriteria,
});
export const badgeSchema = badgeBody.extend({ id: z.uuid(), createdAt: z.string() });
export type Badge = z.infer<typeof badgeSchema>;

export const rewardKind = z.enum(['workflow_template', 'shortcut', 'dashboard_flair']);
export const rewardUnlock = z.union([
  z.object({ badge: key }),
  z.object({ persona, level: z.number().int().min(2).max(1000) }),
]);
export const rewardDef = z.object({ key, kind: rewardKind, name: z.string().min(1).max(100), unlock: rewardUnlock });
export type RewardDef = z.infer<typeof rewardDef>;

export const levelCurve = z.object({ base: z.number().min(1).max(1_000_000), exponent: z.number().min(1).max(4), maxLevel: z.number().int().min(2).max(1000) });
export const freezePolicy = z.object({ earnEvery: z.number().int().min(0).max(365), maxHeld: z.number().int().min(0).max(30) });

export const settingsSchema = z.object({
  /** IANA zone of the workspace's leaderboard periods and the default zone of its members. */
  timezone: z.string(),
  levels: z.record(persona, levelCurve),
  freezes: freezePolicy,
  rewards: z.array(rewardDef).max(200),
});
export type GamificationSettings = z.infer<typeof settingsSchema>;
export const settingsPatch = z.object({
  timezone: z.string().optional(),
  levels: z.partialRecord(persona, levelCurve).optional(),
  freezes: freezePolicy.optional(),
  rewards: z.array(rewardDef).max(200).optional(),
});

export const boardName = z.union([z.literal('workspace'), persona]);
export type BoardName = z.infer<typeof boardName>;
