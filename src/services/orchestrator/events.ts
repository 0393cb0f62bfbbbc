import { z } from 'zod';
import { defineEvents, type EventPayloads } from '../../kernel/events/catalog.js';

/**
 * Events the orchestrator publishes, with the schema of each payload (its manifest lists them; composed
 * into the one catalog at start-up, ADR 0015). Additive changes only; a breaking change is a new
 * name with the next version (`.v2`), published side by side until consumers have moved.
 */
export const ORCHESTRATOR_EVENTS = defineEvents('orchestrator', {
  'orchestrator.user.signed_up.v1': z.object({ userId: z.string(), via: z.enum(['signup', 'admin', 'sso']) }),
  'orchestrator.user.erased.v1': z.object({ userId: z.string() }),
  'orchestrator.workspace.created.v1': z.object({ workspaceId: z.string(), name: z.string() }),
  'orchestrator.workspace.deleted.v1': z.object({ workspaceId: z.string() }),
  'orchestrator.member.joined.v1': z.object({ userId: z.string(), role: z.string() }),
});

type OrchestratorEvents = EventPayloads<typeof ORCHESTRATOR_EVENTS>;
declare module '../../kernel/events/catalog.js' {
  // eslint-disable-next-line @typescript-eslint/no-empty-object-type
  interface EventCatalog extends OrchestratorEvents {}
}
