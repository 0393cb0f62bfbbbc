import { randomUUID } from 'node:crypto';
import type { AuditLog } from '../../kernel/audit/index.js';
import type { Clock } from '../../kernel/clock.js';
import type { Transactor, Tx } from '../../kernel/db/transaction.js';
import { AppError } from '../../kernel/errors.js';
import { canGrantRole, type Persona, type Role } from '../../kernel/auth/permissions.js';
import type { Principal, WorkspaceAccess } from '../../kernel/auth/principal.js';
import type { EventPublisher } from '../../kernel/events/index.js';
import { normalizeEmail, type IdentityRepository } from './identity.repository.js';
import type { InvitationRow, WorkspaceRow, WorkspacesRepository } from './workspaces.repository.js';
import { newToken, sha256 } from './secrets.js';
import type { PlatformMail } from './mail.service.js';
import { PAGES } from './mail.templates.js';

const INVITATION_TTL_DAYS = 7;

export const publicWorkspace = (w: WorkspaceRow, role?: Role) => ({
  id: w.id,
  name: w.name,
  requireMfa: w.requireMfa,
  createdAt: w.createdAt,
  ...(role ? { role } : {}),
});

export const publicInvitation = (i: InvitationRow, now: Date) => ({
  id: i.id,
  email: i.email,
  role: i.role,
  createdAt: i.createdAt,
  expiresAt: i.expiresAt,
  status: (i.acceptedAt ? 'accepted' : i.revokedAt ? 'revoked' : i.expiresAt <= now ? 'expired' : 'pending') as 'accepted' | 'revoked' | 'expired' | 'pending',
});

interface Actor {
  principal: Principal;
  access?: WorkspaceAccess;
  ip: string | null;
}

export class WorkspacesService {
  constructor(
    private readonly db: Transactor,
    private readonly repo: WorkspacesRepository,
    private readonly identity: IdentityRepository,
    private readonly audit: AuditLog,
    private readonly clock: Clock,
    private readonly forgetAccess: (workspaceId: string, userIds: string[]) => Promise<void>,
    private readonly events: EventPublisher,
    private readonly mail: PlatformMail,
    private readonly opts: { requireVerifiedEmail: boolean } = { requireVerifiedEmail: false },
  ) {}

  async create(actor: Actor, name: string) {
    if (this.opts.requireVerifiedEmail) {
      const user = await this.identity.userById(actor.principal.userId);
      if (!user?.emailVerifiedAt) throw new AppError('email_unverified', 'Confirm your email address (follow the link mailed to you, or ask for a new one: POST /v1/me/email/verification) before creating a workspace');
    }
    const now = this.clock.now();
    return this.db.transaction(async (tx) => {
      const w = await this.repo.insertWorkspace({ id: randomUUID(), name: name.trim(), createdBy: actor.principal.userId, createdAt: now, updatedAt: now }, tx);
      await this.repo.insertMember({ workspaceId: w.id, userId: actor.principal.userId, role: 'owner', personas: [], joinedAt: now }, tx);
      await this.audit.record({ action: 'workspace.created', workspaceId: w.id, actorId: actor.principal.userId, actorIp: actor.ip, targetType: 'workspace', targetId: w.id, data: { name: w.name } }, tx);
      await this.events.publish({ name: 'orchestrator.workspace.created.v1', workspaceId: w.id, actorId: actor.principal.userId, payload: { workspaceId: w.id, name: w.name } }, tx);
      return publicWorkspace(w, 'owner');
    });
  }

  async listForUser(userId: string) {
    return (await this.repo.workspacesOfUser(userId)).map((w) => publicWorkspace(w, w.role));
  }

  async get(workspaceId: string, role: Role) {
    const w = await this.repo.workspaceById(workspaceId);
    if (!w) throw new AppError('workspace_not_found');
    return publicWorkspace(w, role);
  }

  async update(actor: Actor, workspaceId: string, patch: { name?: string; requireMfa?: boolean }) {
    if (patch.requireMfa && !actor.principal.mfaEnabled) {
      throw new AppError('mfa_enrollment_required', 'Turn on MFA for your own account before requiring it of the workspace');
    }
    const w = await this.db.transaction(async (tx) => {
      const updated = await this.repo.updateWorkspace(
        workspaceId,
        { ...(patch.name !== undefined ? { name: patch.name.trim() } : {}), ...(patch.requireMfa !== undefined ? { requireMfa: patch.requireMfa } : {}), updatedAt: this.clock.now() },
        tx,
      );
      if (!updated) throw new AppError('workspace_not_found');
      await this.audit.record({ action: 'workspace.updated', workspaceId, actorId: actor.principal.userId, actorIp: actor.ip, targetType: 'workspace', targetId: workspaceId, data: patch }, tx);
      return updated;
    });
    if (patch.requireMfa !== undefined) await this.forgetAccess(workspaceId, (await this.repo.membersWithUsers(workspaceId)).map((m) => m.userId));
    return publicWorkspace(w, actor.access?.role);
  }

  async remove(actor: Actor, workspaceId: string): Promise<void> {
    const memberIds = (await this.repo.membersWithUsers(workspaceId)).map((m) => m.userId);
    await this.db.transaction(async (tx) => {
      await this.repo.deleteWorkspace(workspaceId, tx);
      await this.audit.record({ action: 'workspace.deleted', workspaceId, actorId: actor.principal.userId, actorIp: actor.ip, targetType: 'workspace', targetId: workspaceId }, tx);
      await this.events.publish({ name: 'orchestrator.workspace.deleted.v1', workspaceId, actorId: actor.principal.userId, payload: { workspaceId } }, tx);
    });
    await this.forgetAccess(workspaceId, memberIds);
  }

  async members(workspaceId: string) {
    return this.repo.membersWithUsers(workspaceId);
  }

  async changeRole(actor: Actor, workspaceId: string, userId: string, role: Role) {
    const actorRole = actor.access!.role;
    const result = await this.db.transaction(async (tx) => {
      const owners = await this.repo.lockOwners(workspaceId, tx);
      const target = await this.repo.member(workspaceId, userId, tx);
      if (!target) throw new AppError('not_found', 'No such member in this workspace');
      if (!canGrantRole(actorRole, role) || (target.role === 'owner' && actorRole !== 'owner')) {
        throw new AppError('forbidden', `A ${actorRole} cannot change a ${target.role} to ${role}`);
      }
      if (target.role === 'owner' && role !== 'owner' && owners.length <= 1) {
        throw new AppError('last_owner', 'Make another member owner before changing the last owner');
      }
      const updated = await this.repo.updateMember(workspaceId, userId, { role }, tx);
      await this.audit.record(
        { action: 'member.role_changed', workspaceId, actorId: actor.principal.userId, actorIp: actor.ip, targetType: 'user', targetId: userId, data: { from: target.role, to: role } },
        tx,
      );
      return updated!;
    });
    await this.forgetAccess(workspaceId, [userId]);
    return { userId: result.userId, role: result.role, personas: result.personas, joinedAt: result.joinedAt };
  }

  async removeMember(actor: Actor, workspaceId: string, userId: string): Promise<void> {
    const self = userId === actor.principal.userId;
    await this.db.transaction(async (tx) => {
      const owners = await this.repo.lockOwners(workspaceId, tx);
      const target = await this.repo.member(workspaceId, userId, tx);
      if (!target) throw new AppError('not_found', 'No such member in this workspace');
      if (!self && target.role === 'owner' && actor.access!.role !== 'owner') throw new AppError('forbidden', 'Only an owner can remove an owner');
      if (target.role === 'owner' && owners.length <= 1) {
        throw new AppError('last_owner', 'The last owner cannot leave; make another member owner or delete the workspace');
      }
      await this.repo.deleteMember(workspaceId, userId, tx);
      await this.audit.record(
        { action: self ? 'member.left' : 'member.removed', workspaceId, actorId: actor.principal.userId, actorIp: actor.ip, targetType: 'user', targetId: userId, data: { role: target.role } },
        tx,
      );
    });
    await this.forgetAccess(workspaceId, [userId]);
  }

  async personas(workspaceId: string, userId: string): Promise<Persona[]> {
    const m = await this.repo.member(workspaceId, userId);
    if (!m) throw new AppError('workspace_not_found');
    return m.personas as Persona[];
  }

  async setPersonas(actor: Actor, workspaceId: string, personas: Persona[]): Promise<Persona[]> {
    const unique = [...new Set(personas)];
    const m = await this.db.transaction(async (tx) => {
      const updated = await this.repo.updateMember(workspaceId, actor.principal.userId, { personas: unique }, tx);
      if (!updated) throw new AppError('workspace_not_found');
      await this.audit.record({ action: 'member.personas_changed', workspaceId, actorId: actor.principal.userId, actorIp: actor.ip, targetType: 'user', targetId: actor.principal.userId, data: { personas: unique } }, tx);
      return updated;
    });
    return m.personas as Persona[];
  }

  async invite(actor: Actor, workspaceId: string, email: string, role: Role) {
    if (!canGrantRole(actor.access!.role, role)) throw new AppError('forbidden', `A ${actor.access!.role} cannot invite an ${role}`);
    const existing = await this.identity.userByEmail(email);
    if (existing && (await this.repo.member(workspaceId, existing.id))) throw new AppError('already_member', `${email} is already a member`);
    const token = newToken('invite');
    const now = this.clock.now();
    const inv = await this.db.transaction(async (tx) => {
      const row = await this.repo.insertInvitation(
        {
          id: randomUUID(),
          workspaceId,
          email: email.trim(),
          emailNormalized: normalizeEmail(email),
          role,
          tokenHash: sha256(token),
          invitedBy: actor.principal.userId,
          createdAt: now,
          expiresAt: new Date(now.getTime() + INVITATION_TTL_DAYS * 86_400_000),
        },
        tx,
      );
      await this.audit.record({ action: 'invitation.created', workspaceId, actorId: actor.principal.userId, actorIp: actor.ip, targetType: 'invitation', targetId: row.id, data: { role } }, tx);
      await this.mailInvitation(tx, row, token, actor.principal.userId);
      return row;
    });
    this.mail.kick();
    return { invitation: publicInvitation(inv, now), token };
  }

  /** Writes the invitation mail (a link to the web app's accept page) in the invitation's transaction. */
  private async mailInvitation(tx: Tx, inv: InvitationRow, token: string, inviterId: string): Promise<void> {
    const [workspace, inviter] = await Promise.all([this.repo.workspaceById(inv.workspaceId, tx), this.identity.userById(inviterId, tx)]);
    await this.mail.enqueue(tx, {
      template: 'invitation',
      to: inv.email,
      vars: { workspace: workspace?.name ?? 'a workspace', inviter: inviter ? `${inviter.name} (${inviter.email})` : 'Someone', role: inv.role, link: this.mail.link(PAGES.invitation, { token }), expiresAt: inv.expiresAt },
    });
  }

  /** Mails a pending invitation again with a new link (the old one stops working) and a fresh expiry. */
  async resendInvitation(actor: Actor, workspaceId: string, invitationId: string) {
    const inv = await this.repo.invitation(workspaceId, invitationId);
    if (!inv || inv.acceptedAt || inv.revokedAt) throw new AppError('not_found', 'No pending invitation with this id');
    if (!canGrantRole(actor.access!.role, inv.role)) throw new AppError('forbidden', `A ${actor.access!.role} cannot invite an ${inv.role}`);
    const token = newToken('invite');
    const now = this.clock.now();
    const updated = { ...inv, tokenHash: sha256(token), expiresAt: new Date(now.getTime() + INVITATION_TTL_DAYS * 86_400_000) };
    await this.db.transaction(async (tx) => {
      await this.repo.updateInvitation(inv.id, { tokenHash: updated.tokenHash, expiresAt: updated.expiresAt }, tx);
      await this.audit.record({ action: 'invitation.resent', workspaceId, actorId: actor.principal.userId, actorIp: actor.ip, targetType: 'invitation', targetId: inv.id }, tx);
      await this.mailInvitation(tx, updated, token, actor.principal.userId);
    });
    this.mail.kick();
    return { invitation: publicInvitation(updated, now), token };
  }

  async invitations(workspaceId: string) {
    const now = this.clock.now();
    return (await this.repo.pendingInvitations(workspaceId, now)).map((i) => publicInvitation(i, now));
  }

  async revokeInvitation(actor: Actor, workspaceId: string, invitationId: string): Promise<void> {
    const inv = await this.repo.invitation(workspaceId, invitationId);
    if (!inv || inv.acceptedAt || inv.revokedAt) throw new AppError('not_found', 'No pending invitation with this id');
    await this.db.transaction(async (tx) => {
      await this.repo.updateInvitation(inv.id, { revokedAt: this.clock.now() }, tx);
      await this.audit.record({ action: 'invitation.revoked', workspaceId, actorId: actor.principal.userId, actorIp: actor.ip, targetType: 'invitation', targetId: inv.id }, tx);
    });
  }

  async accept(actor: Actor, token: string) {
    const user = await this.identity.userById(actor.principal.userId);
    if (!user) throw new AppError('invalid_token');
    const now = this.clock.now();
    const result = await this.db.transaction(async (tx: Tx) => {
      const inv = await this.repo.invitationByHash(sha256(token.trim()), tx);
      if (!inv || inv.acceptedAt || inv.revokedAt || inv.expiresAt <= now) throw new AppError('invitation_invalid');
      if (inv.emailNormalized !== user.emailNormalized) {
        throw new AppError('forbidden', 'This invitation was sent to another email address');
      }
      const added = await this.repo.insertMember({ workspaceId: inv.workspaceId, userId: user.id, role: inv.role, personas: [], joinedAt: now }, tx);
      if (!added) throw new AppError('already_member');
      await this.repo.updateInvitation(inv.id, { acceptedAt: now, acceptedBy: user.id }, tx);
      await this.events.publish({ name: 'orchestrator.member.joined.v1', workspaceId: inv.workspaceId, actorId: user.id, payload: { userId: user.id, role: inv.role } }, tx);
      await this.audit.record(
        { action: 'invitation.accepted', workspaceId: inv.workspaceId, actorId: user.id, actorIp: actor.ip, targetType: 'invitation', targetId: inv.id, data: { role: inv.role } },
        tx,
      );
      const w = await this.repo.workspaceById(inv.workspaceId, tx);
      return publicWorkspace(w!, inv.role);
    });
    await this.forgetAccess(result.id, [user.id]);
    return result;
  }
}
