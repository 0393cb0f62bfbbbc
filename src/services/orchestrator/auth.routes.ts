import { z } from 'zod';
import { problemResponses } from '../../kernel/http/problem.js';
import type { App } from '../../kernel/http/server.js';
import { AppError } from '../../kernel/errors.js';
import type { AuthService } from './auth.service.js';
import { publicUser } from './auth.service.js';
import type { MfaService } from './mfa.service.js';
import type { GdprRequestService } from './gdpr-requests.service.js';
import {
  apiTokenSchema,
  createTokenBody,
  idParam,
  loginBody,
  otpBody,
  sessionResponse,
  signupBody,
  userSchema,
} from './schemas.js';

export function authRoutes(app: App, deps: { auth: AuthService; mfa: MfaService; gdpr: GdprRequestService }): void {
  const { auth, mfa, gdpr } = deps;
  const tags = ['auth'];

  app.post('/v1/auth/signup', {
    config: { auth: 'none' },
    schema: {
      tags,
      summary: 'Create an account and a session',
      description:
        'Answers alike whether or not the address already has an account (ADR 0004): for a taken address nothing is created and the token opens nothing. Limited per client address (SIGNUP_MAX_PER_IP_PER_HOUR); the password must be at least 12 characters and not easy to guess.',
      security: [],
      body: signupBody,
      response: { ...problemResponses(403, 429), 201: z.object({ user: userSchema, token: z.string(), expiresAt: z.date() }) },
    },
    handler: async (req, reply) => reply.status(201).send(await auth.signup(req.body, req.ip)),
  });

  app.post('/v1/auth/login', {
    config: { auth: 'none' },
    schema: {
      tags,
      summary: 'Sign in; answers mfa_required when a one-time password is needed',
      description: 'With V01T_SSO_ONLY this answers 403 `sso_only`; a platform admin signs in with `"breakGlass": true` (anyone else then gets `invalid_credentials`).',
      security: [],
      body: loginBody,
      response: { ...problemResponses(401, 403, 429), 200: sessionResponse },
    },
    handler: async (req) => auth.login(req.body, req.ip),
  });

  app.post('/v1/auth/logout', {
    // Revoking a token is an account change, as DELETE /v1/me/tokens/:id is: a read-only token cannot do it.
    config: { scope: 'account.manage' },
    schema: { tags, summary: 'Revoke the token used for this call', response: { 204: z.null() } },
    handler: async (req, reply) => {
      await auth.logout(req.principal!, req.ip);
      return reply.status(204).send(null);
    },
  });

  app.post('/v1/auth/mfa/totp', {
    config: { sessionOnly: true },
    schema: { tags, summary: 'Start TOTP enrolment', response: { ...problemResponses(409), 200: z.object({ secret: z.string(), otpauthUrl: z.string() }) } },
    handler: async (req) => mfa.begin(await auth.user(req.principal!.userId), req.ip),
  });

  app.post('/v1/auth/mfa/totp/confirm', {
    config: { sessionOnly: true },
    schema: { tags, summary: 'Confirm enrolment with a current code; returns one-time recovery codes', body: otpBody, response: { ...problemResponses(401, 409, 429), 200: z.object({ recoveryCodes: z.array(z.string()) }) } },
    handler: async (req) => mfa.confirm(await auth.user(req.principal!.userId), req.body.otp, req.ip),
  });

  app.post('/v1/auth/mfa/totp/disable', {
    config: { sessionOnly: true },
    schema: { tags, summary: 'Turn MFA off (needs a current code or a recovery code)', body: otpBody, response: { ...problemResponses(401, 409, 429), 204: z.null() } },
    handler: async (req, reply) => {
      await mfa.disable(await auth.user(req.principal!.userId), req.body.otp, req.ip);
      return reply.status(204).send(null);
    },
  });

  app.post('/v1/auth/mfa/recovery-codes', {
    config: { sessionOnly: true },
    schema: { tags, summary: 'Replace the recovery codes (needs a current code)', body: otpBody, response: { ...problemResponses(401, 409, 429), 200: z.object({ recoveryCodes: z.array(z.string()) }) } },
    handler: async (req) => mfa.regenerateRecoveryCodes(await auth.user(req.principal!.userId), req.body.otp, req.ip),
  });

  const meTags = ['me'];
  app.get('/v1/me', {
    config: { scope: 'account.read' },
    schema: { tags: meTags, summary: 'The signed-in user', response: { 200: z.object({ user: userSchema }) } },
    handler: async (req) => ({ user: await auth.profile(req.principal!.userId) }),
  });

  app.patch('/v1/me', {
    config: { scope: 'account.manage' },
    schema: { tags: meTags, summary: 'Update the profile', body: z.object({ name: z.string().trim().min(1).max(100).optional() }), response: { 200: z.object({ user: userSchema }) } },
    handler: async (req) => ({ user: publicUser(await auth.updateProfile(req.principal!.userId, req.body)) }),
  });

  app.post('/v1/me/password', {
    config: { sessionOnly: true },
    schema: {
      tags: meTags,
      summary: 'Change the password; every other session and token is revoked',
      body: z.object({ currentPassword: z.string().min(1).max(256), newPassword: z.string().min(1).max(256) }),
      response: { ...problemResponses(401, 429), 204: z.null() },
    },
    handler: async (req, reply) => {
      await auth.changePassword(req.principal!, req.body.currentPassword, req.body.newPassword, req.ip);
      return reply.status(204).send(null);
    },
  });

  app.get('/v1/me/tokens', {
    config: { scope: 'account.read' },
    schema: { tags: meTags, summary: 'Personal API tokens', response: { 200: z.object({ tokens: z.array(apiTokenSchema) }) } },
    handler: async (req) => ({ tokens: await auth.listApiTokens(req.principal!.userId) }),
  });

  app.post('/v1/me/tokens', {
    config: { sessionOnly: true },
    schema: {
      tags: meTags,
      summary: 'Create a personal API token; the token is shown once',
      description: 'Scopes: "*", "read" (every *.read permission), "account.read", "account.manage", "<service>.*", or permission names (see docs/permissions.md).',
      body: createTokenBody,
      response: { 201: z.object({ token: z.string(), apiToken: apiTokenSchema }) },
    },
    handler: async (req, reply) => reply.status(201).send(await auth.createApiToken(req.principal!, req.body, req.ip)),
  });

  app.delete('/v1/me/tokens/:tokenId', {
    config: { scope: 'account.manage' },
    schema: { tags: meTags, summary: 'Revoke a personal API token', params: z.object({ tokenId: idParam }), response: { 204: z.null() } },
    handler: async (req, reply) => {
      await auth.revokeApiToken(req.principal!, req.params.tokenId, req.ip);
      return reply.status(204).send(null);
    },
  });

  app.get('/v1/me/export', {
    config: { sessionOnly: true },
    schema: {
      tags: meTags,
      summary: 'Export every piece of personal data v01t keeps about you (GDPR art. 15/20); recorded in the GDPR requests register as a completed access request',
      response: { 200: z.record(z.string(), z.unknown()) },
    },
    handler: async (req) => (await gdpr.fulfilAccess(req.principal!.userId, { channel: 'self_service', by: { actorId: req.principal!.userId, ip: req.ip } })).data,
  });

  app.delete('/v1/me', {
    config: { sessionOnly: true },
    schema: {
      tags: meTags,
      summary: 'Erase your account and personal data in every service (GDPR art. 17); recorded in the GDPR requests register as a completed erasure request',
      body: z.object({ password: z.string().min(1).max(256) }),
      response: { ...problemResponses(401, 409, 429), 200: z.object({ erased: z.record(z.string(), z.record(z.string(), z.number())) }) },
    },
    handler: async (req) => {
      const user = await auth.user(req.principal!.userId);
      if (!(await auth.confirmPassword(user, req.body.password, req.ip))) throw new AppError('invalid_credentials', 'The password is wrong');
      return { erased: (await gdpr.fulfilErasure(user.id, { channel: 'self_service', by: { actorId: user.id, ip: req.ip } })).erased };
    },
  });
}
