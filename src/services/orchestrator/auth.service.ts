import { randomUUID } from 'node:crypto';
import type { AuditLog } from '../../kernel/audit/index.js';
import { PLATFORM_TENANT, type CacheLayer } from '../../kernel/cache/layers.js';
import type { Clock } from '../../kernel/clock.js';
import type { Transactor, Tx } from '../../kernel/db/transaction.js';
import { AppError } from '../../kernel/errors.js';
import type { PermissionRegistry } from '../../kernel/auth/permissions.js';
import type { IdentityPort, Principal, WorkspaceAccess } from '../../kernel/auth/principal.js';
import type { EventPublisher } from '../../kernel/events/index.js';
import { normalizeEmail, type IdentityRepository, type TokenRow, type UserRow } from './identity.repository.js';
import type { WorkspacesRepository } from './workspaces.repository.js';
import type { LoginGuard } from './login-guard.js';
import type { MfaService } from './mfa.service.js';
import { newToken, sha256, type PasswordHasher } from './secrets.js';
import { assertPasswordPolicy } from './password-policy.js';

/** Scopes a personal API token may carry beyond permission names. */
export const ACCOUNT_SCOPES = ['account.read', 'account.manage'] as const;
const PRINCIPAL_CACHE_SECONDS = 60;
const ACCESS_CACHE_SECONDS = 30;

export interface PublicUser {
  id: string;
  email: string;
  name: string;
  emailVerified: boolean;
  mfaEnabled: boolean;
  platformAdmin: boolean;
  createdAt: Date;
}

export const publicUser = (u: UserRow): PublicUser => ({
  id: u.id,
  email: u.email,
  name: u.name,
  emailVerified: u.emailVerifiedAt !== null,
  mfaEnabled: u.mfaEnabled,
  platformAdmin: u.platformAdmin,
  createdAt: u.createdAt,
});

export const publicToken = (t: TokenRow) => ({
  id: t.id,
  name: t.name ?? '',
  scopes: t.scopes,
  createdAt: t.createdAt,
  expiresAt: t.expiresAt,
  lastUsedAt: t.lastUsedAt,
  revoked: t.revokedAt !== null,
});

export class AuthService implements IdentityPort {
  constructor(
    private readonly db: Transactor,
    private readonly repo: IdentityRepository,
    private readonly workspaces: WorkspacesRepository,
    private readonly hasher: PasswordHasher,
    private readonly guard: LoginGuard,
    private readonly mfa: MfaService,
    private readonly audit: AuditLog,
    /** The `user_sessions` cache layer: token lookups, workspace access, profiles (ADR 0059). */
    private readonly sessions: CacheLayer,
    private readonly clock: Clock,
    private readonly permissions: PermissionRegistry,
    private readonly opts: { sessionTtlHours: number; signupEnabled: boolean; ssoOnly: boolean },
    private readonly events: EventPublisher,
    /** Mail hooks (ADR 0040): `created` runs in the transaction that creates an account by sign-up (the verification mail); `taken` after a sign-up with a registered address (a notice to its owner). */
    private readonly signupMail: { created(tx: Tx, user: UserRow): Promise<void>; taken(user: UserRow): Promise<void> } = { created: async () => {}, taken: async () => {} },
  ) {}

  /** V01T_SSO_ONLY: password sign-in and sign-up are refused (platform admins' break glass aside). */
  get ssoOnly(): boolean {
    return this.opts.ssoOnly;
  }

  /** A session as password sign-in makes it (also the end of an SSO sign-in). */
  async issueSession(userId: string, ip: string | null, tx?: Tx) {
    const token = newToken('session');
    const now = this.clock.now();
    const expiresAt = new Date(now.getTime() + this.opts.sessionTtlHours * 3600_000);
    await this.repo.insertToken(
      { id: randomUUID(), userId, kind: 'session', name: 'session', tokenHash: sha256(token), scopes: ['*'], createdAt: now, expiresAt, createdIp: ip },
      tx,
    );
    return { token, expiresAt };
  }

  /**
   * Sign-up answers alike whether or not the address already has an account (same status, body
   * shape and costs), so it cannot be used to find out who is registered. For a taken address no
   * account or session is made: the answer carries a token that opens nothing, the attempt is kept
   * as a security event, and the owner is mailed a notice (ADR 0004, ADR 0040).
   */
  async signup(input: { email: string; password: string; name: string }, ip: string | null) {
    if (this.opts.ssoOnly) throw new AppError('sso_only', 'Accounts are made by signing in with single sign-on on this instance');
    if (!this.opts.signupEnabled) throw new AppError('signup_disabled', 'Ask an administrator to create your account (v01t user create)');
    await this.guard.assertSignupRate(ip);
    const created = await this.insertAccount({ ...input, platformAdmin: false }, ip, 'auth.signup');
    if (created.taken) {
      const now = this.clock.now();
      await this.guard.event('signup_existing_email', { ip: ip ?? undefined, userId: created.taken.id, email: input.email });
      await this.signupMail.taken(created.taken);
      const decoy: PublicUser = { id: randomUUID(), email: input.email.trim(), name: input.name.trim(), emailVerified: false, mfaEnabled: false, platformAdmin: false, createdAt: now };
      return { user: decoy, token: newToken('session'), expiresAt: new Date(now.getTime() + this.opts.sessionTtlHours * 3600_000) };
    }
    const session = await this.issueSession(created.user.id, ip);
    return { user: publicUser(created.user), ...session };
  }

  /** Creates an account (an operator through the CLI); a taken address is an error here, the caller is trusted. */
  async createUser(input: { email: string; password: string; name: string; platformAdmin: boolean }, ip: string | null, action = 'admin.user.created'): Promise<UserRow> {
    const created = await this.insertAccount(input, ip, action);
    if (created.taken) throw new AppError('email_taken', 'An account with this email already exists; sign in instead');
    return created.user;
  }

  private async insertAccount(
    input: { email: string; password: string; name: string; platformAdmin: boolean },
    ip: string | null,
    action: string,
  ): Promise<{ user: UserRow; taken?: undefined } | { taken: UserRow; user?: undefined }> {
    await assertPasswordPolicy(input.password, input);
    const now = this.clock.now();
    // Hashed before the address is looked at, so a taken address costs the same as a free one.
    const passwordHash = await this.hasher.hash(input.password);
    const user = await this.db.transaction(async (tx) => {
      const row = await this.repo.insertUser(
        {
          id: randomUUID(),
          email: input.email.trim(),
          emailNormalized: normalizeEmail(input.email),
          name: input.name.trim(),
          passwordHash,
          platformAdmin: input.platformAdmin,
          createdAt: now,
          updatedAt: now,
        },
        tx,
      );
      if (!row) return null;
      await this.audit.record({ action, actorId: row.id, actorIp: ip, targetType: 'user', targetId: row.id, data: { platformAdmin: input.platformAdmin } }, tx);
      if (action === 'auth.signup') await this.signupMail.created(tx, row);
      await this.events.publish({ name: 'orchestrator.user.signed_up.v1', workspaceId: null, actorId: row.id, payload: { userId: row.id, via: action === 'auth.signup' ? 'signup' : 'admin' } }, tx);
      return row;
    });
    if (user) return { user };
    const existing = await this.repo.userByEmail(input.email);
    if (!existing) throw new AppError('conflict', 'The account was changed concurrently; try again');
    return { taken: existing };
  }

  /**
   * The attempt is reserved on the address's and the account's failure budgets before any
   * password is checked, so parallel guesses cannot pass the limits; an unknown address is
   * checked against a dummy hash and counted like a known one.
   */
  async login(input: { email: string; password: string; otp?: string; breakGlass?: boolean }, ip: string) {
    // V01T_SSO_ONLY: refused before any password is looked at. Platform admins keep a break-glass way
    // in (the identity provider may be down): with breakGlass the password is checked as usual and only
    // an admin's right password opens a session; anyone else gets invalid_credentials, so the answer
    // reveals neither who is an admin nor whether a non-admin's password was right.
    if (this.opts.ssoOnly && !input.breakGlass) throw new AppError('sso_only', 'Sign in with your single sign-on provider (GET /v1/auth/sso/providers)');
    await this.guard.assertLoginRate(ip);
    const attempt = await this.guard.begin(ip, input.email);
    try {
      const user = await this.repo.userByEmail(input.email);
      const passwordOk = user ? await this.hasher.verify(user.passwordHash, input.password) : await this.hasher.verifyAgainstDummy(input.password);
      if (!user || !passwordOk || (this.opts.ssoOnly && !user.platformAdmin)) {
        await attempt.failed(!user ? 'unknown_email' : !passwordOk ? 'wrong_password' : 'sso_only_not_admin', user?.id);
        throw new AppError('invalid_credentials');
      }
      if (user.mfaEnabled) {
        if (!input.otp) throw new AppError('mfa_required', 'Send the code from your authenticator app (or a recovery code) as "otp"');
        const how = await this.mfa.verify(user, input.otp);
        if (!how) {
          await attempt.failed('wrong_otp', user.id);
          throw new AppError('invalid_credentials', 'The one-time password is invalid or was already used', { mfa: true });
        }
        if (how === 'recovery') await this.audit.record({ action: 'auth.mfa.recovery_code_used', actorId: user.id, actorIp: ip, targetType: 'user', targetId: user.id });
      }
      await attempt.succeeded(user.id);
      if (this.hasher.needsRehash(user.passwordHash)) {
        await this.repo.updateUser(user.id, { passwordHash: await this.hasher.hash(input.password) });
      }
      const session = await this.issueSession(user.id, ip);
      await this.audit.record({ action: 'auth.login', actorId: user.id, actorIp: ip, targetType: 'user', targetId: user.id, data: { mfa: user.mfaEnabled, ...(this.opts.ssoOnly ? { breakGlass: true } : {}) } });
      if (this.opts.ssoOnly) await this.guard.event('break_glass_login', { ip, userId: user.id, email: user.email });
      return session;
    } finally {
      // mfa_required, or a fault before a verdict: the reservation is given back uncounted.
      await attempt.release();
    }
  }

  async logout(principal: Principal, ip: string | null): Promise<void> {
    const hashes = await this.repo.revokeTokens({ userId: principal.userId, id: principal.tokenId }, this.clock.now());
    await this.forget(hashes);
    await this.audit.record({ action: 'auth.logout', actorId: principal.userId, actorIp: ip, targetType: 'token', targetId: principal.tokenId });
  }

  async authenticate(token: string): Promise<Principal | null> {
    if (token.length > 200 || !/^v01t_(s|pat)_[\w-]+$/.test(token)) return null;
    const hash = sha256(token);
    const now = this.clock.now();
    const cached = await this.sessions.get(PLATFORM_TENANT, `tok:${hash}`);
    if (cached) {
      const c = JSON.parse(cached) as Principal & { expiresAt: number | null };
      if (c.expiresAt === null || c.expiresAt > now.getTime()) {
        const { expiresAt: _drop, ...principal } = c;
        return principal;
      }
    }
    const found = await this.repo.liveTokenByHash(hash, now);
    if (!found) return null;
    const principal: Principal = {
      userId: found.user.id,
      tokenId: found.token.id,
      tokenKind: found.token.kind,
      scopes: found.token.scopes,
      platformAdmin: found.user.platformAdmin,
      mfaEnabled: found.user.mfaEnabled,
    };
    const expiresAt = found.token.expiresAt?.getTime() ?? null;
    const ttl = expiresAt === null ? PRINCIPAL_CACHE_SECONDS : Math.min(PRINCIPAL_CACHE_SECONDS, Math.ceil((expiresAt - now.getTime()) / 1000));
    await this.sessions.set(PLATFORM_TENANT, `tok:${hash}`, JSON.stringify({ ...principal, expiresAt }), ttl);
    // last_used_at is refreshed at most once per cache period per token.
    await this.repo.touchToken(found.token.id, now);
    return principal;
  }

  async workspaceAccess(userId: string, workspaceId: string): Promise<WorkspaceAccess | null> {
    const key = `acc:${userId}`;
    const cached = await this.sessions.get(workspaceId, key);
    if (cached) return cached === 'none' ? null : { workspaceId, ...(JSON.parse(cached) as Omit<WorkspaceAccess, 'workspaceId'>) };
    const access = await this.workspaces.access(userId, workspaceId);
    await this.sessions.set(workspaceId, key, access ? JSON.stringify(access) : 'none', ACCESS_CACHE_SECONDS);
    return access ? { workspaceId, ...access } : null;
  }

  async forgetAccess(workspaceId: string, userIds: string[]): Promise<void> {
    await Promise.all(userIds.map((u) => this.sessions.del(workspaceId, `acc:${u}`)));
  }

  /** Drops cached token lookups (after revocation, MFA or admin changes). */
  async forget(hashes: string[]): Promise<void> {
    await Promise.all(hashes.map((h) => this.sessions.del(PLATFORM_TENANT, `tok:${h}`)));
  }

  /** Drops every cached view of a user (tokens, profile) after MFA, admin or account changes. */
  async forgetUser(userId: string, hashes?: string[]): Promise<void> {
    await this.forget(hashes ?? (await this.repo.liveTokenHashesOfUser(userId)));
    await this.sessions.del(PLATFORM_TENANT, `usr:${userId}`);
  }

  async user(userId: string): Promise<UserRow> {
    const u = await this.repo.userById(userId);
    if (!u) throw new AppError('invalid_token');
    return u;
  }

  /** The public profile, cached briefly: GET /v1/me is the hottest authenticated read. */
  async profile(userId: string): Promise<PublicUser> {
    const cached = await this.sessions.get(PLATFORM_TENANT, `usr:${userId}`);
    if (cached) {
      const p = JSON.parse(cached) as PublicUser & { createdAt: string };
      return { ...p, createdAt: new Date(p.createdAt) };
    }
    const profile = publicUser(await this.user(userId));
    await this.sessions.set(PLATFORM_TENANT, `usr:${userId}`, JSON.stringify(profile), PRINCIPAL_CACHE_SECONDS);
    return profile;
  }

  async updateProfile(userId: string, patch: { name?: string }): Promise<UserRow> {
    const u = await this.repo.updateUser(userId, { ...(patch.name ? { name: patch.name.trim() } : {}), updatedAt: this.clock.now() });
    if (!u) throw new AppError('invalid_token');
    await this.sessions.del(PLATFORM_TENANT, `usr:${userId}`);
    return u;
  }

  /** Re-checks the password of a signed-in user (before a password change or erasure), on the account's sign-in budget. */
  async confirmPassword(user: UserRow, password: string, ip: string | null): Promise<boolean> {
    const right = async () => (await this.hasher.verify(user.passwordHash, password)) || null;
    return (await this.guard.checkOnBudget({ passwordOfEmail: user.email }, right, { ip, userId: user.id })) !== null;
  }

  async changePassword(principal: Principal, current: string, next: string, ip: string | null): Promise<void> {
    const user = await this.user(principal.userId);
    if (!(await this.confirmPassword(user, current, ip))) throw new AppError('invalid_credentials', 'The current password is wrong');
    await assertPasswordPolicy(next, user, 'body.newPassword');
    await this.repo.updateUser(user.id, { passwordHash: await this.hasher.hash(next), updatedAt: this.clock.now() });
    // Every other session and token of the account stops working.
    await this.forget(await this.repo.revokeTokens({ userId: user.id, exceptId: principal.tokenId }, this.clock.now()));
    await this.audit.record({ action: 'auth.password_changed', actorId: user.id, actorIp: ip, targetType: 'user', targetId: user.id });
  }

  validateScopes(scopes: string[]): void {
    const bad = scopes.filter(
      (s) => !(s === '*' || s === 'read' || (ACCOUNT_SCOPES as readonly string[]).includes(s) || this.permissions.has(s) || /^[a-z][a-z-]*\.\*$/.test(s)),
    );
    if (bad.length) {
      throw new AppError('validation_failed', `Unknown scopes: ${bad.join(', ')}`, {
        errors: bad.map((s) => ({ path: `body.scopes`, message: `unknown scope "${s}"` })),
      });
    }
  }

  async createApiToken(principal: Principal, input: { name: string; scopes: string[]; expiresInDays: number }, ip: string | null) {
    this.validateScopes(input.scopes);
    const token = newToken('api');
    const now = this.clock.now();
    const row = await this.db.transaction(async (tx) => {
      const r = await this.repo.insertToken(
        {
          id: randomUUID(),
          userId: principal.userId,
          kind: 'api',
          name: input.name,
          tokenHash: sha256(token),
          scopes: [...new Set(input.scopes)],
          createdAt: now,
          expiresAt: new Date(now.getTime() + input.expiresInDays * 86_400_000),
          createdIp: ip,
        },
        tx,
      );
      await this.audit.record({ action: 'auth.token.created', actorId: principal.userId, actorIp: ip, targetType: 'token', targetId: r.id, data: { name: input.name, scopes: r.scopes } }, tx);
      return r;
    });
    return { token, apiToken: publicToken(row) };
  }

  async listApiTokens(userId: string) {
    return (await this.repo.tokensOfUser(userId, 'api')).map(publicToken);
  }

  async revokeApiToken(principal: Principal, tokenId: string, ip: string | null): Promise<void> {
    const hashes = await this.repo.revokeTokens({ userId: principal.userId, id: tokenId, kind: 'api' }, this.clock.now());
    if (hashes.length === 0) throw new AppError('not_found', 'No live API token with this id');
    await this.forget(hashes);
    await this.audit.record({ action: 'auth.token.revoked', actorId: principal.userId, actorIp: ip, targetType: 'token', targetId: tokenId });
  }
}
