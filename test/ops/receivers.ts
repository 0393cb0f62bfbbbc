import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { SMTPServer } from 'smtp-server';

export interface ReceivedWebhook {
  path: string;
  id: string;
  body: { type: string; data: Record<string, unknown> & { id: string; reminder?: { kind: string; dueAt: string } } };
}

/** A Standard Webhooks receiver on a real loopback port keeping every delivery (204 to each). */
export async function webhookReceiver() {
  const got: ReceivedWebhook[] = [];
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      got.push({ path: String(req.url), id: String(req.headers['webhook-id']), body: JSON.parse(Buffer.concat(chunks).toString('utf8')) });
      res.writeHead(204).end();
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return { got, base, url: `${base}/hooks/incidents`, close: () => new Promise<void>((r) => server.close(() => r())) };
}

/** An SMTP server on a real port keeping each message: `raw` as sent, `text` with quoted-printable soft breaks and folded headers undone. */
export async function mailbox() {
  const mails: { to: string[]; raw: string; text: string }[] = [];
  const server = new SMTPServer({
    authOptional: true,
    disabledCommands: ['STARTTLS'],
    onData(stream, session, cb) {
      const chunks: Buffer[] = [];
      stream.on('data', (c: Buffer) => chunks.push(c));
      stream.on('end', () => {
        const raw = Buffer.concat(chunks).toString('utf8');
        mails.push({ to: session.envelope.rcptTo.map((r) => r.address), raw, text: raw.replace(/=\r\n/g, '').replace(/\r\n[ \t]+/g, ' ') });
        cb();
      });
    },
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return { mails, port: (server.server.address() as AddressInfo).port, close: () => new Promise<void>((r) => server.close(() => r())) };
}
