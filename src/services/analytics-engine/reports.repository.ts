import type { Database } from '../../kernel/db/database.js';

export type ReportRow = { id: string; name: string; spec: unknown; created_at: Date | string; updated_at: Date | string };
export type DashboardRow = { id: string; name: string; tiles: unknown; created_at: Date | string; updated_at: Date | string };

/** analytics.reports and analytics.dashboards; every statement is scoped to the workspace. */
export class ReportsRepository {
  constructor(private readonly db: Database) {}

  async insertReport(r: { id: string; workspaceId: string; name: string; spec: unknown; createdBy: string; now: string }): Promise<ReportRow> {
    const [row] = await this.db.query<ReportRow>(
      `INSERT INTO analytics.reports (id, workspace_id, name, spec, created_by, created_at, updated_at) VALUES ($1, $2, $3, $4::jsonb, $5, $6, $6)
       RETURNING id, name, spec, created_at, updated_at`,
      [r.id, r.workspaceId, r.name, JSON.stringify(r.spec), r.createdBy, r.now],
    );
    return row!;
  }

  async listReports(workspaceId: string): Promise<ReportRow[]> {
    return this.db.query<ReportRow>('SELECT id, name, spec, created_at, updated_at FROM analytics.reports WHERE workspace_id = $1 ORDER BY created_at DESC, id', [workspaceId]);
  }

  async report(workspaceId: string, id: string): Promise<ReportRow | null> {
    const [row] = await this.db.query<ReportRow>('SELECT id, name, spec, created_at, updated_at FROM analytics.reports WHERE workspace_id = $1 AND id = $2', [workspaceId, id]);
    return row ?? null;
  }

  async updateReport(workspaceId: string, id: string, v: { name: string; spec: unknown; now: string }): Promise<ReportRow> {
    const [row] = await this.db.query<ReportRow>(
      `UPDATE analytics.reports SET name = $3, spec = $4::jsonb, updated_at = $5 WHERE workspace_id = $1 AND id = $2 RETURNING id, name, spec, created_at, updated_at`,
      [workspaceId, id, v.name, JSON.stringify(v.spec), v.now],
    );
    return row!;
  }

  /** Deletes the report and takes it off every dashboard of the workspace, in one transaction. */
  async deleteReport(workspaceId: string, id: string): Promise<void> {
    await this.db.withTransaction(async (c) => {
      await c.query('DELETE FROM analytics.reports WHERE workspace_id = $1 AND id = $2', [workspaceId, id]);
      await c.query(
        `UPDATE analytics.dashboards SET tiles = COALESCE((SELECT jsonb_agg(t) FROM jsonb_array_elements(tiles) AS t WHERE t->>'reportId' <> $2), '[]'::jsonb)
         WHERE workspace_id = $1 AND tiles @> jsonb_build_array(jsonb_build_object('reportId', $2::text))`,
        [workspaceId, id],
      );
    });
  }

  /** Which of the ids are reports of the workspace. */
  async existingReports(workspaceId: string, ids: string[]): Promise<Set<string>> {
    const rows = await this.db.query<{ id: string }>('SELECT id FROM analytics.reports WHERE workspace_id = $1 AND id = ANY($2::uuid[])', [workspaceId, ids]);
    return new Set(rows.map((r) => r.id));
  }

  async insertDashboard(d: { id: string; workspaceId: string; name: string; tiles: unknown; createdBy: string; now: string }): Promise<DashboardRow> {
    const [row] = await this.db.query<DashboardRow>(
      `INSERT INTO analytics.dashboards (id, workspace_id, name, tiles, created_by, created_at, updated_at) VALUES ($1, $2, $3, $4::jsonb, $5, $6, $6)
       RETURNING id, name, tiles, created_at, updated_at`,
      [d.id, d.workspaceId, d.name, JSON.stringify(d.tiles), d.createdBy, d.now],
    );
    return row!;
  }

  async listDashboards(workspaceId: string): Promise<DashboardRow[]> {
    return this.db.query<DashboardRow>('SELECT id, name, tiles, created_at, updated_at FROM analytics.dashboards WHERE workspace_id = $1 ORDER BY created_at DESC, id', [workspaceId]);
  }

  async dashboard(workspaceId: string, id: string): Promise<DashboardRow | null> {
    const [row] = await this.db.query<DashboardRow>('SELECT id, name, tiles, created_at, updated_at FROM analytics.dashboards WHERE workspace_id = $1 AND id = $2', [workspaceId, id]);
    return row ?? null;
  }

  async updateDashboard(workspaceId: string, id: string, v: { name: string; tiles: unknown; now: string }): Promise<DashboardRow> {
    const [row] = await this.db.query<DashboardRow>(
      `UPDATE analytics.dashboards SET name = $3, tiles = $4::jsonb, updated_at = $5 WHERE workspace_id = $1 AND id = $2 RETURNING id, name, tiles, created_at, updated_at`,
      [workspaceId, id, v.name, JSON.stringify(v.tiles), v.now],
    );
    return row!;
  }

  async deleteDashboard(workspaceId: string, id: string): Promise<void> {
    await this.db.query('DELETE FROM analytics.dashboards WHERE workspace_id = $1 AND id = $2', [workspaceId, id]);
  }
}
