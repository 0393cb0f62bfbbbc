import { randomUUID } from 'node:crypto';
import { hostname } from 'node:os';
import type NodeMailer from 'nodemailer';
import type { Transporter } from 'nodemailer';
import client from 'prom-client';
import type { Clock } from '../../kernel/clock.js';
import { lazyPackage } from '../../kernel/lazy-package.js';
import type { Tx } from '../../kernel/db/transaction.js';
import type { Logger } from '../../kernel/telemetry/logger.js';
import type { CoreMetrics } from '../../kernel/telemetry/metrics.js';
import type { MailRepository, MailRow } from './mail.repository.js';
import { MAIL_TEMPLATES, renderMail, type MailTemplate, type MailVars } from './mail.templates.js';

/** Loaded by the first mail sent (ADR 0073). */
const nodemailer = lazyPackage<typeof NodeMailer>('nodemailer');

export interface MailSettings {
  smtpUrl?: string;
  from: string;
  maxAttempts: number;
  leaseSeconds: number;
  pollSeconds: number;
}

/** What `v01t mail list` and the admin API show of a mail (the bodies only in the detail). */
export const mailSummary = (m: MailRow) => ({
  id: m.id,
  template: m.template,
  to: m.toAddress,
  subject: m.subject,
  status: m.status,
  attempts: m.attempts,
  nextAttemptAt: m.status === 'pending' ? m.nextAttemptAt : null,
  lastError: m.lastError,
  createdAt: m.createdAt,
  sentAt: m.sentAt,
});
export const mailDetail = (m: MailRow) => ({ ...mailSummary(m), messageId: m.messageId, text: m.textBody, html: m.htmlBody });

const RETRY_BASE_MS = 30_000;
const RETRY_MAX_MS = 3600_000;

/**
 * The platform's own mail (ADR 0040). `enqueue` writes a rendered mail to the outbox inside the
 * caller's transaction, so a mail exists exactly when the change that causes it committed. The
 * worker (started with the service, only when SMTP_URL is set) leases due mails, sends them through
 * Nodemailer and marks them sent; failures are retried with backoff until MAIL_MAX_ATTEMPTS. A
 * worker killed mid-send loses its lease and the mail is sent after it ends; each mail keeps one
 * Message-ID across attempts so a receiver can drop the copy in that rare case.
 */
export class PlatformMail {
  private readonly owner = `${hostname()}:${process.pid}:${randomUUID().slice(0, 8)}`;
  private transport: Transporter | undefined;
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> | undefined;
  private again = false;
  private stopped = true;
  readonly sent: client.Counter<'template' | 'result'>;

  constructor(
    private readonly repo: MailRepository,
    private readonly clock: Clock,
    private readonly settings: MailSettings,
    private readonly publicUrl: string,
    metrics: CoreMetrics,
    private readonly logger: Logger,
  ) {
    this.sent = new client.Counter({
      name: 'v01t_mail_sent_total',
      help: 'Platform mails handed to the SMTP server, by template and result (sent, retry, failed)',
      labelNames: ['template', 'result'],
      registers: [metrics.registry],
    });
    for (const template of MAIL_TEMPLATES) for (const result of ['sent', 'failed']) this.sent.inc({ template, result }, 0);
    new client.Gauge({
      name: 'v01t_mail_outbox_depth',
      help: 'Platform mails waiting in the outbox (pending: not yet sent, or kept there without SMTP_URL)',
      registers: [metrics.registry],
      collect: async function (this: client.Gauge) {
        this.set(await repo.pendingCount().catch(() => 0));
      },
    });
  }

  /** An absolute link into the web app (V01T_PUBLIC_URL, else the local address). */
  link(path: string, query: Record<string, string> = {}): string {
    const url = new URL(path, this.publicUrl.endsWith('/') ? this.publicUrl : `${this.publicUrl}/`);
    for (const [k, v] of Object.entries(query)) url.searchParams.set(k, v);
    return url.toString();
  }

  get delivers(): boolean {
    return Boolean(this.settings.smtpUrl);
  }

  /** Renders the template and writes the mail to the outbox in the caller's transaction. */
  async enqueue<T extends MailTemplate>(tx: Tx, mail: { template: T; to: string; userId?: string | null; vars: MailVars[T] }): Promise<string> {
    const r = renderMail(mail.template, mail.vars);
    const now = this.clock.now();
    const row = await this.repo.insertMail(
      { id: randomUUID(), template: mail.template, toAddress: mail.to, subject: r.subject, textBody: r.text, htmlBody: r.html, userId: mail.userId ?? null, nextAttemptAt: now, createdAt: now },
      tx,
    );
    return row.id;
  }

  /** Asks the worker to look now (after the transaction that wrote a mail committed). */
  kick(): void {
    if (this.stopped) return;
    if (this.running) {
      this.again = true;
      return;
    }
    this.running = this.drain().finally(() => {
      this.running = undefined;
      if (this.again && !this.stopped) {
        this.again = false;
        this.kick();
      }
    });
  }

  start(): void {
    if (!this.settings.smtpUrl) {
      this.logger.info('SMTP_URL is unset: platform mails stay in the outbox (v01t mail list)');
      return;
    }
    this.stopped = false;
    this.timer = setInterval(() => this.kick(), this.settings.pollSeconds * 1000);
    this.timer.unref();
    this.kick();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearInterval(this.timer);
    await this.running;
    this.transport?.close();
    this.transport = undefined;
  }

  private async drain(): Promise<void> {
    try {
      while (!this.stopped && (await this.runOnce()) > 0);
    } catch (err) {
      this.logger.error({ err }, 'platform mail worker failed');
    }
  }

  /** Leases and sends one batch of due mails; returns how many it handled (tests call it directly). */
  async runOnce(limit = 20): Promise<number> {
    if (!this.settings.smtpUrl) return 0;
    const now = this.clock.now();
    const batch = await this.repo.claimDue(now, this.owner, new Date(now.getTime() + this.settings.leaseSeconds * 1000), limit);
    for (const mail of batch) await this.deliver(mail);
    return batch.length;
  }

  /**
   * SMTP_URL with time limits well inside the lease (unless the URL sets its own): a send that hangs
   * gives up before another worker may take the mail over, so a slow server does not cause a duplicate.
   */
  private transportUrl(): string {
    const url = new URL(this.settings.smtpUrl!);
    const limit = String(Math.max(1000, Math.min(60_000, (this.settings.leaseSeconds * 1000) / 2)));
    for (const key of ['connectionTimeout', 'greetingTimeout', 'socketTimeout']) if (!url.searchParams.has(key)) url.searchParams.set(key, limit);
    return url.toString();
  }

  private messageId(mail: MailRow): string {
    const domain = /@([^>\s]+)>?\s*$/.exec(this.settings.from)?.[1] ?? 'v01t.local';
    return `<${mail.id}@${domain}>`;
  }

  private async deliver(mail: MailRow): Promise<void> {
    this.transport ??= nodemailer().createTransport(this.transportUrl());
    const messageId = this.messageId(mail);
    try {
      await this.transport.sendMail({ from: this.settings.from, to: mail.toAddress, subject: mail.subject, text: mail.textBody, html: mail.htmlBody, messageId });
    } catch (err) {
      const error = err instanceof Error ? err.message.slice(0, 500) : String(err).slice(0, 500);
      const final = mail.attempts >= this.settings.maxAttempts;
      const delay = Math.min(RETRY_BASE_MS * 2 ** (mail.attempts - 1), RETRY_MAX_MS);
      await this.repo.settle(mail.id, this.owner, final ? { status: 'failed', lastError: error } : { lastError: error, nextAttemptAt: new Date(this.clock.now().getTime() + delay) });
      this.sent.inc({ template: mail.template, result: final ? 'failed' : 'retry' });
      this.logger.warn({ mailId: mail.id, template: mail.template, attempts: mail.attempts, final, err: error }, 'platform mail not sent');
      return;
    }
    await this.repo.settle(mail.id, this.owner, { status: 'sent', sentAt: this.clock.now(), messageId, lastError: null });
    this.sent.inc({ template: mail.template, result: 'sent' });
  }
}
