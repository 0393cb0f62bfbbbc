// Fails when a generated document (permission matrix, OpenAPI) differs from what the code produces.
import { execFileSync } from 'node:child_process';
execFileSync(process.execPath, ['scripts/ensure-build.mjs'], { stdio: 'inherit' });
execFileSync(process.execPath, ['dist/src/apps/generate-docs.js', '--check'], { stdio: 'inherit' });
