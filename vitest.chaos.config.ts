import { defineConfig } from 'vitest/config';

/**
 * The chaos suite (`npm run test:chaos`): the split shape as separate processes on its own
 * PostgreSQL, Redis and mock Kafka, which it kills and restarts. Needs the build (`npm run build`),
 * PostgreSQL server binaries, redis-server, gcc and librdkafka-dev; kept out of `npm test`.
 */
export default defineConfig({
  test: {
    include: ['test/chaos/**/*.test.ts'],
    environment: 'node',
    pool: 'forks',
    maxWorkers: 1,
    testTimeout: 15 * 60_000,
    hookTimeout: 10 * 60_000,
    reporters: ['default'],
  },
});
