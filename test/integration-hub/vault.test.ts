import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestPlatform, type TestPlatform } from '../helpers/platform.js';
import { bearer, createWorkspace, signup, type TestUser } from '../helpers/api.js';
import { keyIdOf, LocalKeyProvider, parseMasterKey, SecretBox } from '../../src/kernel/crypto/secret-box.js';
import { ConnectionsRepository } from '../../src/services/integration-hub/connections.repository.js';
import { Vault } from '../../src/services/integration-hub/vault.js';
import type { IntegrationHubInstance } from '../../src/services/integration-hub/index.js';

let t: TestPlatform;
let owner: TestUser;
let ws: string;
const keyA = randomBytes(32).toString('hex');
const SECRETS = ['ghp_PLAINTEXT_SECRET_1234567890', 'xoxb-PLAINTEXT-SECRET-abcdef', 'smtp-PLAINTEXT-pass-!"§$', 'PLAINTEXT-app-password-zz'];

beforeAll(async () => {
  t = await createTestPlatform({ V01T_MASTER_KEY: keyA, V01T_EGRESS_ALLOW: '127.0.0.1' });
  owner = await signup(t, 'Vault Owner');
  ws = await createWorkspace(t, owner, 'Vault');
  const make = async (connector: string, credentials: unknown, config: unknown) => {
    const res = await t.inject({ method: 'POST', url: `/v1/workspaces/${ws}/connections`, headers: bearer(owner.token), payload: { connector, name: connector, credentials, config } });
    expect(res.statusCode, res.body).toBe(201);
    for (const s of SECRETS) expect(res.body).not.toContain(s);
    return res.json().connection.id as string;
  };
  await make('github', { type: 'token', token: SECRETS[0], webhookSecret: 'PLAINTEXT-hook-secret' }, { owner: 'o', repo: 'r' });
  await make('slack', { type: 'bot_token', token: SECRETS[1] }, { channel: 'C1' });
  await make('email', { username: 'u', password: SECRETS[2] }, { host: 'smtp.example.test', from: 'a@example.test' });
  await make('bluesky', { identifier: 'x.bsky.social', appPassword: SECRETS[3] }, {});
}, 60_000);

afterAll(async () => {
  await t?.close();
});

/** Every row of every table of every schema, as text. */
async function rawDump(): Promise<string> {
  const db = t.platform.database;
  const tables = await db.query<{ s: string; n: string }>(
    `SELECT table_schema AS s, table_name AS n FROM information_schema.tables WHERE table_type = 'BASE TABLE' AND table_schema NOT IN ('pg_catalog', 'information_schema')`,
  );
  const parts: string[] = [];
  for (const { s, n } of tables) {
    const rows = await db.query<{ j: string }>(`SELECT row_to_json(t)::text AS j FROM "${s}"."${n}" t`);
    parts.push(...rows.map((r) => r.j));
  }
  return parts.join('\n');
}

describe('vault: credentials encrypted at rest', () => {
  it('finds no plaintext secret anywhere in the raw database', async () => {
    const dump = await rawDump();
    expect(dump).toContain('"credentials":"v1.');
    for (const s of [...SECRETS, 'PLAINTEXT-hook-secret']) expect(dump).not.toContain(s);
    expect(dump).not.toContain('PLAINTEXT');
  });

  it('binds each ciphertext to its connection (cannot be moved to another row)', async () => {
    const rows = await t.platform.database.query<{ id: string; credentials: string }>('SELECT id, credentials FROM integration_hub.connections ORDER BY id');
    const vault = new Vault(t.platform.ctx.secrets);
    await expect(vault.open(rows[0]!.id, rows[0]!.credentials)).resolves.toBeTypeOf('object');
    await expect(vault.open(rows[1]!.id, rows[0]!.credentials)).rejects.toThrow();
  });

  it('rotates: every data key rewrapped under the new master key, old and new readable meanwhile, old key droppable after', async () => {
    const keyB = randomBytes(32).toString('hex');
    const idA = keyIdOf(parseMasterKey(keyA));
    const idB = keyIdOf(parseMasterKey(keyB));
    const before = await t.platform.database.query<{ id: string; credentials: string }>('SELECT id, credentials FROM integration_hub.connections ORDER BY id');
    expect(before.every((r) => r.credentials.split('.')[1] === idA)).toBe(true);
    const plain = await Promise.all(before.map((r) => new Vault(t.platform.ctx.secrets).open(r.id, r.credentials)));

    // A replica restarted with V01T_MASTER_KEY=B and V01T_MASTER_KEY_PREVIOUS=A reads both before, during and after.
    const rotating = new Vault(new SecretBox(new LocalKeyProvider(parseMasterKey(keyB), [parseMasterKey(keyA)])));
    const hub = t.platform.instances.get('integration-hub') as IntegrationHubInstance;
    const repo = new ConnectionsRepository(t.platform.ctx.db);
    // The service's own rewrap goes through its SecretBox (key A): run the same code with the B+A box.
    const { ConnectionsService } = await import('../../src/services/integration-hub/connections.service.js');
    const svc = new ConnectionsService(t.platform.ctx.db, repo, rotating, null as never, t.platform.ctx.audit, t.clock, null as never, t.platform.logger, { healthTimeoutMs: 1000 });
    const first = await svc.rewrapAll();
    expect(first.rewrapped).toBe(before.length);
    const second = await svc.rewrapAll();
    expect(second).toEqual({ rewrapped: 0, unchanged: before.length });

    const after = await t.platform.database.query<{ id: string; credentials: string }>('SELECT id, credentials FROM integration_hub.connections ORDER BY id');
    expect(after.every((r) => r.credentials.split('.')[1] === idB)).toBe(true);
    // Only the wrapped data key changed; the ciphertext body is the same bytes.
    expect(after.map((r) => r.credentials.split('.')[3])).toEqual(before.map((r) => r.credentials.split('.')[3]));
    const onlyB = new Vault(new SecretBox(new LocalKeyProvider(parseMasterKey(keyB))));
    expect(await Promise.all(after.map((r) => onlyB.open(r.id, r.credentials)))).toEqual(plain);
    await expect(new Vault(t.platform.ctx.secrets).open(after[0]!.id, after[0]!.credentials)).rejects.toThrow(/not available/);
    expect(typeof hub.rewrapSecrets).toBe('function');
  });
});
