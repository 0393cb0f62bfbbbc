import { and, asc, eq, lt } from 'drizzle-orm';
import type { Db, DbExecutor } from '../../kernel/db/database.js';
import { ssoFlows, ssoIdentities, ssoProviders } from './schema.js';

export type SsoProviderRow = typeof ssoProviders.$inferSelect;
export type SsoIdentityRow = typeof ssoIdentities.$inferSelect;
export type SsoFlowRow = typeof ssoFlows.$inferSelect;

/** OpenID Connect providers, the provider subjects linked to accounts and the sign-ins in progress. */
export class SsoRepository {
  constructor(private readonly db: Db) {}

  async insertProvider(row: typeof ssoProviders.$inferInsert, ex: DbExecutor = this.db): Promise<SsoProviderRow | null> {
    return (await ex.insert(ssoProviders).values(row).onConflictDoNothing({ target: ssoProviders.slug }).returning())[0] ?? null;
  }

  async providers(opts: { enabledOnly?: boolean } = {}): Promise<SsoProviderRow[]> {
    return this.db
      .select()
      .from(ssoProviders)
      .where(opts.enabledOnly ? eq(ssoProviders.enabled, true) : undefined)
      .orderBy(asc(ssoProviders.name));
  }

  async providerBySlug(slug: string): Promise<SsoProviderRow | null> {
    return (await this.db.select().from(ssoProviders).where(eq(ssoProviders.slug, slug)).limit(1))[0] ?? null;
  }

  async providerById(id: string): Promise<SsoProviderRow | null> {
    return (await this.db.select().from(ssoProviders).where(eq(ssoProviders.id, id)).limit(1))[0] ?? null;
  }

  async updateProvider(id: string, patch: Partial<typeof ssoProviders.$inferInsert>, ex: DbExecutor = this.db): Promise<SsoProviderRow | null> {
    return (await ex.update(ssoProviders).set(patch).where(eq(ssoProviders.id, id)).returning())[0] ?? null;
  }

  /** Swaps a ciphertext only if it is still the one read (key rotation racing an edit keeps the edit). */
  async swapClientSecret(id: string, current: string, next: string): Promise<boolean> {
    const r = await this.db
      .update(ssoProviders)
      .set({ clientSecret: next })
      .where(and(eq(ssoProviders.id, id), eq(ssoProviders.clientSecret, current)))
      .returning({ id: ssoProviders.id });
    return r.length > 0;
  }

  async deleteProvider(id: string, ex: DbExecutor = this.db): Promise<boolean> {
    return (await ex.delete(ssoProviders).where(eq(ssoProviders.id, id)).returning({ id: ssoProviders.id })).length > 0;
  }

  async identity(providerId: string, subject: string): Promise<SsoIdentityRow | null> {
    return (await this.db.select().from(ssoIdentities).where(and(eq(ssoIdentities.providerId, providerId), eq(ssoIdentities.subject, subject))).limit(1))[0] ?? null;
  }

  async insertIdentity(row: typeof ssoIdentities.$inferInsert, ex: DbExecutor = this.db): Promise<void> {
    await ex.insert(ssoIdentities).values(row).onConflictDoNothing();
  }

  async touchIdentity(providerId: string, subject: string, now: Date): Promise<void> {
    await this.db.update(ssoIdentities).set({ lastLoginAt: now }).where(and(eq(ssoIdentities.providerId, providerId), eq(ssoIdentities.subject, subject)));
  }

  async identitiesOfUser(userId: string): Promise<SsoIdentityRow[]> {
    return this.db.select().from(ssoIdentities).where(eq(ssoIdentities.userId, userId));
  }

  async insertFlow(row: typeof ssoFlows.$inferInsert): Promise<void> {
    await this.db.insert(ssoFlows).values(row);
  }

  /** Takes a live flow by its state's hash: the row is deleted, so a callback is answered once. */
  async takeFlow(stateHash: string, now: Date): Promise<SsoFlowRow | null> {
    const taken = await this.db.delete(ssoFlows).where(eq(ssoFlows.stateHash, stateHash)).returning();
    const flow = taken[0];
    return flow && flow.expiresAt > now ? flow : null;
  }

  async deleteExpiredFlows(now: Date): Promise<number> {
    return (await this.db.delete(ssoFlows).where(lt(ssoFlows.expiresAt, now)).returning({ h: ssoFlows.stateHash })).length;
  }
}
