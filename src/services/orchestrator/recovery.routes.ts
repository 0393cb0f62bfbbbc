import { z } from 'zod';
import { problemResponses } from '../../kernel/http/problem.js';
import type { App } from '../../kernel/http/server.js';
import { AppError } from '../../kernel/errors.js';
import type { AuthService } from './auth.service.js';
import type { RecoveryService } from './recovery.service.js';
import type { MailRepository } from './mail.repository.js';
import { mailDetail, mailSummary } from './mail.service.js';
import { MAIL_TEMPLATES } from './mail.templates.js';

const email = z.email().max(254);
const linkToken = z.string().trim().min(10).max(200);
const accepted = z.object({ status: z.literal('accepted'), detail: z.string() });
const FORGOT_ANSWER = { status: 'accepted' as const, detail: 'If an account uses this address, a link to choose a new password is on its way. It works once, within one hour.' };

const mailSummarySchema = z.object({
  id: z.uuid(),
  template: z.string().describe(`one of ${MAIL_TEMPLATES.join(', ')}`),
  to: z.string(),
  subject: z.string(),
  status: z.enum(['pending', 'sent', 'failed']),
  attempts: z.number(),
  nextAttemptAt: z.date().nullable(),
  lastError: z.string().nullable(),
  createdAt: z.date(),
  sentAt: z.date().nullable(),
});

/** Password reset, email verification and change (ADR 0040), and the platform admins' view of the mail outbox. */
export function recoveryRoutes(app: App, deps: { recovery: RecoveryService; auth: AuthService; mail: MailRepository }): void {
  const { recovery, auth } = deps;
  const tags = ['auth'];

  app.post('/v1/auth/password/forgot', {
    config: { auth: 'none' },
    schema: {
      tags,
      summary: 'Mail a password-reset link',
      description:
        'Always answers 202 with the same body and after about the same time, whether or not the address has an account (no enumeration). The link works once, within one hour. Limited per client address (429 `rate_limited`, PASSWORD_RESET_MAX_PER_IP_PER_HOUR) and per email address (further requests answer alike and send nothing, PASSWORD_RESET_MAX_PER_EMAIL_PER_HOUR).',
      security: [],
      body: z.object({ email }),
      response: { ...problemResponses(429), 202: accepted },
    },
    handler: async (req, reply) => {
      await recovery.forgot(req.body.email, req.ip);
      return reply.status(202).send(FORGOT_ANSWER);
    },
  });

  app.post('/v1/auth/password/reset', {
    config: { auth: 'none' },
    schema: {
      tags,
      summary: 'Set a new password with the token of a reset link',
      description: 'Revokes every session and API token of the account; MFA stays on. The token works once. Same password policy as sign-up (`body.password`).',
      security: [],
      body: z.object({ token: linkToken, password: z.string().min(1).max(256) }),
      response: { ...problemResponses(410, 429), 204: z.null() },
    },
    handler: async (req, reply) => {
      await recovery.reset(req.body.token, req.body.password, req.ip);
      return reply.status(204).send(null);
    },
  });

  app.post('/v1/auth/email/verify', {
    config: { auth: 'none' },
    schema: {
      tags,
      summary: 'Confirm an email address with the token of a mailed link (verification or change)',
      security: [],
      body: z.object({ token: linkToken }),
      response: { ...problemResponses(409, 410), 200: z.object({ purpose: z.enum(['email_verify', 'email_change']), email: z.string() }) },
    },
    handler: async (req) => recovery.confirm(req.body.token, req.ip),
  });

  app.post('/v1/me/email/verification', {
    config: { sessionOnly: true },
    schema: { tags: ['me'], summary: 'Mail a new verification link to the account address', response: { ...problemResponses(409, 429), 202: accepted } },
    handler: async (req, reply) => {
      await recovery.resendVerification(req.principal!.userId, req.ip);
      return reply.status(202).send({ status: 'accepted' as const, detail: 'A confirmation link is on its way.' });
    },
  });

  app.post('/v1/me/email', {
    config: { sessionOnly: true },
    schema: {
      tags: ['me'],
      summary: 'Change the email address: the new address gets a confirmation link, the old one a notice',
      body: z.object({ email, password: z.string().min(1).max(256) }),
      response: { ...problemResponses(401, 409, 429), 202: accepted },
    },
    handler: async (req, reply) => {
      await recovery.requestEmailChange(req.principal!.userId, req.body.email, req.body.password, req.ip, (u, p) => auth.confirmPassword(u, p, req.ip));
      return reply.status(202).send({ status: 'accepted' as const, detail: 'Follow the link mailed to the new address to finish the change.' });
    },
  });

  const adminOnly = (platformAdmin: boolean) => {
    if (!platformAdmin) throw new AppError('forbidden', 'Platform administrators only');
  };
  app.get('/v1/admin/mail', {
    schema: {
      tags: ['admin'],
      summary: 'Platform mails in the outbox, newest first; platform admins only',
      description: 'Without SMTP_URL mails stay here (status pending): this is how a laptop install reads its reset and invitation links.',
      querystring: z.object({
        status: z.enum(['pending', 'sent', 'failed']).optional(),
        to: z.string().max(254).optional(),
        before: z.coerce.date().optional().describe('createdAt of the last mail of the previous page'),
        limit: z.coerce.number().int().min(1).max(500).default(50),
      }),
      response: { ...problemResponses(403), 200: z.object({ mails: z.array(mailSummarySchema) }) },
    },
    handler: async (req) => {
      adminOnly(req.principal!.platformAdmin);
      return { mails: (await deps.mail.list(req.query)).map(mailSummary) };
    },
  });

  app.get('/v1/admin/mail/:mailId', {
    schema: {
      tags: ['admin'],
      summary: 'One platform mail with its text and HTML bodies; platform admins only',
      params: z.object({ mailId: z.uuid() }),
      response: { ...problemResponses(403, 404), 200: z.object({ mail: mailSummarySchema.extend({ messageId: z.string().nullable(), text: z.string(), html: z.string() }) }) },
    },
    handler: async (req) => {
      adminOnly(req.principal!.platformAdmin);
      const m = await deps.mail.byId(req.params.mailId);
      if (!m) throw new AppError('not_found', 'No mail with this id');
      return { mail: mailDetail(m) };
    },
  });
}
