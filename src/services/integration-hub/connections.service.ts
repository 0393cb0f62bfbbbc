import { createHash, randomBytes, randomUUID } from 'node:crypto';
import dns from 'node:dns';
import net from 'node:net';
import type { z } from 'zod';
import client from 'prom-client';
import type { Clock } from '../../kernel/clock.js';
import type { Transactor, Tx } from '../../kernel/db/transaction.js';
import type { AuditLog } from '../../kernel/audit/index.js';
import type { Logger } from '../../kernel/telemetry/logger.js';
import type { EventPublisher } from '../../kernel/events/envelope.js';
import { AppError, notFound, type FieldError } from '../../kernel/errors.js';
import { EGRESS_ALLOW_HINT, outcomeUnknown, type EgressClient, type EgressObservation, type EgressRequest } from '../../kernel/egress/index.js';
import type { ConnectionsRepository } from './connections.repository.js';
import type { ConnectionRow } from './schema.js';
import type { Vault } from './vault.js';
import { CONNECTORS } from './connectors/index.js';
import type { Connector, ConnectorContext } from './connectors/types.js';
import type { ActionResult, ConnectionSummary, PublishContent, PublishResult } from './contract.js';
import { bucketOf, rateLimitColumns, rateLimitInput, rateLimitOf, resolveRateLimit, type ConnectionRateLimit } from './rate-limit.js';

export interface Actor {
  userId: string | null;
  ip?: string | null;
}

export interface ConnectionView {
  id: string;
  workspaceId: string;
  connector: string;
  name: string;
  config: Record<string, unknown>;
  status: 'active' | 'needs_reauth' | 'disabled';
  statusDetail: string | null;
  canPublish: boolean;
  /** Names of the credential fields that are set (values are write-only). */
  credentialFields: string[];
  tokenExpiresAt: Date | null;
  /** The connection's outbound rate limit; null = the process default (EGRESS_RATE_PER_S / EGRESS_RATE_BURST). */
  rateLimit: ConnectionRateLimit | null;
  createdAt: Date;
  updatedAt: Date;
}

export interface IntegrationMetrics {
  requests: client.Counter<'connector' | 'status'>;
  duration: client.Histogram<'connector'>;
}

export function integrationMetrics(registry: client.Registry): IntegrationMetrics {
  return {
    requests: new client.Counter({
      name: 'integration_requests_total',
      help: 'Outbound requests of integration connections, by connector and HTTP status (or error code)',
      labelNames: ['connector', 'status'],
      registers: [registry],
    }),
    duration: new client.Histogram({
      name: 'integration_request_duration_seconds',
      help: 'Outbound request duration of integration connections, by connector',
      labelNames: ['connector'],
      buckets: [0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
      registers: [registry],
    }),
  };
}

const sha256 = (v: string) => createHash('sha256').update(v).digest('hex');

function parseOrThrow<T>(schema: z.ZodType<T>, value: unknown, where: string): T {
  const r = schema.safeParse(value);
  if (r.success) return r.data;
  // Messages and paths only: never the offered values (credentials are write-only).
  const errors: FieldError[] = r.error.issues.map((i) => ({ path: [where, ...i.path.map(String)].join('.'), message: i.message }));
  throw new AppError('validation_failed', `Invalid ${where}: ${errors.map((e) => `${e.path}: ${e.message}`).join('; ')}`, { errors });
}

export function connectorOf(id: string): Connector {
  const c = CONNECTORS[id];
  if (!c) throw new AppError('connector_unknown', `Unknown connector "${id}" (known: ${Object.keys(CONNECTORS).join(', ')})`);
  return c;
}

/** The media bytes must be what their metadata says: nothing corrupted or truncated is sent on. */
function checkMedia(content: PublishContent): void {
  const errors: FieldError[] = [];
  (content.media ?? []).forEach((m, i) => {
    if (!(m.data instanceof Uint8Array)) errors.push({ path: `media.${i}.data`, message: 'the bytes are missing' });
    else if (m.data.byteLength !== m.size) errors.push({ path: `media.${i}.size`, message: `declared ${m.size} bytes, got ${m.data.byteLength}` });
    else if (createHash('sha256').update(m.data).digest('hex') !== m.sha256.toLowerCase()) errors.push({ path: `media.${i}.sha256`, message: 'the bytes do not match the SHA-256' });
  });
  if (errors.length) throw new AppError('validation_failed', `Invalid media: ${errors.map((e) => `${e.path}: ${e.message}`).join('; ')}`, { errors });
}

/** Token refresh ahead of expiry: how early, and how long one refresher holds the lease. */
const REFRESH_AHEAD_MS = 5 * 60_000;
const REFRESH_LEASE_MS = 30_000;
/** A pending idempotency claim older than this belonged to a process that died mid-call: it may be retaken. */
const STALE_CLAIM_MS = 10 * 60_000;
/** How long publish() reuses a connection row it read (see requireForPublish). */
const PUBLISH_ROW_TTL_MS = 1_000;

export class ConnectionsService {
  /** One refresh per connection in this process; the database lease covers other replicas. */
  private readonly refreshing = new Map<string, Promise<void>>();
  /** Set by the module: publishes integration.connection.broken.v1. */
  onBroken: (conn: ConnectionRow, reason: string) => Promise<void> = async () => {};
  /** Set by the module: the event backbone (integration.app.configured.v1 with each usable connection). */
  events?: EventPublisher;

  constructor(
    private readonly db: Transactor,
    private readonly repo: ConnectionsRepository,
    private readonly vault: Vault,
    private readonly egress: EgressClient,
    private readonly audit: AuditLog,
    private readonly clock: Clock,
    private readonly metrics: IntegrationMetrics,
    private readonly logger: Logger,
    private readonly opts: { healthTimeoutMs: number; publicUrl?: string },
  ) {}

  async view(row: ConnectionRow): Promise<ConnectionView> {
    const creds = await this.vault.open(row.id, row.credentials).catch(() => ({}));
    return {
      id: row.id,
      workspaceId: row.workspaceId,
      connector: row.connector,
      name: row.name,
      config: row.config,
      status: row.status,
      statusDetail: row.statusDetail,
      canPublish: CONNECTORS[row.connector]?.canPublish ?? false,
      credentialFields: Object.keys(creds).filter((k) => k !== 'type').sort(),
      tokenExpiresAt: row.tokenExpiresAt,
      rateLimit: rateLimitOf(row),
      createdAt: row.createdAt,
      updatedAt: row.updatedAt,
    };
  }

  async require(workspaceId: string, id: string): Promise<ConnectionRow> {
    const row = await this.repo.get(workspaceId, id);
    if (!row) throw notFound('Connection');
    return row;
  }

  /**
   * Connection rows read by publish(), kept for PUBLISH_ROW_TTL_MS (wall clock): a burst of
   * publishes through one connection reads its row once instead of once per publish. Changes made
   * through this process drop the entry at once; a change made by another replica (disabled,
   * deleted, new credentials) is seen within the TTL.
   */
  private readonly publishRows = new Map<string, { row: ConnectionRow; until: number }>();

  private async requireForPublish(workspaceId: string, id: string): Promise<ConnectionRow> {
    const key = `${workspaceId}/${id}`;
    const now = Date.now();
    const hit = this.publishRows.get(key);
    if (hit && hit.until > now) return hit.row;
    const row = await this.require(workspaceId, id);
    // Only usable rows are kept: a connection authorised again must not be refused from the cache.
    if (row.status !== 'active') return row;
    if (this.publishRows.size >= 10_000) this.publishRows.clear();
    this.publishRows.set(key, { row, until: now + PUBLISH_ROW_TTL_MS });
    return row;
  }

  private forget(workspaceId: string, id: string): void {
    this.publishRows.delete(`${workspaceId}/${id}`);
  }

  private initialStatus(connector: Connector, creds: Record<string, unknown>): { status: ConnectionRow['status']; detail: string | null; expiresAt: Date | null } {
    if (creds.type === 'oauth2' && !creds.accessToken) return { status: 'needs_reauth', detail: 'Authorise the connection (POST .../oauth/start)', expiresAt: null };
    const expiresAt = typeof creds.expiresAt === 'string' ? new Date(creds.expiresAt) : null;
    return { status: 'active', detail: null, expiresAt: connector.oauth ? expiresAt : null };
  }

  async create(actor: Actor, workspaceId: string, input: { connector: string; name: string; credentials: unknown; config: unknown; rateLimit?: unknown }): Promise<{ connection: ConnectionView; inboundUrl: string | null }> {
    const connector = connectorOf(input.connector);
    const credentials = parseOrThrow(connector.credentials, input.credentials ?? {}, 'credentials') as Record<string, unknown>;
    const config = parseOrThrow(connector.config, input.config ?? {}, 'config') as Record<string, unknown>;
    const rateLimit = input.rateLimit == null ? null : resolveRateLimit(parseOrThrow(rateLimitInput, input.rateLimit, 'rateLimit'));
    const id = randomUUID();
    const now = this.clock.now();
    const token = connector.inbound ? randomBytes(32).toString('base64url') : null;
    const s = this.initialStatus(connector, credentials);
    const row = await this.db.transaction(async (tx) => {
      const r = await this.repo.insert(
        {
          id,
          workspaceId,
          connector: connector.id,
          name: input.name,
          config,
          credentials: await this.vault.seal(id, credentials),
          status: s.status,
          statusDetail: s.detail,
          tokenExpiresAt: s.expiresAt,
          ...rateLimitColumns(rateLimit),
          inboundTokenHash: token ? sha256(token) : null,
          createdBy: actor.userId,
          createdAt: now,
          updatedAt: now,
        },
        tx,
      );
      await this.audit.record({ action: 'integration.connection.created', workspaceId, actorId: actor.userId, actorIp: actor.ip ?? null, targetType: 'connection', targetId: id, data: { connector: connector.id, name: input.name, rateLimit } }, tx);
      if (r.status === 'active') await this.configured(r, actor, tx);
      return r;
    });
    return { connection: await this.view(row), inboundUrl: token ? this.inboundUrl(token) : null };
  }

  /** integration.app.configured.v1: a connection became usable (created with credentials, or authorised). */
  async configured(row: ConnectionRow, actor: Actor, tx?: Tx): Promise<void> {
    await this.events?.publish({ name: 'integration.app.configured.v1', workspaceId: row.workspaceId, actorId: actor.userId, payload: { connectionId: row.id, connector: row.connector } }, tx);
  }

  private inboundUrl(token: string): string {
    const path = `/hooks/connections/${token}`;
    return this.opts.publicUrl ? new URL(path, this.opts.publicUrl).href : path;
  }

  async list(workspaceId: string): Promise<ConnectionView[]> {
    return Promise.all((await this.repo.list(workspaceId)).map((r) => this.view(r)));
  }

  async summaries(workspaceId: string): Promise<ConnectionSummary[]> {
    return (await this.repo.list(workspaceId)).map((r) => ({ id: r.id, workspaceId: r.workspaceId, connector: r.connector, name: r.name, status: r.status, canPublish: CONNECTORS[r.connector]?.canPublish ?? false }));
  }

  async get(workspaceId: string, id: string): Promise<ConnectionView> {
    return this.view(await this.require(workspaceId, id));
  }

  /**
   * Credentials given here are merged over the stored ones (write-only: the caller never sees them).
   * `rateLimit` replaces the stored limit as a whole (null removes it: the process default applies).
   */
  async update(
    actor: Actor,
    workspaceId: string,
    id: string,
    patch: { name?: string; config?: unknown; credentials?: Record<string, unknown>; status?: 'active' | 'disabled'; rateLimit?: unknown },
  ): Promise<ConnectionView> {
    this.forget(workspaceId, id);
    const row = await this.require(workspaceId, id);
    const connector = connectorOf(row.connector);
    const set: Partial<ConnectionRow> = { updatedAt: this.clock.now() };
    if (patch.name !== undefined) set.name = patch.name;
    if (patch.config !== undefined) set.config = parseOrThrow(connector.config, patch.config, 'config') as Record<string, unknown>;
    let rateLimit: ConnectionRateLimit | null | undefined;
    if (patch.rateLimit !== undefined) {
      rateLimit = patch.rateLimit === null ? null : resolveRateLimit(parseOrThrow(rateLimitInput, patch.rateLimit, 'rateLimit'));
      Object.assign(set, rateLimitColumns(rateLimit));
    }
    if (patch.credentials !== undefined) {
      const current = await this.vault.open(row.id, row.credentials);
      const merged = parseOrThrow(connector.credentials, { ...current, ...patch.credentials }, 'credentials') as Record<string, unknown>;
      set.credentials = await this.vault.seal(row.id, merged);
      const s = this.initialStatus(connector, merged);
      set.status = s.status;
      set.statusDetail = s.detail;
      set.tokenExpiresAt = s.expiresAt;
    }
    if (patch.status !== undefined && set.status !== 'needs_reauth') {
      set.status = patch.status;
      if (patch.status === 'active' && row.status === 'needs_reauth' && patch.credentials === undefined) set.status = 'needs_reauth';
    }
    const updated = await this.db.transaction(async (tx) => {
      const u = await this.repo.update(workspaceId, id, set, tx);
      await this.audit.record(
        { action: 'integration.connection.updated', workspaceId, actorId: actor.userId, actorIp: actor.ip ?? null, targetType: 'connection',
          targetId: id,
          // The limit is no secret: its new value is recorded (null = back to the process default).
          data: { fields: Object.keys(patch).filter((k) => (patch as Record<string, unknown>)[k] !== undefined), ...(rateLimit !== undefined ? { rateLimit } : {}) },
        },
        tx,
      );
      return u;
    });
    if (!updated) throw notFound('Connection');
    return this.view(updated);
  }

  async remove(actor: Actor, workspaceId: string, id: string): Promise<void> {
    this.forget(workspaceId, id);
    await this.db.transaction(async (tx) => {
      if (!(await this.repo.remove(workspaceId, id, tx))) throw notFound('Connection');
      await this.audit.record({ action: 'integration.connection.deleted', workspaceId, actorId: actor.userId, actorIp: actor.ip ?? null, targetType: 'connection', targetId: id }, tx);
    });
  }

  /** The connector's view of the connection: guarded HTTP bound to it, logged and measured. */
  private context(row: ConnectionRow, credentials: Record<string, unknown>, actor: Actor, probe = false): ConnectorContext<never, never> {
    const record = (o: EgressObservation) => {
      const status = o.status !== null ? String(o.status) : (o.errorCode ?? 'error');
      this.metrics.requests.inc({ connector: row.connector, status });
      this.metrics.duration.observe({ connector: row.connector }, o.durationMs / 1000);
      // Health probes are measured but not logged: the log is the connection's user activity.
      if (probe) return;
      this.repo.queueRequestLog(
        {
          connectionId: row.id,
          workspaceId: row.workspaceId,
          actorId: actor.userId,
          occurredAt: this.clock.now(),
          method: o.method,
          host: o.host.slice(0, 255),
          path: o.path.slice(0, 1000),
          status: o.status,
          errorCode: o.errorCode,
          durationMs: o.durationMs,
        },
        (err) => this.logger.warn({ err, connectionId: row.id }, 'request log write failed'),
      );
    };
    return {
      // The row's limit travels with each request, so a changed limit applies from the next request
      // made with a freshly read row (publish() reuses a row for at most PUBLISH_ROW_TTL_MS).
      http: (req: Omit<EgressRequest, 'key' | 'connector'>) => this.egress.request({ ...req, key: row.id, rateLimit: bucketOf(row), connector: row.connector, onObserve: record }),
      credentials: credentials as never,
      config: row.config as never,
      clock: this.clock,
      checkHost: (host) => this.checkHost(host),
    };
  }

  /** For non-HTTP peers (SMTP): resolves once, checks like the egress guard, returns the address to use. */
  async checkHost(host: string): Promise<string> {
    const policy = this.egress.policy;
    // The same raw-spelling rules as an http URL.
    policy.checkUrl(`http://${host.includes(':') && !host.startsWith('[') ? `[${host}]` : host}/`);
    if (net.isIP(host)) return host;
    const addresses = await dns.promises.lookup(host, { all: true, verbatim: true }).catch(() => {
      throw new AppError('egress_failed', `Cannot resolve ${host}`);
    });
    if (!policy.hostAllowed(host)) {
      for (const a of addresses) {
        const why = policy.addressRefusal(a.address);
        if (why) throw new AppError('egress_blocked', `${host} resolves to a refused address: ${why}; ${EGRESS_ALLOW_HINT}`);
      }
    }
    if (!addresses[0]) throw new AppError('egress_failed', `Cannot resolve ${host}`);
    return addresses[0].address;
  }

  /** Opens the credentials, refreshing an OAuth token first when it is about to expire. */
  async prepare(row: ConnectionRow, actor: Actor, probe = false): Promise<ConnectorContext<never, never>> {
    if (row.status === 'disabled') throw new AppError('conflict', 'The connection is disabled');
    if (row.status === 'needs_reauth') throw new AppError('connection_needs_reauth', row.statusDetail ?? 'The connection must be authorised again');
    let current = row;
    if (row.tokenExpiresAt && row.tokenExpiresAt.getTime() - this.clock.now().getTime() < REFRESH_AHEAD_MS) {
      await this.refreshOnce(row.id);
      current = (await this.repo.byId(row.id)) ?? row;
      if (current.status === 'needs_reauth') throw new AppError('connection_needs_reauth', current.statusDetail ?? 'The token refresh failed');
    }
    const credentials = await this.vault.open(current.id, current.credentials);
    return this.context(current, credentials, actor, probe);
  }

  /** Concurrent callers of one connection share one refresh (single flight here, a lease across replicas). */
  refreshOnce(connectionId: string): Promise<void> {
    let p = this.refreshing.get(connectionId);
    if (!p) {
      p = this.refreshWithLease(connectionId).finally(() => this.refreshing.delete(connectionId));
      this.refreshing.set(connectionId, p);
    }
    return p;
  }

  private async refreshWithLease(connectionId: string): Promise<void> {
    const deadline = Date.now() + REFRESH_LEASE_MS;
    for (;;) {
      const now = this.clock.now();
      if (await this.repo.takeRefreshLease(connectionId, now, new Date(now.getTime() + REFRESH_LEASE_MS))) break;
      // Another replica is refreshing: wait for its result instead of refreshing a second time.
      if (Date.now() > deadline) throw new AppError('service_unavailable', 'A token refresh of this connection is taking too long');
      await new Promise((r) => setTimeout(r, 200));
      const row = await this.repo.byId(connectionId);
      if (!row || !row.tokenExpiresAt || row.tokenExpiresAt.getTime() - this.clock.now().getTime() >= REFRESH_AHEAD_MS || row.status !== 'active') return;
    }
    const row = await this.repo.byId(connectionId);
    if (!row) return;
    this.forget(row.workspaceId, row.id);
    // Re-read under the lease: a refresh that finished just before needs no second one.
    if (!row.tokenExpiresAt || row.tokenExpiresAt.getTime() - this.clock.now().getTime() >= REFRESH_AHEAD_MS) {
      await this.repo.releaseRefreshLease(connectionId, {});
      return;
    }
    const connector = connectorOf(row.connector);
    const creds = await this.vault.open<Record<string, unknown>>(row.id, row.credentials);
    try {
      if (!connector.oauth || creds.type !== 'oauth2' || typeof creds.refreshToken !== 'string') throw new Error('the token expired and there is no refresh token');
      const tokens = await this.tokenRequest(row, connector, creds, { grant_type: 'refresh_token', refresh_token: creds.refreshToken });
      const next = { ...creds, accessToken: tokens.accessToken, refreshToken: tokens.refreshToken ?? creds.refreshToken, expiresAt: tokens.expiresAt?.toISOString() };
      await this.repo.releaseRefreshLease(connectionId, { credentials: await this.vault.seal(row.id, next), tokenExpiresAt: tokens.expiresAt, updatedAt: this.clock.now() });
    } catch (err) {
      const reason = err instanceof AppError ? `${err.code}: ${err.message}` : (err as Error).message;
      // Never a silent failure: the connection says why, and an event tells whoever listens.
      await this.repo.releaseRefreshLease(connectionId, { status: 'needs_reauth', statusDetail: `Token refresh failed (${reason.slice(0, 300)}); authorise again`, updatedAt: this.clock.now() });
      this.logger.warn({ connectionId, reason }, 'integration token refresh failed; connection needs re-authorisation');
      await this.onBroken({ ...row, status: 'needs_reauth' }, reason).catch((e) => this.logger.error({ err: e }, 'broken-connection event failed'));
    }
  }

  /** An OAuth token endpoint call (authorization_code or refresh_token grant), RFC 6749 form body. */
  async tokenRequest(row: ConnectionRow, connector: Connector, creds: Record<string, unknown>, grant: Record<string, string>): Promise<{ accessToken: string; refreshToken?: string; expiresAt: Date | null }> {
    const body = new URLSearchParams({ ...grant, client_id: String(creds.clientId), client_secret: String(creds.clientSecret) }).toString();
    const res = await this.egress.request({
      url: connector.oauth!.tokenUrl(row.config),
      method: 'POST',
      key: row.id,
      rateLimit: bucketOf(row),
      connector: row.connector,
      headers: { 'content-type': 'application/x-www-form-urlencoded', accept: 'application/json' },
      body,
      maxRetries: 1,
    });
    let json: Record<string, unknown> = {};
    try {
      json = res.json<Record<string, unknown>>();
    } catch {
      /* handled below */
    }
    // Slack answers 200 with ok:false; GitHub answers 200 with an error field.
    if (res.status !== 200 || json.ok === false || json.error || typeof json.access_token !== 'string') {
      throw new AppError('provider_auth_failed', `token endpoint answered ${res.status}${json.error ? ` (${String(json.error)})` : ''}`);
    }
    const expiresIn = Number(json.expires_in);
    return {
      accessToken: json.access_token,
      refreshToken: typeof json.refresh_token === 'string' ? json.refresh_token : undefined,
      expiresAt: Number.isFinite(expiresIn) && expiresIn > 0 ? new Date(this.clock.now().getTime() + expiresIn * 1000) : null,
    };
  }

  async test(actor: Actor, workspaceId: string, id: string): Promise<{ ok: boolean; detail: string | null; durationMs: number }> {
    const row = await this.require(workspaceId, id);
    return this.probe(row, actor);
  }

  private async probe(row: ConnectionRow, actor: Actor): Promise<{ ok: boolean; detail: string | null; durationMs: number }> {
    const started = performance.now();
    let timer: NodeJS.Timeout | undefined;
    try {
      const ctx = await this.prepare(row, actor, true);
      await Promise.race([
        connectorOf(row.connector).health(ctx),
        new Promise((_, reject) => {
          timer = setTimeout(() => reject(new AppError('egress_timeout', `No answer within ${this.opts.healthTimeoutMs} ms`)), this.opts.healthTimeoutMs);
        }),
      ]);
      return { ok: true, detail: null, durationMs: Math.round(performance.now() - started) };
    } catch (err) {
      const detail = err instanceof AppError ? `${err.code}: ${err.message}` : (err as Error).message;
      return { ok: false, detail: detail.slice(0, 500), durationMs: Math.round(performance.now() - started) };
    } finally {
      clearTimeout(timer);
    }
  }

  /** Every connection of the workspace checked concurrently, each bounded by the health timeout. */
  async health(actor: Actor, workspaceId: string) {
    const rows = await this.repo.list(workspaceId);
    const results = await Promise.all(
      rows.map(async (r) => {
        const p = r.status === 'disabled' ? { ok: true, detail: 'disabled', durationMs: 0 } : await this.probe(r, actor);
        return { id: r.id, name: r.name, connector: r.connector, status: r.status === 'disabled' ? ('disabled' as const) : p.ok ? ('up' as const) : ('down' as const), detail: p.detail };
      }),
    );
    return { checkedAt: this.clock.now(), healthy: results.every((r) => r.status !== 'down'), connections: results };
  }

  /**
   * Runs a connector action. With `idempotencyKey`, the same key on the same connection returns the
   * first successful output instead of running the action again (the publish mechanism, kind
   * 'action'); a failed attempt frees the key so a retry with it runs the action again.
   */
  async runAction(actor: Actor, workspaceId: string, id: string, actionName: string, input: unknown, opts: { idempotencyKey?: string } = {}): Promise<ActionResult> {
    const row = await this.require(workspaceId, id);
    const connector = connectorOf(row.connector);
    const act = Object.prototype.hasOwnProperty.call(connector.actions, actionName) ? connector.actions[actionName] : undefined;
    if (!act) throw new AppError('not_found', `Connector ${connector.id} has no action "${actionName}" (has: ${Object.keys(connector.actions).join(', ')})`);
    const parsed = parseOrThrow(act.input, input ?? {}, 'input');
    const key = opts.idempotencyKey;
    if (key === undefined) {
      const ctx = await this.prepare(row, actor);
      return { output: await act.run(ctx, parsed as never) };
    }
    if (!key || key.length > 200) throw new AppError('validation_failed', 'idempotencyKey must be 1-200 characters');
    const now = this.clock.now();
    const claim = await this.repo.claimPublication(row.id, key, now, new Date(now.getTime() - STALE_CLAIM_MS), 'action', actionName);
    if (!claim.claimed) {
      if (claim.row?.action !== actionName) throw new AppError('conflict', `The idempotency key was used for the action "${claim.row?.action ?? '?'}" on this connection`);
      if (claim.row.status === 'confirmed') return { output: claim.row.output ?? {} };
      throw new AppError('conflict', 'An action run with this idempotency key is in progress');
    }
    try {
      const ctx = await this.prepare(row, actor);
      const output = await act.run(ctx, parsed as never);
      await this.repo.confirmAction(row.id, key, output, this.clock.now());
      return { output };
    } catch (err) {
      // Did not succeed: free the key so a retry may run the action.
      await this.repo.releasePublication(row.id, key, 'action').catch(() => {});
      throw err;
    }
  }

  async publish(actor: Actor, workspaceId: string, id: string, content: PublishContent, idempotencyKey: string): Promise<PublishResult> {
    const row = await this.requireForPublish(workspaceId, id);
    const connector = connectorOf(row.connector);
    if (!connector.canPublish || !connector.publish) throw new AppError('bad_request', `Connector ${connector.id} cannot publish content`);
    if (!idempotencyKey || idempotencyKey.length > 200) throw new AppError('validation_failed', 'idempotencyKey must be 1-200 characters');
    checkMedia(content);
    const now = this.clock.now();
    const claim = await this.repo.claimPublication(row.id, idempotencyKey, now, new Date(now.getTime() - STALE_CLAIM_MS));
    if (!claim.claimed) {
      if (claim.row?.status === 'confirmed') return { externalId: claim.row.externalId!, url: claim.row.url };
      throw new AppError('conflict', 'A publication with this idempotency key is in progress');
    }
    try {
      const ctx = await this.prepare(row, actor);
      const retry = claim.previousAttemptAt ? { previousAttemptAt: claim.previousAttemptAt } : undefined;
      const result = await connector.publish(ctx, content, idempotencyKey, retry);
      await this.repo.confirmPublication(row.id, idempotencyKey, result.externalId, result.url, this.clock.now());
      return result;
    } catch (err) {
      // Refused by the provider: free the key so a retry publishes afresh. Outcome unknown (no
      // answer, or the connection dropped after the request went out): keep the key as uncertain,
      // so the retry first looks for what this attempt may have published (ADR 0079).
      if (outcomeUnknown(err)) await this.repo.markPublicationUncertain(row.id, idempotencyKey).catch(() => {});
      else await this.repo.releasePublication(row.id, idempotencyKey).catch(() => {});
      throw err;
    }
  }

  async requestLog(workspaceId: string, id: string, before: number | undefined, limit: number) {
    await this.require(workspaceId, id);
    return this.repo.requestLog(id, before, limit);
  }

  /** Rewraps every stored secret under the current master key (`v01t keys rotate`). */
  async rewrapAll(): Promise<{ rewrapped: number; unchanged: number }> {
    let after: string | null = null;
    let rewrapped = 0;
    let unchanged = 0;
    for (;;) {
      const batch = await this.repo.credentialsBatch(after, 200);
      if (batch.length === 0) break;
      for (const r of batch) {
        const next = await this.vault.rewrap(r.credentials);
        if (next === r.credentials) unchanged++;
        else if (await this.repo.swapCredentials(r.id, r.credentials, next)) rewrapped++;
        else {
          // Rewritten meanwhile by an update: that write already used the current key.
          unchanged++;
        }
      }
      after = batch[batch.length - 1]!.id;
    }
    for (const s of await this.repo.oauthVerifiers()) {
      const next = await this.vault.rewrap(s.verifier);
      if (next !== s.verifier) {
        await this.repo.swapOauthVerifier(s.stateHash, s.verifier, next);
        rewrapped++;
      }
    }
    return { rewrapped, unchanged };
  }
}
