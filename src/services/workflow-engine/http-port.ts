/** What the workflow engine needs from an outbound HTTP client (the integration-hub's guarded egress client). */
export interface HttpPort {
  request(req: {
    url: string;
    method?: string;
    headers?: Record<string, string>;
    body?: string;
    timeoutMs?: number;
    idempotent?: boolean;
    maxRetries?: number;
    key?: string;
    signal?: AbortSignal;
  }): Promise<{ status: number; headers: Record<string, string>; text(): string }>;
}

/** The integration-hub's connector actions, when that service is available. */
export interface IntegrationPort {
  /** With `idempotencyKey`, the same key on the same connection returns the first successful output instead of running the action again. */
  runAction(workspaceId: string, connectionId: string, action: string, input: unknown, opts?: { idempotencyKey?: string }): Promise<{ output: Record<string, unknown> }>;
}
