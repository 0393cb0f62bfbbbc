import type { z } from 'zod';
import type { Clock } from '../../../kernel/clock.js';
import type { EgressRequest, EgressResponse } from '../../../kernel/egress/index.js';
import type { PublishContent, PublishResult } from '../contract.js';

export type AuthKind = 'none' | 'bearer' | 'basic' | 'api_key' | 'oauth2' | 'app_password' | 'smtp' | 'signing_secret' | 'webhook_url';

/** What a connector may use while it runs: the guarded client bound to the connection, its settings. */
export interface ConnectorContext<C = Record<string, unknown>, K = Record<string, unknown>> {
  /** Guarded HTTP bound to the connection: its key, connector and rate limit are set by the hub. */
  http(req: Omit<EgressRequest, 'key' | 'connector' | 'rateLimit'>): Promise<EgressResponse>;
  credentials: C;
  config: K;
  clock: Clock;
  /** Resolves and checks an SMTP (non-HTTP) target the same way the egress guard does. */
  checkHost(host: string): Promise<string>;
}

export interface ConnectorAction {
  description: string;
  input: z.ZodType;
  output: z.ZodType;
  run(ctx: ConnectorContext<never, never>, input: never): Promise<Record<string, unknown>>;
}

/** An inbound webhook's verified identity, or a refusal reason. */
export type InboundVerdict = { ok: true; deliveryId: string; eventType: string } | { ok: false; reason: string };

export interface InboundVerifier {
  scheme: 'github' | 'slack' | 'standard';
  /** Checks the signature over the raw body; `secret` comes from the connection's credentials. */
  verify(args: { headers: Record<string, string | undefined>; rawBody: Buffer; secret: string; now: Date; toleranceSeconds: number }): InboundVerdict;
}

export interface OAuthSpec {
  authorizeUrl(config: Record<string, unknown>): string;
  tokenUrl(config: Record<string, unknown>): string;
  scopes: string[];
  scopeSeparator: string;
}

export interface PublishRetry {
  previousAttemptAt: Date;
}

export interface Connector {
  id: string;
  name: string;
  description: string;
  auth: AuthKind[];
  credentials: z.ZodType;
  config: z.ZodType;
  actions: Record<string, ConnectorAction>;
  canPublish: boolean;
  /**
   * Publishes `content`. `retry` is set when an earlier attempt with this key may have published
   * (it timed out, or its process died mid-call): a connector whose provider has no idempotency key
   * looks for that attempt's item (posted since `previousAttemptAt`) and returns it instead of
   * publishing twice (ADR 0079).
   */
  publish?(ctx: ConnectorContext<never, never>, content: PublishContent, idempotencyKey: string, retry?: PublishRetry): Promise<PublishResult>;
  /** Throws when the connection does not work (bad credentials, unreachable). */
  health(ctx: ConnectorContext<never, never>): Promise<void>;
  inbound?: InboundVerifier;
  oauth?: OAuthSpec;
}

/** Declares an action with typed input/output while storing it in the erased shape. */
export function action<I extends z.ZodType, O extends z.ZodType, C, K>(def: {
  description: string;
  input: I;
  output: O;
  run(ctx: ConnectorContext<C, K>, input: z.infer<I>): Promise<z.infer<O>>;
}): ConnectorAction {
  return def as unknown as ConnectorAction;
}
