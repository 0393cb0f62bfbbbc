import type { Role } from './permissions.js';

/** Who is calling: resolved from the bearer token by the identity provider (the orchestrator). */
export interface Principal {
  userId: string;
  tokenId: string;
  tokenKind: 'session' | 'api';
  /** Token scopes; session tokens carry ["*"]. */
  scopes: string[];
  platformAdmin: boolean;
  mfaEnabled: boolean;
}

export interface WorkspaceAccess {
  workspaceId: string;
  role: Role;
  requireMfa: boolean;
}

/**
 * What the HTTP layer needs from identity. The orchestrator implements it in process; in the
 * distributed shape other services use an HTTP client of the orchestrator's internal API.
 */
export interface IdentityPort {
  authenticate(token: string): Promise<Principal | null>;
  workspaceAccess(userId: string, workspaceId: string): Promise<WorkspaceAccess | null>;
}
