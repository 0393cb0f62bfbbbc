import { and, count, eq, gt, inArray, isNull, lt, lte, or, sql } from 'drizzle-orm';
import type { Db, DbExecutor } from '../../kernel/db/database.js';
import { accountTokens, mailOutbox } from './schema.js';

export type MailRow = typeof mailOutbox.$inferSelect;
export type AccountTokenRow = typeof accountTokens.$inferSelect;
export type AccountTokenPurpose = AccountTokenRow['purpose'];

/** The platform mail outbox and the single-use account tokens (ADR 0040): their SQL lives here. */
export class MailRepository {
  constructor(private readonly db: Db) {}

  async insertMail(row: typeof mailOutbox.$inferInsert, ex: DbExecutor = this.db): Promise<MailRow> {
    return (await ex.insert(mailOutbox).values(row).returning())[0]!;
  }

  /**
   * Leases up to `limit` due mails to `owner` until `leaseUntil`: pending, due, and not leased by a
   * live worker. Rows another worker is claiming right now are skipped (SKIP LOCKED), so two workers
   * never hold the same mail; a worker killed while holding one loses it when its lease ends.
   */
  async claimDue(now: Date, owner: string, leaseUntil: Date, limit: number): Promise<MailRow[]> {
    return this.db.transaction(async (tx) => {
      const due = await tx
        .select({ id: mailOutbox.id })
        .from(mailOutbox)
        .where(and(eq(mailOutbox.status, 'pending'), lte(mailOutbox.nextAttemptAt, now), or(isNull(mailOutbox.leaseUntil), lt(mailOutbox.leaseUntil, now))))
        .orderBy(mailOutbox.nextAttemptAt)
        .limit(limit)
        .for('update', { skipLocked: true });
      if (due.length === 0) return [];
      return tx
        .update(mailOutbox)
        .set({ leaseOwner: owner, leaseUntil, attempts: sql`${mailOutbox.attempts} + 1` })
        .where(inArray(
          mailOutbox.id,
          due.map((d) => d.id),
        ))
        .returning();
    });
  }

  /** Settles a leased mail; false when the lease was lost meanwhile (another worker owns it now). */
  async settle(id: string, owner: string, patch: Partial<typeof mailOutbox.$inferInsert>): Promise<boolean> {
    const r = await this.db
      .update(mailOutbox)
      .set({ ...patch, leaseOwner: null, leaseUntil: null })
      .where(and(eq(mailOutbox.id, id), eq(mailOutbox.leaseOwner, owner), eq(mailOutbox.status, 'pending')))
      .returning({ id: mailOutbox.id });
    return r.length > 0;
  }

  async list(q: { status?: MailRow['status']; to?: string; before?: Date; limit: number }): Promise<MailRow[]> {
    return this.db
      .select()
      .from(mailOutbox)
      .where(and(q.status ? eq(mailOutbox.status, q.status) : undefined, q.to ? eq(sql`lower(${mailOutbox.toAddress})`, q.to.trim().toLowerCase()) : undefined, q.before ? lt(mailOutbox.createdAt, q.before) : undefined))
      .orderBy(sql`${mailOutbox.createdAt} DESC`, sql`${mailOutbox.id} DESC`)
      .limit(q.limit);
  }

  async byId(id: string): Promise<MailRow | null> {
    return (await this.db.select().from(mailOutbox).where(eq(mailOutbox.id, id)).limit(1))[0] ?? null;
  }

  async pendingCount(): Promise<number> {
    const r = await this.db.select({ n: count() }).from(mailOutbox).where(eq(mailOutbox.status, 'pending'));
    return Number(r[0]?.n ?? 0);
  }

  private ofUser(userId: string, email: string) {
    return or(eq(mailOutbox.userId, userId), eq(sql`lower(${mailOutbox.toAddress})`, email.trim().toLowerCase()));
  }

  async mailsOfUser(userId: string, email: string): Promise<MailRow[]> {
    return this.db.select().from(mailOutbox).where(this.ofUser(userId, email)).orderBy(mailOutbox.createdAt);
  }

  async deleteMailsOfUser(userId: string, email: string): Promise<number> {
    return (await this.db.delete(mailOutbox).where(this.ofUser(userId, email)).returning({ id: mailOutbox.id })).length;
  }

  /** Sent and failed mails older than `before` (their bodies hold links): the retention rule. */
  async purgeSettled(before: Date): Promise<number> {
    const r = await this.db
      .delete(mailOutbox)
      .where(and(inArray(mailOutbox.status, ['sent', 'failed']), lt(mailOutbox.createdAt, before)))
      .returning({ id: mailOutbox.id });
    return r.length;
  }

  async insertAccountToken(row: typeof accountTokens.$inferInsert, ex: DbExecutor = this.db): Promise<void> {
    await ex.insert(accountTokens).values(row);
  }

  /** Ends every unused token of a user for a purpose (a new link replaces the old ones). */
  async retireAccountTokens(userId: string, purpose: AccountTokenPurpose, now: Date, ex: DbExecutor = this.db): Promise<void> {
    await ex
      .update(accountTokens)
      .set({ usedAt: now })
      .where(and(eq(accountTokens.userId, userId), eq(accountTokens.purpose, purpose), isNull(accountTokens.usedAt)));
  }

  /** A live (unused, unexpired) token, without using it. */
  async liveAccountToken(hash: string, purpose: AccountTokenPurpose, now: Date): Promise<AccountTokenRow | null> {
    const r = await this.db
      .select()
      .from(accountTokens)
      .where(and(eq(accountTokens.tokenHash, hash), eq(accountTokens.purpose, purpose), isNull(accountTokens.usedAt), gt(accountTokens.expiresAt, now)))
      .limit(1);
    return r[0] ?? null;
  }

  /** Marks a live token used and returns it, atomically: a token works once even under parallel requests. */
  async consumeAccountToken(hash: string, purpose: AccountTokenPurpose, now: Date, ex: DbExecutor = this.db): Promise<AccountTokenRow | null> {
    const r = await ex
      .update(accountTokens)
      .set({ usedAt: now })
      .where(and(eq(accountTokens.tokenHash, hash), eq(accountTokens.purpose, purpose), isNull(accountTokens.usedAt), gt(accountTokens.expiresAt, now)))
      .returning();
    return r[0] ?? null;
  }

  async purgeAccountTokens(before: Date): Promise<number> {
    const r = await this.db
      .delete(accountTokens)
      .where(or(lt(accountTokens.expiresAt, before), lt(accountTokens.usedAt, before)))
      .returning({ id: accountTokens.id });
    return r.length;
  }
}
