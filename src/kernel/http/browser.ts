import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { timingSafeEqual, randomBytes } from 'node:crypto';
import fastifyCookie from '@fastify/cookie';
import fastifyStatic from '@fastify/static';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { AppError } from '../errors.js';

/**
 * The web app's side of the HTTP layer: where a browser's credential comes from, how state-changing
 * cookie requests are protected against CSRF, the security headers, and serving the built app.
 *
 * A browser never holds a bearer token: sign-in from the app sets an HttpOnly session cookie. The
 * CSRF defence is two-fold (docs/adr/0024-web-app.md): the Origin (or Referer) of every cookie
 * request that changes state must be this server's own origin, and it must echo the readable
 * `v01t_csrf` cookie in the `x-csrf-token` header (double submit; a cross-site form cannot set a header).
 */
export const SESSION_COOKIE = 'v01t_session';
export const CSRF_COOKIE = 'v01t_csrf';
export const CSRF_HEADER = 'x-csrf-token';

/** Paths the single-page app never shadows: a miss there is the API's own 404. */
export const RESERVED_PREFIXES = ['/v1', '/hooks', '/oauth', '/docs', '/openapi.json', '/metrics', '/health', '/ready', '/status', '/internal', '/ops'];

const SAFE_METHODS = new Set(['GET', 'HEAD', 'OPTIONS']);

export interface Credential {
  token: string;
  via: 'bearer' | 'cookie';
}

export function bearerToken(header: string | undefined): string | null {
  if (!header) return null;
  const m = /^Bearer\s+(\S+)\s*$/i.exec(header);
  return m?.[1] ?? null;
}

/** The caller's token: an Authorization header wins; a browser sends the session cookie. */
export function credentialOf(request: FastifyRequest): Credential | null {
  const bearer = bearerToken(request.headers.authorization);
  if (bearer) return { token: bearer, via: 'bearer' };
  const cookie = request.cookies?.[SESSION_COOKIE];
  return cookie ? { token: cookie, via: 'cookie' } : null;
}

function sameString(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}

/** The origins this server answers as: its own host as the request names it, and the configured public URL. */
function ownOrigins(request: FastifyRequest, publicUrl?: string): string[] {
  const origins = [`${request.protocol}://${request.host}`];
  if (publicUrl) origins.push(new URL(publicUrl).origin);
  return origins;
}

function requestOrigin(request: FastifyRequest): string | null {
  const origin = request.headers.origin;
  if (typeof origin === 'string' && origin !== 'null') return origin;
  const referer = request.headers.referer;
  if (typeof referer === 'string') {
    try {
      return new URL(referer).origin;
    } catch {
      return null;
    }
  }
  return null;
}

/**
 * Refuses a cross-site state change. `requireToken` is false only for the sign-in routes, which a
 * browser calls before it has a CSRF cookie; their Origin must still be ours.
 */
export function checkCsrf(request: FastifyRequest, opts: { publicUrl?: string; requireToken: boolean }): void {
  if (SAFE_METHODS.has(request.method)) return;
  const origin = requestOrigin(request);
  if (!origin || !ownOrigins(request, opts.publicUrl).includes(origin)) {
    throw new AppError('csrf_failed', 'Cross-site request refused: the Origin of a cookie-authenticated request must be this server');
  }
  if (!opts.requireToken) return;
  const cookie = request.cookies?.[CSRF_COOKIE];
  const header = request.headers[CSRF_HEADER];
  if (!cookie || typeof header !== 'string' || !sameString(cookie, header)) {
    throw new AppError('csrf_failed', `Send the ${CSRF_COOKIE} cookie's value in the ${CSRF_HEADER} header`);
  }
}

function secureCookies(request: FastifyRequest): boolean {
  return request.protocol === 'https';
}

/** Starts a browser session: the token goes only into an HttpOnly cookie, never into the page. */
export function setSessionCookies(request: FastifyRequest, reply: FastifyReply, token: string, expiresAt: Date): void {
  const secure = secureCookies(request);
  reply.setCookie(SESSION_COOKIE, token, { path: '/', httpOnly: true, sameSite: 'lax', secure, expires: expiresAt });
  reply.setCookie(CSRF_COOKIE, randomBytes(24).toString('base64url'), { path: '/', httpOnly: false, sameSite: 'lax', secure, expires: expiresAt });
}

export function clearSessionCookies(request: FastifyRequest, reply: FastifyReply): void {
  const secure = secureCookies(request);
  reply.clearCookie(SESSION_COOKIE, { path: '/', httpOnly: true, sameSite: 'lax', secure });
  reply.clearCookie(CSRF_COOKIE, { path: '/', sameSite: 'lax', secure });
}

/** The app's Content-Security-Policy: no inline script, nothing from elsewhere, no framing. */
export const APP_CSP = [
  "default-src 'self'",
  "script-src 'self'",
  "style-src 'self'",
  // React sets style attributes (e.g. a progress bar's width); attributes cannot run code.
  "style-src-attr 'unsafe-inline'",
  "img-src 'self' data: blob:",
  "font-src 'self'",
  "connect-src 'self'",
  "object-src 'none'",
  "base-uri 'self'",
  "form-action 'self'",
  "frame-ancestors 'none'",
].join('; ');

/** Headers every answer carries; /docs keeps the Swagger UI's own CSP. */
export type ShellFallback = (request: FastifyRequest, reply: FastifyReply) => FastifyReply | null;

// eslint-disable-next-line @typescript-eslint/no-explicit-any
export async function registerBrowserSupport(app: FastifyInstance<any, any, any, any, any>, opts: { webDir?: string; hsts: boolean }): Promise<ShellFallback> {
  await app.register(fastifyCookie);
  app.addHook('onSend', async (request, reply, payload) => {
    reply.header('x-content-type-options', 'nosniff');
    reply.header('referrer-policy', 'strict-origin-when-cross-origin');
    reply.header('x-frame-options', 'DENY');
    reply.header('cross-origin-opener-policy', 'same-origin');
    if (opts.hsts) reply.header('strict-transport-security', 'max-age=31536000; includeSubDomains');
    if (!request.url.startsWith('/docs') && !reply.hasHeader('content-security-policy')) reply.header('content-security-policy', APP_CSP);
    return payload;
  });
  const webDir = opts.webDir;
  if (!webDir || !existsSync(path.join(webDir, 'index.html'))) return () => null;
  const indexHtml = readFileSync(path.join(webDir, 'index.html'));
  // Hashed file names never change content: cache them for a year. index.html is revalidated each time.
  await app.register(fastifyStatic, {
    root: path.join(webDir, 'assets'),
    prefix: '/assets/',
    decorateReply: false,
    index: false,
    cacheControl: false,
    setHeaders: (reply) => void reply.header('cache-control', 'public, max-age=31536000, immutable'),
  });
  for (const file of ['favicon.svg']) {
    if (!existsSync(path.join(webDir, file))) continue;
    const body = readFileSync(path.join(webDir, file));
    app.get(`/${file}`, { config: { auth: 'none' }, schema: { hide: true } }, async (_req, reply) =>
      reply.header('cache-control', 'public, max-age=86400').type('image/svg+xml').send(body),
    );
  }
  app.get('/', { config: { auth: 'none' }, schema: { hide: true } }, async (_req, reply) => sendIndex(reply, indexHtml));
  return (request, reply) => serveAppShell(indexHtml, request, reply);
}

function sendIndex(reply: FastifyReply, html: Buffer): FastifyReply {
  return reply.header('cache-control', 'no-cache').type('text/html; charset=utf-8').send(html);
}

/**
 * The SPA fallback, asked by the not-found handler: a browser navigation (GET, wants HTML) to a path
 * that is not the API's gets index.html, so deep links like /w/123/workflows load the app.
 */
function serveAppShell(html: Buffer, request: FastifyRequest, reply: FastifyReply): FastifyReply | null {
  if (request.method !== 'GET') return null;
  const p = request.url.split('?')[0] ?? '/';
  if (RESERVED_PREFIXES.some((prefix) => p === prefix || p.startsWith(`${prefix}/`))) return null;
  if (p.startsWith('/assets/')) return null;
  const accept = request.headers.accept ?? '';
  if (!accept.includes('text/html')) return null;
  return sendIndex(reply, html);
}
