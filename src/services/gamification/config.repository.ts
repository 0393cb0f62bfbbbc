import { randomUUID } from 'node:crypto';
import { sql } from 'drizzle-orm';
import type { Clock } from '../../kernel/clock.js';
import type { Db, DbExecutor } from '../../kernel/db/database.js';
import { AppError, notFound } from '../../kernel/errors.js';
import { DEFAULT_BADGES, DEFAULT_RULES, DEFAULT_SETTINGS } from './defaults.js';
import { RuleSet, compileFilter } from './rules.js';
import { badgeBody, ruleBody, settingsSchema, type settingsPatch, type Badge, type GamificationSettings, type Rule, type RuleInput } from './schemas.js';
import { isTimeZone } from './time.js';
import { rows } from '../../kernel/db/rows.js';
import type { z } from 'zod';

export interface WorkspaceConfig {
  version: number;
  settings: GamificationSettings;
  rules: Rule[];
  ruleSet: RuleSet;
  badges: Badge[];
}

type RuleRow = { id: string; definition: RuleInput; created_at: string | Date; updated_at: string | Date };
type BadgeRow = { id: string; definition: z.infer<typeof badgeBody>; created_at: string | Date };
const iso = (d: string | Date) => new Date(d).toISOString();
const toRule = (r: RuleRow): Rule => ({ ...r.definition, id: r.id, createdAt: iso(r.created_at), updatedAt: iso(r.updated_at) });
const toBadge = (r: BadgeRow): Badge => ({ ...r.definition, id: r.id, createdAt: iso(r.created_at) });

/**
 * Rules, badges and settings of each workspace, seeded with the defaults on first use. Compiled
 * rule sets are cached per process and keyed by the workspace's config version, which every
 * change bumps, so replicas pick up an admin's edit on their next event.
 */
export class ConfigRepository {
  private readonly cache = new Map<string, WorkspaceConfig>();
  constructor(
    private readonly db: Db,
    private readonly clock: Clock,
  ) {}

  /** Creates the workspace's default configuration unless it exists (safe under concurrency). */
  async ensureSeeded(ex: DbExecutor, workspaceId: string): Promise<void> {
    const [existing] = await rows<{ v: number }>(ex, sql`SELECT config_version AS v FROM gamification.settings WHERE workspace_id = ${workspaceId}`);
    if (existing) return;
    const now = this.clock.now().toISOString();
    const run = async (tx: DbExecutor) => {
      const inserted = await rows<{ workspace_id: string }>(
        tx,
        sql`INSERT INTO gamification.settings (workspace_id, settings, created_at, updated_at) VALUES (${workspaceId}, ${JSON.stringify(DEFAULT_SETTINGS)}::jsonb, ${now}, ${now})
            ON CONFLICT (workspace_id) DO NOTHING RETURNING workspace_id`,
      );
      if (!inserted.length) return;
      for (const r of DEFAULT_RULES) {
        await tx.execute(sql`INSERT INTO gamification.rules (id, workspace_id, definition, created_at, updated_at) VALUES (${randomUUID()}, ${workspaceId}, ${JSON.stringify(ruleBody.parse(r))}::jsonb, ${now}, ${now})`);
      }
      for (const b of DEFAULT_BADGES) {
        const def = badgeBody.parse(b);
        await tx.execute(sql`INSERT INTO gamification.badges (id, workspace_id, key, definition, created_at) VALUES (${randomUUID()}, ${workspaceId}, ${def.key}, ${JSON.stringify(def)}::jsonb, ${now})`);
      }
    };
    await ex.transaction(run);
  }

  async load(ex: DbExecutor, workspaceId: string): Promise<WorkspaceConfig> {
    const read = () => rows<{ v: number; settings: GamificationSettings }>(ex, sql`SELECT config_version AS v, settings FROM gamification.settings WHERE workspace_id = ${workspaceId}`);
    let [row] = await read();
    if (!row) {
      await this.ensureSeeded(ex, workspaceId);
      [row] = await read();
    }
    const cached = this.cache.get(workspaceId);
    if (cached && cached.version === row!.v) return cached;
    const rules = (await rows<RuleRow>(ex, sql`SELECT id, definition, created_at, updated_at FROM gamification.rules WHERE workspace_id = ${workspaceId} AND archived_at IS NULL ORDER BY id`)).map(toRule);
    const badges = (await rows<BadgeRow>(ex, sql`SELECT id, definition, created_at FROM gamification.badges WHERE workspace_id = ${workspaceId} AND archived_at IS NULL ORDER BY key`)).map(toBadge);
    const config: WorkspaceConfig = { version: row!.v, settings: settingsSchema.parse(row!.settings), rules, ruleSet: new RuleSet(rules), badges };
    this.cache.set(workspaceId, config);
    return config;
  }

  /** The workspace's configuration as last committed (read outside any transaction). */
  async current(workspaceId: string): Promise<WorkspaceConfig> {
    return this.load(this.db, workspaceId);
  }

  private async bump(tx: DbExecutor, workspaceId: string): Promise<void> {
    await tx.execute(sql`UPDATE gamification.settings SET config_version = config_version + 1, updated_at = ${this.clock.now().toISOString()} WHERE workspace_id = ${workspaceId}`);
  }

  async listRules(workspaceId: string): Promise<Rule[]> {
    return (await this.load(this.db, workspaceId)).rules;
  }

  async getRule(workspaceId: string, ruleId: string): Promise<Rule> {
    await this.ensureSeeded(this.db, workspaceId);
    const [r] = await rows<RuleRow>(this.db, sql`SELECT id, definition, created_at, updated_at FROM gamification.rules WHERE workspace_id = ${workspaceId} AND id = ${ruleId} AND archived_at IS NULL`);
    if (!r) throw notFound('Rule');
    return toRule(r);
  }

  async createRule(workspaceId: string, input: RuleInput): Promise<Rule> {
    compileFilter(input.filter);
    await this.ensureSeeded(this.db, workspaceId);
    const id = randomUUID();
    const now = this.clock.now().toISOString();
    await this.db.transaction(async (tx) => {
      await tx.execute(sql`INSERT INTO gamification.rules (id, workspace_id, definition, created_at, updated_at) VALUES (${id}, ${workspaceId}, ${JSON.stringify(input)}::jsonb, ${now}, ${now})`);
      await this.bump(tx, workspaceId);
    });
    return this.getRule(workspaceId, id);
  }

  async updateRule(workspaceId: string, ruleId: string, patch: Partial<RuleInput>): Promise<Rule> {
    const current = await this.getRule(workspaceId, ruleId);
    const { id: _id, createdAt: _c, updatedAt: _u, ...def } = current;
    const next = ruleBody.parse({ ...def, ...Object.fromEntries(Object.entries(patch).filter(([, v]) => v !== undefined)) });
    compileFilter(next.filter);
    await this.db.transaction(async (tx) => {
      await tx.execute(sql`UPDATE gamification.rules SET definition = ${JSON.stringify(next)}::jsonb, updated_at = ${this.clock.now().toISOString()} WHERE workspace_id = ${workspaceId} AND id = ${ruleId}`);
      await this.bump(tx, workspaceId);
    });
    return this.getRule(workspaceId, ruleId);
  }

  async archiveRule(workspaceId: string, ruleId: string): Promise<void> {
    await this.getRule(workspaceId, ruleId);
    await this.db.transaction(async (tx) => {
      await tx.execute(sql`UPDATE gamification.rules SET archived_at = ${this.clock.now().toISOString()} WHERE workspace_id = ${workspaceId} AND id = ${ruleId}`);
      await this.bump(tx, workspaceId);
    });
  }

  async listBadges(workspaceId: string): Promise<Badge[]> {
    return (await this.load(this.db, workspaceId)).badges;
  }

  async createBadge(workspaceId: string, input: z.infer<typeof badgeBody>): Promise<Badge> {
    await this.ensureSeeded(this.db, workspaceId);
    const id = randomUUID();
    await this.db.transaction(async (tx) => {
      const clash = await rows(tx, sql`SELECT 1 FROM gamification.badges WHERE workspace_id = ${workspaceId} AND key = ${input.key} AND archived_at IS NULL`);
      if (clash.length) throw new AppError('conflict', `A badge with key "${input.key}" exists`, { errors: [{ path: 'body.key', message: 'another badge has this key' }] });
      await tx.execute(sql`INSERT INTO gamification.badges (id, workspace_id, key, definition, created_at) VALUES (${id}, ${workspaceId}, ${input.key}, ${JSON.stringify(input)}::jsonb, ${this.clock.now().toISOString()})`);
      await this.bump(tx, workspaceId);
    });
    return (await this.listBadges(workspaceId)).find((b) => b.id === id)!;
  }

  /** Retires a badge from the catalog; users who earned it keep it. */
  async archiveBadge(workspaceId: string, badgeId: string): Promise<void> {
    await this.ensureSeeded(this.db, workspaceId);
    await this.db.transaction(async (tx) => {
      const done = await rows(tx, sql`UPDATE gamification.badges SET archived_at = ${this.clock.now().toISOString()} WHERE workspace_id = ${workspaceId} AND id = ${badgeId} AND archived_at IS NULL RETURNING id`);
      if (!done.length) throw notFound('Badge');
      await this.bump(tx, workspaceId);
    });
  }

  /** Every badge ever defined (archived too), for showing earned badges. */
  async badgesById(workspaceId: string): Promise<Map<string, Badge>> {
    const all = (await rows<BadgeRow>(this.db, sql`SELECT id, definition, created_at FROM gamification.badges WHERE workspace_id = ${workspaceId}`)).map(toBadge);
    return new Map(all.map((b) => [b.id, b]));
  }

  async settings(workspaceId: string): Promise<GamificationSettings> {
    return (await this.load(this.db, workspaceId)).settings;
  }

  async updateSettings(workspaceId: string, patch: z.infer<typeof settingsPatch>): Promise<GamificationSettings> {
    if (patch.timezone !== undefined && !isTimeZone(patch.timezone)) throw new AppError('validation_failed', `Unknown time zone "${patch.timezone}"`, { errors: [{ path: 'body.timezone', message: 'not an IANA time zone' }] });
    const current = await this.settings(workspaceId);
    if (patch.rewards) {
      // A reward unlocked by a badge no one can earn would never be granted: name the field.
      const keys = new Set((await this.listBadges(workspaceId)).map((b) => b.key));
      const errors = patch.rewards.flatMap((r, i) => ('badge' in r.unlock && !keys.has(r.unlock.badge) ? [{ path: `body.rewards.${i}.unlock.badge`, message: `no badge with key "${r.unlock.badge}"` }] : []));
      const seen = new Set<string>();
      patch.rewards.forEach((r, i) => {
        if (seen.has(r.key)) errors.push({ path: `body.rewards.${i}.key`, message: 'another reward has this key' });
        seen.add(r.key);
      });
      if (errors.length) throw new AppError('validation_failed', `Invalid rewards: ${errors.map((e) => `${e.path}: ${e.message}`).join('; ')}`, { errors });
    }
    const next = settingsSchema.parse({
      timezone: patch.timezone ?? current.timezone,
      levels: { ...current.levels, ...(patch.levels ?? {}) },
      freezes: patch.freezes ?? current.freezes,
      rewards: patch.rewards ?? current.rewards,
    });
    await this.db.execute(
      sql`UPDATE gamification.settings SET settings = ${JSON.stringify(next)}::jsonb, config_version = config_version + 1, updated_at = ${this.clock.now().toISOString()} WHERE workspace_id = ${workspaceId}`,
    );
    return next;
  }
}
