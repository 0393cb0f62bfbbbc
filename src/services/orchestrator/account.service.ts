import type { AuditLog } from '../../kernel/audit/index.js';
import type { Clock } from '../../kernel/clock.js';
import type { Transactor } from '../../kernel/db/transaction.js';
import { AppError } from '../../kernel/errors.js';
import type { PersonalDataHandler, RetentionRule } from '../../kernel/module.js';
import type { EventPublisher } from '../../kernel/events/index.js';
import type { IdentityRepository } from './identity.repository.js';
import type { WorkspacesRepository } from './workspaces.repository.js';
import { publicToken, publicUser } from './auth.service.js';
import type { MailRepository } from './mail.repository.js';

/** Retention (runbook "Data Retention Policies"): security events are user activity logs. */
export const SECURITY_EVENT_RETENTION_DAYS = 90;
/** Expired or revoked tokens are kept 30 days for investigation, then deleted. */
export const DEAD_TOKEN_RETENTION_DAYS = 30;

/**
 * The orchestrator's personal data and the GDPR walk over every loaded service: export gathers
 * each service's handler output; erase runs every handler, then deletes the account itself.
 */
/** Sent and failed platform mails hold links and addresses: kept this long (ADR 0040). */
export const MAIL_RETENTION_DAYS = 30;

export class AccountService {
  constructor(
    private readonly db: Transactor,
    private readonly identity: IdentityRepository,
    private readonly workspaces: WorkspacesRepository,
    private readonly audit: AuditLog,
    private readonly clock: Clock,
    private readonly handlers: () => Map<string, PersonalDataHandler>,
    private readonly onErased: (userId: string, hashes: string[]) => Promise<void>,
    private readonly events: EventPublisher,
    private readonly mail: MailRepository,
  ) {}

  /** The orchestrator's own handler (registered under "orchestrator"). */
  readonly personalData: PersonalDataHandler = {
    describes: [
      'account: email, name, password hash (argon2id), MFA state (TOTP secret encrypted), platform-admin flag, sign-in timestamps',
      'sessions and API tokens: hashes only, names, scopes, creation IP, last use',
      'workspace memberships: role and personas',
      'invitations sent to the email address',
      `platform mails to the account or its address (password reset, verification, invitations; subject, bodies, delivery state), kept ${MAIL_RETENTION_DAYS} days after sending`,
      `security events (failed sign-ins, blocks): IP and email, kept ${SECURITY_EVENT_RETENTION_DAYS} days`,
      'audit log entries: user id and IP, kept 7 years (legal obligation); the id no longer resolves once the account is erased',
    ],
    exportUser: async (userId) => {
      const user = await this.identity.userById(userId);
      if (!user) return {};
      const [tokens, memberships, invitations, securityEvents, audit, mails] = await Promise.all([
        this.identity.tokensOfUser(userId),
        this.workspaces.membershipsOfUser(userId),
        this.workspaces.invitationsForEmail(user.emailNormalized),
        this.identity.securityEventsOfUser(userId, user.email),
        this.audit.list({ actorId: userId, limit: 10_000 }),
        this.mail.mailsOfUser(userId, user.email),
      ]);
      return {
        user: { ...publicUser(user), lastLoginAt: user.lastLoginAt },
        tokens: tokens.map((t) => ({ ...publicToken(t), kind: t.kind, createdIp: t.createdIp })),
        memberships: memberships.map((m) => ({ workspaceId: m.workspaceId, role: m.role, personas: m.personas, joinedAt: m.joinedAt })),
        invitations: invitations.map((i) => ({ workspaceId: i.workspaceId, role: i.role, createdAt: i.createdAt, acceptedAt: i.acceptedAt })),
        securityEvents: securityEvents.map((e) => ({ occurredAt: e.occurredAt, kind: e.kind, ip: e.ip })),
        auditEntries: audit.map((a) => ({ occurredAt: a.occurredAt, action: a.action, workspaceId: a.workspaceId, ip: a.actorIp })),
        mails: mails.map((m) => ({ template: m.template, to: m.toAddress, subject: m.subject, status: m.status, createdAt: m.createdAt, sentAt: m.sentAt })),
      };
    },
    eraseUser: async (userId) => {
      const user = await this.identity.userById(userId);
      if (!user) return {};
      const hashes = await this.identity.liveTokenHashesOfUser(userId);
      const counts = await this.db.transaction(async (tx) => {
        let workspacesDeleted = 0;
        let ownershipTransferred = 0;
        // A workspace never ends up without an owner: the longest-standing admin (or member) takes over;
        // a workspace with nobody else in it is deleted.
        for (const m of await this.workspaces.membershipsOfUser(userId, tx)) {
          if (m.role !== 'owner') continue;
          const owners = await this.workspaces.lockOwners(m.workspaceId, tx);
          if (owners.length > 1) continue;
          const others = (await this.workspaces.oldestMembers(m.workspaceId, tx)).filter((x) => x.userId !== userId);
          const heir = others.find((x) => x.role === 'admin') ?? others[0];
          if (heir) {
            await this.workspaces.updateMember(m.workspaceId, heir.userId, { role: 'owner' }, tx);
            await this.audit.record({ action: 'member.role_changed', workspaceId: m.workspaceId, targetType: 'user', targetId: heir.userId, data: { from: heir.role, to: 'owner', reason: 'previous owner erased their account' } }, tx);
            ownershipTransferred++;
          } else {
            await this.workspaces.deleteWorkspace(m.workspaceId, tx);
            await this.audit.record({ action: 'workspace.deleted', workspaceId: m.workspaceId, targetType: 'workspace', targetId: m.workspaceId, data: { reason: 'sole member erased their account' } }, tx);
            await this.events.publish({ name: 'orchestrator.workspace.deleted.v1', workspaceId: m.workspaceId, payload: { workspaceId: m.workspaceId } }, tx);
            workspacesDeleted++;
          }
        }
        const invitations = await this.workspaces.deleteInvitationsForEmail(user.emailNormalized, tx);
        const users = await this.identity.deleteUser(userId, tx); // tokens, memberships, recovery codes cascade
        // Services in other processes erase their share when they see this (the distributed shape).
        await this.events.publish({ name: 'orchestrator.user.erased.v1', workspaceId: null, payload: { userId } }, tx);
        return { users, invitations, workspacesDeleted, ownershipTransferred };
      });
      const securityEvents = await this.identity.deleteSecurityEventsOfUser(userId, user.email);
      const mails = await this.mail.deleteMailsOfUser(userId, user.email);
      await this.onErased(userId, hashes);
      return { ...counts, securityEvents, mails };
    },
  };

  readonly retention: RetentionRule[] = [
    {
      name: 'orchestrator.security_events',
      class: 'user_activity_logs',
      keep: `${SECURITY_EVENT_RETENTION_DAYS} days`,
      purge: (now) => this.identity.purgeSecurityEvents(new Date(now.getTime() - SECURITY_EVENT_RETENTION_DAYS * 86_400_000)),
    },
    {
      name: 'orchestrator.tokens (expired or revoked)',
      class: 'operational',
      keep: `${DEAD_TOKEN_RETENTION_DAYS} days after expiry or revocation`,
      purge: (now) => this.identity.purgeDeadTokens(new Date(now.getTime() - DEAD_TOKEN_RETENTION_DAYS * 86_400_000)),
    },
    {
      name: 'orchestrator.mail_outbox (sent or failed)',
      class: 'operational',
      keep: `${MAIL_RETENTION_DAYS} days`,
      purge: (now) => this.mail.purgeSettled(new Date(now.getTime() - MAIL_RETENTION_DAYS * 86_400_000)),
    },
    {
      name: 'orchestrator.account_tokens (used or expired)',
      class: 'operational',
      keep: `${DEAD_TOKEN_RETENTION_DAYS} days after use or expiry`,
      purge: (now) => this.mail.purgeAccountTokens(new Date(now.getTime() - DEAD_TOKEN_RETENTION_DAYS * 86_400_000)),
    },
    { name: 'kernel.audit_log', class: 'audit_logs', keep: '7 years', purge: () => this.audit.purgeExpired() },
  ];

  async exportUser(userId: string): Promise<Record<string, unknown>> {
    const out: Record<string, unknown> = { exportedAt: this.clock.now().toISOString(), userId };
    for (const [service, handler] of this.handlers()) out[service] = await handler.exportUser(userId);
    return out;
  }

  /**
   * Erases the user everywhere; the orchestrator goes last, since it holds the account. Callers go
   * through GdprRequestService.fulfilErasure, which records the request the erasure answers.
   */
  async eraseUser(userId: string, by: { actorId: string | null; ip: string | null }, requestId?: string): Promise<{ erased: Record<string, Record<string, number>>; auditEntryId: string }> {
    if (!(await this.identity.userById(userId))) throw new AppError('not_found', 'No such user');
    const result: Record<string, Record<string, number>> = {};
    const entries = [...this.handlers()].sort(([a], [b]) => (a === 'orchestrator' ? 1 : b === 'orchestrator' ? -1 : a.localeCompare(b)));
    for (const [service, handler] of entries) result[service] = await handler.eraseUser(userId);
    const entry = await this.audit.record({
      action: 'gdpr.user_erased',
      actorId: by.actorId === userId ? null : by.actorId,
      actorIp: by.ip,
      targetType: 'user',
      targetId: userId,
      data: { services: Object.keys(result), ...(requestId ? { requestId } : {}) },
    });
    return { erased: result, auditEntryId: entry.id };
  }
}
