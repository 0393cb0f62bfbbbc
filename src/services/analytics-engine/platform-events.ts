import { eventNames, type EventName } from '../../kernel/events/catalog.js';
import type { EventEnvelope, EventsPort } from '../../kernel/events/envelope.js';
import type { Logger } from '../../kernel/telemetry/logger.js';
import type { BufferedEvent } from './ingest-buffer.js';
import { bufferPlatformEvent, bufferPlatformEvents } from './platform-events.repository.js';

export const PLATFORM_EVENTS_GROUP = 'analytics-engine.platform-events';

/** `workflow.run.succeeded.v1` → `workflow.run.succeeded`: reports keep working across payload versions. */
export const analyticsNameOf = (busName: string) => busName.replace(/\.v\d+$/, '');

/**
 * Every event of the platform's catalog flows into analytics (sign-ups, workflow runs, posts,
 * points, as the owning services publish them): the consumer group subscribes to the whole
 * catalog as it stands when the process starts. Events of a workspace land in that workspace;
 * workspace-less ones (sign-ups) in the platform workspace, or are skipped without one. The bus
 * event id is the messageId, so a redelivery is dropped by the buffer's dedupe.
 */
export function subscribePlatformEvents(events: EventsPort, opts: { platformWorkspaceId?: string; logger: Logger }): void {
  const names = eventNames().filter((n) => !n.startsWith('analytics.'));
  if (names.length === 0) return;
  const buffered = (event: EventEnvelope): { workspaceId: string; messageId: string; event: BufferedEvent } | null => {
    const workspaceId = event.workspaceId ?? opts.platformWorkspaceId;
    if (!workspaceId) return null;
    const payload = (event.payload ?? {}) as Record<string, unknown>;
    const userId = event.actorId ?? (typeof payload.userId === 'string' ? payload.userId : null);
    return {
      workspaceId,
      messageId: event.id,
      event: {
        type: 'track',
        event: analyticsNameOf(event.name),
        userId: userId ?? `system:${event.name.split('.')[0]}`,
        anonymousId: null,
        previousId: null,
        ts: Date.parse(event.occurredAt),
        properties: payload,
        messageId: event.id,
      },
    };
  };
  // Through the delivery's transaction: the buffered rows commit exactly when the events count as handled.
  events.subscribe<EventName>(
    PLATFORM_EVENTS_GROUP,
    names,
    async (event, ctx) => {
      const row = buffered(event);
      if (row) await bufferPlatformEvent(ctx.tx, row.workspaceId, row.messageId, new Date().toISOString(), row.event);
    },
    {
      // A delivery batch's events in one INSERT (postgres bus; the same rows as the per-event handler).
      batch: async (batch, ctx) => {
        const rows = batch.flatMap((e) => buffered(e) ?? []);
        await bufferPlatformEvents(ctx.tx, new Date().toISOString(), rows);
      },
    },
  );
  opts.logger.debug({ group: PLATFORM_EVENTS_GROUP, names: names.length }, 'analytics subscribed to platform events');
}
