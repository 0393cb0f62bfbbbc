import { and, asc, desc, eq, gt, isNull, lt, or, sql } from 'drizzle-orm';
import type { Db, DbExecutor } from '../../kernel/db/database.js';
import { connections, oauthStates, publications, requestLog, webhookDeliveries, type ConnectionRow } from './schema.js';

export type RequestLogRow = typeof requestLog.$inferSelect;
export type Publication = typeof publications.$inferSelect;

export class ConnectionsRepository {
  constructor(private readonly db: Db) {}

  async insert(row: typeof connections.$inferInsert, ex: DbExecutor = this.db): Promise<ConnectionRow> {
    return (await ex.insert(connections).values(row).returning())[0]!;
  }

  async get(workspaceId: string, id: string, ex: DbExecutor = this.db): Promise<ConnectionRow | null> {
    return (await ex.select().from(connections).where(and(eq(connections.workspaceId, workspaceId), eq(connections.id, id))).limit(1))[0] ?? null;
  }

  async byId(id: string, ex: DbExecutor = this.db): Promise<ConnectionRow | null> {
    return (await ex.select().from(connections).where(eq(connections.id, id)).limit(1))[0] ?? null;
  }

  async byInboundTokenHash(hash: string): Promise<ConnectionRow | null> {
    return (await this.db.select().from(connections).where(eq(connections.inboundTokenHash, hash)).limit(1))[0] ?? null;
  }

  async list(workspaceId: string): Promise<ConnectionRow[]> {
    return this.db.select().from(connections).where(eq(connections.workspaceId, workspaceId)).orderBy(asc(connections.createdAt), asc(connections.id));
  }

  async update(workspaceId: string, id: string, patch: Partial<typeof connections.$inferInsert>, ex: DbExecutor = this.db): Promise<ConnectionRow | null> {
    return (await ex.update(connections).set(patch).where(and(eq(connections.workspaceId, workspaceId), eq(connections.id, id))).returning())[0] ?? null;
  }

  async remove(workspaceId: string, id: string, ex: DbExecutor = this.db): Promise<boolean> {
    return (await ex.delete(connections).where(and(eq(connections.workspaceId, workspaceId), eq(connections.id, id))).returning({ id: connections.id })).length > 0;
  }

  /** Takes the refresh lease when nobody holds it (compare-and-set: one winner across replicas). */
  async takeRefreshLease(id: string, now: Date, until: Date): Promise<boolean> {
    const r = await this.db
      .update(connections)
      .set({ refreshLeaseUntil: until })
      .where(and(eq(connections.id, id), or(isNull(connections.refreshLeaseUntil), lt(connections.refreshLeaseUntil, now))))
      .returning({ id: connections.id });
    return r.length > 0;
  }

  async releaseRefreshLease(id: string, patch: Partial<typeof connections.$inferInsert>): Promise<void> {
    await this.db.update(connections).set({ ...patch, refreshLeaseUntil: null }).where(eq(connections.id, id));
  }

  /** Batch of rows for re-wrapping, in id order after `afterId`. */
  async credentialsBatch(afterId: string | null, limit: number): Promise<{ id: string; credentials: string }[]> {
    return this.db
      .select({ id: connections.id, credentials: connections.credentials })
      .from(connections)
      .where(afterId ? gt(connections.id, afterId) : undefined)
      .orderBy(asc(connections.id))
      .limit(limit);
  }

  /** Replaces the ciphertext only if nobody changed it meanwhile (a concurrent update wins). */
  async swapCredentials(id: string, from: string, to: string): Promise<boolean> {
    const r = await this.db.update(connections).set({ credentials: to }).where(and(eq(connections.id, id), eq(connections.credentials, from))).returning({ id: connections.id });
    return r.length > 0;
  }

  async oauthVerifiers(): Promise<{ stateHash: string; verifier: string }[]> {
    return this.db.select({ stateHash: oauthStates.stateHash, verifier: oauthStates.verifier }).from(oauthStates);
  }

  async swapOauthVerifier(stateHash: string, from: string, to: string): Promise<void> {
    await this.db.update(oauthStates).set({ verifier: to }).where(and(eq(oauthStates.stateHash, stateHash), eq(oauthStates.verifier, from)));
  }

  async insertOauthState(row: typeof oauthStates.$inferInsert): Promise<void> {
    await this.db.insert(oauthStates).values(row);
  }

  /** Single use: the state row is deleted as it is read. */
  async consumeOauthState(stateHash: string): Promise<typeof oauthStates.$inferSelect | null> {
    return (await this.db.delete(oauthStates).where(eq(oauthStates.stateHash, stateHash)).returning())[0] ?? null;
  }

  /** Request-log rows waiting for the next batched insert (see queueRequestLog). */
  private logQueue: (typeof requestLog.$inferInsert)[] = [];
  private logTimer: NodeJS.Timeout | null = null;
  private logFlushing: Promise<void> = Promise.resolve();

  /**
   * Queues a request-log row; rows are written in one multi-row INSERT every 50 ms (or at 200
   * rows), so a busy connection costs one statement per batch instead of one per request. The log
   * was never part of the request's outcome (its write was not awaited); flushRequestLog() on stop
   * writes what is queued.
   */
  queueRequestLog(row: typeof requestLog.$inferInsert, onError: (err: unknown) => void): void {
    this.logQueue.push(row);
    if (this.logQueue.length >= 200) void this.flushRequestLog().catch(onError);
    else if (!this.logTimer) {
      this.logTimer = setTimeout(() => void this.flushRequestLog().catch(onError), 50);
      this.logTimer.unref();
    }
  }

  flushRequestLog(): Promise<void> {
    if (this.logTimer) clearTimeout(this.logTimer);
    this.logTimer = null;
    const batch = this.logQueue;
    this.logQueue = [];
    this.logFlushing = this.logFlushing.catch(() => {}).then(async () => {
      if (batch.length) await this.db.insert(requestLog).values(batch);
    });
    return this.logFlushing;
  }

  async requestLog(connectionId: string, before: number | undefined, limit: number): Promise<RequestLogRow[]> {
    return this.db
      .select()
      .from(requestLog)
      .where(and(eq(requestLog.connectionId, connectionId), before ? lt(requestLog.id, before) : undefined))
      .orderBy(desc(requestLog.id))
      .limit(limit);
  }

  /** True when the delivery id is new (and now recorded); false for a replay. */
  async recordDelivery(connectionId: string, deliveryId: string, at: Date, ex: DbExecutor = this.db): Promise<boolean> {
    const r = await ex.insert(webhookDeliveries).values({ connectionId, deliveryId, receivedAt: at }).onConflictDoNothing().returning({ id: webhookDeliveries.deliveryId });
    return r.length > 0;
  }

  /**
   * Takes the idempotency key of a publication (kind 'publish') or an action run (kind 'action'):
   * inserts a pending row, or retakes a pending one whose claimer died (claimed before staleBefore)
   * or an 'uncertain' one (an attempt that ended without knowing the outcome, ADR 0079). A retaken
   * row may already have been published by the earlier attempt: `previousAttemptAt` says when that
   * attempt was claimed, so the caller can look for its item before publishing again.
   * Not claimed: another caller holds it, or it is confirmed (the row carries the first result).
   */
  async claimPublication(
    connectionId: string,
    key: string,
    now: Date,
    staleBefore: Date,
    kind: Publication['kind'] = 'publish',
    action: string | null = null,
  ): Promise<{ claimed: boolean; row: Publication | null; previousAttemptAt?: Date }> {
    const inserted = await this.db.insert(publications).values({ connectionId, kind, idempotencyKey: key, action, status: 'pending', claimedAt: now }).onConflictDoNothing().returning();
    if (inserted[0]) return { claimed: true, row: inserted[0] };
    const same = and(eq(publications.connectionId, connectionId), eq(publications.kind, kind), eq(publications.idempotencyKey, key));
    const existing = (await this.db.select().from(publications).where(same).limit(1))[0] ?? null;
    const retakable = existing && (existing.status === 'uncertain' || (existing.status === 'pending' && existing.claimedAt < staleBefore));
    if (!retakable) return { claimed: false, row: existing };
    // Retaken only if nobody else retook it meanwhile (status and claim time unchanged since the read).
    const retaken = await this.db
      .update(publications)
      .set({ status: 'pending', claimedAt: now, action })
      .where(and(same, eq(publications.status, existing.status), eq(publications.claimedAt, existing.claimedAt)))
      .returning();
    if (retaken[0]) return { claimed: true, row: retaken[0], previousAttemptAt: existing.claimedAt };
    return { claimed: false, row: (await this.db.select().from(publications).where(same).limit(1))[0] ?? null };
  }

  /** Keeps the key of a publish whose outcome is unknown: the next claim retakes it as a retry (ADR 0079). */
  async markPublicationUncertain(connectionId: string, key: string): Promise<void> {
    await this.db
      .update(publications)
      .set({ status: 'uncertain' })
      .where(and(eq(publications.connectionId, connectionId), eq(publications.kind, 'publish'), eq(publications.idempotencyKey, key), eq(publications.status, 'pending')));
  }

  async confirmPublication(connectionId: string, key: string, externalId: string, url: string | null, at: Date): Promise<void> {
    await this.db
      .update(publications)
      .set({ status: 'confirmed', externalId, url, confirmedAt: at })
      .where(and(eq(publications.connectionId, connectionId), eq(publications.kind, 'publish'), eq(publications.idempotencyKey, key)));
  }

  /** Keeps an action's first successful output under its key. */
  async confirmAction(connectionId: string, key: string, output: Record<string, unknown>, at: Date): Promise<void> {
    await this.db
      .update(publications)
      .set({ status: 'confirmed', output, confirmedAt: at })
      .where(and(eq(publications.connectionId, connectionId), eq(publications.kind, 'action'), eq(publications.idempotencyKey, key)));
  }

  async releasePublication(connectionId: string, key: string, kind: Publication['kind'] = 'publish'): Promise<void> {
    await this.db
      .delete(publications)
      .where(and(eq(publications.connectionId, connectionId), eq(publications.kind, kind), eq(publications.idempotencyKey, key), eq(publications.status, 'pending')));
  }

  // Personal data and retention.
  async requestLogOfActor(actorId: string): Promise<RequestLogRow[]> {
    return this.db.select().from(requestLog).where(eq(requestLog.actorId, actorId)).orderBy(asc(requestLog.id));
  }
  async connectionsCreatedBy(userId: string): Promise<{ id: string; workspaceId: string; connector: string; name: string; createdAt: Date }[]> {
    return this.db
      .select({ id: connections.id, workspaceId: connections.workspaceId, connector: connections.connector, name: connections.name, createdAt: connections.createdAt })
      .from(connections)
      .where(eq(connections.createdBy, userId));
  }
  async eraseActor(userId: string): Promise<{ requestLog: number; connections: number; oauthStates: number }> {
    const a = await this.db.update(requestLog).set({ actorId: null }).where(eq(requestLog.actorId, userId)).returning({ id: requestLog.id });
    const b = await this.db.update(connections).set({ createdBy: null }).where(eq(connections.createdBy, userId)).returning({ id: connections.id });
    const c = await this.db.update(oauthStates).set({ createdBy: null }).where(eq(oauthStates.createdBy, userId)).returning({ s: oauthStates.stateHash });
    return { requestLog: a.length, connections: b.length, oauthStates: c.length };
  }
  async purgeRequestLog(before: Date): Promise<number> {
    return (await this.db.delete(requestLog).where(lt(requestLog.occurredAt, before)).returning({ id: requestLog.id })).length;
  }
  async purgeDeliveries(before: Date): Promise<number> {
    return (await this.db.delete(webhookDeliveries).where(lt(webhookDeliveries.receivedAt, before)).returning({ id: webhookDeliveries.deliveryId })).length;
  }
  async purgeOauthStates(now: Date): Promise<number> {
    return (await this.db.delete(oauthStates).where(lt(oauthStates.expiresAt, now)).returning({ s: oauthStates.stateHash })).length;
  }
  async countByWorkspace(): Promise<number> {
    const r = await this.db.select({ n: sql<number>`count(*)::int` }).from(connections);
    return r[0]?.n ?? 0;
  }
}
