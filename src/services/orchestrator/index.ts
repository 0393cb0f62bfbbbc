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
import { GdprRequestsRepository, GDPR_REQUEST_KINDS } from './gdpr-requests.repository.js';
import { GDPR_REQUEST_RETENTION_YEARS, GdprRequestService } from './gdpr-requests.service.js';
import { gdprRequestRoutes } from './gdpr-requests.routes.js';

/** Where the orchestrator finds the personal-data handlers of every loaded service (set by the app). */
export interface OrchestratorExtras {
  personalDataHandlers: () => Map<string, PersonalDataHandler>;
}

export interface OrchestratorInstance extends ServiceInstance {
  identity: AuthService;
  contract: OrchestratorContract;
  services: { auth: AuthService; account: AccountService; gdpr: GdprRequestService; workspaces: WorkspacesService; mfa: MfaService; recovery: RecoveryService; mail: PlatformMail; mailbox: MailRepository; sso: SsoService };
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
      const gdprRepo = new GdprRequestsRepository(ctx.db);
      const gdpr = new GdprRequestService(ctx.db, gdprRepo, identityRepo, account, ctx.audit, ctx.clock);
      // The compliance row of the Operations dashboard (ADR 0064): read from the register at scrape
      // time, so every replica reports the same (aggregate with max) and a CLI write shows at once.
      // During a database outage the last counts read stay exported, as v01t_incidents_open does.
      let lastGdprCounts: Awaited<ReturnType<GdprRequestService['openCounts']>> | undefined;
      const gdprCounts = async () => {
        try {
          return (lastGdprCounts = await gdpr.openCounts());
        } catch (err) {
          if (lastGdprCounts) return lastGdprCounts;
          throw err;
        }
      };
      ctx.metrics.labelledGauge('v01t_gdpr_requests_open', 'GDPR data subject requests received and not yet completed or refused, by kind', ['kind'], async () => {
        const counts = await gdprCounts();
        return GDPR_REQUEST_KINDS.map((kind) => ({ labels: { kind }, value: counts.find((c) => c.kind === kind)?.open ?? 0 }));
      }, 0);
      ctx.metrics.labelledGauge('v01t_gdpr_requests_overdue', 'Open GDPR requests past their due time (received + 30 days; GDPR art. 12(3))', [], async () => [
        { labels: {}, value: (await gdprCounts()).reduce((n, c) => n + c.overdue, 0) },
      ], 0);
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
          describes: [
            ...account.personalData.describes,
            'single sign-on links (provider, subject, email)',
            `GDPR requests register: the data subject's user id and email address, the request's kind, details and dates, who handled it; kept ${GDPR_REQUEST_RETENTION_YEARS} years after the request closed as evidence of the answer (legal obligation, GDPR art. 5(2)), also after the account is erased`,
          ],
          exportUser: async (userId) => {
            const own = await account.personalData.exportUser(userId);
            const email = (own.user as { email?: string } | undefined)?.email ?? null;
            const requests = (await gdprRepo.ofSubject(userId, email)).map((r) => ({ kind: r.kind, channel: r.channel, receivedAt: r.receivedAt, dueAt: r.dueAt, status: r.status, closedAt: r.closedAt, refusalReason: r.refusalReason, details: r.details }));
            return { ...own, ssoLinks: await sso.linksOfUser(userId), gdprRequests: requests };
          },
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
        retention: [
          ...account.retention,
          {
            name: 'orchestrator.gdpr_requests (closed)',
            class: 'operational',
            keep: `${GDPR_REQUEST_RETENTION_YEARS} years after the request closed`,
            purge: (now) => gdprRepo.purgeClosed(new Date(Date.UTC(now.getUTCFullYear() - GDPR_REQUEST_RETENTION_YEARS, now.getUTCMonth(), now.getUTCDate(), now.getUTCHours(), now.getUTCMinutes()))),
          },
        ],
        services: { auth: authService, account, gdpr, workspaces, mfa, recovery, mail, mailbox: mailRepo, sso },
        async start() {
          mail.start();
        },
        async stop() {
          await mail.stop();
        },
        routes(app) {
          ssoRoutes(app, { sso, auth: authService, publicUrl: ctx.config.http.publicUrl, flowTtlSeconds: a.ssoFlowTtlSeconds });
          authRoutes(app, { auth: authService, mfa, gdpr });
          gdprRequestRoutes(app, { gdpr, clock: ctx.clock });
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
