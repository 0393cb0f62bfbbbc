import { z } from 'zod';
import type { Connector } from './types.js';
import { httpConnector } from './http.js';
import { webhookConnector } from './webhook.js';
import { slackConnector } from './slack.js';
import { discordConnector } from './discord.js';
import { githubConnector } from './github.js';
import { emailConnector } from './email.js';
import { mastodonConnector } from './mastodon.js';
import { blueskyConnector } from './bluesky.js';
import { n8nConnector } from './n8n.js';
import { pagerdutyConnector } from './pagerduty.js';

export const CONNECTORS: Record<string, Connector> = Object.fromEntries(
  [httpConnector, webhookConnector, slackConnector, discordConnector, githubConnector, emailConnector, mastodonConnector, blueskyConnector, n8nConnector, pagerdutyConnector].map((c) => [c.id, c]),
);

const jsonSchema = (s: z.ZodType) => z.toJSONSchema(s, { io: 'input', unrepresentable: 'any' }) as Record<string, unknown>;

/** The catalog as a UI needs it: forms from JSON Schemas, which connectors can publish. */
export function catalog() {
  return Object.values(CONNECTORS).map((c) => ({
    id: c.id,
    name: c.name,
    description: c.description,
    auth: c.auth,
    canPublish: c.canPublish,
    oauth: Boolean(c.oauth),
    inboundWebhooks: c.inbound?.scheme ?? null,
    credentialsSchema: jsonSchema(c.credentials),
    configSchema: jsonSchema(c.config),
    actions: Object.entries(c.actions).map(([name, a]) => ({ name, description: a.description, inputSchema: jsonSchema(a.input), outputSchema: jsonSchema(a.output) })),
  }));
}
