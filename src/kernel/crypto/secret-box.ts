import { createCipheriv, createDecipheriv, createHash, randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { ensurePrivateDir } from '../private-fs.js';

/**
 * Envelope encryption of secrets at rest: each value gets its own random data key (AES-256-GCM),
 * and the data key is wrapped by a master key held by a KeyProvider. Stored form:
 *   v1.<masterKeyId>.<wrapped data key, base64url>.<ciphertext, base64url>
 * where each encrypted part is iv(12) | tag(16) | ciphertext.
 */
export interface KeyProvider {
  /** The key new values are wrapped with. */
  currentKeyId(): string;
  wrap(dataKey: Buffer): Promise<{ keyId: string; wrapped: Buffer }>;
  unwrap(keyId: string, wrapped: Buffer): Promise<Buffer>;
}

function seal(key: Buffer, plaintext: Buffer, aad: string): Buffer {
  const iv = randomBytes(12);
  const cipher = createCipheriv('aes-256-gcm', key, iv);
  cipher.setAAD(Buffer.from(aad));
  const ct = Buffer.concat([cipher.update(plaintext), cipher.final()]);
  return Buffer.concat([iv, cipher.getAuthTag(), ct]);
}

function open(key: Buffer, sealed: Buffer, aad: string): Buffer {
  const decipher = createDecipheriv('aes-256-gcm', key, sealed.subarray(0, 12));
  decipher.setAAD(Buffer.from(aad));
  decipher.setAuthTag(sealed.subarray(12, 28));
  return Buffer.concat([decipher.update(sealed.subarray(28)), decipher.final()]);
}

export const keyIdOf = (key: Buffer) => createHash('sha256').update(key).digest('hex').slice(0, 12);

/** Master keys held in this process (from V01T_MASTER_KEY or the data folder's key file). */
export class LocalKeyProvider implements KeyProvider {
  private readonly keys = new Map<string, Buffer>();
  private current: string;
  constructor(current: Buffer, previous: Buffer[] = []) {
    for (const k of [current, ...previous]) {
      if (k.length !== 32) throw new Error('master keys must be 32 bytes');
      this.keys.set(keyIdOf(k), k);
    }
    this.current = keyIdOf(current);
  }
  currentKeyId() {
    return this.current;
  }
  async wrap(dataKey: Buffer) {
    return { keyId: this.current, wrapped: seal(this.keys.get(this.current)!, dataKey, `dk:${this.current}`) };
  }
  async unwrap(keyId: string, wrapped: Buffer) {
    const key = this.keys.get(keyId);
    if (!key) throw new SecretBoxError(`master key ${keyId} is not available (rotated away without rewrapping?)`);
    return open(key, wrapped, `dk:${keyId}`);
  }
}

export class SecretBoxError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'SecretBoxError';
  }
}

export class SecretBox {
  constructor(readonly keys: KeyProvider) {}

  /** `context` binds the ciphertext to its purpose (e.g. "mfa:<userId>"): it cannot be moved to another row. */
  async encrypt(plaintext: string, context: string): Promise<string> {
    const dataKey = randomBytes(32);
    const { keyId, wrapped } = await this.keys.wrap(dataKey);
    const body = seal(dataKey, Buffer.from(plaintext, 'utf8'), context);
    return ['v1', keyId, wrapped.toString('base64url'), body.toString('base64url')].join('.');
  }

  async decrypt(stored: string, context: string): Promise<string> {
    const [version, keyId, wrapped, body] = stored.split('.');
    if (version !== 'v1' || !keyId || !wrapped || !body) throw new SecretBoxError('unrecognised ciphertext format');
    const dataKey = await this.keys.unwrap(keyId, Buffer.from(wrapped, 'base64url'));
    try {
      return open(dataKey, Buffer.from(body, 'base64url'), context).toString('utf8');
    } catch {
      throw new SecretBoxError('ciphertext failed authentication');
    }
  }

  /** Re-wraps the data key under the current master key without touching the ciphertext. */
  async rewrap(stored: string): Promise<string> {
    const [version, keyId, wrapped, body] = stored.split('.');
    if (version !== 'v1' || !keyId || !wrapped || !body) throw new SecretBoxError('unrecognised ciphertext format');
    if (keyId === this.keys.currentKeyId()) return stored;
    const dataKey = await this.keys.unwrap(keyId, Buffer.from(wrapped, 'base64url'));
    const next = await this.keys.wrap(dataKey);
    return ['v1', next.keyId, next.wrapped.toString('base64url'), body].join('.');
  }
}

export function parseMasterKey(value: string): Buffer {
  const trimmed = value.trim();
  const buf = /^[0-9a-fA-F]{64}$/.test(trimmed) ? Buffer.from(trimmed, 'hex') : Buffer.from(trimmed, 'base64');
  if (buf.length !== 32) throw new Error('V01T_MASTER_KEY must be 32 bytes, as 64 hex characters or base64');
  return buf;
}

/**
 * The master key: V01T_MASTER_KEY when set; otherwise a key file in the data folder, created on
 * first start with mode 0600. V01T_MASTER_KEY_PREVIOUS (comma-separated) keeps old keys readable
 * during a rotation.
 */
/** The local master keys that exist, without creating a key file (values written before a move to KMS). */
export function existingLocalKeys(opts: { masterKey?: string; previousKeys?: string; dataDir: string }): LocalKeyProvider | undefined {
  const previous = (opts.previousKeys ?? '').split(',').map((s) => s.trim()).filter(Boolean).map(parseMasterKey);
  if (opts.masterKey) return new LocalKeyProvider(parseMasterKey(opts.masterKey), previous);
  const file = path.join(opts.dataDir, 'master.key');
  if (fs.existsSync(file)) return new LocalKeyProvider(parseMasterKey(fs.readFileSync(file, 'utf8')), previous);
  const [first, ...rest] = previous;
  return first ? new LocalKeyProvider(first, rest) : undefined;
}

export function loadKeyProvider(opts: { masterKey?: string; previousKeys?: string; dataDir: string }): LocalKeyProvider {
  const previous = (opts.previousKeys ?? '').split(',').map((s) => s.trim()).filter(Boolean).map(parseMasterKey);
  if (opts.masterKey) return new LocalKeyProvider(parseMasterKey(opts.masterKey), previous);
  const file = path.join(opts.dataDir, 'master.key');
  if (!fs.existsSync(file)) {
    ensurePrivateDir(opts.dataDir);
    try {
      fs.writeFileSync(file, randomBytes(32).toString('hex') + '\n', { mode: 0o600, flag: 'wx' });
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    }
  }
  const mode = fs.statSync(file).mode & 0o777;
  if (mode & 0o077) fs.chmodSync(file, 0o600);
  return new LocalKeyProvider(parseMasterKey(fs.readFileSync(file, 'utf8')), previous);
}
