import { z } from 'zod';
import { defineEvents, type EventPayloads } from '../../kernel/events/catalog.js';

/**
 * Events the gamification publishes, with the schema of each payload (its manifest lists them; composed
 * into the one catalog at start-up, ADR 0015). Additive changes only; a breaking change is a new
 * name with the next version (`.v2`), published side by side until consumers have moved.
 */
export const GAMIFICATION_EVENTS = defineEvents('gamification', {
  'gamification.level.up.v1': z.object({ userId: z.string(), persona: z.string(), level: z.number().int(), previousLevel: z.number().int(), xp: z.number() }),
  'gamification.badge.awarded.v1': z.object({ userId: z.string(), badgeId: z.string(), badgeKey: z.string(), name: z.string() }),
  'gamification.reward.granted.v1': z.object({ userId: z.string(), rewardKey: z.string(), kind: z.string() }),
});

type GamificationEvents = EventPayloads<typeof GAMIFICATION_EVENTS>;
declare module '../../kernel/events/catalog.js' {
  // eslint-disable-next-line @typescript-eslint/no-empty-object-type
  interface EventCatalog extends GamificationEvents {}
}
