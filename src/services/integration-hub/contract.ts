/**
 * The integration-hub's public contract: the only file of this service other services may import,
 * and types only (lint-enforced). In a process without the hub (the distributed shape) the platform
 * registers the client of remote.ts under this contract: the same calls over the hub's internal API
 * (V01T_INTEGRATION_HUB_URL + V01T_INTERNAL_TOKEN), the same AppErrors. ADR 0201, ADR 0013.
 *
 * - `runAction`: runs a connector action on a workspace connection (the workflow `integration` step),
 *   at most once per idempotency key when one is given.
 * - `publish`: publishes content through a connection (the content-scheduler); it resolves only when
 *   the provider confirmed, with the provider's id and URL of the published item.
 *
 * Outbound HTTP of any service goes through the kernel's guarded client (`ctx.egress`), not this contract.
 *
 * Failures are AppErrors with stable codes: egress_blocked, egress_timeout, egress_failed,
 * egress_rate_limited, egress_circuit_open, egress_response_too_large, connection_not_found,
 * connection_needs_reauth, connector_action_unknown, validation_failed, provider_error.
 */

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

