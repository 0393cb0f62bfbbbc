import { z } from 'zod';
import { defineEvents, type EventPayloads } from '../../kernel/events/catalog.js';

/**
 * Events the analytics-engine publishes, with the schema of each payload (its manifest lists them; composed
 * into the one catalog at start-up, ADR 0015). Additive changes only; a breaking change is a new
 * name with the next version (`.v2`), published side by side until consumers have moved.
 */
export const ANALYTICS_EVENTS = defineEvents('analytics-engine', {
  'analytics.report.run.v1': z.object({ reportId: z.string().nullable(), kind: z.string() }),
  'analytics.insight.created.v1': z.object({ insightId: z.string(), title: z.string() }),
});

type AnalyticsEvents = EventPayloads<typeof ANALYTICS_EVENTS>;
declare module '../../kernel/events/catalog.js' {
  // eslint-disable-next-line @typescript-eslint/no-empty-object-type
  interface EventCatalog extends AnalyticsEvents {}
}
