import { z } from 'zod';
import { defineConfig, envBool, positiveInt, setting } from '../../kernel/config/index.js';

/** The orchestrator's settings: sessions, sign-in and sign-up limits (ADR 0004), password hashing. */
export const ORCHESTRATOR_CONFIG = defineConfig(
  'orchestrator',
  {
    SESSION_TTL_HOURS: setting(positiveInt.max(24 * 90).default(24 * 14), { description: 'session token lifetime' }),
    SIGNUP_ENABLED: setting(envBool.default(true), { description: '`false`: only operators create accounts (`v01t user create`)' }),
    LOGIN_MAX_FAILURES_PER_IP: setting(positiveInt.default(10), { description: 'failed sign-ins from one address within LOGIN_FAILURE_WINDOW_SECONDS before it is blocked' }),
    LOGIN_FAILURE_WINDOW_SECONDS: setting(positiveInt.default(15 * 60), { description: 'the window of LOGIN_MAX_FAILURES_PER_IP' }),
    LOGIN_BLOCK_SECONDS: setting(positiveInt.default(15 * 60), { description: 'how long a blocked address stays blocked' }),
    LOGIN_MAX_PER_IP_PER_MINUTE: setting(positiveInt.default(60), { description: 'sign-in attempts, right or wrong, per client address per minute (each costs an argon2 check; ADR 0004)' }),
    SIGNUP_MAX_PER_IP_PER_HOUR: setting(positiveInt.default(20), { description: 'sign-ups per client address per hour (429 `rate_limited` above; ADR 0004)' }),
    ARGON2_MEMORY_KIB: setting(positiveInt.min(1024).default(19_456), { description: "argon2id memory cost (OWASP's recommendation)" }),
    V01T_SSO_ONLY: setting(envBool.default(false), {
      description: '`true`: sign-in only through an OpenID Connect provider; password sign-in and sign-up answer `sso_only` (platform admins keep a break-glass password sign-in with `"breakGlass": true`; ADR 0042)',
    }),
    SSO_FLOW_TTL_SECONDS: setting(positiveInt.max(3600).default(600), { description: 'how long a started SSO sign-in may take before its callback is refused' }),
    ARGON2_TIME_COST: setting(positiveInt.max(10).default(2), { description: 'argon2id time cost' }),
    SMTP_URL: setting(z.string().regex(/^smtps?:\/\//, 'must be smtp://user:password@host:port or smtps://...').optional(), {
      secret: true,
      description: "the platform's own mail (password reset, verification, invitations; ADR 0040): `smtp://user:password@host:587` (STARTTLS) or `smtps://...:465`; unset: mails stay in the outbox (`v01t mail list`)",
    }),
    MAIL_FROM: setting(z.string().min(3).default('v01t <no-reply@localhost>'), { description: 'the From of platform mail, e.g. `v01t <no-reply@example.com>`' }),
    MAIL_MAX_ATTEMPTS: setting(positiveInt.max(50).default(8), { description: 'delivery attempts of one platform mail before it is marked failed (backoff 30 s doubling, at most 1 h)' }),
    MAIL_LEASE_SECONDS: setting(positiveInt.max(3600).default(120), { description: 'how long a mail worker holds a mail it is sending; a crashed worker\'s mail is retried after it' }),
    MAIL_POLL_SECONDS: setting(positiveInt.max(3600).default(5), { description: 'how often the mail worker looks for due mails (new mails also wake it)' }),
    V01T_REQUIRE_VERIFIED_EMAIL: setting(envBool.default(false), { description: '`true`: an account must confirm its email address before it creates a workspace (`email_unverified`)' }),
    PASSWORD_RESET_MAX_PER_IP_PER_HOUR: setting(positiveInt.default(20), { description: 'password-reset requests per client address per hour (429 `rate_limited` above)' }),
    PASSWORD_RESET_MAX_PER_EMAIL_PER_HOUR: setting(positiveInt.default(3), { description: 'reset mails one address receives per hour; further requests answer alike but send nothing' }),
  },
  (e) => ({
    sessionTtlHours: e.SESSION_TTL_HOURS,
    signupEnabled: e.SIGNUP_ENABLED,
    loginMaxFailuresPerIp: e.LOGIN_MAX_FAILURES_PER_IP,
    loginFailureWindowSeconds: e.LOGIN_FAILURE_WINDOW_SECONDS,
    loginBlockSeconds: e.LOGIN_BLOCK_SECONDS,
    /** Sign-in attempts, right or wrong, from one address per minute (each costs an argon2 check). */
    loginMaxPerIpPerMinute: e.LOGIN_MAX_PER_IP_PER_MINUTE,
    /** Sign-ups from one address per hour (each costs an argon2 hash). */
    signupMaxPerIpPerHour: e.SIGNUP_MAX_PER_IP_PER_HOUR,
    ssoOnly: e.V01T_SSO_ONLY,
    ssoFlowTtlSeconds: e.SSO_FLOW_TTL_SECONDS,
    argon2: { memoryCost: e.ARGON2_MEMORY_KIB, timeCost: e.ARGON2_TIME_COST },
    mail: { smtpUrl: e.SMTP_URL, from: e.MAIL_FROM, maxAttempts: e.MAIL_MAX_ATTEMPTS, leaseSeconds: e.MAIL_LEASE_SECONDS, pollSeconds: e.MAIL_POLL_SECONDS },
    requireVerifiedEmail: e.V01T_REQUIRE_VERIFIED_EMAIL,
    passwordResetPerIpPerHour: e.PASSWORD_RESET_MAX_PER_IP_PER_HOUR,
    passwordResetPerEmailPerHour: e.PASSWORD_RESET_MAX_PER_EMAIL_PER_HOUR,
  }),
);
export type OrchestratorSettings = ReturnType<typeof ORCHESTRATOR_CONFIG.read>;
