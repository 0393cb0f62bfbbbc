import { z } from 'zod';
import { action, type Connector, type ConnectorContext } from './types.js';
import { ensureOk } from './util.js';

const credentials = z.discriminatedUnion('type', [
  z.object({ type: z.literal('none') }),
  z.object({ type: z.literal('header'), name: z.string().regex(/^[A-Za-z0-9-]{1,64}$/), value: z.string().min(1) }),
  z.object({ type: z.literal('basic'), username: z.string().min(1), password: z.string() }),
]);
const config = z.object({ webhookUrl: z.url().describe('The production URL of an n8n Webhook node'), method: z.enum(['POST', 'GET']).default('POST') });
type Creds = z.infer<typeof credentials>;
type Ctx = ConnectorContext<Creds, z.infer<typeof config>>;

const auth = (c: Creds): Record<string, string> =>
  c.type === 'header' ? { [c.name]: c.value } : c.type === 'basic' ? { authorization: `Basic ${Buffer.from(`${c.username}:${c.password}`).toString('base64')}` } : {};

export const n8nConnector: Connector = {
  id: 'n8n',
  name: 'n8n',
  description: 'Calls an n8n Webhook node (none, header or basic auth, as the node is configured) and returns its response.',
  auth: ['none', 'api_key', 'basic'],
  credentials,
  config,
  canPublish: false,
  actions: {
    trigger: action({
      description: 'Calls the webhook with a JSON payload',
      input: z.object({ payload: z.record(z.string(), z.unknown()).default({}) }),
      output: z.object({ status: z.number(), body: z.unknown() }),
      async run(ctx: Ctx, input) {
        const isGet = ctx.config.method === 'GET';
        const url = new URL(ctx.config.webhookUrl);
        if (isGet) for (const [k, v] of Object.entries(input.payload)) url.searchParams.set(k, typeof v === 'string' ? v : JSON.stringify(v));
        const res = ensureOk(
          'n8n',
          await ctx.http({ url: url.href, method: ctx.config.method, headers: { ...auth(ctx.credentials), ...(isGet ? {} : { 'content-type': 'application/json' }) }, body: isGet ? undefined : JSON.stringify(input.payload) }),
        );
        let body: unknown = res.text();
        try {
          body = res.json();
        } catch {
          /* n8n may answer text */
        }
        return { status: res.status, body };
      },
    }),
  },
  async health(ctx: Ctx) {
    // n8n has no side-effect-free probe of a webhook: reaching the host is what can be checked.
    const res = await ctx.http({ url: new URL('/healthz', ctx.config.webhookUrl).href, maxRetries: 0 });
    if (res.status >= 500) throw new Error(`answered ${res.status}`);
  },
};
