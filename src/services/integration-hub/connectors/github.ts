import { z } from 'zod';
import { action, type Connector, type ConnectorContext } from './types.js';
import { composeText, ensureOk, pathSegment, refuseMedia, trimSlash } from './util.js';
import { bearerOf, oauthCredentials } from './oauth-credentials.js';
import { verifyGithub } from '../signatures.js';
import type { PublishContent } from '../contract.js';

const webhook = { webhookSecret: z.string().min(1).optional().describe('Secret that verifies X-Hub-Signature-256 of inbound deliveries') };
const credentials = z.discriminatedUnion('type', [
  z.object({ type: z.literal('token'), token: z.string().min(1).describe('Personal access token or installation token'), ...webhook }),
  oauthCredentials.extend(webhook),
]);
const config = z.object({
  owner: z.string().min(1).max(100),
  repo: z.string().min(1).max(100),
  baseUrl: z.url().default('https://api.github.com').describe('REST API base (GitHub Enterprise or tests)'),
  oauthBaseUrl: z.url().default('https://github.com').describe('OAuth host'),
});
type Ctx = ConnectorContext<z.infer<typeof credentials>, z.infer<typeof config>>;

function gh(ctx: Ctx, method: string, path: string, body?: unknown) {
  return ctx.http({
    url: `${trimSlash(ctx.config.baseUrl)}${path}`,
    method,
    headers: {
      accept: 'application/vnd.github+json',
      'x-github-api-version': '2022-11-28',
      'user-agent': 'v01t-integration-hub',
      authorization: `Bearer ${bearerOf(ctx.credentials)}`,
      ...(body !== undefined ? { 'content-type': 'application/json' } : {}),
    },
    body: body !== undefined ? JSON.stringify(body) : undefined,
  });
}
const repoPath = (ctx: Ctx) => `/repos/${pathSegment(ctx.config.owner, 'config.owner')}/${pathSegment(ctx.config.repo, 'config.repo')}`;

async function createIssue(ctx: Ctx, title: string, body?: string, labels?: string[]) {
  const res = ensureOk('GitHub', await gh(ctx, 'POST', `${repoPath(ctx)}/issues`, { title, body, labels }));
  const issue = res.json<{ number: number; html_url: string; id: number }>();
  return { number: issue.number, url: issue.html_url };
}

export const githubConnector: Connector = {
  id: 'github',
  name: 'GitHub',
  description: 'Creates issues and comments and dispatches workflows through the REST API; verifies inbound webhooks (X-Hub-Signature-256).',
  auth: ['bearer', 'oauth2', 'signing_secret'],
  credentials,
  config,
  canPublish: true,
  actions: {
    createIssue: action({
      description: 'POST /repos/{owner}/{repo}/issues',
      input: z.object({ title: z.string().min(1).max(256), body: z.string().max(65_536).optional(), labels: z.array(z.string()).max(20).optional() }),
      output: z.object({ number: z.number(), url: z.string() }),
      run: (ctx: Ctx, input) => createIssue(ctx, input.title, input.body, input.labels),
    }),
    comment: action({
      description: 'POST /repos/{owner}/{repo}/issues/{number}/comments',
      input: z.object({ issueNumber: z.number().int().positive(), body: z.string().min(1).max(65_536) }),
      output: z.object({ id: z.number(), url: z.string() }),
      async run(ctx: Ctx, input) {
        const res = ensureOk('GitHub', await gh(ctx, 'POST', `${repoPath(ctx)}/issues/${input.issueNumber}/comments`, { body: input.body }));
        const c = res.json<{ id: number; html_url: string }>();
        return { id: c.id, url: c.html_url };
      },
    }),
    dispatchWorkflow: action({
      description: 'POST /repos/{owner}/{repo}/actions/workflows/{workflow}/dispatches',
      input: z.object({ workflow: z.string().min(1).max(200).describe('workflow file name or id'), ref: z.string().min(1).default('main'), inputs: z.record(z.string(), z.string()).optional() }),
      output: z.object({ dispatched: z.boolean() }),
      async run(ctx: Ctx, input) {
        ensureOk('GitHub', await gh(ctx, 'POST', `${repoPath(ctx)}/actions/workflows/${pathSegment(input.workflow, 'workflow')}/dispatches`, { ref: input.ref, inputs: input.inputs ?? {} }));
        return { dispatched: true };
      },
    }),
  },
  async publish(ctx: Ctx, content: PublishContent) {
    if (content.media?.length) refuseMedia('GitHub', 'issues cannot carry media through the API');
    const issue = await createIssue(ctx, content.title ?? content.text.split('\n')[0]!.slice(0, 256), composeText(content));
    return { externalId: String(issue.number), url: issue.url };
  },
  async health(ctx: Ctx) {
    ensureOk('GitHub', await gh(ctx, 'GET', repoPath(ctx)));
  },
  inbound: { scheme: 'github', verify: ({ headers, rawBody, secret }) => verifyGithub(headers, rawBody, secret) },
  oauth: {
    authorizeUrl: (c) => `${trimSlash(String(c.oauthBaseUrl ?? 'https://github.com'))}/login/oauth/authorize`,
    tokenUrl: (c) => `${trimSlash(String(c.oauthBaseUrl ?? 'https://github.com'))}/login/oauth/access_token`,
    scopes: ['repo'],
    scopeSeparator: ' ',
  },
};
