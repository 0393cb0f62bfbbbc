import { randomBytes, randomUUID } from 'node:crypto';
import os from 'node:os';
import path from 'node:path';
import fs from 'node:fs';
import pg from 'pg';
import { inject } from 'vitest';
import { loadPlatformConfig } from '../../src/apps/config.js';
import { ManualClock } from '../../src/kernel/clock.js';
import { loggerFor } from '../../src/kernel/telemetry/logger.js';
import { createPlatform, type Platform, type PlatformOptions } from '../../src/apps/platform.js';
import { checkResponses, OpenApiContract, type OpenApiDocument } from './openapi-contract.js';

import { ADMIN_PG_URL, TEST_DB, TEST_REDIS, TEST_REDIS_URL } from './test-env.js';

export { ADMIN_PG_URL, TEST_DB, TEST_REDIS, TEST_REDIS_URL };

/** A fresh PostgreSQL database for one test file; dropped by the returned function. */
export async function freshPostgresDatabase(): Promise<{ url: string; drop: () => Promise<void> }> {
  const name = `v01t_t_${randomBytes(6).toString('hex')}`;
  const admin = new pg.Client({ connectionString: ADMIN_PG_URL });
  await admin.connect();
  await admin.query(`CREATE DATABASE ${name}`);
  await admin.end();
  const url = new URL(ADMIN_PG_URL);
  url.pathname = `/${name}`;
  return {
    url: url.toString(),
    drop: async () => {
      const c = new pg.Client({ connectionString: ADMIN_PG_URL });
      await c.connect();
      await c.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
      await c.end();
    },
  };
}

export interface TestPlatform {
  platform: Platform;
  clock: ManualClock;
  dataDir: string;
  inject: Platform['app']['inject'];
  close(): Promise<void>;
}

/**
 * A whole v01t (all built services) on in-memory PGlite or a fresh PostgreSQL database, memory
 * cache or Redis under a unique prefix, a manual clock, cheap argon2 parameters and silent logs.
 */
export async function createTestPlatform(
  env: Record<string, string> = {},
  opts: { clock?: ManualClock; extraRoutes?: PlatformOptions['extraRoutes']; logDestination?: { write(line: string): void } } = {},
): Promise<TestPlatform> {
  const clock = opts.clock ?? new ManualClock(new Date());
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'v01t-test-'));
  let pgDb: { url: string; drop: () => Promise<void> } | undefined;
  const base: Record<string, string> = {
    NODE_ENV: 'test',
    V01T_DATA_DIR: dataDir,
    V01T_EPHEMERAL: 'true',
    V01T_MASTER_KEY: randomBytes(32).toString('hex'),
    ARGON2_MEMORY_KIB: '1024',
    ARGON2_TIME_COST: '1',
    LOG_LEVEL: process.env.V01T_TEST_LOG_LEVEL ?? 'silent',
    // Suites sign many users up and in from one injected address; the suites of these limits set their own.
    SIGNUP_MAX_PER_IP_PER_HOUR: '1000000',
    LOGIN_MAX_PER_IP_PER_MINUTE: '1000000',
    // Suites move the manual clock themselves: the publisher claims only what is due (its
    // look-ahead, which sleeps until a target is due, has its own suite with an injected sleep).
    CONTENT_PUBLISHER_LOOKAHEAD_MS: '0',
  };
  if (TEST_DB === 'postgres') {
    pgDb = await freshPostgresDatabase();
    base.DATABASE_URL = pgDb.url;
    base.DATABASE_POOL_MAX = '5';
  }
  if (TEST_REDIS) {
    base.REDIS_URL = TEST_REDIS_URL;
    base.REDIS_KEY_PREFIX = `v01t-test:${randomUUID()}:`;
  }
  const config = loadPlatformConfig({ ...base, ...env });
  const snapshotFile = TEST_DB === 'pglite' ? inject('pgliteSnapshot') : undefined;
  const pgliteSnapshot = snapshotFile && !env.DATABASE_URL ? new Blob([fs.readFileSync(snapshotFile)]) : undefined;
  const platform = await createPlatform({ config, clock, logger: loggerFor(config.log, opts.logDestination), extraRoutes: opts.extraRoutes, pgliteSnapshot });
  // Every response a suite sees must match the document the server publishes (docs/openapi.json
  // is that document, kept in sync by npm run lint), so the contract cannot drift from the code.
  let contract: OpenApiContract | undefined;
  checkResponses(platform.app, () => (contract ??= new OpenApiContract(platform.app.swagger() as unknown as OpenApiDocument)));
  return {
    platform,
    clock,
    dataDir,
    inject: platform.app.inject.bind(platform.app),
    async close() {
      await platform.close();
      await pgDb?.drop();
      fs.rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

declare module 'vitest' {
  export interface ProvidedContext {
    /** A PGlite data directory with every migration applied (test/global-setup.ts). */
    pgliteSnapshot: string | undefined;
  }
}
