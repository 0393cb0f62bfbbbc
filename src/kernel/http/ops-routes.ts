import { z } from 'zod';
import type { App } from './server.js';
import { AppError } from '../errors.js';
import { problemResponses, sendProblem } from './problem.js';
import { mediaResponse } from './openapi.js';
import type { MetricsRegistry } from '../telemetry/metrics.js';

export interface ReadinessProbe {
  name: string;
  check(): Promise<void>;
}

/**
 * The runbook's probes: /health (liveness, touches nothing), /ready (dependencies and migrations),
 * /metrics (Prometheus text), and /openapi.json.
 */
export function opsRoutes(app: App, deps: { probes: ReadinessProbe[]; registry: MetricsRegistry; probeTimeoutMs?: number }): void {
  const timeout = deps.probeTimeoutMs ?? 2000;
  app.get('/health', {
    config: { auth: 'none' },
    schema: { tags: ['operations'], summary: 'Liveness: the process answers', security: [], response: { 200: z.object({ status: z.literal('ok') }) } },
    handler: async () => ({ status: 'ok' as const }),
  });

  app.get('/ready', {
    config: { auth: 'none' },
    schema: { tags: ['operations'], summary: 'Readiness: database (and Redis) answer, migrations applied', security: [], response: { 200: z.object({ status: z.literal('ready'), checks: z.record(z.string(), z.string()) }), ...problemResponses(503) } },
    handler: async (request, reply) => {
      const checks: Record<string, string> = {};
      const failing: string[] = [];
      await Promise.all(
        deps.probes.map(async (p) => {
          let timer: NodeJS.Timeout | undefined;
          try {
            await Promise.race([
              p.check(),
              new Promise((_, reject) => {
                timer = setTimeout(() => reject(new Error(`no answer within ${timeout} ms`)), timeout);
              }),
            ]);
            checks[p.name] = 'ok';
          } catch (err) {
            checks[p.name] = `failed: ${(err as Error).message}`.slice(0, 300);
            failing.push(p.name);
          } finally {
            clearTimeout(timer);
          }
        }),
      );
      if (failing.length) {
        return sendProblem(reply, new AppError('service_unavailable', `Not ready: ${failing.sort().join(', ')}`, { checks }), request);
      }
      return { status: 'ready' as const, checks };
    },
  });

  app.get('/metrics', {
    config: { auth: 'none' },
    schema: { tags: ['operations'], summary: 'Prometheus metrics', security: [], response: { 200: mediaResponse('text/plain', z.string(), 'Prometheus text exposition format 0.0.4') } },
    handler: async (request, reply) => {
      // Rendered metric by metric: one failing collector (a gauge reading the database during an
      // outage) must not turn the whole scrape into a 500 and blind monitoring when it matters.
      const parts = await Promise.all(
        deps.registry.getMetricsAsArray().map(async (m) => {
          try {
            return await deps.registry.getSingleMetricAsString(m.name);
          } catch (err) {
            request.log.warn({ err, metric: m.name }, 'metric collection failed; left out of this scrape');
            return undefined;
          }
        }),
      );
      const body = `${parts.filter((p): p is string => p !== undefined).join('\n\n')}\n`;
      return reply.type(deps.registry.contentType).send(body);
    },
  });

  app.get('/openapi.json', {
    config: { auth: 'none' },
    schema: { hide: true },
    handler: async () => app.swagger(),
  });
}
