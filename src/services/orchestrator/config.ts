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
  }),
);
export type OrchestratorSettings = ReturnType<typeof ORCHESTRATOR_CONFIG.read>;
