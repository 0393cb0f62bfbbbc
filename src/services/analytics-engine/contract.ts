/**
 * The analytics-engine's public contract: the only file of this service other services may import.
 * Other services feed analytics through the event bus; they read it through this client.
 */
export interface AnalyticsContract {
  /** The runbook KPIs of a workspace over [from, to). */
  kpis(workspaceId: string, from: Date, to: Date): Promise<{ activationRate: number | null; mrr: Record<string, number> }>;
}
