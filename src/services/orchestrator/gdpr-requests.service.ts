import { randomUUID } from 'node:crypto';
import type { AuditLog } from '../../kernel/audit/index.js';
import type { Clock } from '../../kernel/clock.js';
import type { Transactor } from '../../kernel/db/transaction.js';
import { AppError } from '../../kernel/errors.js';
import type { AccountService } from './account.service.js';
import type { IdentityRepository } from './identity.repository.js';
import type { GdprRequestChannel, GdprRequestFilter, GdprRequestKind, GdprRequestRow, GdprRequestsRepository, GdprRequestStatus } from './gdpr-requests.repository.js';

/**
 * GDPR art. 12(3): an answer "without undue delay and in any event within one month of receipt".
 * Counted as 30 days (the runbook's "one month"); the register does not model the two-month extension.
 */
export const GDPR_ANSWER_DAYS = 30;
/** Closed requests are evidence of compliance (art. 5(2) accountability): kept 3 years after closing, then deleted. */
export const GDPR_REQUEST_RETENTION_YEARS = 3;

export interface Actor {
  actorId: string | null;
  ip: string | null;
}

export interface NewGdprRequest {
  kind: GdprRequestKind;
  userId?: string;
  email?: string;
  channel: GdprRequestChannel;
  details?: string;
  /** When the request arrived (an email from last week); defaults to now, never in the future. */
  receivedAt?: Date;
}

export interface GdprRequestView extends GdprRequestRow {
  overdue: boolean;
}

const OPEN_STATUSES: readonly GdprRequestStatus[] = ['received', 'in_progress'];
export const isOpen = (r: Pick<GdprRequestRow, 'status'>) => OPEN_STATUSES.includes(r.status);

/**
 * The register of data subject requests (ADR 0064): requests made in the web app (fulfilled at once,
 * recorded completed), received by email and recorded by an operator (CLI, admin API), and those the
 * GDPR scripts run. Every step writes an audit entry in the same transaction and links it to the request.
 */
export class GdprRequestService {
  constructor(
    private readonly db: Transactor,
    readonly repo: GdprRequestsRepository,
    private readonly identity: IdentityRepository,
    private readonly account: AccountService,
    private readonly audit: AuditLog,
    private readonly clock: Clock,
  ) {}

  view(r: GdprRequestRow, now = this.clock.now()): GdprRequestView {
    return { ...r, overdue: isOpen(r) && r.dueAt.getTime() < now.getTime() };
  }

  async list(f: GdprRequestFilter): Promise<GdprRequestView[]> {
    const now = this.clock.now();
    return (await this.repo.list(f, now)).map((r) => this.view(r, now));
  }

  async get(id: string): Promise<GdprRequestView> {
    const r = await this.repo.byId(id);
    if (!r) throw new AppError('not_found', 'No GDPR request with this id');
    return this.view(r);
  }

  /** A request's id from its id or its number (what an operator types: 12 or #12). */
  async resolve(ref: string): Promise<string> {
    const n = /^#?(\d{1,15})$/.exec(ref.trim());
    const id = n ? await this.repo.idOfNumber(Number(n[1])) : (await this.repo.byId(ref))?.id;
    if (!id) throw new AppError('not_found', `No GDPR request ${ref}`);
    return id;
  }

  /** The audit entries linked to a request, oldest first. */
  async auditTrail(r: GdprRequestRow) {
    return this.audit.byIds(r.auditIds);
  }

  /** Records a request as received (an operator entering an email, or a user asking for what v01t cannot do by itself). */
  async record(input: NewGdprRequest, by: Actor): Promise<GdprRequestView> {
    return this.view(await this.open(input, by, 'received'));
  }

  async start(id: string, by: Actor): Promise<GdprRequestView> {
    return this.transition(id, by, 'in_progress', {});
  }

  async complete(id: string, by: Actor, resolution?: string): Promise<GdprRequestView> {
    return this.transition(id, by, 'completed', { resolution: resolution ?? null });
  }

  async refuse(id: string, by: Actor, reason: string): Promise<GdprRequestView> {
    return this.transition(id, by, 'refused', { refusalReason: reason });
  }

  /**
   * Access (art. 15/20): exports the user's data in every service and completes the request, a new one
   * (self-service, `v01t gdpr export`) or an open one given by id.
   */
  async fulfilAccess(userId: string, opts: { requestId?: string; channel: GdprRequestChannel; by: Actor }): Promise<{ request: GdprRequestView; data: Record<string, unknown> }> {
    const request = await this.requestFor('access', userId, opts);
    const data = await this.account.exportUser(userId);
    const entry = await this.audit.record({ action: 'gdpr.user_exported', actorId: opts.by.actorId, actorIp: opts.by.ip, targetType: 'user', targetId: userId, data: { requestId: request.id, services: Object.keys(data).filter((k) => k !== 'exportedAt' && k !== 'userId') } });
    await this.repo.linkAudit(request.id, entry.id);
    return { request: await this.transition(request.id, opts.by, 'completed', { resolution: 'exported', selfService: opts.channel === 'self_service' }), data };
  }

  /** Erasure (art. 17): erases the user in every service and completes the request (new, or an open one given by id). */
  async fulfilErasure(userId: string, opts: { requestId?: string; channel: GdprRequestChannel; by: Actor }): Promise<{ request: GdprRequestView; erased: Record<string, Record<string, number>> }> {
    const request = await this.requestFor('erasure', userId, opts);
    const { erased, auditEntryId } = await this.account.eraseUser(userId, opts.by, request.id);
    await this.repo.linkAudit(request.id, auditEntryId);
    // The subject's own erasure: the audit entry carries no actor (the account is gone), as gdpr.user_erased does.
    const by = opts.by.actorId === userId ? { ...opts.by, actorId: null } : opts.by;
    return { request: await this.transition(request.id, by, 'completed', { resolution: `erased in ${Object.keys(erased).length} services`, selfService: opts.channel === 'self_service' }), erased };
  }

  /** Open counts by kind and overdue at the clock's now (v01t_gdpr_requests_open / _overdue). */
  async openCounts() {
    return this.repo.openCounts(this.clock.now());
  }

  private async requestFor(kind: GdprRequestKind, userId: string, opts: { requestId?: string; channel: GdprRequestChannel; by: Actor }): Promise<GdprRequestRow> {
    if (!opts.requestId) {
      if (!(await this.identity.userById(userId))) throw new AppError('not_found', 'No such user');
      return this.open({ kind, userId, channel: opts.channel }, opts.by, 'in_progress');
    }
    const r = await this.repo.byId(opts.requestId);
    if (!r) throw new AppError('not_found', `No GDPR request with the id ${opts.requestId}`);
    if (r.kind !== kind) throw new AppError('conflict', `GDPR request #${r.number} is a request for ${r.kind}, not ${kind}`);
    if (!isOpen(r)) throw new AppError('conflict', `GDPR request #${r.number} is already ${r.status}`);
    if (r.userId && r.userId !== userId) throw new AppError('conflict', `GDPR request #${r.number} is about another user`);
    if (!r.userId) {
      // A request recorded by address: this account must hold that address.
      const user = await this.identity.userById(userId);
      if (!user) throw new AppError('not_found', 'No such user');
      if (r.email && user.email.toLowerCase() !== r.email.toLowerCase()) throw new AppError('conflict', `GDPR request #${r.number} was made from another address than this account's`);
    }
    return r.status === 'in_progress' ? r : this.transition(r.id, opts.by, 'in_progress', { userId });
  }

  private async open(input: NewGdprRequest, by: Actor, status: 'received' | 'in_progress'): Promise<GdprRequestRow> {
    const now = this.clock.now();
    const receivedAt = input.receivedAt ?? now;
    if (receivedAt.getTime() > now.getTime() + 60_000) throw new AppError('bad_request', 'receivedAt is in the future');
    let userId = input.userId ?? null;
    let email = input.email?.trim() || null;
    if (userId) {
      const user = await this.identity.userById(userId);
      if (!user) throw new AppError('not_found', 'No user with this id');
      // The address is kept with the request: after an erasure it is what says whose request it was.
      email ??= user.email;
    } else if (email) {
      userId = (await this.identity.userByEmail(email))?.id ?? null;
    } else {
      throw new AppError('bad_request', 'A GDPR request needs the subject: a user id or an email address');
    }
    const id = randomUUID();
    return this.db.transaction(async (tx) => {
      await this.repo.insert(
        {
          id,
          kind: input.kind,
          userId,
          email,
          channel: input.channel,
          details: input.details ?? null,
          receivedAt,
          dueAt: new Date(receivedAt.getTime() + GDPR_ANSWER_DAYS * 86_400_000),
          status,
          recordedBy: by.actorId,
          handledBy: status === 'in_progress' && input.channel !== 'self_service' ? by.actorId : null,
        },
        tx,
      );
      const entry = await this.audit.record({ action: 'gdpr.request_received', actorId: by.actorId, actorIp: by.ip, targetType: 'gdpr_request', targetId: id, data: { kind: input.kind, channel: input.channel, userId } }, tx);
      await this.repo.linkAudit(id, entry.id, tx);
      return (await this.repo.byId(id, tx))!;
    });
  }

  /** `selfService`: the subject fulfilled it in the web app, so no operator handled it (handledBy stays null). */
  private async transition(id: string, by: Actor, to: GdprRequestStatus, extra: { refusalReason?: string; resolution?: string | null; userId?: string; selfService?: boolean }): Promise<GdprRequestView> {
    const row = await this.db.transaction(async (tx) => {
      const r = await this.repo.byId(id, tx, true);
      if (!r) throw new AppError('not_found', 'No GDPR request with this id');
      if (!isOpen(r)) throw new AppError('conflict', `GDPR request #${r.number} is already ${r.status}`);
      if (to === 'in_progress' && r.status === 'in_progress') throw new AppError('conflict', `GDPR request #${r.number} is already in progress`);
      const action = to === 'in_progress' ? 'gdpr.request_started' : to === 'completed' ? 'gdpr.request_completed' : 'gdpr.request_refused';
      const entry = await this.audit.record(
        { action, actorId: by.actorId, actorIp: by.ip, targetType: 'gdpr_request', targetId: id, data: { kind: r.kind, ...(extra.refusalReason ? { reason: extra.refusalReason } : {}), ...(extra.resolution ? { resolution: extra.resolution } : {}) } },
        tx,
      );
      return this.repo.update(id, { status: to, handledBy: extra.selfService ? null : by.actorId, at: this.clock.now(), refusalReason: extra.refusalReason, resolution: extra.resolution, auditId: entry.id, userId: extra.userId }, tx);
    });
    return this.view(row);
  }
}
