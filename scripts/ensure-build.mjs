// Builds what `npm start` runs when its sources changed, so it works on a fresh clone and stays fast
// afterwards: the server (tsc into dist/) and the web app (Vite into dist/web/).
import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync, statSync, utimesSync } from 'node:fs';
import { join } from 'node:path';

function newestMtime(dir, exts) {
  if (!existsSync(dir)) return 0;
  let newest = 0;
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const full = join(dir, entry.name);
    if (entry.isDirectory()) newest = Math.max(newest, newestMtime(full, exts));
    else if (exts.some((e) => entry.name.endsWith(e))) newest = Math.max(newest, statSync(full).mtimeMs);
  }
  return newest;
}
const mtime = (f) => (existsSync(f) ? statSync(f).mtimeMs : 0);

function rebuild(marker, sourcesMtime, label, args) {
  if (existsSync(marker) && sourcesMtime <= mtime(marker)) return;
  const started = Date.now();
  process.stderr.write(`v01t: building ${label}…\n`);
  execFileSync(process.execPath, args, { stdio: 'inherit' });
  // A build leaves an unchanged file's mtime alone; touch the marker so the next start skips it.
  const now = new Date();
  utimesSync(marker, now, now);
  process.stderr.write(`v01t: built ${label} in ${((Date.now() - started) / 1000).toFixed(1)} s\n`);
}

const pkg = mtime('package.json');
// esbuild strips the types file by file (about a second); tsc checks them in `npm run lint` and CI.
rebuild('dist/src/apps/cli.js', Math.max(newestMtime('src', ['.ts']), newestMtime('bench', ['.ts']), pkg), 'the server (esbuild)', ['scripts/transpile.mjs']);
// The web app is optional at run time: an install without its build tools (npm ci --omit=dev) serves the API only.
if (existsSync('node_modules/vite/bin/vite.js') && existsSync('web/index.html')) {
  rebuild('dist/web/index.html', Math.max(newestMtime('web', ['.ts', '.tsx', '.css', '.html', '.svg']), pkg), 'the web app (vite)', [
    'node_modules/vite/bin/vite.js',
    'build',
    '--config',
    'web/vite.config.ts',
    '--logLevel',
    'warn',
  ]);
}
