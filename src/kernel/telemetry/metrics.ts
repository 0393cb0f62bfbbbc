import client from 'prom-client';

export type MetricsRegistry = client.Registry;

/** The runbook's request histogram buckets (seconds). */
export const REQUEST_DURATION_BUCKETS = [0.1, 0.25, 0.5, 1, 2.5, 5, 10];
export const QUERY_DURATION_BUCKETS = [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5];

/** Core metrics every v01t process exports; services add their own to the same registry. */
export class CoreMetrics {
  readonly registry = new client.Registry();
  readonly httpRequests: client.Counter<'method' | 'route' | 'status'>;
  readonly requestDuration: client.Histogram<'method' | 'route' | 'status'>;
  readonly dbQueryDuration: client.Histogram<'query_type' | 'table'>;
  readonly securityEvents: client.Counter<'kind'>;
  readonly auditEvents: client.Counter<'action'>;

  constructor(opts: { collectDefaults?: boolean; serviceLabel?: string } = {}) {
    if (opts.serviceLabel) this.registry.setDefaultLabels({ service: opts.serviceLabel });
    if (opts.collectDefaults !== false) client.collectDefaultMetrics({ register: this.registry });
    this.httpRequests = new client.Counter({
      name: 'http_requests_total',
      help: 'HTTP requests answered, by method, route pattern and status code',
      labelNames: ['method', 'route', 'status'],
      registers: [this.registry],
    });
    this.requestDuration = new client.Histogram({
      name: 'request_duration_seconds',
      help: 'HTTP request duration in seconds',
      labelNames: ['method', 'route', 'status'],
      buckets: REQUEST_DURATION_BUCKETS,
      registers: [this.registry],
    });
    this.dbQueryDuration = new client.Histogram({
      name: 'database_query_duration_seconds',
      help: 'Database query duration in seconds, by statement type and table',
      labelNames: ['query_type', 'table'],
      buckets: QUERY_DURATION_BUCKETS,
      registers: [this.registry],
    });
    this.securityEvents = new client.Counter({
      name: 'v01t_security_events_total',
      help: 'Security events recorded (failed logins, blocked addresses, privilege changes)',
      labelNames: ['kind'],
      registers: [this.registry],
    });
    this.auditEvents = new client.Counter({
      name: 'v01t_audit_events_total',
      help: 'Audit log entries appended, by action (role changes feed the privilege-escalation alert)',
      labelNames: ['action'],
      registers: [this.registry],
    });
    // Series the security alerts watch with increase(): a labelled counter is absent until its
    // first increment, and increase() cannot see a jump from absent to 1, so the first blocked
    // address or role change after a start would go unnoticed. Starting them at zero fixes that.
    for (const kind of ['login_failed', 'ip_blocked', 'account_backoff']) this.securityEvents.inc({ kind }, 0);
    this.auditEvents.inc({ action: 'member.role_changed' }, 0);
  }

  /**
   * A labelled gauge read at scrape time, no more often than every `cacheSeconds` (for reads that
   * cost a query). A failing read leaves the series out of that scrape.
   */
  labelledGauge<L extends string>(
    name: string,
    help: string,
    labelNames: L[],
    read: () => Promise<{ labels: Record<L, string>; value: number }[]>,
    cacheSeconds = 30,
  ): void {
    let cached: { at: number; values: { labels: Record<L, string>; value: number }[] } | undefined;
    new client.Gauge<L>({
      name,
      help,
      labelNames,
      registers: [this.registry],
      async collect() {
        if (!cached || Date.now() - cached.at > cacheSeconds * 1000) cached = { at: Date.now(), values: await read() };
        this.reset();
        for (const v of cached.values) this.set(v.labels as Partial<Record<L, string>>, v.value);
      },
    });
  }

  /** Registers gauges whose value is read at scrape time. */
  gauge(name: string, help: string, read: () => number | Promise<number>): void {
    new client.Gauge({
      name,
      help,
      registers: [this.registry],
      async collect() {
        this.set(await read());
      },
    });
  }
}
