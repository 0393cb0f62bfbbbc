import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startFakeKms, type FakeKms } from './helpers/fake-kms.js';
import { createTestPlatform } from './helpers/platform.js';

/**
 * KEY_PROVIDER=aws-kms through the whole platform (ADR 0057): the official KMS client against a
 * local peer speaking KMS's JSON 1.1 protocol; the provider's own cases are in
 * src/kernel/crypto/aws-kms.test.ts.
 */
let kms: FakeKms;
const KEY = 'd5f3a1b2-0000-4000-8000-000000000002';
const credentials = { accessKeyId: 'AKIDFAKEKMS', secretAccessKey: 'fake-secret' };

beforeAll(async () => {
  kms = await startFakeKms();
  kms.keys.set(KEY, randomBytes(32));
  kms.aliases.set('alias/v01t-secrets', KEY);
});
afterAll(async () => {
  delete process.env.AWS_ACCESS_KEY_ID;
  delete process.env.AWS_SECRET_ACCESS_KEY;
  await kms?.close();
});

describe('KEY_PROVIDER=aws-kms', () => {
  it('the platform with KEY_PROVIDER=aws-kms stores the wrapped key in kernel.key_ring and serves secrets', async () => {
    process.env.AWS_ACCESS_KEY_ID = credentials.accessKeyId;
    process.env.AWS_SECRET_ACCESS_KEY = credentials.secretAccessKey;
    const env = { KEY_PROVIDER: 'aws-kms', AWS_KMS_KEY_ID: 'alias/v01t-secrets', AWS_KMS_REGION: 'eu-west-1', AWS_KMS_ENDPOINT: kms.endpoint };
    await expect(createTestPlatform({ KEY_PROVIDER: 'aws-kms' })).rejects.toThrow(/AWS_KMS_KEY_ID: required when KEY_PROVIDER=aws-kms/);
    const t = await createTestPlatform(env);
    try {
      const rows = await t.platform.database.query<{ id: string; provider: string; kms_key_id: string; wrapped: Uint8Array }>('SELECT id, provider, kms_key_id, wrapped FROM kernel.key_ring');
      expect(rows).toHaveLength(1);
      expect(rows[0]).toMatchObject({ provider: 'aws-kms', kms_key_id: 'alias/v01t-secrets', id: t.platform.ctx.secrets.keys.currentKeyId() });
      const c = await t.platform.ctx.secrets.encrypt('webhook secret', 'integration-hub:x');
      expect(c.split('.')[1]).toBe(rows[0]!.id);
      expect(await t.platform.ctx.secrets.decrypt(c, 'integration-hub:x')).toBe('webhook secret');
      expect(kms.calls.map((x) => x.target)).toEqual(['TrentService.GenerateDataKey']);
    } finally {
      await t.close();
    }
    kms.failWith = 'AccessDeniedException';
    await expect(createTestPlatform(env)).rejects.toThrow(/KEY_PROVIDER=aws-kms: the data key under alias\/v01t-secrets cannot be generated or unwrapped: .*AccessDeniedException/);
  }, 60_000);
});
