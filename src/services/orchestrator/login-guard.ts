import type { AttemptOutcome, AttemptPolicy, Cache } from '../../kernel/cache/index.js';
import type { Clock } from '../../kernel/clock.js';
import { AppError } from '../../kernel/errors.js';
import type { Logger } from '../../kernel/telemetry/logger.js';
import type { CoreMetrics } from '../../kernel/telemetry/metrics.js';
import { securityLogFields } from '../../kernel/telemetry/siem.js';
import { normalizeEmail, type IdentityRepository } from './identity.repository.js';
import { sha256 } from './secrets.js';

export interface LoginGuardPolicy {
  /** More failures than this from one address within the window block the address. */
  maxFailuresPerIp: number;
  windowSeconds: number;
  blockSeconds: number;
  /** Consecutive failures on one account before exponential backoff starts. */
  accountFreeFailures: number;
  accountBaseDelaySeconds: number;
  accountMaxDelaySeconds: number;
  /** How long an account's consecutive failures are remembered without a success. */
  accountWindowSeconds: number;
  /** Sign-ups (each costs an argon2 hash) from one address per hour. */
  signupsPerIpPerHour: number;
  /** Sign-in attempts, right or wrong (each costs an argon2 check), from one address per minute. */
  loginsPerIpPerMinute: number;
  /** Password-reset requests and reset attempts from one address per hour. */
  passwordResetsPerIpPerHour: number;
  /** Reset mails one email address receives per hour. */
  passwordResetsPerEmailPerHour: number;
}

/**
 * One sign-in attempt holding a reservation on the address's and the account's failure budgets.
 * Settle it exactly once; `release` is safe to call again after a verdict (a `finally` does so).
 */
export interface LoginAttempt {
  failed(reason: string, userId?: string): Promise<void>;
  succeeded(userId: string): Promise<void>;
  release(): Promise<void>;
}

/**
 * Brute-force defence (runbook: suspicious_login_attempts → block_ip). Each attempt reserves a slot
 * on two budgets in the shared cache (Redis when configured, so all replicas agree) before any
 * password is checked: the source address (more than `maxFailuresPerIp` failures in the window
 * block it) and the account (after `accountFreeFailures` consecutive failures, exponential
 * backoff). The account budget is keyed by the normalised email whether or not an account exists,
 * so known and unknown addresses lock alike. Failures, blocks and backoffs are security events.
 */
export class LoginGuard {
  private readonly ipPolicy: AttemptPolicy;
  private readonly accountPolicy: AttemptPolicy;

  constructor(
    private readonly cache: Cache,
    private readonly clock: Clock,
    private readonly repo: IdentityRepository,
    private readonly metrics: CoreMetrics,
    private readonly policy: LoginGuardPolicy,
    /** Where each security event is also written as a line for the SIEM (ECS fields, docs/siem.md). */
    private readonly logger?: Logger,
  ) {
    this.ipPolicy = { blockAfter: policy.maxFailuresPerIp + 1, windowSeconds: policy.windowSeconds, blockSeconds: policy.blockSeconds };
    this.accountPolicy = {
      blockAfter: policy.accountFreeFailures,
      windowSeconds: policy.accountWindowSeconds,
      blockSeconds: policy.accountBaseDelaySeconds,
      blockGrowth: 2,
      maxBlockSeconds: policy.accountMaxDelaySeconds,
    };
  }

  private accountKey(email: string) {
    return `login:acct:${sha256(normalizeEmail(email))}`;
  }

  /**
   * Runs a secret check a signed-in user makes to confirm an action (the current password, an MFA
   * code) on the same kind of budget as sign-in, reserved before the check: a stolen session cannot
   * guess at speed. Password re-checks share the account's sign-in budget. `check` answers null
   * for a wrong secret.
   */
  async checkOnBudget<T>(what: { passwordOfEmail: string } | { mfaOfUser: string }, check: () => Promise<T | null>, ctx: { ip: string | null; userId: string }): Promise<T | null> {
    const key = 'passwordOfEmail' in what ? this.accountKey(what.passwordOfEmail) : `mfa:${what.mfaOfUser}`;
    const r = await this.cache.reserveAttempt(key, this.accountPolicy);
    if (!r.granted) {
      const detail = r.blocked ? `Too many wrong attempts; try again in ${r.retryAfterSeconds} s` : 'Too many attempts at once; try again in a moment';
      throw new AppError('rate_limited', detail, { retryAfterSeconds: r.retryAfterSeconds });
    }
    let outcome: AttemptOutcome = 'released';
    try {
      const result = await check();
      outcome = result === null ? 'failed' : 'reset';
      return result;
    } finally {
      const settled = await this.cache.settleAttempt(key, this.accountPolicy, outcome);
      if (outcome === 'failed') {
        await this.event('passwordOfEmail' in what ? 'password_check_failed' : 'mfa_check_failed', { ip: ctx.ip ?? undefined, userId: ctx.userId, detail: { failures: settled.failures, delaySeconds: settled.blockedSeconds } });
      }
    }
  }

  /** Reserves the attempt, or answers 429 (ip_blocked / account_locked with Retry-After) without checking anything. */
  async begin(ip: string, email: string): Promise<LoginAttempt> {
    const normalized = normalizeEmail(email);
    const ipKey = `login:ip:${ip}`;
    const accountKey = this.accountKey(normalized);
    const byIp = await this.cache.reserveAttempt(ipKey, this.ipPolicy);
    if (!byIp.granted) {
      const detail = byIp.blocked ? `Too many failed sign-ins from this address; try again in ${byIp.retryAfterSeconds} s` : 'Too many sign-ins from this address at once; try again in a moment';
      throw new AppError('ip_blocked', detail, { retryAfterSeconds: byIp.retryAfterSeconds });
    }
    const byAccount = await this.cache.reserveAttempt(accountKey, this.accountPolicy).catch(async (err: unknown) => {
      await this.cache.settleAttempt(ipKey, this.ipPolicy, 'released');
      throw err;
    });
    if (!byAccount.granted) {
      await this.cache.settleAttempt(ipKey, this.ipPolicy, 'released');
      const detail = byAccount.blocked ? `Too many failed sign-ins for this account; try again in ${byAccount.retryAfterSeconds} s` : 'Too many sign-ins for this account at once; try again in a moment';
      throw new AppError('account_locked', detail, { retryAfterSeconds: byAccount.retryAfterSeconds });
    }

    let open = true;
    const settle = async (ipOutcome: AttemptOutcome, accountOutcome: AttemptOutcome) => {
      if (!open) return null;
      open = false;
      const [ipResult, accountResult] = await Promise.all([
        this.cache.settleAttempt(ipKey, this.ipPolicy, ipOutcome),
        this.cache.settleAttempt(accountKey, this.accountPolicy, accountOutcome),
      ]);
      return { ipResult, accountResult };
    };
    return {
      failed: async (reason, userId) => {
        const r = await settle('failed', 'failed');
        if (!r) return;
        await this.event('login_failed', { ip, userId, email: normalized, detail: { reason } });
        if (r.ipResult.blockedSeconds !== null) {
          await this.event('ip_blocked', { ip, detail: { failures: r.ipResult.failures, windowSeconds: this.ipPolicy.windowSeconds, blockSeconds: r.ipResult.blockedSeconds } });
        }
        if (r.accountResult.blockedSeconds !== null) {
          await this.event('account_backoff', { ip, userId, email: normalized, detail: { failures: r.accountResult.failures, delaySeconds: r.accountResult.blockedSeconds } });
        }
      },
      succeeded: async (userId) => {
        // A success ends the account's run of failures; the address keeps its count for the window.
        if (!(await settle('succeeded', 'reset'))) return;
        await this.repo.updateUser(userId, { lastLoginAt: this.clock.now() });
      },
      release: async () => {
        await settle('released', 'released');
      },
    };
  }

  async assertSignupRate(ip: string | null): Promise<void> {
    await this.assertRate('signup', ip ?? 'unknown', this.policy.signupsPerIpPerHour, 3600, 'Too many sign-ups from this address');
  }

  async assertLoginRate(ip: string): Promise<void> {
    await this.assertRate('login', ip, this.policy.loginsPerIpPerMinute, 60, 'Too many sign-in attempts from this address');
  }

  async assertPasswordResetRate(ip: string | null): Promise<void> {
    await this.assertRate('password_reset', ip ?? 'unknown', this.policy.passwordResetsPerIpPerHour, 3600, 'Too many password-reset requests from this address');
  }

  /**
   * Counts a mail to an email address (reset links) on its hourly budget; false when the budget is
   * spent. The caller answers alike either way (the address's owner is not told), it just sends nothing.
   */
  async mailBudget(kind: string, email: string): Promise<boolean> {
    const key = `rate:mail:${kind}:${sha256(normalizeEmail(email))}`;
    const count = await this.cache.incr(key, 3600);
    if (count <= this.policy.passwordResetsPerEmailPerHour) return true;
    if (count === this.policy.passwordResetsPerEmailPerHour + 1) await this.event(`${kind}_mail_rate_limited`, { email, detail: { limit: this.policy.passwordResetsPerEmailPerHour } });
    return false;
  }

  /** A fixed window per address; the cache's increment is atomic, so parallel requests cannot slip past. */
  private async assertRate(name: string, ip: string, limit: number, windowSeconds: number, what: string): Promise<void> {
    const key = `rate:${name}:${ip}`;
    const count = await this.cache.incr(key, windowSeconds);
    if (count <= limit) return;
    if (count === limit + 1) await this.event(`${name}_rate_limited`, { ip, detail: { limit, windowSeconds } });
    const retryAfterSeconds = (await this.cache.ttl(key)) ?? windowSeconds;
    throw new AppError('rate_limited', `${what}; try again in ${retryAfterSeconds} s`, { retryAfterSeconds });
  }

  async event(kind: string, e: { ip?: string; userId?: string; email?: string; detail?: Record<string, unknown> }): Promise<void> {
    this.metrics.securityEvents.inc({ kind });
    this.logger?.info(securityLogFields({ kind, ip: e.ip, userId: e.userId, detail: e.detail }), `security ${kind}`);
    await this.repo.insertSecurityEvent({
      occurredAt: this.clock.now(),
      kind,
      ip: e.ip ?? null,
      userId: e.userId ?? null,
      emailNormalized: e.email ? normalizeEmail(e.email) : null,
      detail: e.detail ?? {},
    });
  }
}
