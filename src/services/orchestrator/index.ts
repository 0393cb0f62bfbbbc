import { CORE_PERMISSIONS, type Persona } from '../../kernel/auth/permissions.js';
import type { PersonalDataHandler, ServiceContext, ServiceInstance, ServiceModule } from '../../kernel/module.js';
import { ORCHESTRATOR_MIGRATIONS } from './migrations.js';
import { IdentityRepository } from './identity.repository.js';
import { WorkspacesRepository } from './workspaces.repository.js';
import { LoginGuard } from './login-guard.js';
import { MfaService } from './mfa.service.js';
import { AuthService } from './auth.service.js';
import { WorkspacesService } from './workspaces.service.js';
import { AccountService } from './account.service.js';
import { PasswordHasher } from './secrets.js';
import { authRoutes } from './auth.routes.js';
import { browserSessionRoutes } from './browser.routes.js';
import { workspaceRoutes } from './workspaces.routes.js';
import { adminRoutes, internalRoutes } from './admin.routes.js';
import { SsoRepository } from './sso.repository.js';
import { SsoService } from './sso.service.js';
import { ssoRoutes } from './sso.routes.js';
import type { OrchestratorContract } from './contract.js';
import { orchestratorRemote } from './remote.js';
import { ORCHESTRATOR_ERRORS } from './errors.js';
import { ORCHESTRATOR_EVENTS } from './events.js';
import { ORCHESTRATOR_CONFIG, type OrchestratorSettings } from './config.js';
import { MailRepository } from './mail.repository.js';
import { PlatformMail } from './mail.service.js';
import { RecoveryService } from './recovery.service.js';
import { recoveryRoutes } from './recovery.routes.js';

/** Where the orchestrator finds the personal-data handlers of every loaded service (set by the app). */
export interface OrchestratorExtras {
  personalDataHandlers: () => Map<string, PersonalDataHandler>;
}

export interface OrchestratorInstance extends ServiceInstance {
  identity: AuthService;
  contract: OrchestratorContract;
  services: { auth: AuthService; account: AccountService; workspaces: WorkspacesService; mfa: MfaService; recovery: RecoveryService; mail: PlatformMail; mailbox: MailRepository; sso: SsoService };
}

export function orchestratorModule(extras: OrchestratorExtras): ServiceModule<OrchestratorSettings> & { create(ctx: ServiceContext<OrchestratorSettings>): OrchestratorInstance } {
  return {
    name: 'orchestrator',
    schema: 'orchestrator',
    migrations: ORCHESTRATOR_MIGRATIONS,
    permissions: CORE_PERMISSIONS,
    errors: ORCHESTRATOR_ERRORS,
    events: ORCHESTRATOR_EVENTS,
    remote: orchestratorRemote,
    config: ORCHESTRATOR_CONFIG,
    create(ctx) {
      const identityRepo = new IdentityRepository(ctx.db);
      const workspacesRepo = new WorkspacesRepository(ctx.db);
      const hasher = new PasswordHasher(ctx.settings.argon2);
      const a = ctx.settings;
      const mailRepo = new MailRepository(ctx.db);
      const publicUrl = ctx.config.http.publicUrl ?? `http://localhost:${ctx.config.http.port}`;
      const mail = new PlatformMail(mailRepo, ctx.clock, a.mail, publicUrl, ctx.metrics, ctx.logger);
      const guard = new LoginGuard(ctx.cache, ctx.clock, identityRepo, ctx.metrics, {
        maxFailuresPerIp: a.loginMaxFailuresPerIp,
        windowSeconds: a.loginFailureWindowSeconds,
        blockSeconds: a.loginBlockSeconds,
        accountFreeFailures: 5,
        accountBaseDelaySeconds: 30,
        accountMaxDelaySeconds: 15 * 60,
        accountWindowSeconds: 24 * 3600,
        signupsPerIpPerHour: a.signupMaxPerIpPerHour,
        loginsPerIpPerMinute: a.loginMaxPerIpPerMinute,
        passwordResetsPerIpPerHour: a.passwordResetPerIpPerHour,
        passwordResetsPerEmailPerHour: a.passwordResetPerEmailPerHour,
      }, ctx.logger.child({ component: 'security' }));
      // AuthService and MfaService need each other's effects (MFA changes drop cached principals).
      const late: { auth?: AuthService; recovery?: RecoveryService } = {};
      const mfa = new MfaService(ctx.db, identityRepo, ctx.secrets, ctx.audit, ctx.clock, (userId) => late.auth!.forgetUser(userId), guard);
      const auth = (late.auth = new AuthService(ctx.db, identityRepo, workspacesRepo, hasher, guard, mfa, ctx.audit, ctx.cacheLayers.user_sessions, ctx.clock, ctx.permissions, {
        sessionTtlHours: a.sessionTtlHours,
        signupEnabled: a.signupEnabled,
        ssoOnly: a.ssoOnly,
      }, ctx.events, {
        created: (tx, user) => late.recovery!.verificationOnSignup(tx, user),
        taken: (user) => late.recovery!.noticeSignupTaken(user),
      }));
      const recovery = (late.recovery = new RecoveryService(ctx.db, identityRepo, mailRepo, mail, hasher, guard, ctx.audit, ctx.clock, (userId, hashes) => auth.forgetUser(userId, hashes)));
      const authService = auth;
      const workspaces = new WorkspacesService(ctx.db, workspacesRepo, identityRepo, ctx.audit, ctx.clock, (w, u) => authService.forgetAccess(w, u), ctx.events, mail, {
        requireVerifiedEmail: a.requireVerifiedEmail,
      });
      const account = new AccountService(ctx.db, identityRepo, workspacesRepo, ctx.audit, ctx.clock, extras.personalDataHandlers, async (userId, hashes) =>
        authService.forgetUser(userId, hashes),
      ctx.events, mailRepo);
      const sso = new SsoService(ctx.db, new SsoRepository(ctx.db), identityRepo, workspacesRepo, ctx.secrets, ctx.egress, ctx.clock, ctx.audit, guard, ctx.events, (w, u) => authService.forgetAccess(w, u), {
        flowTtlSeconds: a.ssoFlowTtlSeconds,
      });
      const contract: OrchestratorContract = {
        identity: authService,
        async user(userId) {
          const u = await identityRepo.userById(userId);
          return u ? { id: u.id, email: u.email, name: u.name } : null;
        },
        async members(workspaceId) {
          return (await workspacesRepo.membersWithUsers(workspaceId)).map((m) => ({ userId: m.userId, role: m.role, personas: m.personas as Persona[] }));
        },
      };
      const instance: OrchestratorInstance = {
        identity: authService,
        contract,
        // SSO links are the account's too: exported with it, deleted with it (ON DELETE CASCADE).
        personalData: {
          describes: [...account.personalData.describes, 'single sign-on links (provider, subject, email)'],
          exportUser: async (userId) => ({ ...(await account.personalData.exportUser(userId)), ssoLinks: await sso.linksOfUser(userId) }),
          eraseUser: (userId) => account.personalData.eraseUser(userId),
        },
        // `v01t keys rotate`: MFA secrets and SSO client secrets are the orchestrator's encrypted values.
        async rewrapSecrets() {
          let rewrapped = 0;
          let unchanged = 0;
          for (const u of await identityRepo.usersWithMfaSecrets()) {
            for (const column of ['mfaSecret', 'mfaPendingSecret'] as const) {
              const current = u[column];
              if (!current) continue;
              const next = await ctx.secrets.rewrap(current);
              if (next === current) unchanged++;
              else if (await identityRepo.swapMfaSecret(u.id, column, current, next)) rewrapped++;
            }
          }
          const fromSso = await sso.rewrapSecrets();
          return { rewrapped: rewrapped + fromSso.rewrapped, unchanged: unchanged + fromSso.unchanged };
        },
        retention: account.retention,
        services: { auth: authService, account, workspaces, mfa, recovery, mail, mailbox: mailRepo, sso },
        async start() {
          mail.start();
        },
        async stop() {
          await mail.stop();
        },
        routes(app) {
          ssoRoutes(app, { sso, auth: authService, publicUrl: ctx.config.http.publicUrl, flowTtlSeconds: a.ssoFlowTtlSeconds });
          authRoutes(app, { auth: authService, mfa, account });
          browserSessionRoutes(app, { auth: authService });
          workspaceRoutes(app, { workspaces, audit: ctx.audit });
          adminRoutes(app, { identity: identityRepo });
          recoveryRoutes(app, { recovery, auth: authService, mail: mailRepo });
          if (ctx.config.internal.token) internalRoutes(app, { auth: authService });
        },
      };
      return instance;
    },
  };
}
