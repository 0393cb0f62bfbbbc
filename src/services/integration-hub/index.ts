import type { PermissionMap } from '../../kernel/auth/permissions.js';
import type { ServiceContext, ServiceInstance, ServiceModule } from '../../kernel/module.js';
import { INTEGRATION_HUB_CONFIG, type IntegrationHubSettings } from './config.js';
import { INTEGRATION_HUB_MIGRATIONS } from './migrations.js';
import { ConnectionsRepository } from './connections.repository.js';
import { ConnectionsService, integrationMetrics } from './connections.service.js';
import { OAuthService } from './oauth.service.js';
import { InboundService } from './inbound.service.js';
import { Vault } from './vault.js';
import { integrationRoutes } from './routes.js';
import { internalRoutes } from './internal.routes.js';
import type { IntegrationHubContract } from './contract.js';
import { integrationHubRemote } from './remote.js';
import { INTEGRATION_HUB_ERRORS } from './errors.js';
import { INTEGRATION_HUB_EVENTS } from './events.js';

export const INTEGRATION_PERMISSIONS: PermissionMap = {
  'integrations.read': { description: 'See connections (never their credentials), their request log and health', roles: ['owner', 'admin', 'developer', 'analyst', 'viewer'] },
  'integrations.write': { description: 'Create, change, test and delete connections, authorise them (OAuth) and run their actions', roles: ['owner', 'admin', 'developer'] },
};

export interface IntegrationHubInstance extends ServiceInstance {
  contract: IntegrationHubContract;
  services: { connections: ConnectionsService; oauth: OAuthService; inbound: InboundService };
  /** Re-wraps every stored secret under the current master key (`v01t keys rotate`). */
  rewrapSecrets(): Promise<{ rewrapped: number; unchanged: number }>;
}

export const integrationHubModule: ServiceModule<IntegrationHubSettings> & { create(ctx: ServiceContext<IntegrationHubSettings>): IntegrationHubInstance } = {
  name: 'integration-hub',
  publicRoutes: ['/v1/connectors', '/v1/workspaces/:workspaceId/connections', '/hooks/connections', '/oauth/integrations'],
  schema: 'integration_hub',
  migrations: INTEGRATION_HUB_MIGRATIONS,
  permissions: INTEGRATION_PERMISSIONS,
  events: INTEGRATION_HUB_EVENTS,
  errors: INTEGRATION_HUB_ERRORS,
  remote: integrationHubRemote,
  config: INTEGRATION_HUB_CONFIG,
  create(ctx) {
    const repo = new ConnectionsRepository(ctx.db);
    const vault = new Vault(ctx.secrets);
    const metrics = integrationMetrics(ctx.metrics.registry);
    const publicUrl = ctx.config.http.publicUrl;
    const connections = new ConnectionsService(ctx.db, repo, vault, ctx.egress, ctx.audit, ctx.clock, metrics, ctx.logger, { healthTimeoutMs: 10_000, publicUrl });
    const oauth = new OAuthService(ctx.db, repo, connections, vault, ctx.clock, publicUrl);
    const inbound = new InboundService(ctx.db, repo, vault, ctx.clock);
    connections.events = ctx.events;
    connections.onBroken = async (conn, reason) => {
      await ctx.events.publish({
        name: 'integration.connection.broken.v1',
        workspaceId: conn.workspaceId,
        payload: { connectionId: conn.id, connector: conn.connector, name: conn.name, reason: reason.slice(0, 500) },
      });
    };
    inbound.emit = async (d, tx) => {
      await ctx.events.publish(
        {
          name: 'integration.webhook.received.v1',
          workspaceId: d.connection.workspaceId,
          payload: { connectionId: d.connection.id, connector: d.connection.connector, deliveryId: d.deliveryId, eventType: d.eventType, payload: d.payload },
        },
        tx,
      );
    };
    const system = { userId: null };
    const contract: IntegrationHubContract = {
      listConnections: (workspaceId) => connections.summaries(workspaceId),
      runAction: (workspaceId, connectionId, action, input, opts) => connections.runAction(system, workspaceId, connectionId, action, input, opts),
      publish: (workspaceId, connectionId, content, key) => connections.publish(system, workspaceId, connectionId, content, key),
    };
    const DAY = 86_400_000;
    return {
      contract,
      services: { connections, oauth, inbound },
      rewrapSecrets: () => connections.rewrapAll(),
      routes(app) {
        integrationRoutes(app, { connections, oauth, inbound });
        // The contract for services in other processes (IntegrationHubHttpClient), when v01t runs split.
        if (ctx.config.internal.token) internalRoutes(app, { hub: contract, mediaMaxBytes: ctx.settings.mediaMaxBytes });
      },
      async stop() {
        await repo.flushRequestLog().catch((err) => ctx.logger.warn({ err }, 'request log flush on stop failed'));
      },
      personalData: {
        describes: [
          'Outbound request log entries of connections, with the id of the member who ran them (90 days)',
          'Which member created each connection',
        ],
        async exportUser(userId) {
          return { requestLog: await repo.requestLogOfActor(userId), connectionsCreated: await repo.connectionsCreatedBy(userId) };
        },
        eraseUser: (userId) => repo.eraseActor(userId),
      },
      retention: [
        { name: 'integration-hub.request_log', class: 'user_activity_logs', keep: '90 days', purge: (now) => repo.purgeRequestLog(new Date(now.getTime() - 90 * DAY)) },
        { name: 'integration-hub.webhook_deliveries', class: 'operational', keep: '30 days', purge: (now) => repo.purgeDeliveries(new Date(now.getTime() - 30 * DAY)) },
        { name: 'integration-hub.oauth_states', class: 'operational', keep: 'until expiry (10 minutes)', purge: (now) => repo.purgeOauthStates(now) },
      ],
    };
  },
};
