/**
 * The orchestrator's public contract: the only file of this service other services may import.
 */
import type { IdentityPort, Principal, WorkspaceAccess } from '../../kernel/auth/principal.js';
import type { Persona, Role } from '../../kernel/auth/permissions.js';

export interface OrchestratorContract {
  identity: IdentityPort;
  /** A user's display data, or null when the account does not exist (erased). */
  user(userId: string): Promise<{ id: string; email: string; name: string } | null>;
  /** Members of a workspace with their roles and personas. */
  members(workspaceId: string): Promise<{ userId: string; role: Role; personas: Persona[] }[]>;
}

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
    const res = await fetch(new URL(path, this.baseUrl), {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-v01t-internal-token': this.internalToken },
      body: JSON.stringify(body),
      signal: AbortSignal.timeout(this.timeoutMs),
    });
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
