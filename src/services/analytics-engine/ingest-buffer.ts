/** What the ingestion endpoint stores per accepted event (the normalised, skew-corrected form). */
export interface BufferedEvent {
  type: 'track' | 'identify' | 'alias';
  event: string;
  userId: string | null;
  anonymousId: string | null;
  previousId: string | null;
  /** Corrected event time, epoch ms. */
  ts: number;
  properties: Record<string, unknown>;
  messageId: string;
}

export interface ClaimedRow {
  seq: number;
  workspaceId: string;
  receivedAt: Date;
  payload: BufferedEvent;
}

/**
 * Where accepted events wait for the OLAP store. Two implementations: `FileBuffer` (fsync'd
 * segment files in the data folder; one process, the embedded default) and `BufferRepository`
 * (a PostgreSQL/PGlite table; safe with several replicas). See ADR 0301.
 */
export interface IngestBuffer {
  readonly kind: 'file' | 'database';
  /**
   * Stores the events whose messageId the workspace has not sent within the dedupe window and
   * resolves once they survive a crash; returns the messageIds accepted.
   */
  append(workspaceId: string, receivedAt: Date, events: BufferedEvent[]): Promise<Set<string>>;
  /** Events accepted and not yet in the store. */
  pendingCount(): Promise<number>;
  /** The next batch for the store (about `limit` events), marked as in flight; null when empty. */
  claim(limit: number, now: Date): Promise<{ batchId: string; rows: ClaimedRow[] } | null>;
  /** The batch is in the store: forget it (its messageIds stay known for the dedupe window). */
  complete(batchId: string, now: Date): Promise<void>;
  /** The store refused the batch: hand it out again. */
  release(batchId: string): Promise<void>;
  /** Batches claimed before `before` and never completed (their flusher died), with their sizes. */
  unfinished(before: Date): Promise<{ batchId: string; size: number }[]>;
  /** Forgets messageIds received before `before` (the end of their dedupe window); returns how many. */
  purgeDedupe(before: Date): Promise<number>;
  /** Buffered (not yet stored) events of a user, for GDPR export. */
  eventsOfUser(userId: string): Promise<Record<string, unknown>[]>;
  /** Removes buffered events of a user or of their anonymous ids; returns how many. */
  eraseUser(userId: string, anonymousIds: string[]): Promise<number>;
  /** Throws while the buffer cannot take writes (for /ready); absent where the database probe covers it. */
  readiness?(): Promise<void>;
  close(): Promise<void>;
}
