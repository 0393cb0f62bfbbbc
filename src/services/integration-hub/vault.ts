import type { SecretBox } from '../../kernel/crypto/secret-box.js';

/**
 * Connection credentials at rest: one SecretBox envelope per record (its own AES-256-GCM data key,
 * wrapped by the master key), bound to the connection id so a ciphertext cannot be moved to
 * another row.
 */
export class Vault {
  constructor(private readonly box: SecretBox) {}

  private context(connectionId: string) {
    return `integration-hub:connection:${connectionId}`;
  }

  seal(connectionId: string, credentials: unknown): Promise<string> {
    return this.box.encrypt(JSON.stringify(credentials), this.context(connectionId));
  }

  async open<T = Record<string, unknown>>(connectionId: string, stored: string): Promise<T> {
    return JSON.parse(await this.box.decrypt(stored, this.context(connectionId))) as T;
  }

  sealValue(purpose: string, value: string): Promise<string> {
    return this.box.encrypt(value, `integration-hub:${purpose}`);
  }

  openValue(purpose: string, stored: string): Promise<string> {
    return this.box.decrypt(stored, `integration-hub:${purpose}`);
  }

  /** Re-wraps the data key under the current master key; the ciphertext body is untouched. */
  rewrap(stored: string): Promise<string> {
    return this.box.rewrap(stored);
  }

  currentKeyId(): string {
    return this.box.keys.currentKeyId();
  }
}
