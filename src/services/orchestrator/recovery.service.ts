import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import type { AuditLog } from '../../kernel/audit/index.js';
import type { Clock } from '../../kernel/clock.js';
import type { Transactor, Tx } from '../../kernel/db/transaction.js';
import { AppError } from '../../kernel/errors.js';
import { normalizeEmail, type IdentityRepository, type UserRow } from './identity.repository.js';
import type { LoginGuard } from './login-guard.js';
import type { AccountTokenPurpose, MailRepository } from './mail.repository.js';
import type { PlatformMail } from './mail.service.js';
import { PAGES } from './mail.templates.js';
import { assertPasswordPolicy } from './password-policy.js';
import { newToken, sha256, type PasswordHasher } from './secrets.js';

export const RESET_TTL_MINUTES = 60;
export const VERIFY_TTL_HOURS = 48;
/** Every forgot-password answer takes at least this long, whatever happened behind it (no timing oracle). */
export const FORGOT_MIN_MS = 300;


/**
 * Account recovery and address ownership (ADR 0040): password reset by a mailed single-use link,
 * email verification, and email change confirmed from the new address. Tokens are 256-bit random,
 * only their SHA-256 is stored, and each works once (consumed atomically) before it expires on the
 * injected clock. Every mail is written to the outbox in the transaction of its change.
 */
export class RecoveryService {
  constructor(
    private readonly db: Transactor,
    private readonly identity: IdentityRepository,
    private readonly repo: MailRepository,
    private readonly mail: PlatformMail,
    private readonly hasher: PasswordHasher,
    private readonly guard: LoginGuard,
    private readonly audit: AuditLog,
    private readonly clock: Clock,
    private readonly forgetUser: (userId: string, hashes?: string[]) => Promise<void>,
  ) {}

  private async issue(tx: Tx, user: UserRow, purpose: AccountTokenPurpose, email: string, ttlMs: number): Promise<string> {
    const token = newToken(purpose);
    const now = this.clock.now();
    await this.repo.retireAccountTokens(user.id, purpose, now, tx);
    await this.repo.insertAccountToken({ id: randomUUID(), userId: user.id, purpose, tokenHash: sha256(token), email: normalizeEmail(email), createdAt: now, expiresAt: new Date(now.getTime() + ttlMs) }, tx);
    return token;
  }

  /**
   * Mails a reset link when the address has an account and its hourly mail budget allows; answers
   * nothing either way and takes at least FORGOT_MIN_MS, so neither the answer nor its time tells
   * whether the address is registered. The per-address limit is counted for unknown addresses too.
   */
  async forgot(email: string, ip: string | null): Promise<void> {
    const started = performance.now();
    await this.guard.assertPasswordResetRate(ip);
    try {
      const withinBudget = await this.guard.mailBudget('password_reset', email);
      const user = await this.identity.userByEmail(email);
      if (!user) {
        await this.guard.event('password_reset_unknown_email', { ip: ip ?? undefined, email });
      } else if (withinBudget) {
        await this.db.transaction(async (tx) => {
          const token = await this.issue(tx, user, 'password_reset', user.email, RESET_TTL_MINUTES * 60_000);
          await this.mail.enqueue(tx, { template: 'password_reset', to: user.email, userId: user.id, vars: { name: user.name, link: this.mail.link(PAGES.reset, { token }), validMinutes: RESET_TTL_MINUTES } });
          await this.audit.record({ action: 'auth.password_reset_requested', actorId: null, actorIp: ip, targetType: 'user', targetId: user.id }, tx);
        });
        this.mail.kick();
        await this.guard.event('password_reset_requested', { ip: ip ?? undefined, userId: user.id, email });
      }
    } finally {
      const left = FORGOT_MIN_MS - (performance.now() - started);
      if (left > 0) await sleep(left);
    }
  }

  /** Issues a reset link for an operator (`v01t user reset-password`); the link is mailed and returned. */
  async operatorReset(email: string): Promise<{ userId: string; link: string; expiresAt: Date; mailId: string }> {
    const user = await this.identity.userByEmail(email);
    if (!user) throw new AppError('not_found', `No account with the email ${email}`);
    const out = await this.db.transaction(async (tx) => {
      const token = await this.issue(tx, user, 'password_reset', user.email, RESET_TTL_MINUTES * 60_000);
      const link = this.mail.link(PAGES.reset, { token });
      const mailId = await this.mail.enqueue(tx, { template: 'password_reset', to: user.email, userId: user.id, vars: { name: user.name, link, validMinutes: RESET_TTL_MINUTES } });
      await this.audit.record({ action: 'admin.password_reset_issued', actorId: null, actorIp: null, targetType: 'user', targetId: user.id }, tx);
      return { userId: user.id, link, mailId };
    });
    this.mail.kick();
    return { ...out, expiresAt: new Date(this.clock.now().getTime() + RESET_TTL_MINUTES * 60_000) };
  }

  /**
   * Sets a new password from a reset link: the link works once; every session and API token of the
   * account is revoked; MFA stays on (the next sign-in still asks for a code); a security event, an
   * audit entry and a notice mail record it. Receiving the link proves the address, so it counts as
   * verified.
   */
  async reset(token: string, password: string, ip: string | null): Promise<void> {
    await this.guard.assertPasswordResetRate(ip);
    const hash = sha256(token.trim());
    const live = await this.repo.liveAccountToken(hash, 'password_reset', this.clock.now());
    const user = live ? await this.identity.userById(live.userId) : null;
    if (!live || !user || normalizeEmail(user.email) !== live.email) {
      await this.guard.event('password_reset_invalid_token', { ip: ip ?? undefined });
      throw new AppError('link_invalid', 'This reset link is invalid, expired or was already used; ask for a new one');
    }
    await assertPasswordPolicy(password, user, 'body.password');
    const passwordHash = await this.hasher.hash(password);
    const now = this.clock.now();
    const revoked = await this.db.transaction(async (tx) => {
      if (!(await this.repo.consumeAccountToken(hash, 'password_reset', now, tx))) throw new AppError('link_invalid', 'This reset link was already used; ask for a new one');
      await this.identity.updateUser(user.id, { passwordHash, failedLogins: 0, lockedUntil: null, emailVerifiedAt: user.emailVerifiedAt ?? now, updatedAt: now }, tx);
      const hashes = await this.identity.revokeTokens({ userId: user.id }, now, tx);
      await this.audit.record({ action: 'auth.password_reset', actorId: user.id, actorIp: ip, targetType: 'user', targetId: user.id, data: { revokedTokens: hashes.length } }, tx);
      await this.mail.enqueue(tx, {
        template: 'password_changed',
        to: user.email,
        userId: user.id,
        vars: { name: user.name, signInLink: this.mail.link(PAGES.signIn), forgotLink: this.mail.link(PAGES.forgot), when: now },
      });
      return hashes;
    });
    this.mail.kick();
    await this.forgetUser(user.id, revoked);
    await this.guard.event('password_reset', { ip: ip ?? undefined, userId: user.id, email: user.email, detail: { revokedTokens: revoked.length } });
  }

  /** Writes a verification mail for a new account, in the transaction that creates it. */
  async verificationOnSignup(tx: Tx, user: UserRow): Promise<void> {
    const token = await this.issue(tx, user, 'email_verify', user.email, VERIFY_TTL_HOURS * 3600_000);
    await this.mail.enqueue(tx, { template: 'email_verify', to: user.email, userId: user.id, vars: { name: user.name, link: this.mail.link(PAGES.verify, { token }), validHours: VERIFY_TTL_HOURS } });
  }

  /**
   * Tells the owner of an address that someone tried to sign up with it (the sign-up answer itself
   * reveals nothing); within the address's hourly mail budget, so it cannot be used to flood a mailbox.
   */
  async noticeSignupTaken(user: UserRow): Promise<void> {
    if (!(await this.guard.mailBudget('signup_notice', user.email))) return;
    await this.db.transaction((tx) =>
      this.mail.enqueue(tx, { template: 'signup_existing', to: user.email, userId: user.id, vars: { name: user.name, signInLink: this.mail.link(PAGES.signIn), forgotLink: this.mail.link(PAGES.forgot) } }),
    );
    this.mail.kick();
  }

  /** Mails a new verification link (the old ones stop working); limited per address per hour. */
  async resendVerification(userId: string, ip: string | null): Promise<void> {
    const user = await this.identity.userById(userId);
    if (!user) throw new AppError('invalid_token');
    if (user.emailVerifiedAt) throw new AppError('conflict', 'This address is already confirmed');
    await this.guard.assertPasswordResetRate(ip);
    if (!(await this.guard.mailBudget('email_verify', user.email))) {
      throw new AppError('rate_limited', 'A confirmation mail was sent several times in the last hour; look for it or try again later', { retryAfterSeconds: 3600 });
    }
    await this.db.transaction((tx) => this.verificationOnSignup(tx, user));
    this.mail.kick();
  }

  /**
   * Starts an email change: the new address gets a confirmation link, the old one a notice. The
   * address changes only when the link is followed (`confirm`).
   */
  async requestEmailChange(userId: string, newEmail: string, password: string, ip: string | null, confirmPassword: (u: UserRow, p: string) => Promise<boolean>): Promise<void> {
    const user = await this.identity.userById(userId);
    if (!user) throw new AppError('invalid_token');
    if (!(await confirmPassword(user, password))) throw new AppError('invalid_credentials', 'The password is wrong');
    if (normalizeEmail(newEmail) === user.emailNormalized) throw new AppError('validation_failed', 'This is already your address', { errors: [{ path: 'body.email', message: 'same as the current address' }] });
    if (await this.identity.userByEmail(newEmail)) throw new AppError('email_taken', 'Another account uses this address');
    if (!(await this.guard.mailBudget('email_change', newEmail))) throw new AppError('rate_limited', 'Too many confirmation mails to this address; try again later', { retryAfterSeconds: 3600 });
    await this.db.transaction(async (tx) => {
      const token = await this.issue(tx, user, 'email_change', newEmail, VERIFY_TTL_HOURS * 3600_000);
      await this.mail.enqueue(tx, { template: 'email_change_confirm', to: newEmail.trim(), userId: user.id, vars: { name: user.name, newEmail: newEmail.trim(), link: this.mail.link(PAGES.verify, { token }), validHours: VERIFY_TTL_HOURS } });
      await this.mail.enqueue(tx, { template: 'email_change_notice', to: user.email, userId: user.id, vars: { name: user.name, newEmail: newEmail.trim() } });
      await this.audit.record({ action: 'auth.email_change_requested', actorId: user.id, actorIp: ip, targetType: 'user', targetId: user.id }, tx);
    });
    this.mail.kick();
  }

  /** Follows a verification or email-change link; returns what it did. */
  async confirm(token: string, ip: string | null): Promise<{ purpose: 'email_verify' | 'email_change'; email: string }> {
    const hash = sha256(token.trim());
    const purpose = token.trim().startsWith('v01t_ec_') ? 'email_change' : 'email_verify';
    const now = this.clock.now();
    const result = await this.db.transaction(async (tx) => {
      const used = await this.repo.consumeAccountToken(hash, purpose, now, tx);
      const user = used ? await this.identity.userById(used.userId, tx) : null;
      if (!used || !user) return null;
      if (purpose === 'email_verify') {
        // A link for an address the account no longer has confirms nothing.
        if (user.emailNormalized !== used.email) return null;
        await this.identity.updateUser(user.id, { emailVerifiedAt: user.emailVerifiedAt ?? now, updatedAt: now }, tx);
        await this.audit.record({ action: 'auth.email_verified', actorId: user.id, actorIp: ip, targetType: 'user', targetId: user.id }, tx);
        return { userId: user.id, email: user.email };
      }
      if (await this.identity.userByEmail(used.email, tx)) throw new AppError('email_taken', 'Another account took this address meanwhile');
      const updated = await this.identity.updateUser(user.id, { email: used.email, emailNormalized: used.email, emailVerifiedAt: now, updatedAt: now }, tx);
      await this.audit.record({ action: 'auth.email_changed', actorId: user.id, actorIp: ip, targetType: 'user', targetId: user.id, data: { from: user.email, to: used.email } }, tx);
      return { userId: user.id, email: updated!.email };
    });
    if (!result) throw new AppError('link_invalid', 'This link is invalid, expired or was already used');
    await this.forgetUser(result.userId);
    return { purpose, email: result.email };
  }
}
