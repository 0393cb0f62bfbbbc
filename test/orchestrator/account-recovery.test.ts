import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { createTestPlatform, type TestPlatform } from '../helpers/platform.js';
import { bearer, createWorkspace, problem, signup, type TestUser } from '../helpers/api.js';
import { linkIn, startTestSmtp, type TestSmtp } from '../helpers/smtp.js';

/**
 * Platform mail, password reset, email verification and change, and invitations by mail (ADR 0040),
 * against a real SMTP server: every link is taken from the mail the server received.
 */
let t: TestPlatform;
let smtp: TestSmtp;
const PUBLIC_URL = 'https://v01t.example.test';

const mail = () => t.platform.orchestrator!.services.mail;
/** Sends what the outbox holds (the worker's own step; the test platform does not start background work). */
const flush = async () => {
  while ((await mail().runOnce()) > 0);
};
const hour = 3600_000;

beforeAll(async () => {
  smtp = await startTestSmtp();
  t = await createTestPlatform({ SMTP_URL: smtp.url, MAIL_FROM: 'v01t <no-reply@v01t.example.test>', V01T_PUBLIC_URL: PUBLIC_URL, V01T_REQUIRE_VERIFIED_EMAIL: 'true' });
});
afterAll(async () => {
  await t?.close();
  await smtp?.close();
});
beforeEach(async () => {
  // Each test starts with nothing waiting (sign-ups of earlier tests wrote verification mails).
  await flush();
});

async function forgot(email: string, ip = '198.51.100.7') {
  return t.inject({ method: 'POST', url: '/v1/auth/password/forgot', payload: { email }, remoteAddress: ip });
}

async function resetLink(user: TestUser): Promise<string> {
  const before = smtp.mails.length;
  expect((await forgot(user.email)).statusCode).toBe(202);
  await flush();
  const received = smtp.mails.slice(before).find((m) => m.to.includes(user.email.toLowerCase()) && /reset-password/.test(m.decoded));
  expect(received, 'a reset mail reached the SMTP server').toBeTruthy();
  const link = linkIn(received!, '/reset-password');
  expect(link.origin).toBe(PUBLIC_URL);
  return link.searchParams.get('token')!;
}

describe('password reset', () => {
  it('answers a known and an unknown address identically (status, body, no faster for unknown)', async () => {
    const u = await signup(t, 'Known');
    const started = [performance.now()];
    const known = await forgot(u.email);
    started.push(performance.now());
    const unknown = await forgot('nobody-here@example.test');
    started.push(performance.now());
    expect(known.statusCode).toBe(202);
    expect(unknown.statusCode).toBe(202);
    expect(unknown.body).toBe(known.body);
    expect(unknown.headers['content-type']).toBe(known.headers['content-type']);
    // Both take at least the floor, so the unknown address is not answered measurably sooner.
    expect(started[1]! - started[0]!).toBeGreaterThanOrEqual(290);
    expect(started[2]! - started[1]!).toBeGreaterThanOrEqual(290);
    await flush();
    expect(smtp.mails.some((m) => m.to.includes('nobody-here@example.test'))).toBe(false);
    await smtp.waitFor(u.email, /reset-password\?token=/);
  });

  it('the mailed link sets the password once, revokes every session and API token, and mails a notice', async () => {
    const u = await signup(t, 'Resetter');
    const pat = (await t.inject({ method: 'POST', url: '/v1/me/tokens', headers: bearer(u.token), payload: { name: 'ci', scopes: ['read'], expiresInDays: 30 } })).json().token as string;
    expect((await t.inject({ method: 'GET', url: '/v1/me', headers: bearer(pat) })).statusCode).toBe(200);
    const token = await resetLink(u);

    const weak = await t.inject({ method: 'POST', url: '/v1/auth/password/reset', payload: { token, password: 'password' } });
    expect(problem(weak).errors?.[0]?.path).toBe('body.password');

    const newPassword = 'a brand new long passphrase 42';
    const res = await t.inject({ method: 'POST', url: '/v1/auth/password/reset', payload: { token, password: newPassword } });
    expect(res.statusCode).toBe(204);
    for (const old of [u.token, pat]) expect((await t.inject({ method: 'GET', url: '/v1/me', headers: bearer(old) })).statusCode).toBe(401);
    expect((await t.inject({ method: 'POST', url: '/v1/auth/login', payload: { email: u.email, password: u.password } })).statusCode).toBe(401);
    const login = await t.inject({ method: 'POST', url: '/v1/auth/login', payload: { email: u.email, password: newPassword } });
    expect(login.statusCode).toBe(200);
    // Receiving the link proved the address.
    expect((await t.inject({ method: 'GET', url: '/v1/me', headers: bearer(login.json().token) })).json().user.emailVerified).toBe(true);

    const again = await t.inject({ method: 'POST', url: '/v1/auth/password/reset', payload: { token, password: 'yet another long passphrase 43' } });
    expect(problem(again).code).toBe('link_invalid');

    await flush();
    const notice = await smtp.waitFor(u.email, /password of your v01t account was reset/);
    expect(notice.subject).toBe('Your v01t password was changed');
    const audit = await t.platform.database.query<{ action: string }>(`SELECT action FROM kernel.audit_log WHERE target_id = $1 AND action = 'auth.password_reset'`, [u.id]);
    expect(audit).toHaveLength(1);
    const events = await t.platform.database.query<{ kind: string }>(`SELECT kind FROM orchestrator.security_events WHERE user_id = $1 AND kind = 'password_reset'`, [u.id]);
    expect(events).toHaveLength(1);
  });

  it('keeps MFA on: the next sign-in still asks for a code', async () => {
    const u = await signup(t, 'Mfa Keeper');
    await t.platform.database.query('UPDATE orchestrator.users SET mfa_enabled = true WHERE id = $1', [u.id]);
    const token = await resetLink(u);
    const password = 'mfa stays on after reset 77';
    expect((await t.inject({ method: 'POST', url: '/v1/auth/password/reset', payload: { token, password } })).statusCode).toBe(204);
    expect(problem(await t.inject({ method: 'POST', url: '/v1/auth/login', payload: { email: u.email, password } })).code).toBe('mfa_required');
  });

  it('a link expires after one hour on the injected clock, and a newer link replaces an older one', async () => {
    const u = await signup(t, 'Late');
    const first = await resetLink(u);
    const second = await resetLink(u);
    expect(problem(await t.inject({ method: 'POST', url: '/v1/auth/password/reset', payload: { token: first, password: 'first link is dead now 11' } })).code).toBe('link_invalid');
    t.clock.advance(hour + 1000);
    expect(problem(await t.inject({ method: 'POST', url: '/v1/auth/password/reset', payload: { token: second, password: 'too late for this one 12' } })).code).toBe('link_invalid');
    expect((await t.inject({ method: 'POST', url: '/v1/auth/login', payload: { email: u.email, password: u.password } })).statusCode).toBe(200);
  });

  it('limits requests per client address (429) and mails per email address (still 202, nothing sent)', async () => {
    const u = await signup(t, 'Flooded');
    await flush();
    const before = smtp.mails.length;
    const answers = [];
    for (let i = 0; i < 5; i++) answers.push(await forgot(u.email, `203.0.113.${10 + i}`));
    expect(answers.map((a) => a.statusCode)).toEqual([202, 202, 202, 202, 202]);
    await flush();
    expect(smtp.mails.slice(before).filter((m) => m.to.includes(u.email.toLowerCase()) && /reset-password/.test(m.decoded))).toHaveLength(3);

    let last;
    for (let i = 0; i < 21; i++) last = await forgot(`someone${i}@example.test`, '203.0.113.99');
    expect(problem(last!).code).toBe('rate_limited');
  });

  it('operators issue a reset link (`v01t user reset-password` runs this)', async () => {
    const u = await signup(t, 'Operated');
    const out = await t.platform.orchestrator!.services.recovery.operatorReset(u.email);
    expect(out.link.startsWith(`${PUBLIC_URL}/reset-password?token=`)).toBe(true);
    const token = new URL(out.link).searchParams.get('token')!;
    expect((await t.inject({ method: 'POST', url: '/v1/auth/password/reset', payload: { token, password: 'operator issued reset 99' } })).statusCode).toBe(204);
    await expect(t.platform.orchestrator!.services.recovery.operatorReset('nobody@example.test')).rejects.toMatchObject({ code: 'not_found' });
  });
});

describe('email verification and change', () => {
  it('sign-up mails a link; workspaces need a verified address when the instance requires it', async () => {
    const u = await signup(t, 'Verifier');
    expect((await t.inject({ method: 'GET', url: '/v1/me', headers: bearer(u.token) })).json().user.emailVerified).toBe(false);
    expect(problem(await t.inject({ method: 'POST', url: '/v1/workspaces', headers: bearer(u.token), payload: { name: 'Too soon' } })).code).toBe('email_unverified');
    await flush();
    const received = await smtp.waitFor(u.email, /verify-email\?token=/);
    expect(received.subject).toBe('Confirm your email address for v01t');
    expect(received.raw).toMatch(/Content-Type: text\/html/i);
    const token = linkIn(received, '/verify-email').searchParams.get('token')!;
    const res = await t.inject({ method: 'POST', url: '/v1/auth/email/verify', payload: { token } });
    expect(res.json()).toEqual({ purpose: 'email_verify', email: u.email });
    expect((await t.inject({ method: 'GET', url: '/v1/me', headers: bearer(u.token) })).json().user.emailVerified).toBe(true);
    expect(await createWorkspace(t, u, 'Now allowed')).toBeTruthy();
    expect(problem(await t.inject({ method: 'POST', url: '/v1/auth/email/verify', payload: { token } })).code).toBe('link_invalid');
  });

  it('a sign-up with a registered address answers alike and mails the owner a notice instead', async () => {
    const u = await signup(t, 'Already Here');
    await flush();
    const before = smtp.mails.length;
    const res = await t.inject({ method: 'POST', url: '/v1/auth/signup', payload: { email: u.email, password: 'someone else trying 123', name: 'Impostor' } });
    expect(res.statusCode).toBe(201);
    await flush();
    const got = smtp.mails.slice(before).filter((m) => m.to.includes(u.email.toLowerCase()));
    expect(got.map((m) => m.subject)).toEqual(['Someone tried to create a v01t account with your address']);
    expect(got[0]!.decoded).not.toMatch(/verify-email/);
  });

  it('a resent link replaces the first one', async () => {
    const u = await signup(t, 'Resender');
    await flush();
    const first = linkIn(await smtp.waitFor(u.email, /verify-email/), '/verify-email').searchParams.get('token')!;
    const before = smtp.mails.length;
    expect((await t.inject({ method: 'POST', url: '/v1/me/email/verification', headers: bearer(u.token) })).statusCode).toBe(202);
    await flush();
    const second = linkIn(smtp.mails.slice(before).find((m) => m.to.includes(u.email.toLowerCase()))!, '/verify-email').searchParams.get('token')!;
    expect(second).not.toBe(first);
    expect(problem(await t.inject({ method: 'POST', url: '/v1/auth/email/verify', payload: { token: first } })).code).toBe('link_invalid');
    expect((await t.inject({ method: 'POST', url: '/v1/auth/email/verify', payload: { token: second } })).statusCode).toBe(200);
  });

  it('changing the email mails a confirmation to the new address and a notice to the old one', async () => {
    const u = await signup(t, 'Mover');
    const newEmail = `moved.${u.id.slice(0, 8)}@example.test`;
    expect(problem(await t.inject({ method: 'POST', url: '/v1/me/email', headers: bearer(u.token), payload: { email: newEmail, password: 'wrong password!!' } })).code).toBe('invalid_credentials');
    expect((await t.inject({ method: 'POST', url: '/v1/me/email', headers: bearer(u.token), payload: { email: newEmail, password: u.password } })).statusCode).toBe(202);
    await flush();
    const notice = await smtp.waitFor(u.email, /is changing/);
    expect(notice.decoded).toContain(newEmail);
    const confirm = await smtp.waitFor(newEmail, /verify-email\?token=/);
    // Not changed until confirmed.
    expect((await t.inject({ method: 'GET', url: '/v1/me', headers: bearer(u.token) })).json().user.email).toBe(u.email);
    const token = linkIn(confirm, '/verify-email').searchParams.get('token')!;
    expect((await t.inject({ method: 'POST', url: '/v1/auth/email/verify', payload: { token } })).json()).toEqual({ purpose: 'email_change', email: newEmail });
    expect((await t.inject({ method: 'GET', url: '/v1/me', headers: bearer(u.token) })).json().user).toMatchObject({ email: newEmail, emailVerified: true });
    expect((await t.inject({ method: 'POST', url: '/v1/auth/login', payload: { email: newEmail, password: u.password } })).statusCode).toBe(200);
  });
});

describe('invitations by mail', () => {
  it('mails the invitee a link to the accept page; a new account accepts it; resend replaces the link; revoke ends it', async () => {
    const owner = await signup(t, 'Inviting Owner');
    await t.platform.database.query('UPDATE orchestrator.users SET email_verified_at = now() WHERE id = $1', [owner.id]);
    const ws = await createWorkspace(t, owner, 'Mail Team');
    const invitee = `invitee.${owner.id.slice(0, 8)}@example.test`;
    const inv = await t.inject({ method: 'POST', url: `/v1/workspaces/${ws}/invitations`, headers: bearer(owner.token), payload: { email: invitee, role: 'developer' } });
    expect(inv.statusCode).toBe(201);
    await flush();
    const first = await smtp.waitFor(invitee, /invitations\/accept\?token=/);
    expect(first.subject).toBe('You are invited to Mail Team on v01t');
    const firstToken = linkIn(first, '/invitations/accept').searchParams.get('token')!;

    const resent = await t.inject({ method: 'POST', url: `/v1/workspaces/${ws}/invitations/${inv.json().invitation.id}/resend`, headers: bearer(owner.token) });
    expect(resent.statusCode).toBe(200);
    const before = smtp.mails.length;
    await flush();
    const second = smtp.mails.slice(before).find((m) => m.to.includes(invitee))!;
    const secondToken = linkIn(second, '/invitations/accept').searchParams.get('token')!;
    expect(secondToken).not.toBe(firstToken);

    // A person without an account signs up with the invited address, then accepts.
    const res = await t.inject({ method: 'POST', url: '/v1/auth/signup', payload: { email: invitee, password: 'invited person pass 55', name: 'Invitee' } });
    const session = res.json().token as string;
    expect(problem(await t.inject({ method: 'POST', url: '/v1/invitations/accept', headers: bearer(session), payload: { token: firstToken } })).code).toBe('invitation_invalid');
    const accepted = await t.inject({ method: 'POST', url: '/v1/invitations/accept', headers: bearer(session), payload: { token: secondToken } });
    expect(accepted.json().workspace).toMatchObject({ id: ws, role: 'developer' });

    const other = await t.inject({ method: 'POST', url: `/v1/workspaces/${ws}/invitations`, headers: bearer(owner.token), payload: { email: `other.${owner.id.slice(0, 8)}@example.test`, role: 'viewer' } });
    expect((await t.inject({ method: 'DELETE', url: `/v1/workspaces/${ws}/invitations/${other.json().invitation.id}`, headers: bearer(owner.token) })).statusCode).toBe(204);
    expect((await t.inject({ method: 'POST', url: `/v1/workspaces/${ws}/invitations/${other.json().invitation.id}/resend`, headers: bearer(owner.token) })).statusCode).toBe(404);
  });
});

describe('the outbox', () => {
  it('retries a refused mail with backoff on the injected clock, then sends it once; metrics count both', async () => {
    const u = await signup(t, 'Retry');
    await flush();
    smtp.failNext(1);
    expect((await forgot(u.email)).statusCode).toBe(202);
    expect(await mail().runOnce()).toBe(1);
    const [row] = await t.platform.database.query<{ id: string; status: string; attempts: number; last_error: string }>(
      `SELECT id, status, attempts, last_error FROM orchestrator.mail_outbox WHERE to_address = $1 AND template = 'password_reset'`,
      [u.email],
    );
    expect(row).toMatchObject({ status: 'pending', attempts: 1 });
    expect(row!.last_error).toMatch(/451|try again/);
    expect(await mail().runOnce()).toBe(0); // not due yet
    t.clock.advance(31_000);
    expect(await mail().runOnce()).toBe(1);
    const got = smtp.mails.filter((m) => m.to.includes(u.email.toLowerCase()) && /reset-password/.test(m.decoded));
    expect(got).toHaveLength(1);
    expect(got[0]!.messageId).toBe(`<${row!.id}@v01t.example.test>`);
    const metrics = await t.platform.metrics.registry.metrics();
    expect(metrics).toMatch(/v01t_mail_sent_total\{template="password_reset",result="retry"[^}]*\} [1-9]/);
    expect(metrics).toMatch(/v01t_mail_sent_total\{template="password_reset",result="sent"[^}]*\} [1-9]/);
    expect(metrics).toMatch(/v01t_mail_outbox_depth(\{[^}]*\})? 0/);
  });

  it('platform admins read the outbox through the API; others may not', async () => {
    const u = await signup(t, 'Nosy');
    expect(problem(await t.inject({ method: 'GET', url: '/v1/admin/mail', headers: bearer(u.token) })).code).toBe('forbidden');
    const admin = await t.platform.orchestrator!.services.auth.createUser({ email: `root.${u.id.slice(0, 8)}@example.test`, password: 'root password for mail 1', name: 'Root', platformAdmin: true }, null);
    const login = await t.inject({ method: 'POST', url: '/v1/auth/login', payload: { email: admin.email, password: 'root password for mail 1' } });
    const list = await t.inject({ method: 'GET', url: `/v1/admin/mail?to=${encodeURIComponent(u.email)}`, headers: bearer(login.json().token) });
    const mails = list.json().mails as { id: string; template: string; status: string }[];
    expect(mails.map((m) => m.template)).toEqual(['email_verify']);
    const one = await t.inject({ method: 'GET', url: `/v1/admin/mail/${mails[0]!.id}`, headers: bearer(login.json().token) });
    expect(one.json().mail.text).toContain(`${PUBLIC_URL}/verify-email?token=`);
    expect(one.json().mail.html).toContain('<a href=');
  });
});
