import { z } from 'zod';
import { action, type Connector, type ConnectorContext } from './types.js';
import { urlUnderBase } from './util.js';

const credentials = z.discriminatedUnion('type', [
  z.object({ type: z.literal('none') }),
  z.object({ type: z.literal('bearer'), token: z.string().min(1) }),
  z.object({ type: z.literal('basic'), username: z.string().min(1), password: z.string() }),
  z.object({ type: z.literal('api_key'), header: z.string().regex(/^[A-Za-z0-9-]{1,64}$/).default('x-api-key'), value: z.string().min(1) }),
]);
const config = z.object({
  baseUrl: z.url().describe('Base URL every request path is appended to'),
  headers: z.record(z.string(), z.string()).default({}).describe('Headers sent with every request (not secrets: use credentials)'),
  healthPath: z.string().startsWith('/').default('/').describe('Path probed by the connection test'),
});
type Creds = z.infer<typeof credentials>;
type Conf = z.infer<typeof config>;

function authHeaders(c: Creds): Record<string, string> {
  switch (c.type) {
    case 'bearer':
      return { authorization: `Bearer ${c.token}` };
    case 'basic':
      return { authorization: `Basic ${Buffer.from(`${c.username}:${c.password}`).toString('base64')}` };
    case 'api_key':
      return { [c.header]: c.value };
    default:
      return {};
  }
}

function target(ctx: ConnectorContext<Creds, Conf>, path: string, query?: Record<string, string>, field = 'path'): string {
  const url = urlUnderBase(ctx.config.baseUrl, path, field);
  for (const [k, v] of Object.entries(query ?? {})) url.searchParams.set(k, v);
  return url.href;
}

export const httpConnector: Connector = {
  id: 'http',
  name: 'HTTP (generic REST)',
  description: 'Calls any REST API with no auth, a bearer token, basic auth or an API-key header.',
  auth: ['none', 'bearer', 'basic', 'api_key'],
  credentials,
  config,
  canPublish: false,
  actions: {
    request: action({
      description: 'Sends one request under the base URL and returns the answer',
      input: z.object({
        method: z.enum(['GET', 'POST', 'PUT', 'PATCH', 'DELETE']).default('GET'),
        path: z.string().max(2000).default('/'),
        query: z.record(z.string(), z.string()).optional(),
        headers: z.record(z.string(), z.string()).optional(),
        body: z.unknown().optional(),
      }),
      output: z.object({ status: z.number(), headers: z.record(z.string(), z.string()), body: z.unknown() }),
      async run(ctx: ConnectorContext<Creds, Conf>, input) {
        const hasBody = input.body !== undefined && input.method !== 'GET';
        const res = await ctx.http({
          url: target(ctx, input.path, input.query, 'input.path'),
          method: input.method,
          headers: { ...ctx.config.headers, ...(input.headers ?? {}), ...(hasBody ? { 'content-type': 'application/json' } : {}), ...authHeaders(ctx.credentials) },
          body: hasBody ? JSON.stringify(input.body) : undefined,
        });
        let body: unknown = res.text();
        if ((res.headers['content-type'] ?? '').includes('json')) {
          try {
            body = res.json();
          } catch {
            /* keep the text */
          }
        }
        const { 'set-cookie': _drop, ...headers } = res.headers;
        return { status: res.status, headers, body };
      },
    }),
  },
  async health(ctx: ConnectorContext<Creds, Conf>) {
    const res = await ctx.http({ url: target(ctx, ctx.config.healthPath, undefined, 'config.healthPath'), headers: { ...ctx.config.headers, ...authHeaders(ctx.credentials) }, maxRetries: 0 });
    if (res.status >= 400) throw new Error(`answered ${res.status}`);
  },
};
