// Compiles the server (src/, bench/) to dist/ for running: esbuild strips the types file by file
// (no bundling, the same layout and ESM output tsc gives), in about a second instead of tsc's
// half minute. Types are checked by `npm run lint` (tsc --noEmit) and in CI, not on every start;
// tsconfig.json's isolatedModules makes tsc refuse what a file-by-file transpile cannot compile.
//   node scripts/transpile.mjs            compile everything
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { build } from 'esbuild';

function sources(dir) {
  const out = [];
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const full = join(dir, entry.name);
    if (entry.isDirectory()) out.push(...sources(full));
    else if (entry.name.endsWith('.ts') && !entry.name.endsWith('.test.ts') && !entry.name.endsWith('.d.ts')) out.push(full);
  }
  return out;
}

const entryPoints = [...sources('src'), ...sources('bench')];
await build({
  entryPoints,
  outdir: 'dist',
  outbase: '.',
  bundle: false,
  format: 'esm',
  platform: 'node',
  target: 'node22',
  sourcemap: true,
  logLevel: 'warning',
});
