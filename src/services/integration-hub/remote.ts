import { z } from 'zod';
import { defineConfig, setting } from '../../kernel/config/index.js';
import type { RemoteDeclaration } from '../../kernel/module.js';
import { postInternal, problemToAppError } from '../../kernel/http/internal-client.js';
import type { ActionResult, ConnectionSummary, IntegrationHubContract, PublishContent, PublishResult } from './contract.js';

/** Where the internal API lives (internal.routes.ts serves it). */
export const INTERNAL_PREFIX = '/internal/integration-hub';

export interface IntegrationHubHttpClientOptions {
  /** Timeout of listConnections. Default 10 s. */
  listTimeoutMs?: number;
  /**
   * Timeout of runAction and publish, which wait for the provider (several requests, media
   * uploads). Default 90 s: under the content-scheduler's default 120 s publish lease. A call cut
   * off here may still complete in the hub; a retry with the same idempotency key then gets its
   * result (or `conflict` while it runs), never a second publication.
   */
  callTimeoutMs?: number;
}

/**
 * The integration-hub's contract over its internal HTTP API (internal.routes.ts), for services
 * running in a process without the hub (`v01t serve content-scheduler` with
 * V01T_INTEGRATION_HUB_URL and V01T_INTERNAL_TOKEN). An AppError thrown by the hub arrives as the
 * same AppError (code, detail, extras such as providerStatus, retryAfterSeconds from Retry-After),
 * so callers' retry and permanent-failure decisions do not depend on where the hub runs. The hub
 * unreachable, or an answer that is not the hub's problem+json, is service_unavailable (transient).
 */
export class IntegrationHubHttpClient implements IntegrationHubContract {
  private readonly listTimeoutMs: number;
  private readonly callTimeoutMs: number;

  constructor(
    private readonly baseUrl: string,
    private readonly internalToken: string,
    opts: IntegrationHubHttpClientOptions = {},
  ) {
    this.listTimeoutMs = opts.listTimeoutMs ?? 10_000;
    this.callTimeoutMs = opts.callTimeoutMs ?? 90_000;
  }

  private async call<T>(path: string, body: unknown, timeoutMs: number): Promise<T> {
    const { res, text } = await postInternal('integration-hub', this.baseUrl, this.internalToken, `${INTERNAL_PREFIX}/${path}`, body, timeoutMs);
    if (res.ok) return JSON.parse(text) as T;
    throw problemToAppError('integration-hub', res, text);
  }

  listConnections(workspaceId: string): Promise<ConnectionSummary[]> {
    return this.call<{ connections: ConnectionSummary[] }>('connections/list', { workspaceId }, this.listTimeoutMs).then((r) => r.connections);
  }

  runAction(workspaceId: string, connectionId: string, action: string, input: unknown, opts: { idempotencyKey?: string } = {}): Promise<ActionResult> {
    return this.call<ActionResult>('connections/run-action', { workspaceId, connectionId, action, input: input ?? {}, idempotencyKey: opts.idempotencyKey }, this.callTimeoutMs);
  }

  publish(workspaceId: string, connectionId: string, content: PublishContent, idempotencyKey: string): Promise<PublishResult> {
    const media = content.media?.map((m) => ({ ...m, data: Buffer.from(m.data.buffer, m.data.byteOffset, m.data.byteLength).toString('base64') }));
    return this.call<PublishResult>('connections/publish', { workspaceId, connectionId, idempotencyKey, content: { ...content, media } }, this.callTimeoutMs);
  }
}

/** How a process without the hub reaches it: the manifest's `remote`. */
export const integrationHubRemote: RemoteDeclaration = {
  url: defineConfig('integration-hub', { V01T_INTEGRATION_HUB_URL: setting(z.url().optional(), { description: "where processes without the integration-hub (content-scheduler, workflow-engine, the orchestrator's incident escalations) reach its contract (`/internal/integration-hub/...`); needs `V01T_INTERNAL_TOKEN`, ignored where the hub runs in the process" }) }, (e) => e.V01T_INTEGRATION_HUB_URL, { key: 'integration-hub.remote' }),
  connect: (baseUrl, token) => ({ contract: new IntegrationHubHttpClient(baseUrl, token) }),
};
