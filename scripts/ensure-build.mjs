// Builds dist/ with tsc when any source file is newer than the last build, so `npm start`
// works on a fresh clone and stays fast afterwards.
import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';

const marker = 'dist/src/apps/cli.js';
function newestMtime(dir) {
  let newest = 0;
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const full = join(dir, entry.name);
    if (entry.isDirectory()) newest = Math.max(newest, newestMtime(full));
    else if (entry.name.endsWith('.ts')) newest = Math.max(newest, statSync(full).mtimeMs);
  }
  return newest;
}
const stale =
  !existsSync(marker) ||
  Math.max(newestMtime('src'), newestMtime('bench'), statSync('package.json').mtimeMs) > statSync(marker).mtimeMs;
if (stale) {
  process.stderr.write('v01t: building (tsc)…\n');
  execFileSync(process.execPath, ['node_modules/typescript/bin/tsc', '-p', 'tsconfig.build.json'], { stdio: 'inherit' });
  // tsc leaves an unchanged file's mtime alone; touch the marker so the next start skips the build.
  const now = new Date();
  (await import('node:fs')).utimesSync(marker, now, now);
}
