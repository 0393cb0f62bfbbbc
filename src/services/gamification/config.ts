import { defineConfig, positiveInt, setting } from '../../kernel/config/index.js';

/** The gamification service's settings. */
export const GAMIFICATION_CONFIG = defineConfig(
  'gamification',
  {
    GAMIFICATION_SCORING_BATCH: setting(positiveInt.max(2000).optional(), {
      default: '500 on PostgreSQL, 200 on PGlite',
      description: 'most events the scoring consumer scores in one transaction (postgres bus; a batch costs four statements whatever its size, but holds its rows, and on PGlite the only connection, until it commits)',
    }),
  },
  (e) => ({ scoringBatch: e.GAMIFICATION_SCORING_BATCH }),
);
export type GamificationSettings = ReturnType<typeof GAMIFICATION_CONFIG.read>;
