import { createHash, randomBytes } from 'node:crypto';
import argon2 from 'argon2';

/** Opaque bearer tokens: a recognisable prefix and 256 random bits; only the SHA-256 is stored. */
const TOKEN_PREFIX = { session: 'v01t_s_', api: 'v01t_pat_', invite: 'v01t_inv_', password_reset: 'v01t_pr_', email_verify: 'v01t_ev_', email_change: 'v01t_ec_' } as const;

export function newToken(kind: keyof typeof TOKEN_PREFIX): string {
  const prefix = TOKEN_PREFIX[kind];
  return prefix + randomBytes(32).toString('base64url');
}

export const sha256 = (value: string) => createHash('sha256').update(value).digest('hex');

/** Ten single-use recovery codes like "7kq2-9xmp-4d" (about 50 bits each). */
export function newRecoveryCodes(count = 10): string[] {
  const alphabet = 'abcdefghjkmnpqrstuvwxyz23456789';
  return Array.from({ length: count }, () => {
    const bytes = randomBytes(10);
    const chars = [...bytes].map((b) => alphabet[b % alphabet.length]).join('');
    return `${chars.slice(0, 4)}-${chars.slice(4, 8)}-${chars.slice(8, 10)}`;
  });
}

export const normalizeRecoveryCode = (code: string) => code.trim().toLowerCase().replace(/[^a-z0-9]/g, '');

export class PasswordHasher {
  private dummy: Promise<string> | undefined;
  constructor(private readonly opts: { memoryCost: number; timeCost: number }) {}

  hash(password: string): Promise<string> {
    return argon2.hash(password, { type: argon2.argon2id, memoryCost: this.opts.memoryCost, timeCost: this.opts.timeCost, parallelism: 1 });
  }

  async verify(hash: string, password: string): Promise<boolean> {
    try {
      return await argon2.verify(hash, password);
    } catch {
      return false;
    }
  }

  /** Spends the same time as a real check, so unknown emails cannot be told apart by timing. */
  async verifyAgainstDummy(password: string): Promise<false> {
    this.dummy ??= this.hash(randomBytes(16).toString('hex'));
    await this.verify(await this.dummy, password);
    return false;
  }

  needsRehash(hash: string): boolean {
    return argon2.needsRehash(hash, { memoryCost: this.opts.memoryCost, timeCost: this.opts.timeCost, parallelism: 1 });
  }
}
