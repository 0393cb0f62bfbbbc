import { SMTPServer } from 'smtp-server';

export interface ReceivedMail {
  from: string;
  to: string[];
  raw: string;
  /** The raw message with quoted-printable soft breaks and escapes undone (enough to find subjects and links). */
  decoded: string;
  subject: string;
  messageId: string;
}

export interface TestSmtp {
  url: string;
  mails: ReceivedMail[];
  /** Answer the next n RCPT commands with a temporary failure (451). */
  failNext(n: number): void;
  /** While on, RCPT commands get no answer (a sender stays mid-send); `held` counts them. */
  hold(on: boolean): void;
  readonly held: number;
  /** Waits (polling, no fixed sleep) until a mail to `to` matching `match` arrived; returns it. */
  waitFor(to: string, match?: RegExp, timeoutMs?: number): Promise<ReceivedMail>;
  /** Every link in a mail to our public URL's pages, e.g. `/reset-password`. */
  close(): Promise<void>;
}

const decodeQp = (s: string) => s.replace(/=\r?\n/g, '').replace(/=([0-9A-F]{2})/g, (_, h: string) => String.fromCharCode(parseInt(h, 16)));

/** A real SMTP server (the `smtp-server` package) on a free local port that keeps what it receives. */
export async function startTestSmtp(): Promise<TestSmtp> {
  const mails: ReceivedMail[] = [];
  let failures = 0;
  let holding = false;
  let held = 0;
  const server = new SMTPServer({
    authOptional: true,
    disabledCommands: ['STARTTLS', 'AUTH'],
    logger: false,
    onRcptTo(_address, _session, cb) {
      if (holding) {
        held++;
        return; // never answered: the client waits until it gives up or dies
      }
      if (failures > 0) {
        failures--;
        const err = Object.assign(new Error('try again later'), { responseCode: 451 });
        cb(err);
        return;
      }
      cb();
    },
    onData(stream, session, cb) {
      const chunks: Buffer[] = [];
      stream.on('data', (c: Buffer) => chunks.push(c));
      stream.on('end', () => {
        const raw = Buffer.concat(chunks).toString('utf8');
        const decoded = decodeQp(raw);
        mails.push({
          from: session.envelope.mailFrom ? session.envelope.mailFrom.address : '',
          to: session.envelope.rcptTo.map((r) => r.address.toLowerCase()),
          raw,
          decoded,
          subject: /^Subject: (.*)$/im.exec(raw)?.[1]?.trim() ?? '',
          messageId: /^Message-ID: (.*)$/im.exec(raw)?.[1]?.trim() ?? '',
        });
        cb();
      });
    },
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.server.address() as { port: number }).port;
  return {
    url: `smtp://127.0.0.1:${port}`,
    mails,
    failNext(n) {
      failures = n;
    },
    hold(on) {
      holding = on;
    },
    get held() {
      return held;
    },
    async waitFor(to, match, timeoutMs = 30_000) {
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        const found = mails.find((m) => m.to.includes(to.toLowerCase()) && (!match || match.test(m.decoded)));
        if (found) return found;
        if (Date.now() > deadline) throw new Error(`no mail to ${to}${match ? ` matching ${match}` : ''}; received: ${mails.map((m) => `${m.to.join(',')}: ${m.subject}`).join(' | ')}`);
        await new Promise((r) => setTimeout(r, 50));
      }
    },
    close: () =>
      new Promise<void>((resolve) => {
        // Held connections would keep close() waiting; the server drops them.
        holding = false;
        server.close(() => resolve());
      }),
  };
}

/** The first link to `page` in a received mail (as a URL), e.g. linkIn(mail, '/reset-password'). */
export function linkIn(mail: ReceivedMail, page: string): URL {
  const m = new RegExp(`https?://[^\\s"<>]*${page.replace(/\//g, '\\/')}\\?token=[A-Za-z0-9_-]+`).exec(mail.decoded);
  if (!m) throw new Error(`no ${page} link in the mail "${mail.subject}":\n${mail.decoded}`);
  return new URL(m[0]);
}
