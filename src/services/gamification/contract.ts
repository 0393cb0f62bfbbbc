/**
 * The gamification service's public contract: the only file of this service other services may
 * import. Rewards are entitlements a service checks before offering an unlockable.
 */
export interface Entitlement {
  rewardKey: string;
  kind: 'workflow_template' | 'shortcut' | 'dashboard_flair' | string;
  source: string;
  grantedAt: string;
}

export interface GamificationContract {
  hasEntitlement(workspaceId: string, userId: string, rewardKey: string): Promise<boolean>;
  entitlements(workspaceId: string, userId: string): Promise<Entitlement[]>;
}
