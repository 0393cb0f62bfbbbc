import type { FastifyReply, FastifyRequest } from 'fastify';
import { AppError } from '../errors.js';
import type { IdentityPort } from '../auth/principal.js';
import { FORWARDED_PRINCIPAL_HEADER, type ForwardedPrincipal, type PrincipalSigner } from '../auth/forwarded-principal.js';
import { INTERNAL_TOKEN_HEADER } from './internal-client.js';
import { checkCsrf, credentialOf } from './browser.js';
import { sendProblem } from './problem.js';
import type { App } from './server.js';
import { injectTraceHeaders, tracingEnabled } from '../telemetry/tracing.js';

/**
 * The public entry of the distributed shape (ADR 0055): the orchestrator's process forwards each
 * request under a path another service owns (its manifest's `publicRoutes`) to that service's
 * process, so a client that knows only the public URL reaches every route, as on the embedded shape.
 *
 * - One pooled keep-alive undici client per upstream (@fastify/reply-from); bodies stream both ways
 *   unparsed (media uploads, CSV exports, server-sent events), status, headers and problem+json
 *   bodies come back as the service sent them, the request id travels in `x-request-id`.
 * - The caller is authenticated here once and handed on in a signed `x-v01t-principal` header
 *   (forwarded-principal.ts), with their access to the route's workspace, so the service need not
 *   ask the orchestrator's identity API again. CSRF of cookie requests is checked here, where the
 *   browser's Origin and Host meet.
 * - A retry only for requests without a body on a method that cannot change anything (GET, HEAD,
 *   OPTIONS), only when the connection failed before an answer; an answer (even 503) is passed on.
 * - The upstream unreachable, silent or broken: 503 upstream_unavailable, 504 upstream_timeout,
 *   502 upstream_failed, problem+json naming the service.
 */
export interface GatewayUpstream {
  /** The service's name, as clients see it in problems. */
  service: string;
  /** Its base URL (V01T_<SERVICE>_URL). */
  base: string;
  /** Path prefixes it owns (find-my-way syntax, `:workspaceId` for the workspace); each also covers everything below it. */
  prefixes: readonly string[];
}

export interface GatewayOptions {
  identity: () => IdentityPort;
  signer: PrincipalSigner;
  publicUrl?: string;
  /** Time to the upstream's response headers, and between body chunks. */
  timeoutMs: number;
}

const FORWARDED_METHODS = ['DELETE', 'GET', 'HEAD', 'OPTIONS', 'PATCH', 'POST', 'PUT'] as const;
const RETRYABLE = new Set(['GET', 'HEAD', 'OPTIONS']);
const CONNECT_FAILURES = new Set(['ECONNREFUSED', 'ENOTFOUND', 'EAI_AGAIN', 'EHOSTUNREACH', 'UND_ERR_CONNECT_TIMEOUT', 'FST_REPLY_FROM_SERVICE_UNAVAILABLE']);
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

function errorCodes(err: unknown): string[] {
  const codes: string[] = [];
  for (let e = err as { code?: unknown; cause?: unknown } | undefined, depth = 0; e && depth < 5; e = e.cause as typeof e, depth++) {
    if (typeof e.code === 'string') codes.push(e.code);
  }
  return codes;
}

/** What the client sees when the owner of the route could not answer. */
export function upstreamProblem(service: string, err: unknown, timeoutMs: number): AppError {
  const codes = errorCodes(err);
  if (codes.some((c) => CONNECT_FAILURES.has(c))) {
    return new AppError('upstream_unavailable', `The ${service} cannot be reached; retry shortly`, { service, retryAfterSeconds: 2 });
  }
  if (codes.some((c) => c === 'FST_REPLY_FROM_GATEWAY_TIMEOUT' || c === 'FST_REPLY_FROM_TIMEOUT' || c === 'UND_ERR_HEADERS_TIMEOUT' || c === 'UND_ERR_BODY_TIMEOUT')) {
    return new AppError('upstream_timeout', `The ${service} did not answer within ${timeoutMs} ms`, { service });
  }
  return new AppError('upstream_failed', `The ${service} broke off its answer`, { service });
}

/** The caller as this process authenticates them, signed for the upstream; undefined when there is nobody to vouch for. */
async function forwardedPrincipal(request: FastifyRequest, opts: GatewayOptions): Promise<string | undefined> {
  const credential = credentialOf(request);
  if (!credential) return undefined;
  if (credential.via === 'cookie') {
    // Refused here: the upstream cannot check the browser's Origin against the public host.
    checkCsrf(request, { publicUrl: opts.publicUrl, requireToken: true });
  }
  const identity = opts.identity();
  const principal = await identity.authenticate(credential.token);
  // An unknown token (or a service's shared secret, which is no user's) goes on as it came: the
  // upstream's guard answers for it, as it would on the embedded shape.
  if (!principal) return undefined;
  const forwarded: ForwardedPrincipal = { principal };
  const workspaceId = (request.params as { workspaceId?: string }).workspaceId;
  if (workspaceId && UUID.test(workspaceId)) forwarded.workspace = { workspaceId, access: await identity.workspaceAccess(principal.userId, workspaceId) };
  return opts.signer.sign(forwarded, credential.token);
}

export async function registerGateway(app: App, upstreams: readonly GatewayUpstream[], opts: GatewayOptions): Promise<void> {
  // Loaded only in the distributed shape's entry process, which forwards (ADR 0073): it brings undici.
  const { default: replyFrom } = await import('@fastify/reply-from');
  for (const upstream of upstreams) {
    await app.register(async (scope) => {
      // Bodies go on as the client sent them: no parsing, no size limit beyond the owner's own.
      scope.removeAllContentTypeParsers();
      scope.addContentTypeParser('*', { bodyLimit: Number.MAX_SAFE_INTEGER }, (_req, payload, done) => done(null, payload));
      await scope.register(replyFrom, {
        base: upstream.base,
        undici: { connections: 128, pipelining: 1, keepAliveTimeout: 60_000, headersTimeout: opts.timeoutMs, bodyTimeout: opts.timeoutMs },
        disableRequestLogging: true,
      });
      const handler = async (request: FastifyRequest, reply: FastifyReply) => {
        const signed = await forwardedPrincipal(request, opts);
        return reply.from(request.url, {
          rewriteRequestHeaders: (req, headers) => {
            const out: Record<string, string | string[] | undefined> = { ...headers };
            // Nothing a client sends may pass for the installation's own headers.
            delete out[FORWARDED_PRINCIPAL_HEADER];
            delete out[INTERNAL_TOKEN_HEADER];
            if (signed) out[FORWARDED_PRINCIPAL_HEADER] = signed;
            out['x-request-id'] = String(req.id);
            out['x-forwarded-host'] = req.host;
            out['x-forwarded-proto'] = req.protocol;
            const xff = typeof headers['x-forwarded-for'] === 'string' ? `${headers['x-forwarded-for']}, ` : '';
            out['x-forwarded-for'] = `${xff}${req.ip}`;
            // The owning service continues this process's request span, not the caller's.
            if (tracingEnabled()) {
              delete out.traceparent;
              delete out.tracestate;
              injectTraceHeaders(out as Record<string, string>);
            }
            return out as never;
          },
          retryDelay: ({ req, res, err, attempt }) => (res === null || res === undefined) && err && RETRYABLE.has(req.method ?? '') && attempt < 2 && errorCodes(err).some((c) => CONNECT_FAILURES.has(c) || c === 'ECONNRESET' || c === 'UND_ERR_SOCKET') ? 50 * (attempt + 1) : null,
          onError: (r, { error }) => {
            const problem = upstreamProblem(upstream.service, error, opts.timeoutMs);
            r.request.log.warn({ service: upstream.service, code: problem.code, err: error }, 'gateway: upstream failed');
            sendProblem(r, problem, r.request);
          },
        });
      };
      for (const prefix of upstream.prefixes) {
        for (const url of [prefix, `${prefix}/*`]) {
          scope.route({ method: [...FORWARDED_METHODS], url, exposeHeadRoute: false, config: { auth: 'none', forward: upstream.service }, schema: { hide: true }, handler });
        }
      }
    });
  }
}
