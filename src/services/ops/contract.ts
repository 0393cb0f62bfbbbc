/**
 * The operations module's public contract: types only (lint-enforced). Other services need nothing
 * from ops at run time; these are the shapes of its deployment history, as the API and
 * `v01t deploy` give them.
 */

export interface Deployment {
  id: string;
  recordedAt: Date;
  version: string;
  environment: string;
  result: string;
  notes: string | null;
  /** 'cli', 'ci' (the V01T_DEPLOY_TOKEN bearer) or 'api' (a platform admin). */
  via: string;
  actorId: string | null;
}

export interface EnvironmentStats {
  environment: string;
  total: number;
  success: number;
  failed: number;
  rolledBack: number;
  /** success / total. */
  successRate: number;
  lastDeployment: { version: string; result: string; recordedAt: Date } | null;
}
