// Compiles the server (src/, bench/) to dist/ for running: esbuild strips the types file by file
// (the same layout and ESM output tsc gives, for tests, benches and scripts), in about a second instead of tsc's
// half minute. Types are checked by `npm run lint` (tsc --noEmit) and in CI, not on every start;
// tsconfig.json's isolatedModules makes tsc refuse what a file-by-file transpile cannot compile.
//   node scripts/transpile.mjs            compile everything
import { readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
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

// What `v01t` runs (bin/v01t.js): the CLI and the platform in one file with drizzle-orm, whose
// hundreds of small modules each cost the ESM loader time and memory (ADR 0065: 1.4 s and 230 MB
// of imports become about 0.6 s and 110 MB). Other packages stay external: some find their
// files beside their own modules (__dirname), and native ones cannot be bundled.
// Code split: what the source imports with `import()` (the database engine of the configuration,
// DuckDB or ClickHouse, …) goes to chunks under dist/v01t-chunks/ that load on that call, so the
// packages they import stay unloaded until then (ADR 0073). Without splitting esbuild would hoist
// their imports to the top of the one file. Old chunks are removed first (names carry hashes).
const inline = ['drizzle-orm'];
rmSync('dist/v01t-chunks', { recursive: true, force: true });
await build({
  entryPoints: { v01t: 'src/apps/cli.ts' },
  outdir: 'dist',
  splitting: true,
  chunkNames: 'v01t-chunks/[name]-[hash]',
  bundle: true,
  format: 'esm',
  platform: 'node',
  target: 'node22',
  sourcemap: true,
  logLevel: 'warning',
  plugins: [
    {
      name: 'external-packages',
      setup(b) {
        b.onResolve({ filter: /^[^./]/ }, (a) => (inline.some((p) => a.path === p || a.path.startsWith(`${p}/`)) ? undefined : { path: a.path, external: true }));
      },
    },
  ],
});

// V8 keeps every module's source text for lazy compilation, one byte per character when all of it
// is Latin-1 and two bytes otherwise: five arrows and dashes in the comments esbuild keeps made the
// 1.3 MB bundle a 2.6 MB string for the life of the process (ADR 0085). esbuild already escapes
// such characters in strings, templates and regular expressions (charset ascii, its default), so
// what is left sits in comments; a \uXXXX escape means the same character anywhere in JavaScript.
for (const file of ['dist/v01t.js', ...readdirSync('dist/v01t-chunks').filter((f) => f.endsWith('.js')).map((f) => join('dist/v01t-chunks', f))]) {
  const text = readFileSync(file, 'utf8');
  const latin1 = text.replace(/[\u0100-\uffff]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
  if (latin1 !== text) writeFileSync(file, latin1);
}
