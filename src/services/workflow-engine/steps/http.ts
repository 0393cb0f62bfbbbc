import { z } from 'zod';
import type { HttpPort } from '../http-port.js';
import { defineStep, expression, rateLimitedRecheck, StepError } from './types.js';

const METHODS = ['GET', 'POST', 'PUT', 'PATCH', 'DELETE', 'HEAD'] as const;

const withSchema = z
  .object({
    url: z
      .string({ error: (i) => (i.input === undefined || i.input === null ? 'required: the URL to call (a string or an =expression)' : 'must be a string') })
      .min(1, 'required: the URL to call (a string or an =expression)')
      .refine((v) => v.startsWith('=') || /^https?:\/\//.test(v), 'must be an http(s) URL')
      .describe('The URL to call: http(s)://… or an =expression yielding one. The host must be allowed by the egress guard (V01T_EGRESS_ALLOW for private addresses).'),
    method: z.enum(METHODS, { error: 'one of GET, POST, PUT, PATCH, DELETE, HEAD' }).optional().describe('HTTP method (default POST)'),
    headers: z.union([z.record(z.string(), z.unknown()), expression]).optional().describe('Request headers; values may be =expressions. An Idempotency-Key header with the attempt\'s key is always sent.'),
    body: z.unknown().optional().describe('The request body: JSON (objects are sent as application/json) or a string; =expressions anywhere inside are resolved. Not sent with GET or HEAD.'),
  })
  .loose();

export const httpStep = defineStep({
  type: 'http',
  kind: 'effect',
  title: 'HTTP request',
  description:
    'Calls a URL through the guarded egress client, with the attempt\'s Idempotency-Key. Output: {status, body} (body parsed as JSON when it is). ' +
    'A 5xx, 408 or 429 answer fails the attempt retriably (the step\'s retry policy decides); another 4xx fails the run.',
  with: withSchema,
  example: { id: 'notify', type: 'http', with: { url: 'https://example.com/hooks/new-order', method: 'POST', body: { order: '=input.orderId' } }, retry: { maxAttempts: 3, backoffMs: 1000 } },
  mappable: true,
  async perform({ run, input: w, key, signal, timeoutMs, http }) {
    const method = String(w.method ?? 'POST');
    const headers: Record<string, string> = { 'idempotency-key': key };
    for (const [k, v] of Object.entries((w.headers as Record<string, unknown>) ?? {})) headers[k.toLowerCase()] = String(v);
    let body: string | undefined;
    if (w.body !== undefined && method !== 'GET' && method !== 'HEAD') {
      body = typeof w.body === 'string' ? w.body : JSON.stringify(w.body);
      headers['content-type'] ??= 'application/json';
    }
    // maxRetries 0: the step's own retry policy decides, and each of its attempts has its own key.
    let res: Awaited<ReturnType<HttpPort['request']>>;
    try {
      res = await http().request({ url: String(w.url), method, headers, body, timeoutMs, idempotent: true, maxRetries: 0, key: run.workflowId, signal });
    } catch (err) {
      // Refused before sending by the workflow's outbound rate limit: the same attempt goes again once a token is due.
      throw rateLimitedRecheck(err) ?? err;
    }
    const text = res.text();
    let parsed: unknown = text;
    try {
      parsed = text ? JSON.parse(text) : null;
    } catch {
      /* not JSON: keep the text */
    }
    if (res.status >= 400) throw new StepError(`HTTP ${res.status} from ${new URL(String(w.url)).host}`, res.status >= 500 || res.status === 429 || res.status === 408);
    return { status: res.status, body: parsed };
  },
});
