import { z } from 'zod';
import { defineEvents, type EventPayloads } from '../../kernel/events/catalog.js';

/**
 * Events the integration-hub publishes, with the schema of each payload (its manifest lists them; composed
 * into the one catalog at start-up, ADR 0015). Additive changes only; a breaking change is a new
 * name with the next version (`.v2`), published side by side until consumers have moved.
 */
export const INTEGRATION_HUB_EVENTS = defineEvents('integration-hub', {
  'integration.app.configured.v1': z.object({ connectionId: z.string(), connector: z.string() }),
  /** A connection's OAuth token refresh failed: it is marked needs_reauth (integration-hub). */
  'integration.connection.broken.v1': z.object({ connectionId: z.string(), connector: z.string(), name: z.string(), reason: z.string() }),
  /** An inbound webhook delivery passed its signature, timestamp and replay checks (integration-hub; workflow triggers). */
  'integration.webhook.received.v1': z.object({ connectionId: z.string(), connector: z.string(), deliveryId: z.string(), eventType: z.string(), payload: z.unknown() }),
});

type IntegrationHubEvents = EventPayloads<typeof INTEGRATION_HUB_EVENTS>;
declare module '../../kernel/events/catalog.js' {
  // eslint-disable-next-line @typescript-eslint/no-empty-object-type
  interface EventCatalog extends IntegrationHubEvents {}
}
