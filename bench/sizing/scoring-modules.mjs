// What the PGlite scoring benches (pglite-scoring.mjs, pglite-maintenance.mjs) import from a
// build's dist folder, and the migration sets of a scoring database, so two builds can be compared.
import path from 'node:path';
import { pathToFileURL } from 'node:url';

export async function scoringModules(dist) {
  const at = (p) => import(pathToFileURL(path.resolve(dist, p)).href);
  const [gamification, { openDatabase }, { migrate }, { AUDIT_MIGRATIONS }, { EVENTS_MIGRATION_SET }, { GAMIFICATION_MIGRATIONS }] = await Promise.all([
    at('bench/gamification.js'),
    at('src/kernel/db/database.js'),
    at('src/kernel/db/migrate.js'),
    at('src/kernel/audit/index.js'),
    at('src/kernel/events/index.js'),
    at('src/services/gamification/migrations.js'),
  ]);
  const migrationSets = [{ service: 'kernel', migrations: AUDIT_MIGRATIONS }, EVENTS_MIGRATION_SET, { service: 'gamification', migrations: GAMIFICATION_MIGRATIONS }];
  return { ...gamification, openDatabase, migrate, migrationSets, at };
}
