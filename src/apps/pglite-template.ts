/**
 * `node dist/src/apps/pglite-template.js [DIR]`: prepares the pre-initialised embedded database of
 * this build (initdb + every migration) under DIR (default dist/pglite-template), which a start on
 * an empty data folder copies instead of running initdb (ADR 0065). Run by scripts/ensure-build.mjs
 * after the server is built; does nothing when the template of these migrations exists.
 */
import { buildPgliteTemplate } from '../kernel/db/pglite-template.js';
import { installWakeQueueSchema } from '../kernel/jobs/wake-queue.js';
import { restrictUmask } from '../kernel/private-fs.js';
import { availableModules, PGLITE_TEMPLATE_DIR, platformMigrationSets } from './platform.js';

restrictUmask();
const root = process.argv[2] ?? PGLITE_TEMPLATE_DIR;
if (!root) throw new Error('no template folder: pass one');
const modules = Object.values(availableModules(() => new Map())).filter((m) => m !== undefined);
const { dir, built } = await buildPgliteTemplate(root, platformMigrationSets(modules), installWakeQueueSchema);
process.stderr.write(built ? `v01t: embedded database template ready in ${dir}\n` : '');
