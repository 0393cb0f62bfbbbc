import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { availableModules } from '../../src/apps/platform.js';
import { createTestPlatform, type TestPlatform } from '../helpers/platform.js';

/**
 * The gateway of the distributed shape forwards a path to the service whose manifest declares it
 * in `publicRoutes` (ADR 0055). These declarations are checked against what each service really
 * registers, so a new route cannot be left unreachable through the public entry, and no path can
 * belong to two services.
 */
const modules = availableModules(() => new Map());
const forwarded = Object.values(modules).filter((m) => m?.publicRoutes?.length) as { name: string; publicRoutes: readonly string[] }[];
/** Routes every process serves for itself (probes, metrics, docs, internal APIs). */
const PER_PROCESS = /^\/(health|ready|metrics|openapi\.json|docs|internal)(\/|$)/;

function segments(path: string): string[] {
  return path.split('/').filter(Boolean);
}
/** Whether `prefix` covers `route`: its segments start the route's, a parameter matching any parameter. */
export function covers(prefix: string, route: string): boolean {
  const p = segments(prefix);
  const r = segments(route);
  return p.length <= r.length && p.every((seg, i) => (seg.startsWith(':') ? r[i]!.startsWith(':') : seg === r[i]));
}

const INTERNAL_TOKEN = 'route-ownership-internal-token-0123456789';
const routesOf = new Map<string, string[]>();
let platforms: TestPlatform[] = [];

beforeAll(async () => {
  for (const name of [...forwarded.map((m) => m.name), 'orchestrator']) {
    const env: Record<string, string> = { V01T_SERVICES: name, V01T_INTERNAL_TOKEN: INTERNAL_TOKEN };
    if (name !== 'orchestrator') env.V01T_ORCHESTRATOR_URL = 'http://127.0.0.1:9';
    const t = await createTestPlatform(env);
    platforms.push(t);
    routesOf.set(name, [...new Set(t.platform.app.registeredRoutes().map((r) => r.url))].filter((u) => !PER_PROCESS.test(u)));
  }
}, 180_000);
afterAll(async () => {
  await Promise.all(platforms.map((t) => t.close()));
  platforms = [];
});

describe('publicRoutes of the manifests', () => {
  it('every public route of a service is declared by its manifest, and every declaration serves something', () => {
    expect(forwarded.map((m) => m.name).sort()).toEqual(['analytics-engine', 'content-scheduler', 'gamification', 'integration-hub', 'workflow-engine']);
    for (const m of forwarded) {
      const routes = routesOf.get(m.name)!;
      expect(routes.length, m.name).toBeGreaterThan(0);
      expect(routes.filter((r) => !m.publicRoutes.some((p) => covers(p, r))), `${m.name}: routes no publicRoutes prefix covers`).toEqual([]);
      expect(m.publicRoutes.filter((p) => !routes.some((r) => covers(p, r))), `${m.name}: prefixes that serve nothing`).toEqual([]);
    }
  });

  it("no orchestrator route (nor ops', which it hosts) falls under another service's prefix", () => {
    const own = routesOf.get('orchestrator')!;
    expect(own).toContain('/v1/workspaces/:workspaceId/members');
    expect(own).toContain('/v1/ops/incidents');
    for (const m of forwarded) expect(own.filter((r) => m.publicRoutes.some((p) => covers(p, r))), m.name).toEqual([]);
  });

  it('no path belongs to two services', () => {
    for (const a of forwarded) {
      for (const b of forwarded) {
        if (a === b) continue;
        for (const p of a.publicRoutes) expect(b.publicRoutes.filter((q) => covers(q, p)), `${a.name} ${p} under ${b.name}`).toEqual([]);
      }
    }
  });

  it('the helper matches parameters by position, statics exactly', () => {
    expect(covers('/v1/workspaces/:workspaceId/runs', '/v1/workspaces/:id/runs/:runId/cancel')).toBe(true);
    expect(covers('/v1/workspaces/:workspaceId/runs', '/v1/workspaces/:workspaceId/run')).toBe(false);
    expect(covers('/v1/workspaces/:workspaceId/runs', '/v1/workspaces/members/runs')).toBe(false);
    expect(covers('/hooks/workflows', '/hooks')).toBe(false);
  });
});
