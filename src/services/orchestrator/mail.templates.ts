/**
 * The platform's own mails (ADR 0040): one template per reason, each rendered to a subject, a
 * plain-text body and an HTML body. Values are escaped in the HTML; links are absolute URLs built
 * from the instance's public URL (V01T_PUBLIC_URL).
 */
/** The web app's pages the mailed links open (web/src/app/App.tsx). */
export const PAGES = { reset: '/reset-password', verify: '/verify-email', signIn: '/signin', forgot: '/forgot-password', invitation: '/invitations/accept' } as const;

export const MAIL_TEMPLATES = ['password_reset', 'password_changed', 'email_verify', 'email_change_confirm', 'email_change_notice', 'invitation', 'signup_existing'] as const;
export type MailTemplate = (typeof MAIL_TEMPLATES)[number];

export interface MailVars {
  password_reset: { name: string; link: string; validMinutes: number };
  password_changed: { name: string; signInLink: string; forgotLink: string; when: Date };
  email_verify: { name: string; link: string; validHours: number };
  email_change_confirm: { name: string; newEmail: string; link: string; validHours: number };
  email_change_notice: { name: string; newEmail: string };
  invitation: { workspace: string; inviter: string; role: string; link: string; expiresAt: Date };
  signup_existing: { name: string; signInLink: string; forgotLink: string };
}

export interface RenderedMail {
  subject: string;
  text: string;
  html: string;
}

const escapeHtml = (s: string) => s.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);

/** A mail body as paragraphs; `{link}` paragraphs become a button in HTML and a bare URL in text. */
type Block = string | { link: string; label: string };

function compose(subject: string, blocks: Block[]): RenderedMail {
  const text = blocks.map((b) => (typeof b === 'string' ? b : `${b.label}:\n${b.link}`)).join('\n\n') + '\n\n-- \nv01t\n';
  const body = blocks
    .map((b) =>
      typeof b === 'string'
        ? `<p>${escapeHtml(b)}</p>`
        : `<p><a href="${escapeHtml(b.link)}" style="display:inline-block;padding:10px 16px;background:#1f6feb;color:#ffffff;text-decoration:none;border-radius:6px">${escapeHtml(b.label)}</a></p><p style="font-size:12px;color:#555">${escapeHtml(b.link)}</p>`,
    )
    .join('\n');
  const html = `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>${escapeHtml(subject)}</title></head><body style="font-family:system-ui,sans-serif;line-height:1.5;color:#111">\n${body}\n<p style="font-size:12px;color:#555">v01t</p></body></html>\n`;
  return { subject, text, html };
}

export function renderMail<T extends MailTemplate>(template: T, vars: MailVars[T]): RenderedMail {
  const v = vars as MailVars[MailTemplate];
  switch (template) {
    case 'password_reset': {
      const x = v as MailVars['password_reset'];
      return compose('Reset your v01t password', [
        `Hello ${x.name},`,
        'Someone (hopefully you) asked to reset the password of your v01t account.',
        { link: x.link, label: 'Choose a new password' },
        `The link works once and expires in ${x.validMinutes} minutes. If you did not ask for it, ignore this mail: your password stays as it is.`,
      ]);
    }
    case 'password_changed': {
      const x = v as MailVars['password_changed'];
      return compose('Your v01t password was changed', [
        `Hello ${x.name},`,
        `The password of your v01t account was reset at ${x.when.toISOString()}. Every session and API token of the account was signed out.`,
        { link: x.signInLink, label: 'Sign in' },
        `If this was not you, reset your password now (${x.forgotLink}) and tell your administrator.`,
      ]);
    }
    case 'email_verify': {
      const x = v as MailVars['email_verify'];
      return compose('Confirm your email address for v01t', [
        `Hello ${x.name},`,
        'Please confirm that this address belongs to your v01t account.',
        { link: x.link, label: 'Confirm my address' },
        `The link expires in ${x.validHours} hours.`,
      ]);
    }
    case 'email_change_confirm': {
      const x = v as MailVars['email_change_confirm'];
      return compose('Confirm your new email address for v01t', [
        `Hello ${x.name},`,
        `You asked to change the email address of your v01t account to ${x.newEmail}. The change happens when you confirm it.`,
        { link: x.link, label: 'Confirm the new address' },
        `The link expires in ${x.validHours} hours.`,
      ]);
    }
    case 'email_change_notice': {
      const x = v as MailVars['email_change_notice'];
      return compose('The email address of your v01t account is changing', [
        `Hello ${x.name},`,
        `Someone signed in to your v01t account asked to change its email address to ${x.newEmail}. A confirmation link was sent to that address.`,
        'If this was not you, change your password now and tell your administrator.',
      ]);
    }
    case 'invitation': {
      const x = v as MailVars['invitation'];
      return compose(`You are invited to ${x.workspace} on v01t`, [
        'Hello,',
        `${x.inviter} invited you to join the workspace "${x.workspace}" on v01t as ${x.role}.`,
        { link: x.link, label: 'Accept the invitation' },
        `The invitation expires on ${x.expiresAt.toISOString()}. With an account, sign in and accept; without one, the page lets you create it.`,
      ]);
    }
    case 'signup_existing': {
      const x = v as MailVars['signup_existing'];
      return compose('Someone tried to create a v01t account with your address', [
        `Hello ${x.name},`,
        'Someone tried to create a new v01t account with this email address, which already has an account. Nothing was changed.',
        { link: x.signInLink, label: 'Sign in' },
        `If that was you, sign in instead, or choose a new password if you forgot it: ${x.forgotLink}`,
      ]);
    }
  }
  throw new Error(`unknown mail template ${String(template)}`);
}
