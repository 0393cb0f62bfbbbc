import { sql } from 'drizzle-orm';
import type { DbExecutor } from '../db/database.js';
import type { AnyEnvelope, EventHandler } from './envelope.js';
import { rowsOf } from './outbox.js';

/**
 * Runs a handler for one event in a (sub)transaction that first claims the (group, event id)
 * delivery row: a redelivered event (relay retried after a crash, Kafka offset not yet committed,
 * a replica taking over) finds the row and is skipped, so a handler's own writes made through
 * `ctx.tx` happen exactly once per group.
 */
export async function deliverOnce(
  executor: DbExecutor,
  group: string,
  event: AnyEnvelope,
  handler: EventHandler,
  attempt: number,
): Promise<'handled' | 'duplicate'> {
  return executor.transaction(async (tx) => {
    const claimed = rowsOf<{ one: number }>(
      await tx.execute(sql`INSERT INTO kernel.event_deliveries (group_name, event_id) VALUES (${group}, ${event.id})
                           ON CONFLICT DO NOTHING RETURNING 1 AS one`),
    );
    if (claimed.length === 0) return 'duplicate';
    await (handler as EventHandler)(event as never, { tx, attempt });
    return 'handled';
  });
}

/** Gives back claims made in the same transaction for events that were not delivered after all. */
export async function releaseClaims(executor: DbExecutor, group: string, eventIds: string[]): Promise<void> {
  if (!eventIds.length) return;
  await executor.execute(sql`DELETE FROM kernel.event_deliveries WHERE group_name = ${group} AND event_id IN (${sql.join(
    eventIds.map((id) => sql`${id}::uuid`),
    sql`, `,
  )})`);
}

export async function recordDeadLetter(executor: DbExecutor, group: string, event: AnyEnvelope, error: unknown, attempts: number): Promise<void> {
  await executor.execute(sql`
    INSERT INTO kernel.event_dead_letters (group_name, event_id, name, envelope, error, attempts)
    VALUES (${group}, ${event.id}, ${event.name}, ${JSON.stringify(event)}::jsonb, ${errorText(error)}, ${attempts})
    ON CONFLICT (group_name, event_id) DO UPDATE SET error = EXCLUDED.error, attempts = EXCLUDED.attempts, failed_at = now()`);
}

export const errorText = (err: unknown): string => (err instanceof Error ? err.message : String(err)).slice(0, 2000);

/** Exponential backoff with full jitter, capped: 200 ms, 400 ms, ... up to 30 s. */
export function retryDelayMs(attempt: number, random: () => number = Math.random): number {
  const ceiling = Math.min(30_000, 200 * 2 ** Math.max(0, attempt - 1));
  return Math.round(ceiling / 2 + (random() * ceiling) / 2);
}
