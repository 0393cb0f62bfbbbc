import http, { type IncomingMessage, type ServerResponse } from 'node:http';
import https from 'node:https';
import Fastify, { LogController, type FastifyBaseLogger, type FastifyInstance, type RawServerDefault } from 'fastify';
import fastifySwagger from '@fastify/swagger';
import fastifySwaggerUi from '@fastify/swagger-ui';
import FindMyWay from 'find-my-way';
import { serializerCompiler, validatorCompiler, type ZodTypeProvider } from 'fastify-type-provider-zod';
import type { Logger } from '../telemetry/logger.js';
import type { CoreMetrics } from '../telemetry/metrics.js';
import { accessLogFields } from '../telemetry/siem.js';
import { activeSpan, contextFrom, runIn, SpanKind, startSpan, tracingEnabled } from '../telemetry/tracing.js';
import { AppError } from '../errors.js';
import { scopeAllows, type PermissionRegistry } from '../auth/permissions.js';
import type { SharedSecretRegistry } from '../auth/shared-secrets.js';
import { sameSecret } from '../crypto/compare.js';
import type { IdentityPort, Principal, WorkspaceAccess } from '../auth/principal.js';
import { FORWARDED_PRINCIPAL_HEADER, type PrincipalSigner } from '../auth/forwarded-principal.js';
import { defaultProblemStatuses, problemSchema, sendProblem, toAppError } from './problem.js';
import { bearerToken, checkCsrf, credentialOf, registerBrowserSupport } from './browser.js';
import { clientErrorHandler, frameworkErrorHandler } from './client-errors.js';
import { rejectUnstorableInput } from './input-guard.js';
import { openApiComponents, openApiTransform, openApiTransformObject } from './openapi.js';
import { uuidV4 } from '../crypto/uuid.js';

export type App = FastifyInstance<RawServerDefault, IncomingMessage, ServerResponse, FastifyBaseLogger, ZodTypeProvider>;

/** A route as registered (method, path pattern), and the service it forwards to when it is the gateway's. */
export interface RegisteredRoute {
  method: string;
  url: string;
  forward?: string;
}

declare module 'fastify' {
  interface FastifyContextConfig {
    /**
     * 'required' (default under /v1), 'optional', 'none', or 'secret:<name>': a shared secret
     * declared by the kernel or a manifest (SharedSecretDef) instead of a user.
     */
    auth?: 'required' | 'optional' | 'none' | `secret:${string}`;
    /**
     * Permission checked against the caller's workspace role; required on /v1/workspaces/:workspaceId
     * routes. Elsewhere it needs `workspace` (a fixed workspace whose role counts) or `platformAdmins`.
     */
    permission?: string;
    /** Outside the workspace routes: the fixed workspace whose role is checked (e.g. the ops workspace); unset = nobody's role counts. */
    workspace?: () => string | undefined;
    /** 'pass': platform administrators hold `permission` without a role; 'only': nobody else does. */
    platformAdmins?: 'pass' | 'only';
    /** Token scope needed on routes outside a workspace (e.g. "account.manage"). */
    scope?: string;
    /** Rejects API tokens: only an interactive session may call (MFA changes, token minting). */
    sessionOnly?: boolean;
    /** A browser sign-in route: checks the Origin of the request though it carries no cookie yet. */
    browserSignIn?: boolean;
    /** The public entry's forwarding route to the service that owns the path (gateway.ts); that service guards it. */
    forward?: string;
  }
  interface FastifyInstance {
    /** Every route registered so far (the gateway's route-ownership check reads it). */
    registeredRoutes(): readonly RegisteredRoute[];
  }
  interface FastifyRequest {
    principal?: Principal;
    access?: WorkspaceAccess;
    /** The shared secret the caller presented (`auth: 'secret:<name>'`), when it came that way. */
    sharedSecret?: string;
  }
}

export interface HttpServerOptions {
  logger: Logger;
  metrics: CoreMetrics;
  permissions: PermissionRegistry;
  secrets: SharedSecretRegistry;
  identity: () => IdentityPort;
  bodyLimit: number;
  trustProxy: boolean | string | number;
  version: string;
  /** The built web app (index.html + assets/); absent = API only. */
  webDir?: string;
  /** The instance's public URL: its origin is accepted as a browser request's Origin. */
  publicUrl?: string;
  /** Send Strict-Transport-Security (the API is served over TLS, here or at a proxy). */
  hsts?: boolean;
  /** Serve HTTPS with these options (tls.ts: TLS 1.3, the runbook's suites). */
  https?: import('node:tls').SecureContextOptions & { minVersion?: string; maxVersion?: string; ciphers?: string };
  /** Verifies the caller the public entry authenticated (`x-v01t-principal`); absent without V01T_INTERNAL_TOKEN. */
  forwardedPrincipals?: PrincipalSigner;
  /** One access line per request (LOG_ACCESS; ECS fields, docs/siem.md). */
  accessLog?: boolean;
}

/**
 * With tracing on, the node server runs each request inside a server span (continuing an incoming
 * `traceparent`), so every hook, handler, statement and outbound call of the request is its child.
 * Named `METHOD /route` once the route is known; ended when the response is closed.
 */
function tracedServerFactory(tls: HttpServerOptions['https']) {
  return (handler: (req: IncomingMessage, res: ServerResponse) => void) => {
    const traced = (req: IncomingMessage, res: ServerResponse) => {
      const method = req.method ?? 'GET';
      const started = startSpan(method, { kind: SpanKind.SERVER, parent: contextFrom(req.headers), attributes: { 'http.request.method': method } });
      if (!started) return handler(req, res);
      res.once('close', () => {
        started.span.setAttribute('http.response.status_code', res.statusCode);
        if (res.statusCode >= 500) started.span.setStatus({ code: 2 });
        started.span.end();
      });
      runIn(started.context, () => handler(req, res));
    };
    return (tls ? https.createServer(tls as https.ServerOptions, traced) : http.createServer(traced)) as unknown as RawServerDefault;
  };
}

const WORKSPACE_PREFIX = '/v1/workspaces/:workspaceId';
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
export const HTTP_METHODS = ['GET', 'POST', 'PUT', 'PATCH', 'DELETE'] as const;

function headerValue(value: string | string[] | undefined): string | null {
  return typeof value === 'string' && value !== '' ? value : null;
}

export { bearerToken } from './browser.js';

export async function createHttpServer(opts: HttpServerOptions): Promise<App> {
  const app = Fastify({
    loggerInstance: opts.logger,
    bodyLimit: opts.bodyLimit,
    ...(opts.https ? { https: opts.https as never } : {}),
    trustProxy: opts.trustProxy as boolean | string,
    ...(tracingEnabled() ? { serverFactory: tracedServerFactory(opts.https) } : {}),
    return503OnClosing: true,
    // Fastify's own per-request lines are off: the onResponse hook writes one access line (LOG_ACCESS, ECS fields) instead.
    logController: new LogController({ disableRequestLogging: true }),
    requestIdHeader: false,
    genReqId: (req) => {
      const incoming = req.headers['x-request-id'];
      return typeof incoming === 'string' && /^[\w.:-]{1,128}$/.test(incoming) ? incoming : uuidV4();
    },
    routerOptions: { ignoreTrailingSlash: true, maxParamLength: 500 },
    ajv: { customOptions: { removeAdditional: false } },
    frameworkErrors: frameworkErrorHandler,
    clientErrorHandler,
  }).withTypeProvider<ZodTypeProvider>();

  app.setValidatorCompiler(validatorCompiler);
  app.setSerializerCompiler(serializerCompiler);

  // A second router that only knows which methods exist per path, so a wrong method answers 405.
  const methodIndex = FindMyWay({ ignoreTrailingSlash: true, maxParamLength: 500 });
  const registered: RegisteredRoute[] = [];
  app.decorate('registeredRoutes', () => registered);
  app.addHook('onRoute', (route) => {
    const cfg = route.config ?? {};
    for (const m of [route.method].flat()) registered.push({ method: m, url: route.url, forward: cfg.forward });
    if (route.url.startsWith(WORKSPACE_PREFIX) && !cfg.permission && !cfg.forward) {
      throw new Error(`workspace route ${String(route.method)} ${route.url} must declare config.permission`);
    }
    if (cfg.permission && !opts.permissions.has(cfg.permission)) {
      throw new Error(`route ${String(route.method)} ${route.url} uses undeclared permission ${cfg.permission}`);
    }
    if (cfg.permission && !route.url.startsWith(WORKSPACE_PREFIX) && !cfg.workspace && !cfg.platformAdmins) {
      throw new Error(`route ${String(route.method)} ${route.url} declares permission ${cfg.permission} outside a workspace: say which workspace (config.workspace) or platformAdmins`);
    }
    if (cfg.auth?.startsWith('secret:') && !opts.secrets.get(cfg.auth.slice('secret:'.length))) {
      throw new Error(`route ${String(route.method)} ${route.url} uses undeclared shared secret ${cfg.auth.slice('secret:'.length)}`);
    }
    // Every documented route also declares the errors the kernel can answer for it, so the
    // OpenAPI document lists them without each route repeating them.
    const response = route.schema?.response as Record<string, unknown> | undefined;
    if (response && !route.schema?.hide) {
      for (const status of defaultProblemStatuses({ method: route.method, url: route.url, schema: route.schema as never, config: cfg })) response[status] ??= problemSchema;
    }
    for (const m of [route.method].flat()) {
      if (m === 'HEAD' || m === 'OPTIONS') continue;
      try {
        methodIndex.on(m as 'GET', route.url, () => {});
      } catch {
        /* the same route registered twice (HEAD shadows) */
      }
    }
  });

  await app.register(fastifySwagger, {
    openapi: {
      openapi: '3.1.0',
      info: { title: 'v01t API', version: opts.version, description: 'The v01t platform API. Errors are application/problem+json bodies with a stable `code`.' },
      components: { ...openApiComponents(), securitySchemes: { bearer: { type: 'http', scheme: 'bearer', description: 'Session token (v01t_s_…) or personal API token (v01t_pat_…)' } } },
      security: [{ bearer: [] }],
    },
    transform: openApiTransform,
    transformObject: openApiTransformObject,
  });
  await app.register(fastifySwaggerUi, { routePrefix: '/docs', uiConfig: { docExpansion: 'list', deepLinking: true }, staticCSP: true });
  const appShell = await registerBrowserSupport(app, { webDir: opts.webDir, hsts: opts.hsts ?? false });

  if (tracingEnabled()) {
    app.addHook('onRequest', async (request) => {
      const route = request.routeOptions.url;
      const span = activeSpan();
      if (span && route) {
        span.setAttribute('http.route', route);
        span.updateName(`${request.method} ${route}`);
      }
    });
  }

  app.addHook('onRequest', async (request, reply) => {
    reply.header('x-request-id', String(request.id));
    const cfg = request.routeOptions.config ?? {};
    const url = request.routeOptions.url ?? '';
    const mode = cfg.auth ?? (url.startsWith('/v1/') ? 'required' : 'none');
    if (cfg.browserSignIn) checkCsrf(request, { publicUrl: opts.publicUrl, requireToken: false });
    if (mode === 'none') return;
    const token = bearerToken(request.headers.authorization);
    if (mode.startsWith('secret:')) {
      const secret = opts.secrets.get(mode.slice('secret:'.length))!;
      const given = secret.carrier === 'bearer' ? token : headerValue(request.headers[secret.carrier.header.toLowerCase()]);
      if (!given) throw new AppError('unauthenticated', secret.missing);
      const expected = secret.value();
      if (expected === undefined && secret.unset) throw new AppError('service_unavailable', secret.unset);
      if (sameSecret(given, expected)) {
        request.sharedSecret = secret.name;
        return;
      }
      if (!secret.orUser || secret.carrier !== 'bearer') throw new AppError(secret.wrong?.code ?? 'unauthenticated', secret.wrong?.detail ?? secret.missing);
    }
    // A shared secret is never a browser's: only a bearer token or a session cookie reaches here.
    const credential = credentialOf(request);
    if (!credential) {
      if (mode === 'optional') return;
      throw new AppError('unauthenticated', 'Send Authorization: Bearer <token>');
    }
    // Through the public entry (the distributed shape): the gateway authenticated the caller and
    // checked the browser's Origin; a header that fails verification is ignored.
    const forwarded = opts.forwardedPrincipals?.verify(request.headers[FORWARDED_PRINCIPAL_HEADER], credential.token);
    if (credential.via === 'cookie' && !forwarded) checkCsrf(request, { publicUrl: opts.publicUrl, requireToken: true });
    const principal = forwarded?.principal ?? (await opts.identity().authenticate(credential.token));
    if (!principal) throw new AppError('invalid_token');
    request.principal = principal;
    if (cfg.sessionOnly && principal.tokenKind !== 'session') {
      throw new AppError('insufficient_scope', 'This action needs an interactive session, not an API token');
    }
    if (cfg.scope && !scopeAllows(principal.scopes, cfg.scope)) {
      throw new AppError('insufficient_scope', `The token lacks the scope "${cfg.scope}"`);
    }
    if (url.startsWith(WORKSPACE_PREFIX)) {
      const workspaceId = (request.params as { workspaceId?: string }).workspaceId ?? '';
      // A malformed id and a workspace the caller is not a member of look the same: 404.
      const vouched = forwarded?.workspace?.workspaceId === workspaceId ? forwarded.workspace : undefined;
      const access = !UUID.test(workspaceId) ? null : vouched ? vouched.access : await opts.identity().workspaceAccess(principal.userId, workspaceId);
      if (!access) throw new AppError('workspace_not_found');
      request.access = access;
      const permission = cfg.permission!;
      if (!opts.permissions.can(access.role, permission)) {
        throw new AppError('forbidden', `Your role (${access.role}) does not allow ${permission}`);
      }
      if (!scopeAllows(principal.scopes, permission)) {
        throw new AppError('insufficient_scope', `The token lacks the scope "${permission}"`);
      }
      if (access.requireMfa && !principal.mfaEnabled) {
        throw new AppError('mfa_enrollment_required', 'Turn on MFA (POST /v1/auth/mfa/totp) to use this workspace');
      }
    } else if (cfg.permission) {
      await platformPermission(request, principal, cfg.permission, cfg);
    }
  });

  /** A permission outside /v1/workspaces/:workspaceId: held through a fixed workspace's role, or by platform administrators. */
  async function platformPermission(request: { access?: WorkspaceAccess }, principal: Principal, permission: string, cfg: { workspace?: () => string | undefined; platformAdmins?: 'pass' | 'only' }) {
    if (!scopeAllows(principal.scopes, permission)) throw new AppError('insufficient_scope', `The token lacks the scope "${permission}"`);
    if (principal.platformAdmin && cfg.platformAdmins) return;
    if (cfg.platformAdmins === 'only') throw new AppError('forbidden', 'Platform administrators only');
    const workspaceId = cfg.workspace?.();
    const access = workspaceId ? await opts.identity().workspaceAccess(principal.userId, workspaceId) : null;
    if (!access || !opts.permissions.can(access.role, permission)) {
      throw new AppError('forbidden', `${cfg.platformAdmins ? 'Platform administrators and members' : 'Members'} of the workspace whose role allows ${permission} only`);
    }
    if (access.requireMfa && !principal.mfaEnabled) {
      throw new AppError('mfa_enrollment_required', 'Turn on MFA (POST /v1/auth/mfa/totp) to use this workspace');
    }
    request.access = access;
  }
  // After parsing, before validation: text PostgreSQL cannot store is refused for every route at once.
  // Forwarded bodies are streams the owning service checks.
  app.addHook('preValidation', async (request) => {
    if (!request.routeOptions.config?.forward) await rejectUnstorableInput(request);
  });

  app.addHook('onResponse', async (request, reply) => {
    const route = request.routeOptions.url ?? 'unmatched';
    const labels = { method: request.method, route, status: String(reply.statusCode) };
    opts.metrics.httpRequests.inc(labels);
    opts.metrics.requestDuration.observe(labels, reply.elapsedTime / 1000);
    if (opts.accessLog) {
      request.log.info(
        accessLogFields({
          method: request.method,
          url: request.url,
          route: request.routeOptions.url,
          status: reply.statusCode,
          durationMs: reply.elapsedTime,
          ip: request.ip,
          userId: request.principal?.userId,
          userAgent: request.headers['user-agent'],
          workspaceId: request.access ? (request.params as { workspaceId?: string }).workspaceId : undefined,
        }),
        'http request',
      );
    }
  });

  app.setErrorHandler((err, request, reply) => {
    const { appError, unexpected } = toAppError(err);
    if (unexpected) request.log.error({ err, url: request.url, method: request.method }, 'request failed');
    else request.log.info({ code: appError.code, status: appError.status, url: request.url }, 'request rejected');
    return sendProblem(reply, appError, request);
  });

  app.setNotFoundHandler((request, reply) => {
    const shell = appShell(request, reply);
    if (shell) return shell;
    const path = request.url.split('?')[0] ?? '/';
    const allowed = HTTP_METHODS.filter((m) => m !== request.method && methodIndex.find(m, path));
    if (allowed.length > 0) {
      return sendProblem(
        reply,
        new AppError('method_not_allowed', `${request.method} is not allowed on ${path}; use ${allowed.join(', ')}`, { headers: { allow: allowed.join(', ') } }),
        request,
      );
    }
    return sendProblem(reply, new AppError('not_found', `No route ${request.method} ${path}`), request);
  });

  return app as unknown as App;
}
