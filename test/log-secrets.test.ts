import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestPlatform, type TestPlatform } from './helpers/platform.js';
import { bearer, createWorkspace, signup, type TestUser } from './helpers/api.js';
import { tokens } from '../src/services/orchestrator/schema.js';
import { sha256 } from '../src/services/orchestrator/secrets.js';

/**
 * The logs of failure paths carry no secret: a failed statement is logged with its SQL and the
 * server's reason, never with its bound values (argon2 password hashes, token and write-key
 * hashes), and failed sign-ins never log the password tried.
 */
let t: TestPlatform;
let user: TestUser;
let ws: string;
const lines: string[] = [];

beforeAll(async () => {
  t = await createTestPlatform({ LOG_LEVEL: 'debug' }, { logDestination: { write: (l: string) => void lines.push(l) } });
  user = await signup(t, 'Log Owner');
  ws = await createWorkspace(t, user, 'Logs');
}, 60_000);

afterAll(async () => {
  await t?.close();
});

/** What a secret or its hash looks like in a log line. */
function leaks(text: string, extra: string[] = []): string[] {
  const found: string[] = [];
  if (/\$argon2/.test(text)) found.push('argon2 hash');
  const hex = text.match(/[0-9a-f]{64}/g);
  if (hex) found.push(`sha-256 hex: ${hex[0]}`);
  if (/v01t_(s|pat|wk)_/.test(text)) found.push('token');
  for (const s of extra) if (text.includes(s)) found.push(`secret ${s.slice(0, 12)}…`);
  return found;
}

/** Makes every new write to a table fail (a CHECK constraint existing rows are not checked against). */
async function refuseWrites(table: string): Promise<() => Promise<void>> {
  const name = `refuse_${randomUUID().slice(0, 8)}`;
  await t.platform.database.query(`ALTER TABLE ${table} ADD CONSTRAINT ${name} CHECK (false) NOT VALID`);
  return async () => void (await t.platform.database.query(`ALTER TABLE ${table} DROP CONSTRAINT ${name}`));
}

describe('no secret in the logs of failure paths', () => {
  it('failed sign-ins log neither the password tried nor the stored hash', async () => {
    const from = lines.length;
    const guess = `guess-${randomUUID()}`;
    for (let i = 0; i < 3; i++) {
      const res = await t.inject({ method: 'POST', url: '/v1/auth/login', payload: { email: user.email, password: guess } });
      expect(res.statusCode).toBe(401);
    }
    const text = lines.slice(from).join('');
    expect(text).toContain('invalid_credentials');
    expect(leaks(text, [guess, user.password])).toEqual([]);
  });

  it('failing statements that bind password hashes, token hashes and write-key hashes log none of them', async () => {
    const from = lines.length;
    const newPassword = `new-${randomUUID()}`;
    const failures: [string, () => Promise<{ statusCode: number; body: string }>][] = [
      ['orchestrator.users', () => t.inject({ method: 'POST', url: '/v1/auth/signup', payload: { email: `x.${randomUUID().slice(0, 6)}@example.test`, password: newPassword, name: 'X' } })],
      ['orchestrator.users', () => t.inject({ method: 'POST', url: '/v1/me/password', headers: bearer(user.token), payload: { currentPassword: user.password, newPassword } })],
      ['orchestrator.tokens', () => t.inject({ method: 'POST', url: '/v1/me/tokens', headers: bearer(user.token), payload: { name: 'ci', scopes: ['workflows.read'] } })],
      ['orchestrator.tokens', () => t.inject({ method: 'POST', url: '/v1/auth/login', payload: { email: user.email, password: user.password } })],
      ['analytics.write_keys', () => t.inject({ method: 'POST', url: `/v1/workspaces/${ws}/analytics/write-keys`, headers: bearer(user.token), payload: { name: 'site' } })],
    ];
    for (const [table, call] of failures) {
      const restore = await refuseWrites(table);
      try {
        const res = await call();
        expect(res.statusCode, `${table}: ${res.body}`).toBe(500);
        // The answer carries neither the statement nor its values.
        expect(res.body).not.toMatch(/insert|update|select|refuse_|\$argon2/i);
      } finally {
        await restore();
      }
    }
    const failed = lines.slice(from).filter((l) => l.includes('"request failed"'));
    expect(failed).toHaveLength(failures.length);
    // The statement and the server's reason are still there for the operator.
    expect(failed.join('')).toMatch(/Failed query: (insert|update)/);
    expect(failed.join('')).toMatch(/violates check constraint/);
    expect(leaks(lines.slice(from).join(''), [newPassword, user.password])).toEqual([]);
  });

  it('a unique violation keeps the conflicting value out of the error and of the log line', async () => {
    const hash = sha256(`v01t_s_${randomUUID()}`);
    const row = { userId: user.id, kind: 'session', name: 'dup', scopes: ['*'], createdAt: new Date() };
    await t.platform.database.orm.insert(tokens).values({ ...row, id: randomUUID(), tokenHash: hash } as never);
    const err = await t.platform.database.orm
      .insert(tokens)
      .values({ ...row, id: randomUUID(), tokenHash: hash } as never)
      .then(() => null, (e: unknown) => e as Error & { cause?: { detail?: string } });
    expect(err).toBeInstanceOf(Error);
    expect(err!.cause?.detail).toMatch(/^Key \(token_hash\)=\(\[withheld\]\)/);
    const everything = JSON.stringify({ message: err!.message, stack: err!.stack, params: (err as unknown as { params: unknown }).params, detail: err!.cause?.detail });
    expect(everything).not.toContain(hash);
    const from = lines.length;
    t.platform.logger.error({ err }, 'probe');
    expect(lines.slice(from).join('')).toContain('duplicate key');
    expect(leaks(lines.slice(from).join(''))).toEqual([]);
  });

  it('the log serializer withholds statement values even for an error the db layer never saw', async () => {
    const { DrizzleQueryError } = await import('drizzle-orm');
    const secret = `$argon2id$v=19$m=1024$${randomUUID()}`;
    const from = lines.length;
    t.platform.logger.error({ err: new DrizzleQueryError('insert into x values ($1)', [secret], new Error('boom')) }, 'probe');
    const text = lines.slice(from).join('');
    expect(text).toContain('insert into x');
    expect(text).not.toContain(secret);
  });
});
