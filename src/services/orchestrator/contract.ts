/**
 * The orchestrator's public contract: the only file of this service other services may import, and
 * types only (lint-enforced). A process without the orchestrator reaches its identity API through
 * remote.ts (V01T_ORCHESTRATOR_URL + V01T_INTERNAL_TOKEN).
 */
import type { IdentityPort } from '../../kernel/auth/principal.js';
import type { Persona, Role } from '../../kernel/auth/permissions.js';

export interface OrchestratorContract {
  identity: IdentityPort;
  /** A user's display data, or null when the account does not exist (erased). */
  user(userId: string): Promise<{ id: string; email: string; name: string } | null>;
  /** Members of a workspace with their roles and personas. */
  members(workspaceId: string): Promise<{ userId: string; role: Role; personas: Persona[] }[]>;
}
