import { PERSONAS } from '../../kernel/auth/permissions.js';
import type { GamificationSettings, RuleInput } from './schemas.js';
import type { z } from 'zod';
import type { badgeBody } from './schemas.js';

/** Rules every workspace starts with; admins edit or disable them. */
export const DEFAULT_RULES: RuleInput[] = [
  // vCreator
  { name: 'Published content', event: 'content.post.published.v1', filter: null, persona: 'vCreator', metric: 'Creativity Score', points: 10, dailyCap: 100,
    streak: { activity: 'publish', cadence: 'daily' }, multipliers: [{ activity: 'publish', cadence: 'daily', minStreak: 5, factor: 1.5 }], enabled: true },
  { name: 'Launched campaign', event: 'content.campaign.launched.v1', filter: null, persona: 'vCreator', metric: 'Reach Points', points: 50, dailyCap: 200,
    streak: null, multipliers: [], enabled: true },
  // vBuilder
  { name: 'Configured app', event: 'integration.app.configured.v1', filter: null, persona: 'vBuilder', metric: 'Build Score', points: 20, dailyCap: 100,
    streak: null, multipliers: [], enabled: true },
  { name: 'Successful deployment', event: 'workflow.deployment.succeeded.v1', filter: null, persona: 'vBuilder', metric: 'Build Score', points: 30, dailyCap: 300,
    streak: { activity: 'deploy', cadence: 'daily' }, multipliers: [{ activity: 'deploy', cadence: 'daily', minStreak: 3, factor: 1.5 }], enabled: true },
  // vAnalyst
  { name: 'Report run', event: 'analytics.report.run.v1', filter: null, persona: 'vAnalyst', metric: 'Insight Points', points: 5, dailyCap: 50,
    streak: { activity: 'analyse', cadence: 'daily' }, multipliers: [], enabled: true },
  { name: 'Insight created', event: 'analytics.insight.created.v1', filter: null, persona: 'vAnalyst', metric: 'Insight Points', points: 25, dailyCap: 250,
    streak: null, multipliers: [], enabled: true },
  // vAutomator
  { name: 'Workflow completed', event: 'workflow.run.succeeded.v1', filter: null, persona: 'vAutomator', metric: 'Automation XP', points: 10, dailyCap: 200,
    streak: { activity: 'automate', cadence: 'daily' }, multipliers: [{ activity: 'automate', cadence: 'daily', minStreak: 7, factor: 2 }], enabled: true },
  // founder: momentum across the whole business, shipped weekly
  { name: 'Campaign shipped', event: 'content.campaign.launched.v1', filter: null, persona: 'founder', metric: 'Momentum', points: 20, dailyCap: 100,
    streak: { activity: 'ship', cadence: 'weekly' }, multipliers: [], enabled: true },
  { name: 'Deployment shipped', event: 'workflow.deployment.succeeded.v1', filter: null, persona: 'founder', metric: 'Momentum', points: 20, dailyCap: 100,
    streak: { activity: 'ship', cadence: 'weekly' }, multipliers: [], enabled: true },
  { name: 'Insight shared', event: 'analytics.insight.created.v1', filter: null, persona: 'founder', metric: 'Momentum', points: 10, dailyCap: 50,
    streak: null, multipliers: [], enabled: true },
];

export const DEFAULT_BADGES: z.input<typeof badgeBody>[] = [
  { key: 'trendsetter', name: 'Trendsetter', description: 'Launched 10 campaigns', persona: 'vCreator', criteria: { kind: 'count', event: 'content.campaign.launched.v1', atLeast: 10 } },
  { key: 'rapid-builder', name: 'Rapid Builder', description: '5 successful deployments', persona: 'vBuilder', criteria: { kind: 'count', event: 'workflow.deployment.succeeded.v1', atLeast: 5 } },
  { key: 'first-automation', name: 'First Automation', description: 'A workflow completed for the first time', persona: 'vAutomator', criteria: { kind: 'count', event: 'workflow.run.succeeded.v1', atLeast: 1 } },
  { key: 'automation-week', name: 'Automation Week', description: 'Workflows completed 7 days in a row', persona: 'vAutomator', criteria: { kind: 'streak', activity: 'automate', cadence: 'daily', atLeast: 7 } },
  { key: 'daily-publisher', name: 'Daily Publisher', description: 'Published 5 days in a row', persona: 'vCreator', criteria: { kind: 'streak', activity: 'publish', cadence: 'daily', atLeast: 5 } },
  { key: 'insight-machine', name: 'Insight Machine', description: '500 Insight Points within 30 days', persona: 'vAnalyst', criteria: { kind: 'points', metric: 'Insight Points', atLeast: 500, windowDays: 30 } },
  { key: 'steady-shipper', name: 'Steady Shipper', description: 'Shipped something 4 weeks in a row', persona: 'founder', criteria: { kind: 'streak', activity: 'ship', cadence: 'weekly', atLeast: 4 } },
];

export const DEFAULT_SETTINGS: GamificationSettings = {
  timezone: 'UTC',
  levels: Object.fromEntries(PERSONAS.map((p) => [p, { base: 100, exponent: 1.5, maxLevel: 50 }])) as GamificationSettings['levels'],
  freezes: { earnEvery: 7, maxHeld: 2 },
  rewards: [
    { key: 'builder-template-pack', kind: 'workflow_template', name: 'Deployment workflow templates', unlock: { badge: 'rapid-builder' } },
    { key: 'trendsetter-flair', kind: 'dashboard_flair', name: 'Trendsetter dashboard flair', unlock: { badge: 'trendsetter' } },
    { key: 'automation-shortcuts', kind: 'shortcut', name: 'Automation shortcuts', unlock: { persona: 'vAutomator', level: 5 } },
  ],
};
