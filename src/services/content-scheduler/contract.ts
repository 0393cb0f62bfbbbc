/**
 * The content-scheduler's public contract: the only file of this service other services may
 * import. Other services learn about posts through events (content.post.scheduled|published|
 * failed.v1, content.campaign.created|launched.v1 in src/kernel/events/catalog.ts).
 */
export interface ContentSchedulerContract {
  /** Per-status counts of a campaign's channel targets (for dashboards and workflows). */
  campaignProgress(workspaceId: string, campaignId: string): Promise<{ posts: number; scheduled: number; published: number; failed: number } | null>;
}
