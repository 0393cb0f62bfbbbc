import * as OTPAuth from 'otpauth';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { PasswordHasher } from '../../src/services/orchestrator/secrets.js';
import { MfaService } from '../../src/services/orchestrator/mfa.service.js';
import { createTestPlatform, type TestPlatform } from '../helpers/platform.js';
import { bearer, problem, signup, type TestUser } from '../helpers/api.js';

/**
 * Issue 13 items 2 and 6: limits that hold under concurrency (every attempt is reserved before a
 * password is checked), sign-in and sign-up that do not tell known addresses from unknown ones,
 * and per-address limits on the routes that cost an argon2 hash. Runs on PGlite + memory cache and
 * on PostgreSQL + Redis (V01T_TEST_DATABASE=postgres V01T_TEST_REDIS=1).
 */
let t: TestPlatform;
let limited: TestPlatform;
beforeAll(async () => {
  t = await createTestPlatform();
  limited = await createTestPlatform({ SIGNUP_MAX_PER_IP_PER_HOUR: '3', LOGIN_MAX_PER_IP_PER_MINUTE: '5' });
});
afterAll(async () => {
  await t?.close();
  await limited?.close();
});
afterEach(() => {
  vi.restoreAllMocks();
});

const login = (p: TestPlatform, email: string, password: string, ip: string, extra: Record<string, unknown> = {}) =>
  p.inject({ method: 'POST', url: '/v1/auth/login', payload: { email, password, ...extra }, remoteAddress: ip });

/** Counts argon2 verifications (real and dummy) from here on. */
function countVerifications() {
  const verify = vi.spyOn(PasswordHasher.prototype, 'verify');
  return () => verify.mock.calls.length;
}

function expectTooMany(res: Awaited<ReturnType<typeof login>>, code: string) {
  expect(res.statusCode).toBe(429);
  expect(problem(res).code).toBe(code);
  expect(Number(res.headers['retry-after'])).toBeGreaterThanOrEqual(1);
}

describe('sign-in limits hold under concurrency', () => {
  it('40 parallel wrong guesses from one address: at most 11 passwords are checked, the rest get 429 ip_blocked', async () => {
    const victims = await Promise.all([signup(t, 'Spray A'), signup(t, 'Spray B')]);
    const verifications = countVerifications();
    const ip = '192.0.2.10';
    const emails = Array.from({ length: 40 }, (_, i) => (i < 2 ? victims[i]!.email : `spray${i}@example.test`));
    const answers = await Promise.all(emails.map((email) => login(t, email, 'not the password at all', ip)));
    const statuses = answers.map((r) => r.statusCode);
    expect(verifications()).toBeLessThanOrEqual(11);
    expect(statuses.filter((s) => s === 401)).toHaveLength(verifications());
    for (const r of answers.filter((a) => a.statusCode !== 401)) expectTooMany(r, 'ip_blocked');
    // The address stays blocked for the next guess, however right it is.
    expectTooMany(await login(t, victims[0]!.email, victims[0]!.password, ip), 'ip_blocked');
    expect((await login(t, victims[0]!.email, victims[0]!.password, '192.0.2.11')).statusCode).toBe(200);
  });

  it('20 parallel guesses on one account from 20 addresses: at most 5 passwords are checked, the rest get 429 account_locked', async () => {
    const u = await signup(t, 'Targeted');
    const verifications = countVerifications();
    const answers = await Promise.all(Array.from({ length: 20 }, (_, i) => login(t, u.email, `wrong guess number ${i}`, `198.51.100.${i + 1}`)));
    expect(verifications()).toBeLessThanOrEqual(5);
    expect(answers.filter((r) => r.statusCode === 401)).toHaveLength(verifications());
    for (const r of answers.filter((a) => a.statusCode !== 401)) expectTooMany(r, 'account_locked');
    // Backed off, even with the right password from a fresh address, until the delay has passed.
    expectTooMany(await login(t, u.email, u.password, '198.51.100.100'), 'account_locked');
    t.clock.advance(30_001);
    expect((await login(t, u.email, u.password, '198.51.100.100')).statusCode).toBe(200);
  });

  it('parallel wrong one-time passwords with the right password: at most 5 codes are checked', async () => {
    const u = await signup(t, 'Mfa Target');
    const { secret } = (await t.inject({ method: 'POST', url: '/v1/auth/mfa/totp', headers: bearer(u.token) })).json();
    const code = new OTPAuth.TOTP({ secret: OTPAuth.Secret.fromBase32(secret), digits: 6, period: 30, algorithm: 'SHA1' }).generate({ timestamp: t.clock.now().getTime() });
    expect((await t.inject({ method: 'POST', url: '/v1/auth/mfa/totp/confirm', headers: bearer(u.token), payload: { otp: code } })).statusCode).toBe(200);
    const otpChecks = vi.spyOn(MfaService.prototype, 'verify');
    const guesses = Array.from({ length: 20 }, (_, i) => String(100000 + i * 7919).slice(0, 6));
    const answers = await Promise.all(guesses.map((otp, i) => login(t, u.email, u.password, `203.0.113.${i + 1}`, { otp })));
    expect(otpChecks.mock.calls.length).toBeLessThanOrEqual(5);
    expect(answers.filter((r) => r.statusCode === 401)).toHaveLength(otpChecks.mock.calls.length);
    for (const r of answers.filter((a) => a.statusCode !== 401)) expectTooMany(r, 'account_locked');
  });
});

describe('secrets re-checked for a signed-in user are on a budget too', () => {
  it('20 parallel wrong codes to disable MFA: at most 5 are checked, the rest get 429 rate_limited; then the right code works', async () => {
    const u = await signup(t, 'Mfa Disable');
    const { secret } = (await t.inject({ method: 'POST', url: '/v1/auth/mfa/totp', headers: bearer(u.token) })).json();
    const codeAt = (at: Date) => new OTPAuth.TOTP({ secret: OTPAuth.Secret.fromBase32(secret), digits: 6, period: 30, algorithm: 'SHA1' }).generate({ timestamp: at.getTime() });
    expect((await t.inject({ method: 'POST', url: '/v1/auth/mfa/totp/confirm', headers: bearer(u.token), payload: { otp: codeAt(t.clock.now()) } })).statusCode).toBe(200);
    const otpChecks = vi.spyOn(MfaService.prototype, 'verify');
    const answers = await Promise.all(
      Array.from({ length: 20 }, (_, i) => t.inject({ method: 'POST', url: '/v1/auth/mfa/totp/disable', headers: bearer(u.token), payload: { otp: String(200000 + i * 6007).slice(0, 6) } })),
    );
    expect(otpChecks.mock.calls.length).toBeLessThanOrEqual(5);
    expect(answers.filter((r) => r.statusCode === 401)).toHaveLength(otpChecks.mock.calls.length);
    for (const r of answers.filter((a) => a.statusCode !== 401)) expectTooMany(r, 'rate_limited');
    t.clock.advance(30_001);
    expect((await t.inject({ method: 'POST', url: '/v1/auth/mfa/totp/disable', headers: bearer(u.token), payload: { otp: codeAt(t.clock.now()) } })).statusCode).toBe(204);
  });

  it('10 parallel password changes with a wrong current password: at most 5 are checked, and they count against sign-in', async () => {
    const u = await signup(t, 'Password Guess');
    const verifications = countVerifications();
    const answers = await Promise.all(
      Array.from({ length: 10 }, (_, i) => t.inject({ method: 'POST', url: '/v1/me/password', headers: bearer(u.token), payload: { currentPassword: `guess ${i}`, newPassword: 'violet tractor spoon umbrella' } })),
    );
    expect(verifications()).toBeLessThanOrEqual(5);
    expect(answers.filter((r) => r.statusCode === 401)).toHaveLength(verifications());
    for (const r of answers.filter((a) => a.statusCode !== 401)) expectTooMany(r, 'rate_limited');
    expectTooMany(await login(t, u.email, u.password, '100.64.20.1'), 'account_locked');
  });
});

describe('sign-in does not tell known accounts from unknown ones', () => {
  it('wrong passwords answer alike and lock alike, and an unknown address is checked against a dummy hash', async () => {
    const known = await signup(t, 'Known');
    const unknownEmail = 'nobody.here@example.test';
    const dummy = vi.spyOn(PasswordHasher.prototype, 'verifyAgainstDummy');
    const run = async (email: string, base: number) => {
      const out: { status: number; body: Record<string, unknown>; retryAfter: unknown }[] = [];
      for (let i = 0; i < 7; i++) {
        const r = await login(t, email, 'a wrong password', `100.64.${base}.${i + 1}`);
        const { instance: _i, requestId: _r, ...body } = problem(r) as unknown as Record<string, unknown>;
        out.push({ status: r.statusCode, body, retryAfter: r.headers['retry-after'] });
      }
      return out;
    };
    const forKnown = await run(known.email, 1);
    const forUnknown = await run(unknownEmail, 2);
    expect(forUnknown).toEqual(forKnown);
    expect(forKnown.map((a) => a.status)).toEqual([401, 401, 401, 401, 401, 429, 429]);
    expect(forKnown[5]!.body.code).toBe('account_locked');
    expect(dummy).toHaveBeenCalledTimes(5);
  });
});

describe('sign-up does not tell taken addresses from free ones', () => {
  let owner: TestUser;
  beforeAll(async () => {
    owner = await signup(t, 'Owner');
  });

  it('answers a taken address like a free one, creates nothing, and keeps the attempt for the owner', async () => {
    const hashes = vi.spyOn(PasswordHasher.prototype, 'hash');
    const fresh = await t.inject({ method: 'POST', url: '/v1/auth/signup', payload: { email: 'free.address@example.test', password: 'a long enough password', name: 'Free' } });
    const taken = await t.inject({ method: 'POST', url: '/v1/auth/signup', payload: { email: owner.email.toUpperCase(), password: 'a long enough password', name: 'Intruder' } });
    expect(taken.statusCode).toBe(fresh.statusCode);
    expect(taken.statusCode).toBe(201);
    const shape = (b: Record<string, unknown>) => Object.fromEntries(Object.entries(b).map(([k, v]) => [k, v && typeof v === 'object' ? Object.keys(v).sort() : typeof v]));
    expect(shape(taken.json())).toEqual(shape(fresh.json()));
    expect(taken.json().user).toMatchObject({ email: owner.email.toUpperCase(), name: 'Intruder', mfaEnabled: false, platformAdmin: false });
    // Both cost an argon2 hash.
    expect(hashes).toHaveBeenCalledTimes(2);

    // No second account, no session: the answer's token opens nothing; the owner's password still works.
    const rows = await t.platform.database.query<{ n: number }>('SELECT count(*)::int AS n FROM orchestrator.users WHERE email_normalized = $1', [owner.email.toLowerCase()]);
    expect(rows[0]!.n).toBe(1);
    expect((await t.inject({ method: 'GET', url: '/v1/me', headers: bearer(taken.json().token) })).statusCode).toBe(401);
    expect((await login(t, owner.email, owner.password, '100.64.9.1')).statusCode).toBe(200);
    expect((await login(t, owner.email, 'a long enough password', '100.64.9.2')).statusCode).toBe(401);

    const events = await t.platform.database.query<{ user_id: string; ip: string }>("SELECT user_id, ip FROM orchestrator.security_events WHERE kind = 'signup_existing_email'");
    expect(events).toEqual([{ user_id: owner.id, ip: '127.0.0.1' }]);
  });
});

describe('per-address limits on routes that cost an argon2 hash', () => {
  it('sign-up: 10 parallel from one address create 3 accounts, the rest get 429 rate_limited; other addresses are unaffected', async () => {
    const hashes = vi.spyOn(PasswordHasher.prototype, 'hash');
    const ip = '192.0.2.80';
    const answers = await Promise.all(
      Array.from({ length: 10 }, (_, i) =>
        limited.inject({ method: 'POST', url: '/v1/auth/signup', payload: { email: `flood${i}@example.test`, password: 'a long enough password', name: `Flood ${i}` }, remoteAddress: ip }),
      ),
    );
    expect(answers.filter((r) => r.statusCode === 201)).toHaveLength(3);
    for (const r of answers.filter((a) => a.statusCode !== 201)) expectTooMany(r, 'rate_limited');
    expect(hashes).toHaveBeenCalledTimes(3);
    const rows = await limited.platform.database.query<{ n: number }>("SELECT count(*)::int AS n FROM orchestrator.users WHERE email_normalized LIKE 'flood%'");
    expect(rows[0]!.n).toBe(3);
    expect((await signup(limited, 'Elsewhere', { ip: '192.0.2.81' })).token).toMatch(/^v01t_s_/);
  });

  it('sign-in: right or wrong, more than 5 attempts a minute from one address get 429 rate_limited', async () => {
    const u = await signup(limited, 'Busy', { ip: '192.0.2.90' });
    const verifications = countVerifications();
    const answers = await Promise.all(Array.from({ length: 8 }, () => login(limited, u.email, u.password, '192.0.2.91')));
    expect(answers.filter((r) => r.statusCode === 200)).toHaveLength(5);
    for (const r of answers.filter((a) => a.statusCode !== 200)) expectTooMany(r, 'rate_limited');
    expect(verifications()).toBe(5);
  });
});

describe('password policy', () => {
  it('refuses common and guessable passwords, naming the field and the reason, wherever a password is set', async () => {
    const weak = await t.inject({ method: 'POST', url: '/v1/auth/signup', payload: { email: 'weak@example.test', password: 'passwordpassword', name: 'Weak' } });
    expect(weak.statusCode).toBe(400);
    const p = problem(weak);
    expect(p.code).toBe('validation_failed');
    expect(p.errors).toEqual([{ path: 'body.password', message: expect.stringMatching(/^is too easy to guess: \S/) }]);
    expect(p.detail).toMatch(/^The password is too easy to guess/);

    const short = problem(await t.inject({ method: 'POST', url: '/v1/auth/signup', payload: { email: 'short@example.test', password: 'Xk7#pQ2!vR', name: 'Short' } }));
    expect(short.errors).toEqual([{ path: 'body.password', message: 'must be at least 12 characters' }]);
    const ownEmail = problem(await t.inject({ method: 'POST', url: '/v1/auth/signup', payload: { email: 'jane.doe1987@example.test', password: 'jane.doe1987@example.test', name: 'Jane' } }));
    expect(ownEmail.errors?.[0]?.message).toBe('must not be the email address');

    const u = await signup(t, 'Changer');
    const change = await t.inject({ method: 'POST', url: '/v1/me/password', headers: bearer(u.token), payload: { currentPassword: u.password, newPassword: 'qwertyuiop123' } });
    expect(change.statusCode).toBe(400);
    expect(problem(change).errors?.map((e) => e.path)).toEqual(['body.newPassword']);

    // The operator's path (v01t user create) goes through the same policy.
    await expect(t.platform.orchestrator!.services.auth.createUser({ email: 'ops@example.test', password: 'Password123!', name: 'Ops', platformAdmin: true }, null)).rejects.toMatchObject({ code: 'validation_failed' });
    // Strong passphrases pass.
    expect((await t.inject({ method: 'POST', url: '/v1/auth/signup', payload: { email: 'strong@example.test', password: 'violet tractor spoon umbrella', name: 'Strong' } })).statusCode).toBe(201);
  });
});

describe('logout scope', () => {
  it('a read-only API token cannot revoke itself; one with account.manage can', async () => {
    const u = await signup(t, 'Scoped Logout');
    const mint = async (scopes: string[]) => (await t.inject({ method: 'POST', url: '/v1/me/tokens', headers: bearer(u.token), payload: { name: scopes.join(','), scopes } })).json().token as string;
    const read = await mint(['read', 'account.read']);
    const refused = await t.inject({ method: 'POST', url: '/v1/auth/logout', headers: bearer(read) });
    expect(refused.statusCode).toBe(403);
    expect(problem(refused).code).toBe('insufficient_scope');
    expect((await t.inject({ method: 'GET', url: '/v1/me', headers: bearer(read) })).statusCode).toBe(200);

    const manage = await mint(['account.manage']);
    expect((await t.inject({ method: 'POST', url: '/v1/auth/logout', headers: bearer(manage) })).statusCode).toBe(204);
    expect((await t.inject({ method: 'GET', url: '/v1/me', headers: bearer(manage) })).statusCode).toBe(401);
    // Sessions carry every scope: signing out still works.
    expect((await t.inject({ method: 'POST', url: '/v1/auth/logout', headers: bearer(u.token) })).statusCode).toBe(204);
  });
});
