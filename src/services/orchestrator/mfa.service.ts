import * as OTPAuth from 'otpauth';
import type { AuditLog } from '../../kernel/audit/index.js';
import type { Clock } from '../../kernel/clock.js';
import type { SecretBox } from '../../kernel/crypto/secret-box.js';
import type { Transactor } from '../../kernel/db/transaction.js';
import { AppError } from '../../kernel/errors.js';
import type { IdentityRepository, UserRow } from './identity.repository.js';
import type { LoginGuard } from './login-guard.js';
import { newRecoveryCodes, normalizeRecoveryCode, sha256 } from './secrets.js';

const PERIOD = 30;

/**
 * TOTP (RFC 6238: SHA-1, 6 digits, 30 s) with one step of drift either way, no code used twice.
 * Codes confirming an action of a signed-in user are checked on a per-user budget (LoginGuard);
 * codes at sign-in are counted by the sign-in attempt that carries them.
 */
export class MfaService {
  constructor(
    private readonly db: Transactor,
    private readonly repo: IdentityRepository,
    private readonly secrets: SecretBox,
    private readonly audit: AuditLog,
    private readonly clock: Clock,
    private readonly onChange: (userId: string) => Promise<void>,
    private readonly guard: LoginGuard,
  ) {}

  private totp(secretBase32: string, label: string) {
    return new OTPAuth.TOTP({ issuer: 'v01t', label, algorithm: 'SHA1', digits: 6, period: PERIOD, secret: OTPAuth.Secret.fromBase32(secretBase32) });
  }

  /** Time step of a valid code, or null. */
  private matchStep(secretBase32: string, label: string, otp: string): number | null {
    if (!/^\d{6}$/.test(otp)) return null;
    const timestamp = this.clock.now().getTime();
    const delta = this.totp(secretBase32, label).validate({ token: otp, timestamp, window: 1 });
    return delta === null ? null : Math.floor(timestamp / 1000 / PERIOD) + delta;
  }

  async begin(user: UserRow, ip: string | null): Promise<{ secret: string; otpauthUrl: string }> {
    if (user.mfaEnabled) throw new AppError('mfa_already_enabled', 'Disable MFA first to enrol a new authenticator');
    const secret = new OTPAuth.Secret({ size: 20 }).base32;
    await this.repo.updateUser(user.id, { mfaPendingSecret: await this.secrets.encrypt(secret, `mfa:${user.id}`), updatedAt: this.clock.now() });
    await this.audit.record({ action: 'auth.mfa.enrolment_started', actorId: user.id, actorIp: ip, targetType: 'user', targetId: user.id });
    return { secret, otpauthUrl: this.totp(secret, user.email).toString() };
  }

  async confirm(user: UserRow, otp: string, ip: string | null): Promise<{ recoveryCodes: string[] }> {
    if (user.mfaEnabled) throw new AppError('mfa_already_enabled');
    if (!user.mfaPendingSecret) throw new AppError('mfa_not_enabled', 'Start enrolment with POST /v1/auth/mfa/totp first');
    const secret = await this.secrets.decrypt(user.mfaPendingSecret, `mfa:${user.id}`);
    const step = await this.guard.checkOnBudget({ mfaOfUser: user.id }, async () => this.matchStep(secret, user.email, otp), { ip, userId: user.id });
    if (step === null) throw new AppError('invalid_otp', 'The code does not match; check the authenticator clock');
    const codes = newRecoveryCodes();
    await this.db.transaction(async (tx) => {
      await this.repo.updateUser(
        user.id,
        { mfaEnabled: true, mfaSecret: await this.secrets.encrypt(secret, `mfa:${user.id}`), mfaPendingSecret: null, mfaLastStep: step, updatedAt: this.clock.now() },
        tx,
      );
      await this.repo.replaceRecoveryCodes(user.id, codes.map((c) => sha256(normalizeRecoveryCode(c))), tx);
      await this.audit.record({ action: 'auth.mfa.enabled', actorId: user.id, actorIp: ip, targetType: 'user', targetId: user.id }, tx);
    });
    await this.onChange(user.id);
    return { recoveryCodes: codes };
  }

  /** Checks a TOTP code or an unused recovery code (which is then spent). */
  async verify(user: UserRow, otp: string): Promise<'totp' | 'recovery' | null> {
    if (!user.mfaEnabled || !user.mfaSecret) return null;
    const cleaned = otp.replace(/\s/g, '');
    if (/^\d{6}$/.test(cleaned)) {
      const secret = await this.secrets.decrypt(user.mfaSecret, `mfa:${user.id}`);
      const step = this.matchStep(secret, user.email, cleaned);
      if (step === null) return null;
      return (await this.repo.advanceMfaStep(user.id, step)) ? 'totp' : null;
    }
    const code = normalizeRecoveryCode(otp);
    if (code.length !== 10) return null;
    return (await this.repo.consumeRecoveryCode(user.id, sha256(code), this.clock.now())) ? 'recovery' : null;
  }

  async disable(user: UserRow, otp: string, ip: string | null): Promise<void> {
    if (!user.mfaEnabled) throw new AppError('mfa_not_enabled');
    const how = await this.guard.checkOnBudget({ mfaOfUser: user.id }, () => this.verify(user, otp), { ip, userId: user.id });
    if (!how) throw new AppError('invalid_otp', 'A current code (or an unused recovery code) is needed to disable MFA');
    await this.db.transaction(async (tx) => {
      await this.repo.updateUser(user.id, { mfaEnabled: false, mfaSecret: null, mfaPendingSecret: null, mfaLastStep: null, updatedAt: this.clock.now() }, tx);
      await this.repo.replaceRecoveryCodes(user.id, [], tx);
      await this.audit.record({ action: 'auth.mfa.disabled', actorId: user.id, actorIp: ip, targetType: 'user', targetId: user.id, data: { verifiedWith: how } }, tx);
    });
    await this.onChange(user.id);
  }

  async regenerateRecoveryCodes(user: UserRow, otp: string, ip: string | null): Promise<{ recoveryCodes: string[] }> {
    if (!user.mfaEnabled) throw new AppError('mfa_not_enabled');
    // A recovery code is not enough here, and spending one on a refused request would waste it.
    const totpOnly = async () => (/^\d{6}$/.test(otp.replace(/\s/g, '')) && (await this.verify(user, otp)) === 'totp') || null;
    if (!(await this.guard.checkOnBudget({ mfaOfUser: user.id }, totpOnly, { ip, userId: user.id }))) throw new AppError('invalid_otp', 'A current authenticator code is needed');
    const codes = newRecoveryCodes();
    await this.db.transaction(async (tx) => {
      await this.repo.replaceRecoveryCodes(user.id, codes.map((c) => sha256(normalizeRecoveryCode(c))), tx);
      await this.audit.record({ action: 'auth.mfa.recovery_codes_regenerated', actorId: user.id, actorIp: ip, targetType: 'user', targetId: user.id }, tx);
    });
    return { recoveryCodes: codes };
  }
}
