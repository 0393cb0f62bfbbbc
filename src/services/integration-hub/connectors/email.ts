import type NodeMailer from 'nodemailer';
import { z } from 'zod';
import { AppError } from '../../../kernel/errors.js';
import { lazyPackage } from '../../../kernel/lazy-package.js';
import { action, type Connector, type ConnectorContext } from './types.js';
import type { PublishContent } from '../contract.js';

/** Loaded by the first use of an email connection (ADR 0073). */
const nodemailer = lazyPackage<typeof NodeMailer>('nodemailer');

const credentials = z.object({ username: z.string().min(1).optional(), password: z.string().optional() });
const config = z.object({
  host: z.string().min(1).max(253).describe('SMTP server host name'),
  port: z.number().int().min(1).max(65535).default(587),
  secure: z.boolean().default(false).describe('TLS from the first byte (port 465); otherwise STARTTLS when offered'),
  requireTls: z.boolean().default(true).describe('Refuse to send when the server does not offer STARTTLS'),
  from: z.string().min(3).max(320).describe('Sender, e.g. "v01t <noreply@example.com>"'),
  defaultTo: z.array(z.email()).max(100).optional().describe('Recipients of published content'),
});
type Ctx = ConnectorContext<z.infer<typeof credentials>, z.infer<typeof config>>;

/**
 * Nodemailer opens its own sockets, so the SMTP host goes through the egress policy first and the
 * transport connects to the address that was checked (the name is kept for TLS verification).
 */
async function transport(ctx: Ctx) {
  const address = await ctx.checkHost(ctx.config.host);
  const c = ctx.config;
  return nodemailer().createTransport({
    host: address,
    port: c.port,
    secure: c.secure,
    requireTLS: !c.secure && c.requireTls,
    ignoreTLS: !c.secure && !c.requireTls,
    auth: ctx.credentials.username ? { user: ctx.credentials.username, pass: ctx.credentials.password ?? '' } : undefined,
    tls: { servername: c.host },
    connectionTimeout: 10_000,
    greetingTimeout: 10_000,
    socketTimeout: 20_000,
  });
}

async function send(ctx: Ctx, msg: { to: string[]; subject: string; text: string; html?: string; attachments?: { filename: string; content: Buffer; contentType: string }[] }) {
  const t = await transport(ctx);
  try {
    const info = await t.sendMail({ from: ctx.config.from, to: msg.to, subject: msg.subject, text: msg.text, html: msg.html, attachments: msg.attachments });
    const accepted = (info.accepted as (string | { address: string })[]).map((a) => (typeof a === 'string' ? a : a.address));
    if (accepted.length === 0) throw new AppError('provider_error', 'The SMTP server accepted no recipient');
    return { messageId: info.messageId, accepted };
  } catch (err) {
    if (err instanceof AppError) throw err;
    const e = err as { code?: string; responseCode?: number; message?: string };
    if (e.code === 'EAUTH') throw new AppError('provider_auth_failed', 'The SMTP server refused the credentials');
    throw new AppError('provider_error', `SMTP: ${e.code ?? 'error'}${e.responseCode ? ` ${e.responseCode}` : ''}`);
  } finally {
    t.close();
  }
}

export const emailConnector: Connector = {
  id: 'email',
  name: 'Email (SMTP)',
  description: 'Sends mail over SMTP with Nodemailer (STARTTLS or TLS, optional auth).',
  auth: ['smtp'],
  credentials,
  config,
  canPublish: true,
  actions: {
    send: action({
      description: 'Sends one message',
      input: z.object({ to: z.array(z.email()).min(1).max(100), subject: z.string().min(1).max(998), text: z.string().max(1_000_000), html: z.string().max(2_000_000).optional() }),
      output: z.object({ messageId: z.string(), accepted: z.array(z.string()) }),
      run: (ctx: Ctx, input) => send(ctx, input),
    }),
  },
  async publish(ctx: Ctx, content: PublishContent) {
    const to = ctx.config.defaultTo ?? [];
    if (to.length === 0) throw new AppError('validation_failed', 'Publishing by email needs config.defaultTo');
    const r = await send(ctx, {
      to,
      subject: content.title ?? content.text.slice(0, 78),
      text: content.link ? `${content.text}\n\n${content.link}` : content.text,
      // Media as attachments (alt text has no place in a MIME attachment).
      attachments: (content.media ?? []).map((m) => ({ filename: m.filename, content: Buffer.from(m.data), contentType: m.contentType })),
    });
    return { externalId: r.messageId, url: null };
  },
  async health(ctx: Ctx) {
    const t = await transport(ctx);
    try {
      await t.verify();
    } catch (err) {
      const e = err as { code?: string };
      throw new Error(`SMTP ${e.code ?? 'error'}`);
    } finally {
      t.close();
    }
  },
};
