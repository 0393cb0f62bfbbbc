import { randomBytes } from 'node:crypto';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { AwsKmsKeyProvider, wrappedKeyId, type KeyRingStore, type WrappedKey } from './aws-kms.js';
import { LocalKeyProvider, SecretBox, SecretBoxError } from './secret-box.js';
import { startFakeKms, type FakeKms } from '../../../test/helpers/fake-kms.js';

/**
 * KEY_PROVIDER=aws-kms against a local peer speaking KMS's JSON 1.1 protocol: the official
 * @aws-sdk/client-kms signs and sends real requests; what AWS itself would add (IAM, key
 * policies, grants, CloudTrail) is not exercised here (ADR 0057).
 */
let kms: FakeKms;
const KEY = 'd5f3a1b2-0000-4000-8000-000000000001';
const credentials = { accessKeyId: 'AKIDFAKEKMS', secretAccessKey: 'fake-secret' };

beforeAll(async () => {
  kms = await startFakeKms();
  kms.keys.set(KEY, randomBytes(32));
  kms.keys.set('other-key', randomBytes(32));
  kms.aliases.set('alias/v01t-secrets', KEY);
});
afterAll(() => kms?.close());
afterEach(() => {
  kms.calls.length = 0;
  kms.failWith = undefined;
});

function memoryRing(): KeyRingStore & { rows: WrappedKey[] } {
  const rows: WrappedKey[] = [];
  return {
    rows,
    async list() {
      return [...rows];
    },
    async currentOrCreate(kmsKeyId, generate) {
      const found = rows.filter((r) => r.kmsKeyId === kmsKeyId).at(-1);
      if (found) return found;
      const wrapped = await generate();
      const row = { id: wrappedKeyId(wrapped), kmsKeyId, wrapped, createdAt: new Date() };
      rows.push(row);
      return row;
    },
  };
}

const open = (store: KeyRingStore, extra: { keyId?: string; legacy?: LocalKeyProvider } = {}) =>
  AwsKmsKeyProvider.open({ keyId: extra.keyId ?? 'alias/v01t-secrets', region: 'eu-west-1', endpoint: kms.endpoint, credentials, store, legacy: extra.legacy });

describe('AWS KMS key provider', () => {
  it('generates one data key, keeps only its wrapped form, and encrypts secrets without further KMS calls', async () => {
    const ring = memoryRing();
    const p = await open(ring);
    expect(p.calls).toEqual({ generateDataKey: 1, decrypt: 0 });
    expect(ring.rows).toHaveLength(1);
    expect(p.currentKeyId()).toBe(ring.rows[0]!.id);
    expect(p.currentKeyId()).toMatch(/^kms-[0-9a-f]{12}$/);
    const box = new SecretBox(p);
    const sealed = await Promise.all(Array.from({ length: 20 }, (_, i) => box.encrypt(`secret ${i}`, `ctx:${i}`)));
    for (const [i, c] of sealed.entries()) expect(await box.decrypt(c, `ctx:${i}`)).toBe(`secret ${i}`);
    expect(kms.calls.map((c) => c.target)).toEqual(['TrentService.GenerateDataKey']);
    // What went over the wire: the official client's signed JSON 1.1 request.
    const [call] = kms.calls;
    expect(call!.headers['content-type']).toBe('application/x-amz-json-1.1');
    expect(String(call!.headers.authorization)).toMatch(/^AWS4-HMAC-SHA256 Credential=AKIDFAKEKMS\/\d{8}\/eu-west-1\/kms\/aws4_request, SignedHeaders=.*x-amz-target.*, Signature=[0-9a-f]{64}$/);
    expect(call!.body).toEqual({ KeyId: 'alias/v01t-secrets', KeySpec: 'AES_256', EncryptionContext: { purpose: 'v01t-secret-box' } });
    p.close();
  });

  it('another replica (or the next start) unwraps the stored key with one Decrypt and reads what the first wrote', async () => {
    const ring = memoryRing();
    const first = await open(ring);
    const c = await new SecretBox(first).encrypt('totp seed', 'mfa:u1');
    kms.calls.length = 0;
    const second = await open(ring);
    expect(second.calls).toEqual({ generateDataKey: 0, decrypt: 1 });
    expect(kms.calls.map((x) => [x.target, x.body.KeyId, x.body.EncryptionContext])).toEqual([['TrentService.Decrypt', 'alias/v01t-secrets', { purpose: 'v01t-secret-box' }]]);
    expect(await new SecretBox(second).decrypt(c, 'mfa:u1')).toBe('totp seed');
    // A KMS outage after start does not stop secrets: the plaintext data key is cached.
    kms.failWith = 'KMSInternalException';
    expect(await new SecretBox(second).decrypt(await new SecretBox(second).encrypt('x', 'y'), 'y')).toBe('x');
    first.close();
    second.close();
  });

  it('a start refused by KMS fails with the service error, and a value of another key ring is not readable', async () => {
    kms.failWith = 'AccessDeniedException';
    await expect(open(memoryRing())).rejects.toThrow(/AccessDeniedException/);
    kms.failWith = undefined;
    await expect(open(memoryRing(), { keyId: 'alias/nope' })).rejects.toThrow(/does not exist/);
    const a = new SecretBox(await open(memoryRing()));
    const b = new SecretBox(await open(memoryRing()));
    await expect(b.decrypt(await a.encrypt('s', 'c'), 'c')).rejects.toThrow(SecretBoxError);
  });

  it('a new AWS_KMS_KEY_ID gets its own data key; old values stay readable and `keys rotate` rewraps them', async () => {
    const ring = memoryRing();
    const oldBox = new SecretBox(await open(ring));
    const before = await oldBox.encrypt('client secret', 'sso:1');
    const legacyKey = randomBytes(32);
    const fromLocal = await new SecretBox(new LocalKeyProvider(legacyKey)).encrypt('from the master key', 'ctx');
    const p = await open(ring, { keyId: 'other-key', legacy: new LocalKeyProvider(legacyKey) });
    expect(ring.rows.map((r) => r.kmsKeyId)).toEqual(['alias/v01t-secrets', 'other-key']);
    expect(p.calls).toEqual({ generateDataKey: 1, decrypt: 1 });
    const box = new SecretBox(p);
    const rewrapped = await box.rewrap(before);
    expect(rewrapped.split('.')[1]).toBe(p.currentKeyId());
    expect(await box.decrypt(rewrapped, 'sso:1')).toBe('client secret');
    // A value under the local master key (before the move to KMS) is read, and rewrapped under KMS.
    expect(await box.decrypt(fromLocal, 'ctx')).toBe('from the master key');
    const moved = await box.rewrap(fromLocal);
    expect(moved.split('.')[1]).toBe(p.currentKeyId());
    expect(await new SecretBox(await open(ring, { keyId: 'other-key' })).decrypt(moved, 'ctx')).toBe('from the master key');
  });
});
