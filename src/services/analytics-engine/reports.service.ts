import { randomUUID } from 'node:crypto';
import type { Database } from '../../kernel/db/database.js';
import type { Clock } from '../../kernel/clock.js';
import { AppError } from '../../kernel/errors.js';
import type { QuerySpec } from './schemas.js';

export interface Report {
  id: string;
  name: string;
  spec: Record<string, unknown>;
  createdAt: Date;
  updatedAt: Date;
}
export interface Tile {
  reportId: string;
  x: number;
  y: number;
  w: number;
  h: number;
}
export interface Dashboard {
  id: string;
  name: string;
  tiles: Tile[];
  createdAt: Date;
  updatedAt: Date;
}

type ReportRow = { id: string; name: string; spec: unknown; created_at: Date | string; updated_at: Date | string };
type DashboardRow = { id: string; name: string; tiles: unknown; created_at: Date | string; updated_at: Date | string };
const json = <T>(v: unknown): T => (typeof v === 'string' ? JSON.parse(v) : v) as T;
const toReport = (r: ReportRow): Report => ({ id: r.id, name: r.name, spec: json(r.spec), createdAt: new Date(r.created_at), updatedAt: new Date(r.updated_at) });
const toDashboard = (r: DashboardRow): Dashboard => ({ id: r.id, name: r.name, tiles: json(r.tiles), createdAt: new Date(r.created_at), updatedAt: new Date(r.updated_at) });
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** Saved reports (a name and a query spec) and dashboards arranging them; every lookup is scoped to the workspace. */
export class ReportsService {
  constructor(
    private readonly db: Database,
    private readonly clock: Clock,
  ) {}

  async createReport(workspaceId: string, userId: string, name: string, spec: QuerySpec): Promise<Report> {
    const now = this.clock.now().toISOString();
    const [row] = await this.db.query<ReportRow>(
      `INSERT INTO analytics.reports (id, workspace_id, name, spec, created_by, created_at, updated_at) VALUES ($1, $2, $3, $4::jsonb, $5, $6, $6)
       RETURNING id, name, spec, created_at, updated_at`,
      [randomUUID(), workspaceId, name, JSON.stringify(spec), userId, now],
    );
    return toReport(row!);
  }

  async listReports(workspaceId: string): Promise<Report[]> {
    const rows = await this.db.query<ReportRow>('SELECT id, name, spec, created_at, updated_at FROM analytics.reports WHERE workspace_id = $1 ORDER BY created_at DESC, id', [workspaceId]);
    return rows.map(toReport);
  }

  async getReport(workspaceId: string, id: string): Promise<Report> {
    if (!UUID.test(id)) throw new AppError('not_found', 'Report not found');
    const [row] = await this.db.query<ReportRow>('SELECT id, name, spec, created_at, updated_at FROM analytics.reports WHERE workspace_id = $1 AND id = $2', [workspaceId, id]);
    if (!row) throw new AppError('not_found', 'Report not found');
    return toReport(row);
  }

  async updateReport(workspaceId: string, id: string, patch: { name?: string; spec?: QuerySpec }): Promise<Report> {
    const current = await this.getReport(workspaceId, id);
    const [row] = await this.db.query<ReportRow>(
      `UPDATE analytics.reports SET name = $3, spec = $4::jsonb, updated_at = $5 WHERE workspace_id = $1 AND id = $2 RETURNING id, name, spec, created_at, updated_at`,
      [workspaceId, id, patch.name ?? current.name, JSON.stringify(patch.spec ?? current.spec), this.clock.now().toISOString()],
    );
    return toReport(row!);
  }

  /** Deleting a report also takes it off every dashboard of the workspace. */
  async deleteReport(workspaceId: string, id: string): Promise<void> {
    await this.getReport(workspaceId, id);
    await this.db.withTransaction(async (c) => {
      await c.query('DELETE FROM analytics.reports WHERE workspace_id = $1 AND id = $2', [workspaceId, id]);
      await c.query(
        `UPDATE analytics.dashboards SET tiles = COALESCE((SELECT jsonb_agg(t) FROM jsonb_array_elements(tiles) AS t WHERE t->>'reportId' <> $2), '[]'::jsonb)
         WHERE workspace_id = $1 AND tiles @> jsonb_build_array(jsonb_build_object('reportId', $2::text))`,
        [workspaceId, id],
      );
    });
  }

  private async checkTiles(workspaceId: string, tiles: Tile[]): Promise<void> {
    const ids = [...new Set(tiles.map((t) => t.reportId))];
    if (ids.length === 0) return;
    const rows = await this.db.query<{ id: string }>('SELECT id FROM analytics.reports WHERE workspace_id = $1 AND id = ANY($2::uuid[])', [workspaceId, ids]);
    const known = new Set(rows.map((r) => r.id));
    const missing = ids.filter((i) => !known.has(i));
    if (missing.length) {
      throw new AppError('validation_failed', `Unknown report(s) in this workspace: ${missing.join(', ')}`, {
        errors: missing.map((m) => ({ path: 'body.tiles.reportId', message: `report ${m} not found` })),
      });
    }
  }

  async createDashboard(workspaceId: string, userId: string, name: string, tiles: Tile[]): Promise<Dashboard> {
    await this.checkTiles(workspaceId, tiles);
    const now = this.clock.now().toISOString();
    const [row] = await this.db.query<DashboardRow>(
      `INSERT INTO analytics.dashboards (id, workspace_id, name, tiles, created_by, created_at, updated_at) VALUES ($1, $2, $3, $4::jsonb, $5, $6, $6)
       RETURNING id, name, tiles, created_at, updated_at`,
      [randomUUID(), workspaceId, name, JSON.stringify(tiles), userId, now],
    );
    return toDashboard(row!);
  }

  async listDashboards(workspaceId: string): Promise<Dashboard[]> {
    const rows = await this.db.query<DashboardRow>('SELECT id, name, tiles, created_at, updated_at FROM analytics.dashboards WHERE workspace_id = $1 ORDER BY created_at DESC, id', [workspaceId]);
    return rows.map(toDashboard);
  }

  async getDashboard(workspaceId: string, id: string): Promise<Dashboard> {
    if (!UUID.test(id)) throw new AppError('not_found', 'Dashboard not found');
    const [row] = await this.db.query<DashboardRow>('SELECT id, name, tiles, created_at, updated_at FROM analytics.dashboards WHERE workspace_id = $1 AND id = $2', [workspaceId, id]);
    if (!row) throw new AppError('not_found', 'Dashboard not found');
    return toDashboard(row);
  }

  async updateDashboard(workspaceId: string, id: string, patch: { name?: string; tiles?: Tile[] }): Promise<Dashboard> {
    const current = await this.getDashboard(workspaceId, id);
    if (patch.tiles) await this.checkTiles(workspaceId, patch.tiles);
    const [row] = await this.db.query<DashboardRow>(
      `UPDATE analytics.dashboards SET name = $3, tiles = $4::jsonb, updated_at = $5 WHERE workspace_id = $1 AND id = $2 RETURNING id, name, tiles, created_at, updated_at`,
      [workspaceId, id, patch.name ?? current.name, JSON.stringify(patch.tiles ?? current.tiles), this.clock.now().toISOString()],
    );
    return toDashboard(row!);
  }

  async deleteDashboard(workspaceId: string, id: string): Promise<void> {
    await this.getDashboard(workspaceId, id);
    await this.db.query('DELETE FROM analytics.dashboards WHERE workspace_id = $1 AND id = $2', [workspaceId, id]);
  }
}
