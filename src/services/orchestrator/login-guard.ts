import type { Cache } from '../../kernel/cache/index.js';
import type { Clock } from '../../kernel/clock.js';
import { AppError } from '../../kernel/errors.js';
import type { CoreMetrics } from '../../kernel/telemetry/metrics.js';
import type { IdentityRepository } from './identity.repository.js';

export interface LoginGuardPolicy {
  /** More failures than this from one address within the window block the address. */
  maxFailuresPerIp: number;
  windowSeconds: number;
  blockSeconds: number;
  /** Consecutive failures on one account before exponential backoff starts. */
  accountFreeFailures: number;
  accountBaseDelaySeconds: number;
  accountMaxDelaySeconds: number;
}

/**
 * Brute-force defence (runbook: suspicious_login_attempts → block_ip): counts failed sign-ins per
 * source address in the shared cache (Redis when configured, so all replicas agree) and backs off
 * per account. Every failure and block is written as a security event.
 */
export class LoginGuard {
  constructor(
    private readonly cache: Cache,
    private readonly clock: Clock,
    private readonly repo: IdentityRepository,
    private readonly metrics: CoreMetrics,
    private readonly policy: LoginGuardPolicy,
  ) {}

  async assertIpAllowed(ip: string): Promise<void> {
    const ttl = await this.cache.ttl(`login:block:${ip}`);
    if (ttl !== null) {
      throw new AppError('ip_blocked', `Too many failed sign-ins from this address; try again in ${ttl} s`, { retryAfterSeconds: ttl });
    }
  }

  assertAccountNotLocked(lockedUntil: Date | null): void {
    if (!lockedUntil) return;
    const remaining = Math.ceil((lockedUntil.getTime() - this.clock.now().getTime()) / 1000);
    if (remaining > 0) {
      throw new AppError('account_locked', `Too many failed sign-ins for this account; try again in ${remaining} s`, { retryAfterSeconds: remaining });
    }
  }

  /** Records a failure; returns the account lock end when the account now backs off. */
  async recordFailure(input: { ip: string; email: string; userId?: string; reason: string }): Promise<Date | null> {
    const now = this.clock.now();
    await this.event('login_failed', { ip: input.ip, userId: input.userId, email: input.email, detail: { reason: input.reason } });
    const count = await this.cache.incr(`login:fail:${input.ip}`, this.policy.windowSeconds);
    if (count > this.policy.maxFailuresPerIp) {
      const alreadyBlocked = (await this.cache.ttl(`login:block:${input.ip}`)) !== null;
      if (!alreadyBlocked) {
        await this.cache.set(`login:block:${input.ip}`, String(now.getTime()), this.policy.blockSeconds);
        await this.event('ip_blocked', { ip: input.ip, detail: { failures: count, windowSeconds: this.policy.windowSeconds, blockSeconds: this.policy.blockSeconds } });
      }
    }
    if (!input.userId) return null;
    const failures = await this.repo.incrementFailedLogins(input.userId);
    const over = failures - this.policy.accountFreeFailures;
    if (over < 0) return null;
    const delay = Math.min(this.policy.accountMaxDelaySeconds, this.policy.accountBaseDelaySeconds * 2 ** over);
    const until = new Date(now.getTime() + delay * 1000);
    await this.repo.updateUser(input.userId, { lockedUntil: until });
    await this.event('account_backoff', { ip: input.ip, userId: input.userId, detail: { failures, delaySeconds: delay } });
    return until;
  }

  async recordSuccess(userId: string): Promise<void> {
    await this.repo.updateUser(userId, { failedLogins: 0, lockedUntil: null, lastLoginAt: this.clock.now() });
  }

  async event(kind: string, e: { ip?: string; userId?: string; email?: string; detail?: Record<string, unknown> }): Promise<void> {
    this.metrics.securityEvents.inc({ kind });
    await this.repo.insertSecurityEvent({
      occurredAt: this.clock.now(),
      kind,
      ip: e.ip ?? null,
      userId: e.userId ?? null,
      emailNormalized: e.email ? e.email.trim().toLowerCase() : null,
      detail: e.detail ?? {},
    });
  }
}
