import { PLATFORM_TENANT, queryHash, type CacheLayer } from '../../kernel/cache/layers.js';
import type { Logger } from '../../kernel/telemetry/logger.js';

/**
 * Query and KPI results in the `analytics_data` cache layer (ADR 0059), keyed by workspace, query
 * and data version: the workspace's version (replaced when a batch of its events lands in the store,
 * or its KPI settings or forecasts change) and the store-wide one (replaced by deletes that span
 * workspaces: GDPR erasure, retention, a batch undone). A result is never read after the write
 * that changed its data, nor by another workspace.
 */
export class AnalyticsResultCache {
  constructor(
    private readonly layer: CacheLayer,
    private readonly logger: Logger,
  ) {}

  /** Versions not replaced yet (the cache's Redis was away): retried first; until then this process reads around the cache. */
  private readonly pending = new Set<string>();

  async run<T>(workspaceId: string, kind: string, params: unknown, compute: () => Promise<T>): Promise<T> {
    if (this.pending.size && !(await this.retry())) return compute();
    const [mine, all] = await Promise.all([this.layer.version(workspaceId), this.layer.version(PLATFORM_TENANT)]);
    return this.layer.through(workspaceId, `${kind}:${queryHash(params)}@${mine}.${all}`, compute);
  }

  /** After a write committed: the workspaces whose data changed, or 'all'. Never throws: the write is done. */
  async changed(workspaceIds: Iterable<string> | 'all'): Promise<void> {
    for (const t of workspaceIds === 'all' ? [PLATFORM_TENANT] : workspaceIds) this.pending.add(t);
    await this.retry();
  }

  private async retry(): Promise<boolean> {
    const tenants = [...this.pending];
    const results = await Promise.allSettled(tenants.map((t) => this.layer.bump(t)));
    results.forEach((r, i) => r.status === 'fulfilled' && this.pending.delete(tenants[i]!));
    if (this.pending.size) {
      // Other processes may read entries of the old version until Redis is back and the bump
      // succeeds, at most the layer's TTL (30 minutes).
      this.logger.warn({ workspaces: this.pending.size }, 'analytics cache: data version not replaced yet (cache Redis unavailable); retrying');
      return false;
    }
    return true;
  }
}
