/**
 * Which real servers a run uses, from the environment: nothing here starts a platform, so unit and
 * medium tests beside the code may import it (test/helpers/platform.ts is for HTTP suites only).
 */
/** Which database the suite runs on: PGlite by default, the local PostgreSQL with V01T_TEST_DATABASE=postgres. */
export const TEST_DB: 'pglite' | 'postgres' = process.env.V01T_TEST_DATABASE === 'postgres' ? 'postgres' : 'pglite';
export const TEST_REDIS = process.env.V01T_TEST_REDIS === '1';
export const ADMIN_PG_URL = process.env.V01T_TEST_PG_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
export const TEST_REDIS_URL = process.env.V01T_TEST_REDIS_URL ?? 'redis://127.0.0.1:6379';
