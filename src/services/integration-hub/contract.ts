/**
 * The integration-hub's public contract: the only file of this service other services may import.
 *
 * - `egress`: the guarded outbound HTTP client (the workflow-engine's `http` step). In the same
 *   process take it from the contract (`ctx.contracts.get<IntegrationHubContract>('integration-hub').egress`);
 *   a service running without the integration-hub builds its own with `createEgressClient(config)`:
 *   the same guard, configured by the same variables (V01T_EGRESS_ALLOW, EGRESS_TIMEOUT_MS,
 *   EGRESS_RATE_PER_S / EGRESS_RATE_BURST: the default per-key token bucket, per process, ...);
 *   a request's `rateLimit` (a connection's own limit, set by the hub) replaces the default for its key.
 * - `runAction`: runs a connector action on a workspace connection (the workflow `integration` step),
 *   at most once per idempotency key when one is given.
 * - `publish`: publishes content through a connection (the content-scheduler); it resolves only when
 *   the provider confirmed, with the provider's id and URL of the published item.
 *
 * - In a process without the hub (the distributed shape) the platform registers
 *   `IntegrationHubHttpClient` (below) as this contract: the same calls over the hub's internal API
 *   (V01T_INTEGRATION_HUB_URL + V01T_INTERNAL_TOKEN), the same AppErrors. ADR 0201.
 *
 * Failures are AppErrors with stable codes: egress_blocked, egress_timeout, egress_failed,
 * egress_rate_limited, egress_circuit_open, egress_response_too_large, connection_not_found,
 * connection_needs_reauth, connector_action_unknown, validation_failed, provider_error.
 */
import type { Config } from '../../kernel/config/index.js';
import type { Clock } from '../../kernel/clock.js';
import { AppError, ERROR_CATALOG, type ErrorCode } from '../../kernel/errors.js';
import { EgressClient, type EgressObservation, type EgressRequest, type EgressResponse } from './egress.js';

export type { EgressRequest, EgressResponse, EgressObservation };
export { EgressClient };

/** Codes a blocked or failed outbound call carries (AppError.code). */
export const EGRESS_ERROR_CODES = ['egress_blocked', 'egress_timeout', 'egress_failed', 'egress_rate_limited', 'egress_circuit_open', 'egress_response_too_large'] as const;

/** The guarded client configured from the platform configuration. */
export function createEgressClient(config: Config, opts: { clock?: Clock; observe?: (o: EgressObservation) => void } = {}): EgressClient {
  return new EgressClient({
    allow: config.egress.allow,
    timeoutMs: config.egress.timeoutMs,
    maxResponseBytes: config.egress.maxResponseBytes,
    rateLimit: config.egress.rateLimit,
    clock: opts.clock,
    observe: opts.observe,
  });
}

/**
 * One media file to publish. The bytes travel with the call (`data`), so the shape is plain data:
 * it crosses a process boundary as JSON with `data` in base64, and the hub needs no access to the
 * caller's storage. The hub checks `size` and `sha256` against `data` before anything is sent
 * (validation_failed otherwise). Keep files within the channel limits (the content-scheduler
 * accepts up to CONTENT_MEDIA_MAX_BYTES, default 25 MiB, each).
 */
export interface PublishMedia {
  /** MIME type, e.g. image/png. */
  contentType: string;
  filename: string;
  /** Byte length of `data`. */
  size: number;
  /** Hex SHA-256 of `data`. */
  sha256: string;
  /** Alternative text for images (Mastodon description, Bluesky alt, Discord/Slack description). */
  altText?: string;
  data: Uint8Array;
}

/** Content the content-scheduler publishes; each connector uses what its provider supports. */
export interface PublishContent {
  text: string;
  /** Title (GitHub issue title, email subject). */
  title?: string;
  /** A link appended or attached where the provider supports it. */
  link?: string;
  /**
   * Media attached in order. Mastodon (POST /api/v2/media, then media_ids), Bluesky (uploadBlob,
   * then an app.bsky.embed.images embed; images only, up to 4, each at most 1,000,000 bytes),
   * Discord (multipart files[n] with payload_json attachments), Slack (files.getUploadURLExternal →
   * upload → files.completeUploadExternal with the text as initial comment), email (attachments),
   * webhook (base64 in the JSON body: data.media[].data). GitHub takes none: media there is refused
   * with validation_failed.
   */
  media?: PublishMedia[];
}

export interface PublishResult {
  /** The provider's id of the created item (status id, post URI, message ts, issue number...). */
  externalId: string;
  /** Where the item can be seen, when the provider gives one. */
  url: string | null;
}

export interface ActionResult {
  output: Record<string, unknown>;
}

export interface ConnectionSummary {
  id: string;
  workspaceId: string;
  connector: string;
  name: string;
  status: 'active' | 'needs_reauth' | 'disabled';
  canPublish: boolean;
}

export interface IntegrationHubContract {
  egress: { request(req: EgressRequest): Promise<EgressResponse> };
  /** Connections of a workspace (no credentials). */
  listConnections(workspaceId: string): Promise<ConnectionSummary[]>;
  /**
   * Runs `action` with `input` (validated against the action's schema) on the connection. With
   * `opts.idempotencyKey` (1-200 characters), the same key on the same connection returns the first
   * successful output instead of running the action again; a failed attempt may be retried with the
   * same key. While an attempt with the key is in flight, another call with it fails with `conflict`
   * (as does reusing a key for a different action); a claim left by a crashed process is retaken
   * after 10 minutes.
   */
  runAction(workspaceId: string, connectionId: string, action: string, input: unknown, opts?: { idempotencyKey?: string }): Promise<ActionResult>;
  /**
   * Publishes through the connection. The same idempotencyKey on the same connection returns the
   * first confirmed result instead of publishing twice.
   */
  publish(workspaceId: string, connectionId: string, content: PublishContent, idempotencyKey: string): Promise<PublishResult>;
}


/** Fields of a problem+json body that are not the AppError's extras. */
const PROBLEM_FIELDS = new Set(['type', 'title', 'status', 'detail', 'code', 'instance', 'requestId']);

export interface IntegrationHubHttpClientOptions {
  /** The contract's egress guard; split services build their own (createEgressClient). */
  egress: IntegrationHubContract['egress'];
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
  readonly egress: IntegrationHubContract['egress'];
  private readonly listTimeoutMs: number;
  private readonly callTimeoutMs: number;

  constructor(
    private readonly baseUrl: string,
    private readonly internalToken: string,
    opts: IntegrationHubHttpClientOptions,
  ) {
    this.egress = opts.egress;
    this.listTimeoutMs = opts.listTimeoutMs ?? 10_000;
    this.callTimeoutMs = opts.callTimeoutMs ?? 90_000;
  }

  private async call<T>(path: string, body: unknown, timeoutMs: number): Promise<T> {
    let res: Response;
    try {
      res = await fetch(new URL(`/internal/integration-hub/${path}`, this.baseUrl), {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'x-v01t-internal-token': this.internalToken },
        body: JSON.stringify(body),
        signal: AbortSignal.timeout(timeoutMs),
      });
    } catch (err) {
      const timedOut = (err as Error)?.name === 'TimeoutError';
      throw new AppError('service_unavailable', timedOut ? `The integration-hub did not answer within ${timeoutMs} ms` : `The integration-hub is unreachable: ${(err as Error)?.message ?? 'network error'}`);
    }
    const text = await res.text().catch(() => '');
    if (res.ok) return JSON.parse(text) as T;
    throw problemToAppError(res, text);
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

/** The hub's problem+json answer as the AppError it was thrown as. */
function problemToAppError(res: Response, text: string): AppError {
  let body: Record<string, unknown> | undefined;
  try {
    body = JSON.parse(text) as Record<string, unknown>;
  } catch {
    /* not JSON: a proxy or a process that is not the hub answered */
  }
  const code = body?.code;
  if (!body || typeof code !== 'string' || !Object.prototype.hasOwnProperty.call(ERROR_CATALOG, code)) {
    return new AppError('service_unavailable', `The integration-hub answered ${res.status} without a problem body`);
  }
  const extra: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(body)) if (!PROBLEM_FIELDS.has(k)) extra[k] = v;
  const retryAfter = Number(res.headers.get('retry-after'));
  if (Number.isFinite(retryAfter) && retryAfter > 0) extra.retryAfterSeconds = retryAfter;
  return new AppError(code as ErrorCode, typeof body.detail === 'string' ? body.detail : undefined, extra);
}
