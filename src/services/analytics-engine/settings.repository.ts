import type { Database } from '../../kernel/db/database.js';
import type { Clock } from '../../kernel/clock.js';

export const DEFAULT_SIGNUP_EVENT = 'user.signed_up';

export interface AnalyticsSettings {
  signupEvent: string;
  activationEvent: string | null;
}

/** Per-workspace KPI settings and supplied MRR forecasts. */
export class SettingsRepository {
  constructor(
    private readonly db: Database,
    private readonly clock: Clock,
  ) {}

  async get(workspaceId: string): Promise<AnalyticsSettings> {
    const [row] = await this.db.query<{ signup_event: string; activation_event: string | null }>(
      'SELECT signup_event, activation_event FROM analytics.settings WHERE workspace_id = $1',
      [workspaceId],
    );
    return { signupEvent: row?.signup_event ?? DEFAULT_SIGNUP_EVENT, activationEvent: row?.activation_event ?? null };
  }

  async update(workspaceId: string, patch: Partial<AnalyticsSettings>): Promise<AnalyticsSettings> {
    const current = await this.get(workspaceId);
    const next = { ...current, ...Object.fromEntries(Object.entries(patch).filter(([, v]) => v !== undefined)) } as AnalyticsSettings;
    await this.db.query(
      `INSERT INTO analytics.settings (workspace_id, signup_event, activation_event, updated_at) VALUES ($1, $2, $3, $4)
       ON CONFLICT (workspace_id) DO UPDATE SET signup_event = EXCLUDED.signup_event, activation_event = EXCLUDED.activation_event, updated_at = EXCLUDED.updated_at`,
      [workspaceId, next.signupEvent, next.activationEvent, this.clock.now().toISOString()],
    );
    return next;
  }

  async putForecast(workspaceId: string, currency: string, points: { date: string; amount: number }[]): Promise<number> {
    await this.db.query(
      `INSERT INTO analytics.mrr_forecasts (workspace_id, currency, day, amount)
       SELECT $1::uuid, $2, d::date, a::numeric FROM unnest($3::text[], $4::text[]) AS x(d, a)
       ON CONFLICT (workspace_id, currency, day) DO UPDATE SET amount = EXCLUDED.amount`,
      [workspaceId, currency, points.map((p) => p.date), points.map((p) => String(p.amount))],
    );
    return points.length;
  }

  /** Supplied forecasts keyed "CUR|YYYY-MM-DD". */
  async forecasts(workspaceId: string, fromDay: string, toDay: string): Promise<Map<string, number>> {
    const rows = await this.db.query<{ currency: string; day: string; amount: string | number }>(
      `SELECT currency, to_char(day, 'YYYY-MM-DD') AS day, amount FROM analytics.mrr_forecasts WHERE workspace_id = $1 AND day >= $2::date AND day <= $3::date`,
      [workspaceId, fromDay, toDay],
    );
    return new Map(rows.map((r) => [`${r.currency}|${r.day}`, Number(r.amount)]));
  }

}
