import { sql } from 'drizzle-orm';
import type { DbExecutor } from '../../kernel/db/database.js';
import type { BufferedEvent } from './ingest-buffer.js';

/**
 * Buffers a platform event in the delivery's transaction, so the row commits exactly when the
 * event counts as handled; a redelivery (same message id) is dropped by the unique key.
 */
export async function bufferPlatformEvent(tx: DbExecutor, workspaceId: string, messageId: string, receivedAt: string, event: BufferedEvent): Promise<void> {
  await tx.execute(sql`
      INSERT INTO analytics.event_buffer (workspace_id, message_id, received_at, payload)
      VALUES (${workspaceId}::uuid, ${messageId}, ${receivedAt}::timestamptz, ${JSON.stringify(event)}::jsonb)
      ON CONFLICT (workspace_id, message_id) DO NOTHING`);
}

/** bufferPlatformEvent for many events in one statement (a delivery batch), in the delivery's transaction. */
export async function bufferPlatformEvents(tx: DbExecutor, receivedAt: string, rows: { workspaceId: string; messageId: string; event: BufferedEvent }[]): Promise<void> {
  if (!rows.length) return;
  const doc = JSON.stringify(rows.map((r) => ({ workspace_id: r.workspaceId, message_id: r.messageId, payload: r.event })));
  await tx.execute(sql`
      INSERT INTO analytics.event_buffer (workspace_id, message_id, received_at, payload)
      SELECT (e.doc->>'workspace_id')::uuid, e.doc->>'message_id', ${receivedAt}::timestamptz, e.doc->'payload'
      FROM jsonb_array_elements(${doc}::jsonb) WITH ORDINALITY AS e(doc, ord) ORDER BY e.ord
      ON CONFLICT (workspace_id, message_id) DO NOTHING`);
}
