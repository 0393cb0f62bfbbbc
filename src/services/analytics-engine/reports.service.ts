import { randomUUID } from 'node:crypto';
import type { Clock } from '../../kernel/clock.js';
import { AppError } from '../../kernel/errors.js';
import type { QuerySpec } from './schemas.js';
import type { DashboardRow, ReportRow, ReportsRepository } from './reports.repository.js';

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

const json = <T>(v: unknown): T => (typeof v === 'string' ? JSON.parse(v) : v) as T;
const toReport = (r: ReportRow): Report => ({ id: r.id, name: r.name, spec: json(r.spec), createdAt: new Date(r.created_at), updatedAt: new Date(r.updated_at) });
const toDashboard = (r: DashboardRow): Dashboard => ({ id: r.id, name: r.name, tiles: json(r.tiles), createdAt: new Date(r.created_at), updatedAt: new Date(r.updated_at) });
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** Saved reports (a name and a query spec) and dashboards arranging them; every lookup is scoped to the workspace. */
export class ReportsService {
  constructor(
    private readonly repo: ReportsRepository,
    private readonly clock: Clock,
  ) {}

  async createReport(workspaceId: string, userId: string, name: string, spec: QuerySpec): Promise<Report> {
    const now = this.clock.now().toISOString();
    return toReport(await this.repo.insertReport({ id: randomUUID(), workspaceId, name, spec, createdBy: userId, now }));
  }

  async listReports(workspaceId: string): Promise<Report[]> {
    return (await this.repo.listReports(workspaceId)).map(toReport);
  }

  async getReport(workspaceId: string, id: string): Promise<Report> {
    if (!UUID.test(id)) throw new AppError('not_found', 'Report not found');
    const row = await this.repo.report(workspaceId, id);
    if (!row) throw new AppError('not_found', 'Report not found');
    return toReport(row);
  }

  async updateReport(workspaceId: string, id: string, patch: { name?: string; spec?: QuerySpec }): Promise<Report> {
    const current = await this.getReport(workspaceId, id);
    return toReport(await this.repo.updateReport(workspaceId, id, { name: patch.name ?? current.name, spec: patch.spec ?? current.spec, now: this.clock.now().toISOString() }));
  }

  /** Deleting a report also takes it off every dashboard of the workspace. */
  async deleteReport(workspaceId: string, id: string): Promise<void> {
    await this.getReport(workspaceId, id);
    await this.repo.deleteReport(workspaceId, id);
  }

  private async checkTiles(workspaceId: string, tiles: Tile[]): Promise<void> {
    const ids = [...new Set(tiles.map((t) => t.reportId))];
    if (ids.length === 0) return;
    const known = await this.repo.existingReports(workspaceId, ids);
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
    return toDashboard(await this.repo.insertDashboard({ id: randomUUID(), workspaceId, name, tiles, createdBy: userId, now }));
  }

  async listDashboards(workspaceId: string): Promise<Dashboard[]> {
    return (await this.repo.listDashboards(workspaceId)).map(toDashboard);
  }

  async getDashboard(workspaceId: string, id: string): Promise<Dashboard> {
    if (!UUID.test(id)) throw new AppError('not_found', 'Dashboard not found');
    const row = await this.repo.dashboard(workspaceId, id);
    if (!row) throw new AppError('not_found', 'Dashboard not found');
    return toDashboard(row);
  }

  async updateDashboard(workspaceId: string, id: string, patch: { name?: string; tiles?: Tile[] }): Promise<Dashboard> {
    const current = await this.getDashboard(workspaceId, id);
    if (patch.tiles) await this.checkTiles(workspaceId, patch.tiles);
    return toDashboard(await this.repo.updateDashboard(workspaceId, id, { name: patch.name ?? current.name, tiles: patch.tiles ?? current.tiles, now: this.clock.now().toISOString() }));
  }

  async deleteDashboard(workspaceId: string, id: string): Promise<void> {
    await this.getDashboard(workspaceId, id);
    await this.repo.deleteDashboard(workspaceId, id);
  }
}
