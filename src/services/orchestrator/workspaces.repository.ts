import { and, asc, desc, eq, gt, isNull, sql } from 'drizzle-orm';
import type { Db, DbExecutor } from '../../kernel/db/database.js';
import type { Role } from '../../kernel/auth/permissions.js';
import { invitations, members, users, workspaces } from './schema.js';

export type WorkspaceRow = typeof workspaces.$inferSelect;
export type MemberRow = typeof members.$inferSelect;
export type InvitationRow = typeof invitations.$inferSelect;

export class WorkspacesRepository {
  constructor(private readonly db: Db) {}

  async insertWorkspace(row: typeof workspaces.$inferInsert, ex: DbExecutor = this.db): Promise<WorkspaceRow> {
    return (await ex.insert(workspaces).values(row).returning())[0]!;
  }

  async workspaceById(id: string, ex: DbExecutor = this.db): Promise<WorkspaceRow | null> {
    return (await ex.select().from(workspaces).where(eq(workspaces.id, id)).limit(1))[0] ?? null;
  }

  async updateWorkspace(id: string, patch: Partial<typeof workspaces.$inferInsert>, ex: DbExecutor = this.db): Promise<WorkspaceRow | null> {
    return (await ex.update(workspaces).set(patch).where(eq(workspaces.id, id)).returning())[0] ?? null;
  }

  async deleteWorkspace(id: string, ex: DbExecutor = this.db): Promise<void> {
    await ex.delete(workspaces).where(eq(workspaces.id, id));
  }

  async workspacesOfUser(userId: string): Promise<(WorkspaceRow & { role: Role; personas: string[] })[]> {
    const r = await this.db
      .select({ w: workspaces, role: members.role, personas: members.personas })
      .from(members)
      .innerJoin(workspaces, eq(workspaces.id, members.workspaceId))
      .where(eq(members.userId, userId))
      .orderBy(asc(workspaces.createdAt));
    return r.map((x) => ({ ...x.w, role: x.role, personas: x.personas }));
  }

  /** Membership and the workspace's MFA rule in one read: the hot path of every workspace route. */
  async access(userId: string, workspaceId: string): Promise<{ role: Role; requireMfa: boolean } | null> {
    const r = await this.db
      .select({ role: members.role, requireMfa: workspaces.requireMfa })
      .from(members)
      .innerJoin(workspaces, eq(workspaces.id, members.workspaceId))
      .where(and(eq(members.workspaceId, workspaceId), eq(members.userId, userId)))
      .limit(1);
    return r[0] ?? null;
  }

  async insertMember(row: typeof members.$inferInsert, ex: DbExecutor = this.db): Promise<MemberRow | null> {
    return (await ex.insert(members).values(row).onConflictDoNothing().returning())[0] ?? null;
  }

  async member(workspaceId: string, userId: string, ex: DbExecutor = this.db): Promise<MemberRow | null> {
    return (
      (await ex
        .select()
        .from(members)
        .where(and(eq(members.workspaceId, workspaceId), eq(members.userId, userId)))
        .limit(1))[0] ?? null
    );
  }

  async membersWithUsers(workspaceId: string) {
    return this.db
      .select({
        userId: members.userId,
        role: members.role,
        personas: members.personas,
        joinedAt: members.joinedAt,
        email: users.email,
        name: users.name,
        mfaEnabled: users.mfaEnabled,
      })
      .from(members)
      .innerJoin(users, eq(users.id, members.userId))
      .where(eq(members.workspaceId, workspaceId))
      .orderBy(asc(members.joinedAt));
  }

  async membershipsOfUser(userId: string, ex: DbExecutor = this.db): Promise<MemberRow[]> {
    return ex.select().from(members).where(eq(members.userId, userId));
  }

  async updateMember(workspaceId: string, userId: string, patch: Partial<typeof members.$inferInsert>, ex: DbExecutor = this.db): Promise<MemberRow | null> {
    return (
      (await ex
        .update(members)
        .set(patch)
        .where(and(eq(members.workspaceId, workspaceId), eq(members.userId, userId)))
        .returning())[0] ?? null
    );
  }

  async deleteMember(workspaceId: string, userId: string, ex: DbExecutor = this.db): Promise<boolean> {
    const r = await ex
      .delete(members)
      .where(and(eq(members.workspaceId, workspaceId), eq(members.userId, userId)))
      .returning({ userId: members.userId });
    return r.length > 0;
  }

  /**
   * Locks the workspace's owner rows and counts them, so two concurrent demotions cannot both
   * pass the "one owner must remain" check.
   */
  async lockOwners(workspaceId: string, ex: DbExecutor): Promise<string[]> {
    const r = await ex
      .select({ userId: members.userId })
      .from(members)
      .where(and(eq(members.workspaceId, workspaceId), eq(members.role, 'owner')))
      .for('update');
    return r.map((x) => x.userId);
  }

  async oldestMembers(workspaceId: string, ex: DbExecutor): Promise<MemberRow[]> {
    return ex.select().from(members).where(eq(members.workspaceId, workspaceId)).orderBy(asc(members.joinedAt));
  }

  async insertInvitation(row: typeof invitations.$inferInsert, ex: DbExecutor = this.db): Promise<InvitationRow> {
    return (await ex.insert(invitations).values(row).returning())[0]!;
  }

  async pendingInvitations(workspaceId: string, now: Date): Promise<InvitationRow[]> {
    return this.db
      .select()
      .from(invitations)
      .where(and(eq(invitations.workspaceId, workspaceId), isNull(invitations.acceptedAt), isNull(invitations.revokedAt), gt(invitations.expiresAt, now)))
      .orderBy(desc(invitations.createdAt));
  }

  async invitationByHash(hash: string, ex: DbExecutor = this.db): Promise<InvitationRow | null> {
    return (await ex.select().from(invitations).where(eq(invitations.tokenHash, hash)).for('update').limit(1))[0] ?? null;
  }

  async invitation(workspaceId: string, id: string): Promise<InvitationRow | null> {
    return (await this.db.select().from(invitations).where(and(eq(invitations.workspaceId, workspaceId), eq(invitations.id, id))).limit(1))[0] ?? null;
  }

  async updateInvitation(id: string, patch: Partial<typeof invitations.$inferInsert>, ex: DbExecutor = this.db): Promise<void> {
    await ex.update(invitations).set(patch).where(eq(invitations.id, id));
  }

  async invitationsForEmail(emailNormalized: string): Promise<InvitationRow[]> {
    return this.db.select().from(invitations).where(eq(invitations.emailNormalized, emailNormalized));
  }

  async deleteInvitationsForEmail(emailNormalized: string, ex: DbExecutor = this.db): Promise<number> {
    return (await ex.delete(invitations).where(eq(invitations.emailNormalized, emailNormalized)).returning({ id: invitations.id })).length;
  }

  async countUsers(): Promise<number> {
    const r = await this.db.select({ n: sql<number>`count(*)::int` }).from(users);
    return Number(r[0]?.n ?? 0);
  }
}
