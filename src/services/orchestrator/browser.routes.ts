import { z } from 'zod';
import type { App } from '../../kernel/http/server.js';
import { clearSessionCookies, setSessionCookies } from '../../kernel/http/browser.js';
import type { AuthService } from './auth.service.js';
import { loginBody, signupBody, userSchema } from './schemas.js';
import { problemResponses } from '../../kernel/http/problem.js';

/**
 * Sign-in and sign-out for the web app. They run the same AuthService paths as /v1/auth/login (same
 * limits, MFA, audit), but the session token goes only into an HttpOnly cookie: the page never sees it.
 */
export function browserSessionRoutes(app: App, deps: { auth: AuthService }): void {
  const { auth } = deps;
  const tags = ['auth'];
  const browserSession = z.object({ user: userSchema, expiresAt: z.date() });

  app.post('/v1/auth/browser/login', {
    config: { auth: 'none', browserSignIn: true },
    schema: {
      tags,
      summary: 'Sign in from the web app: sets an HttpOnly session cookie and a CSRF cookie (answers mfa_required like /v1/auth/login)',
      security: [],
      body: loginBody,
      response: { ...problemResponses(401, 403, 429), 200: browserSession },
    },
    handler: async (req, reply) => {
      const session = await auth.login(req.body, req.ip);
      setSessionCookies(req, reply, session.token, session.expiresAt);
      const principal = await auth.authenticate(session.token);
      return { user: await auth.profile(principal!.userId), expiresAt: session.expiresAt };
    },
  });

  app.post('/v1/auth/browser/signup', {
    config: { auth: 'none', browserSignIn: true },
    schema: { tags, summary: 'Create an account from the web app and start its cookie session', security: [], body: signupBody, response: { ...problemResponses(403, 429), 201: browserSession } },
    handler: async (req, reply) => {
      const created = await auth.signup(req.body, req.ip);
      setSessionCookies(req, reply, created.token, created.expiresAt);
      return reply.status(201).send({ user: created.user, expiresAt: created.expiresAt });
    },
  });

  app.post('/v1/auth/browser/logout', {
    config: { auth: 'optional', browserSignIn: true },
    schema: { tags, summary: 'Sign out of the web app: revokes the cookie session and clears the cookies', security: [], response: { ...problemResponses(403), 204: z.null() } },
    handler: async (req, reply) => {
      if (req.principal?.tokenKind === 'session') await auth.logout(req.principal, req.ip);
      clearSessionCookies(req, reply);
      return reply.status(204).send(null);
    },
  });
}
