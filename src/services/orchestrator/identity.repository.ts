import { and, eq, gt, inArray, isNull, lt, or, sql } from 'drizzle-orm';
import type { Db, DbExecutor } from '../../kernel/db/database.js';
import { recoveryCodes, securityEvents, tokens, users } from './schema.js';

export type UserRow = typeof users.$inferSelect;
export type TokenRow = typeof tokens.$inferSelect;
export type SecurityEventRow = typeof securityEvents.$inferSelect;

export const normalizeEmail = (email: string) => email.trim().toLowerCase();

/** Users, their tokens and recovery codes: the SQL of identity lives here and nowhere else. */
export class IdentityRepository {
  constructor(private readonly db: Db) {}

  async insertUser(row: typeof users.$inferInsert, ex: DbExecutor = this.db): Promise<UserRow | null> {
    const inserted = await ex.insert(users).values(row).onConflictDoNothing({ target: users.emailNormalized }).returning();
    return inserted[0] ?? null;
  }

  async userById(id: string, ex: DbExecutor = this.db): Promise<UserRow | null> {
    return (await ex.select().from(users).where(eq(users.id, id)).limit(1))[0] ?? null;
  }

  async userByEmail(email: string, ex: DbExecutor = this.db): Promise<UserRow | null> {
    return (await ex.select().from(users).where(eq(users.emailNormalized, normalizeEmail(email))).limit(1))[0] ?? null;
  }

  async usersByIds(ids: string[]): Promise<UserRow[]> {
    if (ids.length === 0) return [];
    return this.db.select().from(users).where(inArray(users.id, ids));
  }

  async updateUser(id: string, patch: Partial<typeof users.$inferInsert>, ex: DbExecutor = this.db): Promise<UserRow | null> {
    return (await ex.update(users).set(patch).where(eq(users.id, id)).returning())[0] ?? null;
  }

  /** Counts a failed sign-in and returns the new consecutive-failure count. */
  async incrementFailedLogins(id: string): Promise<number> {
    const r = await this.db
      .update(users)
      .set({ failedLogins: sql`${users.failedLogins} + 1` })
      .where(eq(users.id, id))
      .returning({ failedLogins: users.failedLogins });
    return r[0]?.failedLogins ?? 0;
  }

  async deleteUser(id: string, ex: DbExecutor = this.db): Promise<number> {
    return (await ex.delete(users).where(eq(users.id, id)).returning({ id: users.id })).length;
  }

  async insertToken(row: typeof tokens.$inferInsert, ex: DbExecutor = this.db): Promise<TokenRow> {
    return (await ex.insert(tokens).values(row).returning())[0]!;
  }

  /** A live token with its user, by the token's hash. */
  async liveTokenByHash(hash: string, now: Date): Promise<{ token: TokenRow; user: UserRow } | null> {
    const r = await this.db
      .select({ token: tokens, user: users })
      .from(tokens)
      .innerJoin(users, eq(users.id, tokens.userId))
      .where(and(eq(tokens.tokenHash, hash), isNull(tokens.revokedAt), or(isNull(tokens.expiresAt), gt(tokens.expiresAt, now))))
      .limit(1);
    return r[0] ?? null;
  }

  async touchToken(id: string, now: Date): Promise<void> {
    await this.db.update(tokens).set({ lastUsedAt: now }).where(eq(tokens.id, id));
  }

  async tokensOfUser(userId: string, kind?: 'session' | 'api'): Promise<TokenRow[]> {
    return this.db
      .select()
      .from(tokens)
      .where(and(eq(tokens.userId, userId), kind ? eq(tokens.kind, kind) : undefined))
      .orderBy(tokens.createdAt);
  }

  /** Revokes matching live tokens; returns their hashes so cached lookups can be dropped. */
  async revokeTokens(where: { userId: string; id?: string; hash?: string; kind?: 'session' | 'api'; exceptId?: string }, now: Date, ex: DbExecutor = this.db): Promise<string[]> {
    const r = await ex
      .update(tokens)
      .set({ revokedAt: now })
      .where(
        and(
          eq(tokens.userId, where.userId),
          isNull(tokens.revokedAt),
          where.id ? eq(tokens.id, where.id) : undefined,
          where.hash ? eq(tokens.tokenHash, where.hash) : undefined,
          where.kind ? eq(tokens.kind, where.kind) : undefined,
          where.exceptId ? sql`${tokens.id} <> ${where.exceptId}` : undefined,
        ),
      )
      .returning({ hash: tokens.tokenHash });
    return r.map((x) => x.hash);
  }

  async liveTokenHashesOfUser(userId: string): Promise<string[]> {
    const r = await this.db.select({ hash: tokens.tokenHash }).from(tokens).where(and(eq(tokens.userId, userId), isNull(tokens.revokedAt)));
    return r.map((x) => x.hash);
  }

  async purgeDeadTokens(before: Date): Promise<number> {
    const r = await this.db
      .delete(tokens)
      .where(or(lt(tokens.expiresAt, before), lt(tokens.revokedAt, before)))
      .returning({ id: tokens.id });
    return r.length;
  }

  async replaceRecoveryCodes(userId: string, hashes: string[], ex: DbExecutor = this.db): Promise<void> {
    await ex.delete(recoveryCodes).where(eq(recoveryCodes.userId, userId));
    if (hashes.length) await ex.insert(recoveryCodes).values(hashes.map((codeHash) => ({ userId, codeHash })));
  }

  /** Marks an unused recovery code used; true when one was consumed. */
  async consumeRecoveryCode(userId: string, hash: string, now: Date): Promise<boolean> {
    const r = await this.db
      .update(recoveryCodes)
      .set({ usedAt: now })
      .where(and(eq(recoveryCodes.userId, userId), eq(recoveryCodes.codeHash, hash), isNull(recoveryCodes.usedAt)))
      .returning({ userId: recoveryCodes.userId });
    return r.length > 0;
  }

  async countUnusedRecoveryCodes(userId: string): Promise<number> {
    const r = await this.db
      .select({ n: sql<number>`count(*)::int` })
      .from(recoveryCodes)
      .where(and(eq(recoveryCodes.userId, userId), isNull(recoveryCodes.usedAt)));
    return Number(r[0]?.n ?? 0);
  }

  /** Accepts a TOTP time step only if it is newer than the last one used (no replay). */
  async advanceMfaStep(userId: string, step: number): Promise<boolean> {
    const r = await this.db
      .update(users)
      .set({ mfaLastStep: step })
      .where(and(eq(users.id, userId), or(isNull(users.mfaLastStep), lt(users.mfaLastStep, step))))
      .returning({ id: users.id });
    return r.length > 0;
  }

  /** Users holding an encrypted MFA secret (for `v01t keys rotate`). */
  async usersWithMfaSecrets(): Promise<Pick<UserRow, 'id' | 'mfaSecret' | 'mfaPendingSecret'>[]> {
    return this.db
      .select({ id: users.id, mfaSecret: users.mfaSecret, mfaPendingSecret: users.mfaPendingSecret })
      .from(users)
      .where(or(sql`${users.mfaSecret} IS NOT NULL`, sql`${users.mfaPendingSecret} IS NOT NULL`));
  }

  /** Replaces an encrypted secret only if it is still the one read (a concurrent change wins). */
  async swapMfaSecret(id: string, column: 'mfaSecret' | 'mfaPendingSecret', from: string, to: string): Promise<boolean> {
    const r = await this.db
      .update(users)
      .set({ [column]: to })
      .where(and(eq(users.id, id), eq(users[column], from)))
      .returning({ id: users.id });
    return r.length > 0;
  }

  async insertSecurityEvent(row: typeof securityEvents.$inferInsert): Promise<void> {
    await this.db.insert(securityEvents).values(row);
  }

  async securityEvents(q: { kind?: string; ip?: string; userId?: string; from?: Date; to?: Date; before?: number; limit: number }): Promise<SecurityEventRow[]> {
    return this.db
      .select()
      .from(securityEvents)
      .where(
        and(
          q.kind ? eq(securityEvents.kind, q.kind) : undefined,
          q.ip ? eq(securityEvents.ip, q.ip) : undefined,
          q.userId ? eq(securityEvents.userId, q.userId) : undefined,
          q.from ? sql`${securityEvents.occurredAt} >= ${q.from.toISOString()}` : undefined,
          q.to ? lt(securityEvents.occurredAt, q.to) : undefined,
          q.before ? lt(securityEvents.id, q.before) : undefined,
        ),
      )
      .orderBy(sql`${securityEvents.id} DESC`)
      .limit(q.limit);
  }

  async securityEventsOfUser(userId: string, email: string): Promise<SecurityEventRow[]> {
    return this.db
      .select()
      .from(securityEvents)
      .where(or(eq(securityEvents.userId, userId), eq(securityEvents.emailNormalized, normalizeEmail(email))))
      .orderBy(securityEvents.id);
  }

  async deleteSecurityEventsOfUser(userId: string, email: string): Promise<number> {
    const r = await this.db
      .delete(securityEvents)
      .where(or(eq(securityEvents.userId, userId), eq(securityEvents.emailNormalized, normalizeEmail(email))))
      .returning({ id: securityEvents.id });
    return r.length;
  }

  async purgeSecurityEvents(before: Date): Promise<number> {
    const r = await this.db.delete(securityEvents).where(lt(securityEvents.occurredAt, before)).returning({ id: securityEvents.id });
    return r.length;
  }
}
