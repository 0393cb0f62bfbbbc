import { createHash } from 'node:crypto';
import type * as ClientKms from '@aws-sdk/client-kms';
import type { KMSClient, KMSClientConfig } from '@aws-sdk/client-kms';
import type { Database } from '../db/database.js';
import type { Migration } from '../db/migrate.js';
import { lazyPackage } from '../lazy-package.js';
import { LocalKeyProvider, SecretBoxError, type KeyProvider } from './secret-box.js';

/** The AWS SDK's KMS client, loaded only with KEY_PROVIDER=aws-kms (ADR 0073). */
const kmsSdk = lazyPackage<typeof ClientKms>('@aws-sdk/client-kms');

/**
 * KEY_PROVIDER=aws-kms (ADR 0057): the key that wraps every SecretBox value's data key is itself a
 * data key of AWS KMS. GenerateDataKey under AWS_KMS_KEY_ID gives it once, plaintext and wrapped;
 * only the wrapped form is stored (kernel.key_ring, shared by every replica). Each process calls
 * Decrypt on the stored keys at start and keeps the plaintexts in memory, so encrypting and
 * decrypting a secret calls KMS never again. The plaintext is never written anywhere.
 *
 * Key ids in ciphertexts are `kms-<12 hex>` (a hash of the wrapped blob), so values wrapped under
 * KMS and under a local master key (V01T_MASTER_KEY, still readable while moving to KMS) coexist,
 * and `v01t keys rotate` rewraps the latter under the current KMS data key.
 */

/** The encryption context KMS binds the data keys to: Decrypt of a blob under another context fails. */
export const KMS_ENCRYPTION_CONTEXT = { purpose: 'v01t-secret-box' } as const;

export const KEY_RING_MIGRATIONS: Migration[] = [
  {
    id: '0002_key_ring',
    sql: `
CREATE TABLE IF NOT EXISTS kernel.key_ring (
  id text PRIMARY KEY,                 -- kms-<sha256 of wrapped, 12 hex>: the key id in SecretBox ciphertexts
  provider text NOT NULL,              -- aws-kms
  kms_key_id text NOT NULL,            -- the KMS key named when it was generated (AWS_KMS_KEY_ID)
  wrapped bytea NOT NULL,              -- GenerateDataKey's CiphertextBlob; the plaintext is never stored
  created_at timestamptz NOT NULL DEFAULT now()
);`,
  },
];

export interface WrappedKey {
  id: string;
  kmsKeyId: string;
  wrapped: Buffer;
  createdAt: Date;
}

/** Where wrapped data keys live. */
export interface KeyRingStore {
  list(): Promise<WrappedKey[]>;
  /**
   * The newest key generated under kmsKeyId, or the one `generate` makes and stores, one generator
   * at a time across processes.
   */
  currentOrCreate(kmsKeyId: string, generate: () => Promise<Buffer>): Promise<WrappedKey>;
}

export const wrappedKeyId = (wrapped: Buffer) => `kms-${createHash('sha256').update(wrapped).digest('hex').slice(0, 12)}`;

const LOCK_KEY = 7_310_057;

export function databaseKeyRing(db: Database): KeyRingStore {
  const row = (r: { id: string; kms_key_id: string; wrapped: Buffer | Uint8Array; created_at: Date | string }): WrappedKey => ({
    id: r.id,
    kmsKeyId: r.kms_key_id,
    wrapped: Buffer.from(r.wrapped),
    createdAt: new Date(r.created_at),
  });
  return {
    async list() {
      return (await db.query<{ id: string; kms_key_id: string; wrapped: Buffer; created_at: Date }>('SELECT id, kms_key_id, wrapped, created_at FROM kernel.key_ring ORDER BY created_at, id')).map(row);
    },
    currentOrCreate(kmsKeyId, generate) {
      return db.withTransaction(async (c) => {
        await c.query('SELECT pg_advisory_xact_lock($1)', [LOCK_KEY]);
        const [found] = await c.query<{ id: string; kms_key_id: string; wrapped: Buffer; created_at: Date }>(
          "SELECT id, kms_key_id, wrapped, created_at FROM kernel.key_ring WHERE provider = 'aws-kms' AND kms_key_id = $1 ORDER BY created_at DESC, id LIMIT 1",
          [kmsKeyId],
        );
        if (found) return row(found);
        const wrapped = await generate();
        const [made] = await c.query<{ id: string; kms_key_id: string; wrapped: Buffer; created_at: Date }>(
          "INSERT INTO kernel.key_ring (id, provider, kms_key_id, wrapped) VALUES ($1, 'aws-kms', $2, $3) RETURNING id, kms_key_id, wrapped, created_at",
          [wrappedKeyId(wrapped), kmsKeyId, wrapped],
        );
        return row(made!);
      });
    },
  };
}

export interface AwsKmsOptions {
  /** AWS_KMS_KEY_ID: key id, ARN, alias name or alias ARN. */
  keyId: string;
  region?: string;
  /** A KMS-compatible endpoint (tests, VPC endpoints); unset = the region's. */
  endpoint?: string;
  /** Explicit credentials; unset = the SDK's default chain (env, web identity/IRSA, instance role). */
  credentials?: KMSClientConfig['credentials'];
  store: KeyRingStore;
  /** Local master keys still readable (a move from V01T_MASTER_KEY to KMS, until `v01t keys rotate`). */
  legacy?: LocalKeyProvider;
}

export class AwsKmsKeyProvider implements KeyProvider {
  private readonly keys = new Map<string, Buffer>();
  private current = '';
  /** KMS calls made by this provider (tests assert that secrets do not call KMS per value). */
  readonly calls = { generateDataKey: 0, decrypt: 0 };

  private constructor(
    private readonly client: KMSClient,
    private readonly opts: AwsKmsOptions,
  ) {}

  /** Loads (Decrypt) every stored key and makes sure one under opts.keyId exists (GenerateDataKey). */
  static async open(opts: AwsKmsOptions): Promise<AwsKmsKeyProvider> {
    const client = new (kmsSdk().KMSClient)({ region: opts.region, endpoint: opts.endpoint, credentials: opts.credentials, maxAttempts: 3 });
    const p = new AwsKmsKeyProvider(client, opts);
    try {
      const current = await opts.store.currentOrCreate(opts.keyId, async () => {
        p.calls.generateDataKey++;
        const r = await client.send(new (kmsSdk().GenerateDataKeyCommand)({ KeyId: opts.keyId, KeySpec: 'AES_256', EncryptionContext: { ...KMS_ENCRYPTION_CONTEXT } }));
        if (!r.CiphertextBlob || r.Plaintext?.length !== 32) throw new SecretBoxError('KMS GenerateDataKey returned no 32-byte key');
        // The plaintext of a key just made is cached here, so the start needs no Decrypt of it.
        p.keys.set(wrappedKeyId(Buffer.from(r.CiphertextBlob)), Buffer.from(r.Plaintext));
        return Buffer.from(r.CiphertextBlob);
      });
      await p.load();
      if (!p.keys.has(current.id)) await p.decrypt(current);
      p.current = current.id;
      return p;
    } catch (err) {
      client.destroy();
      throw err;
    }
  }

  private async decrypt(k: WrappedKey): Promise<void> {
    this.calls.decrypt++;
    // KeyId is given so that KMS refuses a blob of another key instead of decrypting it silently.
    const r = await this.client.send(new (kmsSdk().DecryptCommand)({ CiphertextBlob: k.wrapped, KeyId: k.kmsKeyId, EncryptionContext: { ...KMS_ENCRYPTION_CONTEXT } }));
    if (r.Plaintext?.length !== 32) throw new SecretBoxError(`KMS Decrypt of data key ${k.id} returned no 32-byte key`);
    this.keys.set(k.id, Buffer.from(r.Plaintext));
  }

  /** Decrypts the stored keys not yet in memory (at start, and when a value names a key another replica made since). */
  private async load(): Promise<void> {
    for (const k of await this.opts.store.list()) if (!this.keys.has(k.id)) await this.decrypt(k);
  }

  currentKeyId(): string {
    return this.current;
  }

  async wrap(dataKey: Buffer) {
    return this.local(this.current).wrap(dataKey);
  }

  async unwrap(keyId: string, wrapped: Buffer): Promise<Buffer> {
    if (!keyId.startsWith('kms-')) {
      if (!this.opts.legacy) throw new SecretBoxError(`master key ${keyId} is not available: a local key (V01T_MASTER_KEY) is needed to read values written before KEY_PROVIDER=aws-kms`);
      return this.opts.legacy.unwrap(keyId, wrapped);
    }
    if (!this.keys.has(keyId)) await this.load();
    if (!this.keys.has(keyId)) throw new SecretBoxError(`data key ${keyId} is not in kernel.key_ring`);
    return this.local(keyId).unwrap(keyId, wrapped);
  }

  /** The same AES-256-GCM wrapping as the local provider, under a KMS data key, with its kms-… id. */
  private local(keyId: string): KeyProvider {
    const key = this.keys.get(keyId)!;
    const lp = new LocalKeyProvider(key);
    return {
      currentKeyId: () => keyId,
      wrap: async (dataKey) => ({ keyId, wrapped: (await lp.wrap(dataKey)).wrapped }),
      unwrap: (_id, wrapped) => lp.unwrap(lp.currentKeyId(), wrapped),
    };
  }

  close(): void {
    this.client.destroy();
  }
}
