import { defineConfig } from 'vitest/config';

// Browser suites: Debian's Chromium driven by playwright-core against a real `v01t start` process.
// Not part of `npm test` (a machine with only Node has no browser): `npm run test:browser`, run by .ci/run.
export default defineConfig({
  test: {
    include: ['test/browser/**/*.test.ts'],
    environment: 'node',
    testTimeout: 120_000,
    hookTimeout: 180_000,
    pool: 'forks',
    maxWorkers: 1,
    fileParallelism: false,
  },
});
