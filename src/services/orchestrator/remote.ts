import { z } from 'zod';
import { defineConfig, setting } from '../../kernel/config/index.js';
import type { IdentityPort, Principal, WorkspaceAccess } from '../../kernel/auth/principal.js';
import type { RemoteDeclaration } from '../../kernel/module.js';
import { AppError } from '../../kernel/errors.js';
import { INTERNAL_TOKEN_HEADER } from '../../kernel/http/internal-client.js';

/**
 * IdentityPort over the orchestrator's internal HTTP API, for services running in their own
 * process (`v01t serve workflow-engine`). Lookups are short-lived cached by the caller's cache.
 */
export class IdentityHttpClient implements IdentityPort {
  constructor(
    private readonly baseUrl: string,
    private readonly internalToken: string,
    private readonly timeoutMs = 3000,
  ) {}

  private async call<T>(path: string, body: unknown): Promise<T> {
    // The orchestrator restarting or overloaded is an outage of a dependency, not a bug of this
    // service: callers get 503 with Retry-After (and the log a warning), never a 500.
    // The reason stays in `cause` (logged with the error), out of the client's problem body.
    const unavailable = (why: string) => Object.assign(new AppError('service_unavailable', 'The identity service cannot be reached; retry shortly', { retryAfterSeconds: 2 }), { cause: why });
    let res: Response;
    try {
      res = await fetch(new URL(path, this.baseUrl), {
        method: 'POST',
        headers: { 'content-type': 'application/json', [INTERNAL_TOKEN_HEADER]: this.internalToken },
        body: JSON.stringify(body),
        signal: AbortSignal.timeout(this.timeoutMs),
      });
    } catch (err) {
      throw unavailable(`${(err as Error).message}${(err as { cause?: Error }).cause ? `: ${(err as { cause: Error }).cause.message}` : ''}`);
    }
    if (res.status >= 500) {
      await res.body?.cancel();
      throw unavailable(`orchestrator identity API answered ${res.status}`);
    }
    if (!res.ok) throw new Error(`orchestrator identity API answered ${res.status}`);
    return (await res.json()) as T;
  }

  async authenticate(token: string): Promise<Principal | null> {
    return (await this.call<{ principal: Principal | null }>('/internal/identity/authenticate', { token })).principal;
  }

  async workspaceAccess(userId: string, workspaceId: string): Promise<WorkspaceAccess | null> {
    return (await this.call<{ access: WorkspaceAccess | null }>('/internal/identity/access', { userId, workspaceId })).access;
  }
}

/**
 * How a process without the orchestrator reaches it: identity only (the kernel guard's
 * authentication and workspace access); user() and members() stay in-process calls.
 */
export const orchestratorRemote: RemoteDeclaration = {
  url: defineConfig('orchestrator', { V01T_ORCHESTRATOR_URL: setting(z.url().optional(), { description: "where processes without the orchestrator reach its identity API (needs `V01T_INTERNAL_TOKEN`)" }) }, (e) => e.V01T_ORCHESTRATOR_URL, { key: 'orchestrator.remote' }),
  connect: (baseUrl, token) => ({ identity: new IdentityHttpClient(baseUrl, token) }),
};
