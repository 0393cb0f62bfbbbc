import http from 'node:http';
import type { AddressInfo } from 'node:net';

/** One event the fake accepted, as PagerDuty would have received it. */
export interface ReceivedEvent {
  routing_key: string;
  event_action: 'trigger' | 'acknowledge' | 'resolve';
  dedup_key?: string;
  payload?: { summary: string; severity: string; source: string; component?: string; class?: string; custom_details?: Record<string, unknown> };
  links?: { href: string; text?: string }[];
}

/**
 * A stand-in for PagerDuty's Events API v2 on a real loopback port: `POST /v2/enqueue`, with the
 * checks PagerDuty documents (https://developer.pagerduty.com/api-reference/368ae3d938c9e-send-an-event-to-pager-duty):
 * JSON body, a known 32-character routing_key, event_action trigger | acknowledge | resolve,
 * dedup_key required for acknowledge and resolve, payload.summary (≤ 1024), payload.source and
 * payload.severity (critical | error | warning | info) required for trigger. Accepted events answer
 * 202 `{status:"success", message:"Event processed", dedup_key}`; invalid ones 400
 * `{status:"invalid event", message:"Event object is invalid", errors:[...]}`. `failNext(n)` answers
 * the next n requests with 500 (a PagerDuty outage).
 */
export class FakePagerDuty {
  readonly events: ReceivedEvent[] = [];
  readonly rejected: { body: unknown; errors: string[] }[] = [];
  private server?: http.Server;
  private failures = 0;
  private generated = 0;

  constructor(private readonly routingKeys: string[]) {}

  get url(): string {
    const { port } = this.server!.address() as AddressInfo;
    return `http://127.0.0.1:${port}`;
  }

  failNext(n: number): void {
    this.failures = n;
  }

  async start(): Promise<this> {
    this.server = http.createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => this.handle(req, Buffer.concat(chunks).toString('utf8'), res));
    });
    await new Promise<void>((resolve) => this.server!.listen(0, '127.0.0.1', resolve));
    return this;
  }

  async stop(): Promise<void> {
    await new Promise<void>((resolve) => (this.server ? this.server.close(() => resolve()) : resolve()));
  }

  private handle(req: http.IncomingMessage, raw: string, res: http.ServerResponse): void {
    const send = (status: number, body: unknown) => {
      res.writeHead(status, { 'content-type': 'application/json' });
      res.end(JSON.stringify(body));
    };
    if (req.method !== 'POST' || req.url !== '/v2/enqueue') return send(404, { status: 'not found', message: `no route ${req.method} ${req.url}` });
    if (this.failures > 0) {
      this.failures--;
      return send(500, { status: 'error', message: 'internal error' });
    }
    if (!String(req.headers['content-type'] ?? '').startsWith('application/json')) return send(400, { status: 'invalid event', message: 'Content-Type must be application/json', errors: ['content-type'] });
    let body: Record<string, unknown>;
    try {
      body = JSON.parse(raw) as Record<string, unknown>;
    } catch {
      return send(400, { status: 'invalid event', message: 'Event object is invalid', errors: ['Malformed JSON'] });
    }
    const errors: string[] = [];
    const key = body.routing_key;
    if (typeof key !== 'string' || key.length !== 32) errors.push("'routing_key' must be a 32 character string");
    else if (!this.routingKeys.includes(key)) errors.push('Invalid routing key');
    const action = body.event_action;
    if (!['trigger', 'acknowledge', 'resolve'].includes(String(action))) errors.push("'event_action' is invalid (must be one of the following: 'trigger', 'acknowledge' or 'resolve')");
    if (body.dedup_key !== undefined && (typeof body.dedup_key !== 'string' || body.dedup_key.length > 255)) errors.push("'dedup_key' must be a string of at most 255 characters");
    if ((action === 'acknowledge' || action === 'resolve') && typeof body.dedup_key !== 'string') errors.push("'dedup_key' is missing or blank");
    if (action === 'trigger') {
      const p = body.payload as Record<string, unknown> | undefined;
      if (!p || typeof p !== 'object') errors.push("'payload' is missing or null");
      else {
        if (typeof p.summary !== 'string' || p.summary.length === 0) errors.push("'payload.summary' is missing or blank");
        else if (p.summary.length > 1024) errors.push("'payload.summary' is longer than 1024 characters");
        if (typeof p.source !== 'string' || p.source.length === 0) errors.push("'payload.source' is missing or blank");
        if (!['critical', 'error', 'warning', 'info'].includes(String(p.severity))) errors.push("'payload.severity' is invalid (must be one of the following: 'critical', 'warning', 'error' or 'info')");
      }
    }
    if (errors.length) {
      this.rejected.push({ body, errors });
      return send(400, { status: 'invalid event', message: 'Event object is invalid', errors });
    }
    const event = body as unknown as ReceivedEvent;
    this.events.push(event);
    send(202, { status: 'success', message: 'Event processed', dedup_key: event.dedup_key ?? `generated-${++this.generated}` });
  }
}
