import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { randomUUID } from 'node:crypto';
import { trace } from '@opentelemetry/api';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { loadPlatformConfig } from '../../src/apps/config.js';
import { VERSION } from '../../src/apps/platform.js';
import { startTracing, tracingEnabled, type TracingHandle } from '../../src/kernel/telemetry/tracing.js';
import { bearer, createWorkspace, signup, type TestUser } from '../helpers/api.js';
import { startOtlpReceiver, type OtlpReceiver, type ReceivedSpan } from '../helpers/otlp-receiver.js';
import { createTestPlatform, type TestPlatform } from '../helpers/platform.js';
import { waitFor } from '../events/poll.js';

/**
 * Tracing (ADR 0058) against an OTLP/HTTP receiver that decodes the protobuf export: a workflow
 * run started by a webhook is one trace from the HTTP request through the job queue, the run and
 * each step to the outbound call, whose receiver continues it (`traceparent`); the bus deliveries
 * of the run's events belong to it too. Sampling 0 exports nothing; by default no SDK is loaded.
 */

// Counts imports of the SDK: with tracing off it must never be loaded.
const sdk = vi.hoisted(() => ({ imports: 0 }));
vi.mock('@opentelemetry/sdk-trace', async (importOriginal) => {
  sdk.imports++;
  return importOriginal();
});

const SPAN_KIND = { internal: 1, server: 2, client: 3, consumer: 5 };

/** A local HTTP endpoint for the workflow's http step: records the traceparent of each call. */
async function target(): Promise<{ url: string; traceparents: string[]; close(): Promise<void> }> {
  const traceparents: string[] = [];
  const server = http.createServer((req, res) => {
    req.resume();
    req.on('end', () => {
      traceparents.push(String(req.headers.traceparent ?? ''));
      res.setHeader('content-type', 'application/json');
      res.end('{"ok":true}');
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/orders`, traceparents, close: () => new Promise<void>((r) => server.close(() => r())) };
}

describe('tracing off by default', () => {
  it('loads no SDK and leaves the API a no-op without an endpoint', async () => {
    const config = loadPlatformConfig({ NODE_ENV: 'test', V01T_EPHEMERAL: 'true' });
    expect(config.tracing).toMatchObject({ url: undefined, sampler: 'parentbased_traceidratio', ratio: 0.1, serviceName: 'v01t' });
    const handle = await startTracing(config.tracing, { version: VERSION });
    expect(handle.enabled).toBe(false);
    expect(tracingEnabled()).toBe(false);
    expect(sdk.imports).toBe(0);
    const span = trace.getTracer('probe').startSpan('probe');
    expect(span.isRecording()).toBe(false);
    expect(span.spanContext().traceId).toBe('0'.repeat(32));
    // An endpoint with the SDK disabled is off too.
    const disabled = loadPlatformConfig({ NODE_ENV: 'test', V01T_EPHEMERAL: 'true', OTEL_EXPORTER_OTLP_ENDPOINT: 'http://127.0.0.1:1', OTEL_SDK_DISABLED: 'true' });
    expect(disabled.tracing.url).toBeUndefined();
  });
});

describe('a webhook-started workflow run is one trace', () => {
  let otlp: OtlpReceiver;
  let dest: Awaited<ReturnType<typeof target>>;
  let tracing: TracingHandle;
  let t: TestPlatform;
  let owner: TestUser;
  let base: string;
  let hookUrl: string;
  const lines: string[] = [];

  /** Starts tracing from the OTEL_* variables, as `v01t start` does. */
  const startFrom = async (env: Record<string, string>) => {
    const config = loadPlatformConfig({ NODE_ENV: 'test', V01T_EPHEMERAL: 'true', OTEL_EXPORTER_OTLP_ENDPOINT: otlp.url, OTEL_BSP_SCHEDULE_DELAY: '50', ...env });
    tracing = await startTracing(config.tracing, { version: VERSION });
    expect(tracing.enabled).toBe(true);
  };

  /** POSTs the webhook over real HTTP and waits for the run to succeed and reach the target. */
  const fire = async (marker: string): Promise<string> => {
    const calls = dest.traceparents.length;
    const res = await fetch(`${base}${hookUrl}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ order: marker }) });
    expect(res.status).toBe(202);
    const { runId } = (await res.json()) as { runId: string };
    await waitFor(
      async () => {
        const run = (await t.inject({ method: 'GET', url: `/v1/workspaces/${ws}/runs/${runId}`, headers: bearer(owner.token) })).json().run;
        return run.status === 'succeeded' && dest.traceparents.length > calls ? run : null;
      },
      { timeoutMs: 20_000, what: 'the webhook run to succeed' },
    );
    return runId;
  };
  let ws: string;

  beforeAll(async () => {
    otlp = await startOtlpReceiver();
    dest = await target();
    // Sampling 0 first: the platform is built while tracing is on (its HTTP server runs requests in spans).
    await startFrom({ OTEL_TRACES_SAMPLER_ARG: '0' });
    t = await createTestPlatform(
      { V01T_EGRESS_ALLOW: '127.0.0.1', V01T_EVENT_POLL_MS: '20', WORKFLOW_POLL_SECONDS: '0.5', LOG_LEVEL: 'info', LOG_ACCESS: 'true' },
      { logDestination: { write: (l: string) => void lines.push(l) } },
    );
    await t.platform.startServices();
    base = (await t.platform.app.listen({ host: '127.0.0.1', port: 0 })).replace('localhost', '127.0.0.1');
    owner = await signup(t, 'Tracer');
    ws = await createWorkspace(t, owner);
    const res = await t.inject({
      method: 'POST',
      url: `/v1/workspaces/${ws}/workflows`,
      headers: bearer(owner.token),
      payload: {
        name: 'traced hook',
        trigger: { type: 'webhook' },
        steps: [
          { id: 'prep', type: 'transform', with: { expression: '{"order": input.order}' } },
          { id: 'call', type: 'http', with: { url: dest.url, method: 'POST', body: '=steps.prep.output' } },
        ],
      },
    });
    expect(res.statusCode, res.body).toBe(201);
    hookUrl = res.json().webhook.url;
  }, 60_000);

  afterAll(async () => {
    await t?.close();
    await tracing?.shutdown();
    await otlp?.close();
    await dest?.close();
  });

  it('exports nothing at sampling 0, while the context still reaches the target (not sampled)', async () => {
    expect(sdk.imports).toBe(1);
    await fire(`m-${randomUUID()}`);
    await tracing.flush();
    expect(otlp.spans).toEqual([]);
    expect(dest.traceparents.at(-1)).toMatch(/^00-[0-9a-f]{32}-[0-9a-f]{16}-00$/);
    await tracing.shutdown();
    expect(tracingEnabled()).toBe(false);
  });

  it('exports the HTTP request, the job, the run, each step and the outbound call as one trace', async () => {
    await startFrom({ OTEL_TRACES_SAMPLER: 'parentbased_traceidratio', OTEL_TRACES_SAMPLER_ARG: '1', OTEL_SERVICE_NAME: 'v01t-test' });
    const marker = `m-${randomUUID()}`;
    await fire(marker);
    const server = await waitFor(
      async () => {
        await tracing.flush();
        const s = otlp.spans.find((x) => x.kind === SPAN_KIND.server && x.name === 'POST /hooks/workflows/:token');
        // Wait for the last spans of the trace too (the run's, the deliveries of its events).
        const trace = s ? otlp.spans.filter((x) => x.traceId === s.traceId) : [];
        return s && trace.some((x) => x.name === 'workflow run') && trace.some((x) => x.name === 'deliver workflow.run.succeeded.v1') ? s : null;
      },
      { timeoutMs: 20_000, what: 'the trace of the webhook run' },
    );
    const spans = otlp.spans.filter((x) => x.traceId === server.traceId);
    const byId = new Map(spans.map((s) => [s.spanId, s]));
    const one = (pred: (s: ReceivedSpan) => boolean, what: string) => {
      const found = spans.filter(pred);
      expect(found, what).toHaveLength(1);
      return found[0]!;
    };
    /** The span's ancestors up to the root, all in this trace. */
    const ancestry = (s: ReceivedSpan): string[] => {
      const names: string[] = [];
      for (let p = byId.get(s.parentSpanId); p; p = byId.get(p.parentSpanId)) names.push(p.name);
      return names;
    };

    expect(server.parentSpanId).toBe('');
    expect(server.attributes).toMatchObject({ 'http.request.method': 'POST', 'http.route': '/hooks/workflows/:token', 'http.response.status_code': 202 });
    expect(server.resource).toMatchObject({ 'service.name': 'v01t-test', 'service.version': VERSION });
    // The job the webhook enqueued (a later wake-up of the same run, e.g. after a lease conflict, would be another job of this trace).
    const job = spans.find((s) => s.kind === SPAN_KIND.consumer && s.name === 'process workflow-run' && s.parentSpanId === server.spanId);
    expect(job, 'the job span, a child of the request span').toBeDefined();
    expect(job!.attributes).toMatchObject({ 'messaging.system': 'pg-boss', 'messaging.destination.name': 'workflow-run' });
    const prep = one((s) => s.name === 'workflow step prep', 'the transform step span');
    const call = one((s) => s.name === 'workflow step call', 'the http step span');
    expect(call.attributes).toMatchObject({ 'v01t.workflow.step.type': 'http', 'v01t.workflow.step.attempt': 1 });
    for (const step of [prep, call]) expect(ancestry(step)).toEqual(['workflow run', 'process workflow-run', 'POST /hooks/workflows/:token']);
    const egress = one((s) => s.kind === SPAN_KIND.client && s.attributes['http.request.method'] === 'POST', 'the outbound call span');
    expect(egress.parentSpanId).toBe(call.spanId);
    expect(egress.attributes).toMatchObject({ 'server.address': new URL(dest.url).host, 'http.response.status_code': 200 });
    // The target continued the trace from the egress span.
    expect(dest.traceparents.at(-1)).toBe(`00-${server.traceId}-${egress.spanId}-01`);

    // The run's events crossed the bus in the same trace (the workflow-engine's trigger group consumes every event).
    const delivered = spans.filter((s) => s.kind === SPAN_KIND.consumer && s.name.startsWith('deliver workflow.run.'));
    expect(delivered.length).toBeGreaterThan(0);
    expect(delivered[0]!.attributes).toMatchObject({ 'messaging.consumer.group.name': expect.any(String) });

    // Statements are spans of the request and the run, named by kind and table, with no statement text or values.
    const statements = spans.filter((s) => s.attributes['db.system.name'] === 'postgresql');
    expect(statements.some((s) => ancestry(s).at(-1) === 'POST /hooks/workflows/:token' && s.parentSpanId === server.spanId)).toBe(true);
    expect(statements.some((s) => ancestry(s).includes('workflow run'))).toBe(true);
    expect(JSON.stringify(spans)).not.toContain(marker);

    // The access line of the request carries its trace id.
    const access = lines.map((l) => JSON.parse(l) as Record<string, unknown>).find((l) => l['url.path'] === '/hooks/workflows/:token' && l.trace_id === server.traceId);
    expect(access, 'the access line of the webhook request with its trace_id').toBeDefined();
    expect(access!.span_id).toBe(server.spanId);
  });
});
