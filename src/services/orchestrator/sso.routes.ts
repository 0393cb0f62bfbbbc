import { z } from 'zod';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { ROLES } from '../../kernel/auth/permissions.js';
import { setSessionCookies } from '../../kernel/http/browser.js';
import { problemResponses } from '../../kernel/http/problem.js';
import type { App } from '../../kernel/http/server.js';
import { AppError } from '../../kernel/errors.js';
import type { AuthService } from './auth.service.js';
import { publicProvider, type SsoService } from './sso.service.js';
import { sessionResponse } from './schemas.js';

/** The cookie that binds a started sign-in to the browser that started it (login-CSRF defence). */
export const SSO_STATE_COOKIE = 'v01t_sso_state';
const COOKIE_PATH = '/v1/auth/sso';

const slugParam = z.string().regex(/^[a-z0-9][a-z0-9-]{0,39}$/, 'lowercase letters, digits and dashes');
const claimName = z.string().trim().min(1).max(100);

export const ssoProviderBody = z.object({
  slug: slugParam.describe('in URLs: /v1/auth/sso/<slug>/start'),
  name: z.string().trim().min(1).max(100).describe('shown on the sign-in button: "Sign in with <name>"'),
  issuerUrl: z.string().max(500).describe('the OpenID Provider issuer (Keycloak: https://kc.example/realms/<realm>; Authentik: https://ak.example/application/o/<app>/)'),
  clientId: z.string().min(1).max(200),
  clientSecret: z.string().min(1).max(500).describe('stored encrypted with the master key; never shown again'),
  scopes: z.array(z.string().regex(/^[\x21\x23-\x5b\x5d-\x7e]+$/)).max(20).default(['openid', 'email', 'profile']),
  emailClaim: claimName.default('email'),
  nameClaim: claimName.default('name'),
  groupsClaim: claimName.nullable().optional().describe('claim holding the user\'s groups (Keycloak: a "groups" mapper; Authentik: "groups")'),
  groupRoles: z.array(z.object({ group: z.string().min(1).max(200), workspaceId: z.uuid(), role: z.enum(ROLES) })).max(200).default([]).describe('on every sign-in, a member of <group> gets <role> in <workspaceId> (the highest role wins; owners are never demoted)'),
  jitEnabled: z.boolean().default(false).describe('create an account for a verified address the instance does not know yet'),
  defaultWorkspaceId: z.uuid().nullable().optional().describe('a provisioned account joins this workspace with defaultRole'),
  defaultRole: z.enum(ROLES).default('viewer'),
  enabled: z.boolean().default(true),
});

const providerSchema = z.object({
  id: z.uuid(),
  slug: z.string(),
  name: z.string(),
  issuerUrl: z.string(),
  clientId: z.string(),
  scopes: z.array(z.string()),
  emailClaim: z.string(),
  nameClaim: z.string(),
  groupsClaim: z.string().nullable(),
  groupRoles: z.array(z.object({ group: z.string(), workspaceId: z.string(), role: z.enum(ROLES) })),
  jitEnabled: z.boolean(),
  defaultWorkspaceId: z.string().nullable(),
  defaultRole: z.enum(ROLES),
  enabled: z.boolean(),
  createdAt: z.date(),
  updatedAt: z.date(),
});

/** A local path on this site only: no scheme, no host, no protocol-relative `//`. */
const returnToSchema = z
  .string()
  .max(500)
  .regex(/^\/(?![/\\])[^\s]*$/, 'a path on this site, like /w/123')
  .default('/');

function assertAdmin(req: FastifyRequest): void {
  if (!req.principal?.platformAdmin) throw new AppError('forbidden', 'Platform administrators only');
}

export function ssoRoutes(app: App, deps: { sso: SsoService; auth: AuthService; publicUrl?: string; flowTtlSeconds: number }): void {
  const { sso, auth } = deps;
  const tags = ['auth'];
  const base = (req: FastifyRequest) => deps.publicUrl?.replace(/\/$/, '') ?? `${req.protocol}://${req.host}`;

  app.get('/v1/auth/sso/providers', {
    config: { auth: 'none' },
    schema: {
      tags,
      summary: 'Single sign-on providers for the sign-in page (name and start URL only)',
      security: [],
      response: { 200: z.object({ providers: z.array(z.object({ slug: z.string(), name: z.string(), startUrl: z.string() })), ssoOnly: z.boolean() }) },
    },
    handler: async () => ({ providers: await sso.publicProviders(), ssoOnly: auth.ssoOnly }),
  });

  app.get('/v1/auth/sso/:slug/start', {
    config: { auth: 'none' },
    schema: {
      tags,
      summary: 'Start an OpenID Connect sign-in: redirects to the provider (authorization code with PKCE, state and nonce)',
      description:
        'Sets an HttpOnly cookie binding the sign-in to this browser. A browser is redirected (302). `client=api` answers 200 with the authorization URL instead, and its callback answers `{token, expiresAt}` (as POST /v1/auth/login does) rather than setting the session cookie: for a client that drives the redirects itself and sends the cookie back.',
      security: [],
      params: z.object({ slug: slugParam }),
      querystring: z.object({ returnTo: returnToSchema, client: z.enum(['browser', 'api']).default('browser') }),
      response: {
        200: z.object({ authorizationUrl: z.string(), expiresAt: z.date() }).describe('client=api: open authorizationUrl; the callback answers the session'),
        302: z.null().describe("Location: the provider's authorization endpoint"),
        ...problemResponses(404, 401),
      },
    },
    handler: async (req, reply) => {
      const redirectUri = `${base(req)}/v1/auth/sso/${req.params.slug}/callback`;
      const started = await sso.start(req.params.slug, { redirectUri, returnTo: req.query.returnTo, client: req.query.client });
      reply.setCookie(SSO_STATE_COOKIE, started.state, { path: COOKIE_PATH, httpOnly: true, sameSite: 'lax', secure: req.protocol === 'https', maxAge: deps.flowTtlSeconds });
      if (req.query.client === 'api') return { authorizationUrl: started.authorizationUrl, expiresAt: started.expiresAt };
      return reply.redirect(started.authorizationUrl, 302);
    },
  });

  app.get('/v1/auth/sso/:slug/callback', {
    config: { auth: 'none' },
    schema: {
      tags,
      summary: "The provider's redirect back: checks state, exchanges the code, verifies the ID token and signs in",
      description:
        'The ID token\'s signature, issuer, audience, expiry and nonce are checked. An existing account is linked only by an email the provider marks verified (`email_verified: true`). A browser gets the same HttpOnly session cookie as a password sign-in and is sent to `returnTo`; a failed browser sign-in is sent to `/signin?sso_error=<code>`. Failures are security events `sso_failed`.',
      security: [],
      params: z.object({ slug: slugParam }),
      querystring: z.object({ state: z.string().max(500).optional(), code: z.string().max(4000).optional(), error: z.string().max(500).optional() }).passthrough(),
      response: {
        200: sessionResponse.describe('A sign-in started with client=api'),
        303: z.null().describe('A browser sign-in: Location is returnTo with the session cookie set, or /signin?sso_error=<code>'),
        ...problemResponses(401, 403, 404, 429),
      },
    },
    handler: async (req, reply) => {
      const query = new URLSearchParams(req.query as Record<string, string>);
      const bound = req.cookies?.[SSO_STATE_COOKIE];
      reply.clearCookie(SSO_STATE_COOKIE, { path: COOKIE_PATH, httpOnly: true, sameSite: 'lax', secure: req.protocol === 'https' });
      try {
        const done = await sso.callback(req.params.slug, query, bound, req.ip);
        const session = await auth.issueSession(done.user.id, req.ip);
        if (done.client === 'api') return session;
        setSessionCookies(req, reply, session.token, session.expiresAt);
        return reply.redirect(done.returnTo, 303);
      } catch (err) {
        return browserFailure(req, reply, err);
      }
    },
  });

  // ---- platform admins -------------------------------------------------------------------------

  const adminTags = ['admin'];
  app.get('/v1/admin/sso/providers', {
    schema: { tags: adminTags, summary: 'Single sign-on providers (never their client secrets); platform admins only', response: { ...problemResponses(403), 200: z.object({ providers: z.array(providerSchema) }) } },
    handler: async (req) => {
      assertAdmin(req);
      return { providers: (await sso.listProviders()).map(publicProvider) };
    },
  });

  app.post('/v1/admin/sso/providers', {
    config: { sessionOnly: true },
    schema: {
      tags: adminTags,
      summary: 'Add an OpenID Connect provider (Keycloak, Authentik, ...); platform admins only',
      description: 'Register `<V01T_PUBLIC_URL>/v1/auth/sso/<slug>/callback` as the redirect URI at the provider. Requests to the issuer go through the guarded egress: a provider on a private network must be listed in V01T_EGRESS_ALLOW.',
      body: ssoProviderBody,
      response: { ...problemResponses(403, 409), 201: z.object({ provider: providerSchema }) },
    },
    handler: async (req, reply) => {
      assertAdmin(req);
      const row = await sso.addProvider(req.body, { userId: req.principal!.userId, ip: req.ip });
      return reply.status(201).send({ provider: publicProvider(row) });
    },
  });

  app.delete('/v1/admin/sso/providers/:provider', {
    config: { sessionOnly: true },
    schema: {
      tags: adminTags,
      summary: 'Remove a provider (by id or slug) and its account links; platform admins only',
      params: z.object({ provider: z.string().min(1).max(64) }),
      response: { ...problemResponses(403, 404), 204: z.null() },
    },
    handler: async (req, reply) => {
      assertAdmin(req);
      await sso.removeProvider(req.params.provider, { userId: req.principal!.userId, ip: req.ip });
      return reply.status(204).send(null);
    },
  });
}

/** A browser navigation gets the sign-in page with the error code; an API client gets problem+json. */
function browserFailure(req: FastifyRequest, reply: FastifyReply, err: unknown): FastifyReply {
  const wantsHtml = (req.headers.accept ?? '').includes('text/html');
  if (!wantsHtml || !(err instanceof AppError)) throw err;
  return reply.redirect(`/signin?sso_error=${encodeURIComponent(err.code)}`, 303);
}
