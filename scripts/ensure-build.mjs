// Builds what `npm start` runs when its sources changed, so it works on a fresh clone and stays fast
// afterwards: the server (esbuild into dist/), the web app (Vite into dist/web/) and the embedded
// database template (dist/pglite-template/, ADR 0065), the last two side by side. Each step says
// what it does and how long it took on standard error.
import { execFileSync, spawn } from 'node:child_process';
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

/** Runs a step in a child process beside the others; resolves when it ends (rejects on failure). */
function step(label, args) {
  const started = Date.now();
  process.stderr.write(`v01t: ${label}…\n`);
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, args, { stdio: 'inherit' });
    child.once('error', reject);
    child.once('exit', (code) => {
      if (code !== 0) return reject(new Error(`${label} failed (exit ${code})`));
      process.stderr.write(`v01t: ${label}: done in ${((Date.now() - started) / 1000).toFixed(1)} s\n`);
      resolve();
    });
  });
}

const pkg = mtime('package.json');
// esbuild strips the types file by file (about a second); tsc checks them in `npm run lint` and CI.
rebuild('dist/src/apps/cli.js', Math.max(newestMtime('src', ['.ts']), newestMtime('bench', ['.ts']), pkg), 'the server (esbuild)', ['scripts/transpile.mjs']);
const steps = [];
// The embedded database a start on an empty data folder copies instead of running initdb (several
// seconds). Its folder is named by PGlite's version and the migrations' checksums: the script
// returns at once when the template of this build exists.
const templates = 'dist/pglite-template';
if (!existsSync(templates) || mtime(templates) < mtime('dist/src/apps/cli.js')) {
  steps.push(
    step('preparing the embedded database template (initdb + migrations)', ['dist/src/apps/pglite-template.js', templates]).then(
      () => {
        const now = new Date();
        utimesSync(templates, now, now);
      },
      // Not fatal: without it a start on an empty data folder runs initdb itself, slower.
      (err) => process.stderr.write(`v01t: ${err.message}: a start on an empty data folder runs initdb instead\n`),
    ),
  );
}
// The web app is optional at run time: an install without its build tools (npm ci --omit=dev) serves the API only.
const webMarker = 'dist/web/index.html';
if (existsSync('node_modules/vite/bin/vite.js') && existsSync('web/index.html')) {
  const webSources = Math.max(newestMtime('web', ['.ts', '.tsx', '.css', '.html', '.svg']), pkg);
  if (!existsSync(webMarker) || webSources > mtime(webMarker)) {
    steps.push(
      step('building the web app (vite)', ['node_modules/vite/bin/vite.js', 'build', '--config', 'web/vite.config.ts', '--logLevel', 'warn']).then(() => {
        // A build leaves an unchanged file's mtime alone; touch the marker so the next start skips it.
        const now = new Date();
        utimesSync(webMarker, now, now);
      }),
    );
  }
}
const results = await Promise.allSettled(steps);
const failed = results.find((r) => r.status === 'rejected');
if (failed) {
  process.stderr.write(`v01t: ${failed.reason.message}\n`);
  process.exit(1);
}
