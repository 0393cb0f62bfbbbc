import { randomBytes } from 'node:crypto';
import * as OTPAuth from 'otpauth';
import { LocalKeyProvider } from '../../src/kernel/crypto/secret-box.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestPlatform, type TestPlatform } from '../helpers/platform.js';
import { addMember, bearer, createWorkspace, problem, signup, type TestUser } from '../helpers/api.js';

let t: TestPlatform;
const MASTER_KEY = randomBytes(32).toString('hex');
beforeAll(async () => {
  // A short block, waited out by moving the clock (both caches follow it).
  t = await createTestPlatform({ LOGIN_BLOCK_SECONDS: '2', LOGIN_FAILURE_WINDOW_SECONDS: '900', V01T_MASTER_KEY: MASTER_KEY });
});
afterAll(async () => {
  await t?.close();
});

const codeAt = (secret: string, at: Date) => new OTPAuth.TOTP({ secret: OTPAuth.Secret.fromBase32(secret), digits: 6, period: 30, algorithm: 'SHA1' }).generate({ timestamp: at.getTime() });
const login = (email: string, password: string, extra: Record<string, unknown> = {}, ip = '203.0.113.1') =>
  t.inject({ method: 'POST', url: '/v1/auth/login', payload: { email, password, ...extra }, remoteAddress: ip });

async function enrol(u: TestUser): Promise<{ secret: string; recoveryCodes: string[] }> {
  const begin = await t.inject({ method: 'POST', url: '/v1/auth/mfa/totp', headers: bearer(u.token) });
  expect(begin.statusCode).toBe(200);
  const { secret, otpauthUrl } = begin.json();
  expect(otpauthUrl).toMatch(/^otpauth:\/\/totp\/v01t:/);
  expect(otpauthUrl).toContain(`secret=${secret}`);
  const confirm = await t.inject({ method: 'POST', url: '/v1/auth/mfa/totp/confirm', headers: bearer(u.token), payload: { otp: codeAt(secret, t.clock.now()) } });
  expect(confirm.statusCode).toBe(200);
  return { secret, recoveryCodes: confirm.json().recoveryCodes };
}

describe('TOTP multi-factor authentication (RFC 6238)', () => {
  it('refuses a wrong confirmation code and keeps MFA off', async () => {
    const u = await signup(t, 'Mfa Wrong');
    await t.inject({ method: 'POST', url: '/v1/auth/mfa/totp', headers: bearer(u.token) });
    const res = await t.inject({ method: 'POST', url: '/v1/auth/mfa/totp/confirm', headers: bearer(u.token), payload: { otp: '000000' } });
    expect(res.statusCode).toBe(401);
    expect(problem(res).code).toBe('invalid_otp');
    expect((await t.inject({ method: 'GET', url: '/v1/me', headers: bearer(u.token) })).json().user.mfaEnabled).toBe(false);
  });

  it('after enrolment, login needs a code: mfa_required, then success; a code is not accepted twice', async () => {
    const u = await signup(t, 'Mfa');
    const { secret, recoveryCodes } = await enrol(u);
    expect(recoveryCodes).toHaveLength(10);
    const noOtp = await login(u.email, u.password);
    expect(noOtp.statusCode).toBe(401);
    expect(problem(noOtp).code).toBe('mfa_required');
    t.clock.advance(30_000);
    const otp = codeAt(secret, t.clock.now());
    expect((await login(u.email, u.password, { otp })).statusCode).toBe(200);
    const replay = await login(u.email, u.password, { otp });
    expect(replay.statusCode).toBe(401);
    expect(problem(replay).code).toBe('invalid_credentials');
    // A code one step old (authenticator clock behind) is tolerated; three steps old is not.
    t.clock.advance(60_000);
    expect((await login(u.email, u.password, { otp: codeAt(secret, new Date(t.clock.now().getTime() - 30_000)) })).statusCode).toBe(200);
    t.clock.advance(120_000);
    expect((await login(u.email, u.password, { otp: codeAt(secret, new Date(t.clock.now().getTime() - 90_000)) })).statusCode).toBe(401);
  });

  it('accepts each recovery code once', async () => {
    const u = await signup(t, 'Recovery');
    const { recoveryCodes } = await enrol(u);
    const code = recoveryCodes[3]!;
    expect((await login(u.email, u.password, { otp: code.toUpperCase() })).statusCode).toBe(200);
    expect((await login(u.email, u.password, { otp: code })).statusCode).toBe(401);
  });

  it('disabling needs a current code; API tokens cannot change MFA', async () => {
    const u = await signup(t, 'Disable');
    const { secret } = await enrol(u);
    const pat = (await t.inject({ method: 'POST', url: '/v1/me/tokens', headers: bearer(u.token), payload: { name: 'p', scopes: ['*'] } })).json().token;
    t.clock.advance(30_000);
    expect((await t.inject({ method: 'POST', url: '/v1/auth/mfa/totp/disable', headers: bearer(pat), payload: { otp: codeAt(secret, t.clock.now()) } })).statusCode).toBe(403);
    const bad = await t.inject({ method: 'POST', url: '/v1/auth/mfa/totp/disable', headers: bearer(u.token), payload: { otp: '123456' } });
    expect(problem(bad).code).toBe('invalid_otp');
    const ok = await t.inject({ method: 'POST', url: '/v1/auth/mfa/totp/disable', headers: bearer(u.token), payload: { otp: codeAt(secret, t.clock.now()) } });
    expect(ok.statusCode).toBe(204);
    expect((await login(u.email, u.password)).statusCode).toBe(200);
  });

  it('stores the TOTP secret encrypted, never in plaintext', async () => {
    const u = await signup(t, 'Encrypted');
    const { secret } = await enrol(u);
    const rows = await t.platform.database.query<{ mfa_secret: string }>('SELECT mfa_secret FROM orchestrator.users WHERE id = $1', [u.id]);
    expect(rows[0]!.mfa_secret).toMatch(/^v1\./);
    expect(rows[0]!.mfa_secret).not.toContain(secret);
  });

  it('keys rotate re-wraps MFA secrets: after it, the old master key is no longer needed', async () => {
    const u = await signup(t, 'Rotate');
    const { secret } = await enrol(u);
    const oldKey = Buffer.from(MASTER_KEY, 'hex');
    const newKey = randomBytes(32);
    const box = t.platform.ctx.secrets as unknown as { keys: LocalKeyProvider };
    box.keys = new LocalKeyProvider(newKey, [oldKey]);
    const first = await t.platform.orchestrator!.rewrapSecrets!();
    expect(first.rewrapped).toBeGreaterThanOrEqual(1);
    expect((await t.platform.orchestrator!.rewrapSecrets!()).rewrapped).toBe(0);
    box.keys = new LocalKeyProvider(newKey);
    t.clock.advance(30_000);
    expect((await login(u.email, u.password, { otp: codeAt(secret, t.clock.now()) })).statusCode).toBe(200);
  });

  it('a workspace requiring MFA turns away members without it', async () => {
    const owner = await signup(t, 'Strict Owner');
    const ws = await createWorkspace(t, owner);
    const refused = await t.inject({ method: 'PATCH', url: `/v1/workspaces/${ws}`, headers: bearer(owner.token), payload: { requireMfa: true } });
    expect(problem(refused).code).toBe('mfa_enrollment_required');
    await enrol(owner);
    const member = await signup(t, 'Lax Member');
    await addMember(t, ws, owner, member, 'developer');
    expect((await t.inject({ method: 'PATCH', url: `/v1/workspaces/${ws}`, headers: bearer(owner.token), payload: { requireMfa: true } })).statusCode).toBe(200);
    const blocked = await t.inject({ method: 'GET', url: `/v1/workspaces/${ws}/members`, headers: bearer(member.token) });
    expect(blocked.statusCode).toBe(403);
    expect(problem(blocked).code).toBe('mfa_enrollment_required');
    expect((await t.inject({ method: 'GET', url: `/v1/workspaces/${ws}/members`, headers: bearer(owner.token) })).statusCode).toBe(200);
    await enrol(member);
    expect((await t.inject({ method: 'GET', url: `/v1/workspaces/${ws}/members`, headers: bearer(member.token) })).statusCode).toBe(200);
  });
});

describe('brute-force defence (runbook: suspicious_login_attempts → block_ip)', () => {
  // Blocks end by the injected clock on both caches (memory and Redis), so no test waits on the wall clock.
  const waitOutBlock = () => t.clock.advance(2001);

  it('blocks an address after more than 10 failures in the window, with Retry-After, then lifts the block', async () => {
    const victim = await signup(t, 'Victim');
    const ip = '192.0.2.50';
    for (let i = 0; i < 10; i++) {
      const r = await login(`nobody${i}@example.test`, 'wrong password', {}, ip);
      expect(r.statusCode, `attempt ${i + 1}`).toBe(401);
    }
    expect((await login('nobody@example.test', 'wrong password', {}, ip)).statusCode).toBe(401); // the 11th failure triggers the block
    const blocked = await login(victim.email, victim.password, {}, ip);
    expect(blocked.statusCode).toBe(429);
    expect(problem(blocked).code).toBe('ip_blocked');
    expect(Number(blocked.headers['retry-after'])).toBeGreaterThan(0);
    expect((await login(victim.email, victim.password, {}, '192.0.2.51')).statusCode).toBe(200);
    waitOutBlock();
    expect((await login(victim.email, victim.password, {}, ip)).statusCode).toBe(200);
  });

  it('ignores X-Forwarded-For unless TRUST_PROXY is set, so spoofed headers cannot dodge the block', async () => {
    const socket = '192.0.2.77';
    for (let i = 0; i < 11; i++) {
      await t.inject({ method: 'POST', url: '/v1/auth/login', payload: { email: `spoof${i}@example.test`, password: 'wrong password' }, remoteAddress: socket, headers: { 'x-forwarded-for': `10.9.9.${i}` } });
    }
    const res = await t.inject({ method: 'POST', url: '/v1/auth/login', payload: { email: 'x@example.test', password: 'wrong password' }, remoteAddress: socket, headers: { 'x-forwarded-for': '10.9.9.200' } });
    expect(problem(res).code).toBe('ip_blocked');

    const proxied = await createTestPlatform({ TRUST_PROXY: 'true' });
    try {
      // A new email each time: five failures on one address would lock that account first.
      for (let i = 0; i < 11; i++) {
        await proxied.inject({ method: 'POST', url: '/v1/auth/login', payload: { email: `p${i}@example.test`, password: 'wrong password' }, remoteAddress: '127.0.0.1', headers: { 'x-forwarded-for': '203.0.113.9' } });
      }
      const viaProxy = (xff: string) =>
        proxied.inject({ method: 'POST', url: '/v1/auth/login', payload: { email: 'p@example.test', password: 'wrong password' }, remoteAddress: '127.0.0.1', headers: { 'x-forwarded-for': xff } });
      expect(problem(await viaProxy('203.0.113.9')).code).toBe('ip_blocked');
      expect(problem(await viaProxy('203.0.113.10')).code).toBe('invalid_credentials');
    } finally {
      await proxied.close();
    }
  });

  it('backs off an account after 5 consecutive failures, from any address', async () => {
    const u = await signup(t, 'Backoff');
    for (let i = 0; i < 5; i++) expect((await login(u.email, 'wrong password', {}, `198.18.0.${i + 1}`)).statusCode).toBe(401);
    const locked = await login(u.email, u.password, {}, '198.18.1.1');
    expect(locked.statusCode).toBe(429);
    expect(problem(locked).code).toBe('account_locked');
    expect(Number(locked.headers['retry-after'])).toBeGreaterThanOrEqual(29);
    t.clock.advance(31_000);
    expect((await login(u.email, u.password, {}, '198.18.1.1')).statusCode).toBe(200);
    // Success resets the counter: one more failure does not lock.
    expect((await login(u.email, 'wrong password', {}, '198.18.1.2')).statusCode).toBe(401);
    expect((await login(u.email, u.password, {}, '198.18.1.2')).statusCode).toBe(200);
  });

  it('records failures and blocks as security events that only platform admins can read', async () => {
    const admin = await t.platform.orchestrator!.services.auth.createUser({ email: 'root@example.test', password: 'root password 123', name: 'Root', platformAdmin: true }, null);
    const adminToken = (await login(admin.email, 'root password 123', {}, '192.0.2.200')).json().token;
    const res = await t.inject({ method: 'GET', url: '/v1/admin/security-events?kind=ip_blocked', headers: bearer(adminToken) });
    expect(res.statusCode).toBe(200);
    expect(res.json().events.some((e: { ip: string }) => e.ip === '192.0.2.50')).toBe(true);
    const failed = await t.inject({ method: 'GET', url: '/v1/admin/security-events?kind=login_failed&ip=192.0.2.50', headers: bearer(adminToken) });
    expect(failed.json().events.length).toBeGreaterThanOrEqual(11);
    const someone = await signup(t, 'Not Admin');
    expect((await t.inject({ method: 'GET', url: '/v1/admin/security-events', headers: bearer(someone.token) })).statusCode).toBe(403);
    const metrics = (await t.inject({ method: 'GET', url: '/metrics' })).body;
    expect(metrics).toMatch(/v01t_security_events_total\{kind="ip_blocked"[^}]*\} [1-9]/);
  });
});
