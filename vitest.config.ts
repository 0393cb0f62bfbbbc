import fs from 'node:fs';
import path from 'node:path';
import { configDefaults, defineConfig } from 'vitest/config';

/**
 * The operations-kit suites: those that use test/ops/tools.ts or live.ts run promtool, amtool,
 * Prometheus, Alertmanager, shellcheck or the built CLI and bash scripts, and fail (never skip)
 * where a tool is missing. They form their own project, run by `npm run test:ops`, so that
 * `npm install && npm test` passes on a machine with only Node. Picked by what they import, so a
 * new suite that needs the tools lands in the right project without editing this list.
 */
function opsKitSuites(): string[] {
  const dir = 'test/ops';
  if (!fs.existsSync(dir)) return [];
  return fs
    .readdirSync(dir)
    .filter((f) => f.endsWith('.test.ts'))
    .filter((f) => /from '\.\/(tools|live)\.js'/.test(fs.readFileSync(path.join(dir, f), 'utf8')))
    .map((f) => `${dir}/${f}`);
}

const opsKit = opsKitSuites();

export default defineConfig({
  test: {
    globalSetup: ['test/global-setup.ts'],
    environment: 'node',
    testTimeout: 30_000,
    hookTimeout: 60_000,
    pool: 'forks',
    // Two cores: two test files at a time keeps PGlite start-up from starving the rest.
    maxWorkers: 2,
    reporters: ['default'],
    projects: [
      // `npm test`: everything that needs only Node (the browser suites run by `npm run test:browser`).
      { extends: true, test: { name: 'main', include: ['src/**/*.test.ts', 'test/**/*.test.ts', 'web/src/**/*.test.{ts,tsx}'], exclude: [...configDefaults.exclude, ...opsKit, 'test/browser/**', 'test/chaos/**'] } },
      // `npm run test:ops`: the suites that need the Debian tools .ci/run installs.
      { extends: true, test: { name: 'ops', include: opsKit.length > 0 ? opsKit : ['test/ops/__none__.test.ts'] } },
    ],
  },
});
