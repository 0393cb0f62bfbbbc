// Fails when a generated document (permission matrix, errors, events, OpenAPI, the web client's types)
// differs from what the code produces.
import { spawnSync } from 'node:child_process';
for (const args of [['scripts/ensure-build.mjs'], ['dist/src/apps/generate-docs.js', '--check'], ['scripts/web-api-types.mjs', '--check']]) {
  const r = spawnSync(process.execPath, args, { stdio: 'inherit' });
  if (r.status !== 0) process.exit(r.status ?? 1);
}
