import { createRequire } from 'node:module';

const requireHere = createRequire(import.meta.url);

/**
 * A package loaded by its first use instead of at start (ADR 0073). Adapters that only a
 * configuration needs (Kafka, Redis, S3, KMS, ClickHouse, DuckDB, SMTP, …) call the returned
 * function where they create their client, so a process that does not use them neither reads nor
 * compiles their modules: a platform process imported ~1,400 modules at start, most of them for
 * adapters it was not configured for. The packages are CommonJS (as their `import` resolves too),
 * so the same module instance serves both; a synchronous `require` keeps the constructors that
 * create clients synchronous. The esbuild bundle (dist/v01t.js) leaves this call alone: the
 * package stays external and is read only when called. Types come from `import type`.
 */
export function lazyPackage<T>(name: string): () => T {
  let loaded: T | undefined;
  return () => (loaded ??= requireHere(name) as T);
}
