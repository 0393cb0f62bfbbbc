import http from 'node:http';
import type { AddressInfo } from 'node:net';

export interface Delivery {
  webhookId: string;
  text: string;
  receivedAt: number;
}

/**
 * A local webhook receiver standing in for a provider behind a real integration-hub `webhook`
 * connection. `answers` is consumed one status per request (then 200): 503 is a transient
 * failure, 400 a permanent refusal. Only 2xx answers count as deliveries.
 */
export interface FakeChannel {
  url: string;
  deliveries: Delivery[];
  requests: number;
  answers: number[];
  /** Delivery ids received more than once with a 2xx answer. */
  duplicates(): number;
  close(): Promise<void>;
}

export async function startFakeChannel(now: () => number = Date.now): Promise<FakeChannel> {
  const f: FakeChannel = {
    url: '',
    deliveries: [],
    requests: 0,
    answers: [],
    duplicates() {
      const seen = new Map<string, number>();
      for (const d of f.deliveries) seen.set(d.webhookId, (seen.get(d.webhookId) ?? 0) + 1);
      return [...seen.values()].filter((n) => n > 1).length;
    },
    close: async () => {},
  };
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      f.requests++;
      const status = f.answers.length ? f.answers.shift()! : 200;
      if (status < 300) {
        const body = JSON.parse(Buffer.concat(chunks).toString('utf8')) as { data?: { text?: string } };
        f.deliveries.push({ webhookId: String(req.headers['webhook-id']), text: body.data?.text ?? '', receivedAt: now() });
      }
      res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(status < 300 ? { ok: true } : { message: status >= 500 ? 'try later' : 'refused' }));
    });
  });
  server.keepAliveTimeout = 60_000;
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  f.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/hook`;
  f.close = () => new Promise<void>((r) => server.close(() => r()));
  return f;
}
