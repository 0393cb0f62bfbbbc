import { createCipheriv, createDecipheriv, createHash, hkdfSync, randomBytes, scrypt as scryptCb, type CipherGCM, type DecipherGCM } from 'node:crypto';
import { promisify } from 'node:util';

const scrypt = promisify(scryptCb) as (password: string, salt: Buffer, keylen: number, opts: { N: number; r: number; p: number; maxmem: number }) => Promise<Buffer>;

/**
 * Backup encryption (ADR 0050): every file of a backup is sealed with AES-256-GCM under the backup
 * key, with a fresh 96-bit IV and the backup id and the file's path as associated data, so a file
 * cannot be swapped between backups or paths unnoticed. The key is BACKUP_KEY, or derived from the
 * master key with HKDF-SHA256 (info "v01t backup key v1"): then whoever holds the master key can
 * read the backups, and the master key must be kept apart from them.
 */
export class BackupKeyError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'BackupKeyError';
  }
}

export function parseKey(value: string, name: string): Buffer {
  const v = value.trim();
  const buf = /^[0-9a-fA-F]{64}$/.test(v) ? Buffer.from(v, 'hex') : Buffer.from(v, 'base64');
  if (buf.length !== 32) throw new BackupKeyError(`${name} must be 32 bytes, as 64 hex characters or base64`);
  return buf;
}

export function deriveBackupKey(masterKey: Buffer): Buffer {
  return Buffer.from(hkdfSync('sha256', masterKey, Buffer.alloc(0), 'v01t backup key v1', 32));
}

/** A short public name of a key (not the key): the index records it so a wrong key is named, not guessed. */
export function keyFingerprint(key: Buffer): string {
  return createHash('sha256').update('v01t backup key fingerprint').update(key).digest('hex').slice(0, 16);
}

export function aad(backupId: string, file: string): Buffer {
  return Buffer.from(`${backupId}\0${file}`);
}

export function encryptor(key: Buffer, associated: Buffer): { iv: Buffer; cipher: CipherGCM } {
  const iv = randomBytes(12);
  const cipher = createCipheriv('aes-256-gcm', key, iv);
  cipher.setAAD(associated);
  return { iv, cipher };
}

export function decryptor(key: Buffer, associated: Buffer, iv: Buffer, tag: Buffer): DecipherGCM {
  const decipher = createDecipheriv('aes-256-gcm', key, iv);
  decipher.setAAD(associated);
  decipher.setAuthTag(tag);
  return decipher;
}

export function seal(key: Buffer, associated: Buffer, plaintext: Buffer): { iv: string; tag: string; data: string } {
  const { iv, cipher } = encryptor(key, associated);
  const data = Buffer.concat([cipher.update(plaintext), cipher.final()]);
  return { iv: iv.toString('base64'), tag: cipher.getAuthTag().toString('base64'), data: data.toString('base64') };
}

/** Opens a sealed value; throws BackupKeyError when the key is wrong or the bytes were changed. */
export function open(key: Buffer, associated: Buffer, sealed: { iv: string; tag: string; data: string }, what: string): Buffer {
  try {
    const d = decryptor(key, associated, Buffer.from(sealed.iv, 'base64'), Buffer.from(sealed.tag, 'base64'));
    return Buffer.concat([d.update(Buffer.from(sealed.data, 'base64')), d.final()]);
  } catch {
    throw new BackupKeyError(`${what} does not decrypt: the key is wrong or the backup was altered`);
  }
}

const SCRYPT = { N: 2 ** 15, r: 8, p: 1, maxmem: 64 * 1024 * 1024 };

/** The master key wrapped under a passphrase (scrypt, then AES-256-GCM): `backup create --include-master-key`. */
export async function wrapMasterKey(masterKey: Buffer, passphrase: string, backupId: string): Promise<Record<string, unknown>> {
  if (passphrase.length < 12) throw new BackupKeyError('the passphrase for --include-master-key must be at least 12 characters');
  const salt = randomBytes(16);
  const kek = await scrypt(passphrase, salt, 32, SCRYPT);
  return { kdf: 'scrypt', N: SCRYPT.N, r: SCRYPT.r, p: SCRYPT.p, salt: salt.toString('base64'), ...seal(kek, aad(backupId, 'master-key'), masterKey) };
}

export async function unwrapMasterKey(wrapped: Record<string, unknown>, passphrase: string, backupId: string): Promise<Buffer> {
  const salt = Buffer.from(String(wrapped.salt), 'base64');
  const kek = await scrypt(passphrase, salt, 32, { N: Number(wrapped.N), r: Number(wrapped.r), p: Number(wrapped.p), maxmem: SCRYPT.maxmem });
  try {
    return open(kek, aad(backupId, 'master-key'), wrapped as { iv: string; tag: string; data: string }, 'the wrapped master key');
  } catch {
    throw new BackupKeyError('the passphrase does not open the master key kept in this backup');
  }
}
