import { context, propagation, ROOT_CONTEXT, SpanKind, SpanStatusCode, trace, type Attributes, type Context, type Span } from '@opentelemetry/api';
/** What tracing logs through (the platform logger; a local shape keeps logger.ts → tracing.ts one way). */
interface Logger {
  info(obj: object, msg: string): void;
  warn(obj: object, msg: string): void;
}

/**
 * Distributed tracing (OpenTelemetry, OTLP export; ADR 0058). Off unless an OTLP endpoint is
 * configured: then no SDK module is loaded, `@opentelemetry/api` stays the no-op it is without a
 * registered provider, and every helper below returns after one boolean test. On, the SDK is
 * imported once at start, spans go to the endpoint in batches over OTLP/HTTP (protobuf), and the
 * W3C `traceparent` carries the context across processes, the job queue and the event bus.
 */

export interface TracingSettings {
  /** OTLP/HTTP traces URL (…/v1/traces); undefined = tracing off. */
  url?: string;
  /** always_on, always_off, traceidratio, parentbased_always_on, parentbased_always_off, parentbased_traceidratio. */
  sampler: string;
  /** Ratio of the traceidratio samplers (0..1). */
  ratio: number;
  serviceName: string;
  /** How often the batch processor exports (OTEL_BSP_SCHEDULE_DELAY). */
  scheduleDelayMs: number;
}

/** The settings from the standard OTEL_* variables (config: kernel slice; reference docs/config-reference.md). */
export function tracingSettings(e: {
  OTEL_SDK_DISABLED?: boolean;
  OTEL_TRACES_EXPORTER?: string;
  OTEL_EXPORTER_OTLP_ENDPOINT?: string;
  OTEL_EXPORTER_OTLP_TRACES_ENDPOINT?: string;
  OTEL_TRACES_SAMPLER: string;
  OTEL_TRACES_SAMPLER_ARG: number;
  OTEL_SERVICE_NAME?: string;
  OTEL_BSP_SCHEDULE_DELAY: number;
}): TracingSettings {
  const exporter = (e.OTEL_TRACES_EXPORTER ?? 'otlp').trim().toLowerCase();
  const off = e.OTEL_SDK_DISABLED === true || exporter === 'none';
  // Per the specification: the signal-specific endpoint is used as is, the generic one gets /v1/traces.
  const url = off
    ? undefined
    : (e.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT ?? (e.OTEL_EXPORTER_OTLP_ENDPOINT ? `${e.OTEL_EXPORTER_OTLP_ENDPOINT.replace(/\/+$/, '')}/v1/traces` : undefined));
  return { url, sampler: e.OTEL_TRACES_SAMPLER, ratio: e.OTEL_TRACES_SAMPLER_ARG, serviceName: e.OTEL_SERVICE_NAME ?? 'v01t', scheduleDelayMs: e.OTEL_BSP_SCHEDULE_DELAY };
}

export const TRACE_SAMPLERS = ['always_on', 'always_off', 'traceidratio', 'parentbased_always_on', 'parentbased_always_off', 'parentbased_traceidratio'] as const;

let enabled = false;
const TRACER = 'v01t';

/** True while an SDK is registered (startTracing with an endpoint). */
export function tracingEnabled(): boolean {
  return enabled;
}

export interface TracingHandle {
  readonly enabled: boolean;
  /** Exports what is buffered now (tests, and before a process exits). */
  flush(): Promise<void>;
  shutdown(): Promise<void>;
}

const OFF: TracingHandle = { enabled: false, flush: async () => {}, shutdown: async () => {} };

/**
 * Registers the SDK when `settings.url` is set; a second call while one is registered returns a
 * handle that owns nothing (a nested platform, e.g. the backup drill, shares the process's).
 */
export async function startTracing(settings: TracingSettings, o: { version: string; logger?: Logger }): Promise<TracingHandle> {
  if (!settings.url || enabled) return OFF;
  const [{ TracerProvider, BatchSpanProcessor, ParentBasedSampler, TraceIdRatioBasedSampler, AlwaysOnSampler, AlwaysOffSampler }, { AsyncLocalStorageContextManager }, { W3CTraceContextPropagator }, { resourceFromAttributes }, { OTLPTraceExporter }] =
    await Promise.all([
      import('@opentelemetry/sdk-trace'),
      import('@opentelemetry/context-async-hooks'),
      import('@opentelemetry/core'),
      import('@opentelemetry/resources'),
      import('@opentelemetry/exporter-trace-otlp-proto'),
    ]);
  const ratio = Math.min(1, Math.max(0, settings.ratio));
  const root = settings.sampler.endsWith('always_off') ? new AlwaysOffSampler() : settings.sampler.endsWith('always_on') ? new AlwaysOnSampler() : new TraceIdRatioBasedSampler(ratio);
  const sampler = settings.sampler.startsWith('parentbased_') ? new ParentBasedSampler({ root }) : root;
  const exporter = new OTLPTraceExporter({ url: settings.url });
  const processor = new BatchSpanProcessor({ exporter, scheduledDelayMillis: settings.scheduleDelayMs });
  const provider = new TracerProvider({
    sampler,
    resource: resourceFromAttributes({ 'service.name': settings.serviceName, 'service.version': o.version }),
    spanProcessors: [processor],
  });
  const contextManager = new AsyncLocalStorageContextManager().enable();
  context.setGlobalContextManager(contextManager);
  propagation.setGlobalPropagator(new W3CTraceContextPropagator());
  trace.setGlobalTracerProvider(provider);
  enabled = true;
  o.logger?.info({ endpoint: settings.url, sampler: settings.sampler, ratio }, 'tracing: exporting spans over OTLP');
  let stopped = false;
  return {
    enabled: true,
    flush: () => provider.forceFlush(),
    async shutdown() {
      if (stopped) return;
      stopped = true;
      await provider.shutdown().catch((err: unknown) => o.logger?.warn({ err }, 'tracing: the last export failed'));
      enabled = false;
      trace.disable();
      propagation.disable();
      context.disable();
    },
  };
}

export { SpanKind };

export interface SpanOptions {
  kind?: SpanKind;
  attributes?: Attributes;
  /** Start under this context (an extracted `traceparent`) instead of the active one. */
  parent?: Context;
  /** Only when a span is already active: no new trace starts for it (database statements). */
  childOnly?: boolean;
}

/**
 * Runs fn inside a new span (active for everything fn awaits), ended when fn settles; an error
 * marks it failed and is rethrown. With tracing off: fn() and nothing else.
 */
export function withSpan<T>(name: string, opts: SpanOptions, fn: (span: Span | undefined) => Promise<T>): Promise<T> {
  if (!enabled) return fn(undefined);
  const parent = opts.parent ?? context.active();
  if (opts.childOnly && !trace.getSpan(parent)) return fn(undefined);
  const span = trace.getTracer(TRACER).startSpan(name, { kind: opts.kind ?? SpanKind.INTERNAL, attributes: opts.attributes }, parent);
  return context.with(trace.setSpan(parent, span), async () => {
    try {
      return await fn(span);
    } catch (err) {
      failSpan(span, err);
      throw err;
    } finally {
      span.end();
    }
  });
}

/** Starts a span the caller ends (a span around callbacks): undefined with tracing off or, for childOnly, outside a span. */
export function startSpan(name: string, opts: SpanOptions = {}): { span: Span; context: Context } | undefined {
  if (!enabled) return undefined;
  const parent = opts.parent ?? context.active();
  if (opts.childOnly && !trace.getSpan(parent)) return undefined;
  const span = trace.getTracer(TRACER).startSpan(name, { kind: opts.kind ?? SpanKind.INTERNAL, attributes: opts.attributes }, parent);
  return { span, context: trace.setSpan(parent, span) };
}

/** Marks a span failed with the error's type (never its message: it may quote input, ADR 0008). */
export function failSpan(span: Span, err: unknown): void {
  const type = err instanceof Error ? ((err as { code?: unknown }).code ?? err.name) : 'error';
  span.setAttribute('error.type', String(type));
  span.setStatus({ code: SpanStatusCode.ERROR });
}

/** Runs fn with `ctx` active (a span started with startSpan). */
export function runIn<T>(ctx: Context | undefined, fn: () => T): T {
  return enabled && ctx ? context.with(ctx, fn) : fn();
}

/** The W3C trace context of the active span, for a carrier that crosses a boundary (job data, event envelope, outbound request). */
export function currentTraceparent(): string | undefined {
  if (!enabled) return undefined;
  const carrier: Record<string, string> = {};
  propagation.inject(context.active(), carrier);
  return carrier.traceparent;
}

/** Adds `traceparent` (and `tracestate`) of the active span to outbound headers. */
export function injectTraceHeaders(headers: Record<string, string>): void {
  if (!enabled) return;
  propagation.inject(context.active(), headers);
}

/** The context a carried `traceparent` (or incoming headers) stands for; the root context without one. */
export function contextFrom(carrier: object | undefined): Context | undefined {
  if (!enabled) return undefined;
  const c = carrier as { traceparent?: unknown; tracestate?: unknown } | undefined;
  const tp = c?.traceparent;
  if (typeof tp !== 'string') return ROOT_CONTEXT;
  const ts = c?.tracestate;
  return propagation.extract(ROOT_CONTEXT, typeof ts === 'string' ? { traceparent: tp, tracestate: ts } : { traceparent: tp });
}

/** trace and span id of the active span, for log lines (undefined outside a span or with tracing off). */
export function activeTraceIds(): { traceId: string; spanId: string } | undefined {
  if (!enabled) return undefined;
  const sc = trace.getSpan(context.active())?.spanContext();
  return sc && sc.traceId !== '00000000000000000000000000000000' ? { traceId: sc.traceId, spanId: sc.spanId } : undefined;
}

/** The active span (with tracing on), to name or annotate it. */
export function activeSpan(): Span | undefined {
  return enabled ? trace.getSpan(context.active()) : undefined;
}
