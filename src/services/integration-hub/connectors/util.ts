import { AppError } from '../../../kernel/errors.js';
import type { EgressResponse } from '../../../kernel/egress/index.js';

/** A provider's refusal, with the provider's own short message (never our request or credentials). */
export function providerError(provider: string, res: EgressResponse, message?: string): AppError {
  let detail = message;
  if (!detail) {
    try {
      const b = res.json<{ message?: unknown; error?: unknown; error_description?: unknown }>();
      detail = String(b.message ?? b.error_description ?? b.error ?? '');
    } catch {
      detail = '';
    }
  }
  if (res.status === 401 || res.status === 403) {
    return new AppError('provider_auth_failed', `${provider} refused the credentials (${res.status})${detail ? `: ${detail.slice(0, 200)}` : ''}`);
  }
  return new AppError('provider_error', `${provider} answered ${res.status}${detail ? `: ${detail.slice(0, 200)}` : ''}`, { providerStatus: res.status });
}

export function ensureOk(provider: string, res: EgressResponse): EgressResponse {
  if (res.status < 200 || res.status >= 300) throw providerError(provider, res);
  return res;
}

export const trimSlash = (u: string) => u.replace(/\/+$/, '');

/** The text as a server may end up reading it: percent-decoded until stable (double encoding included). */
function fullyDecoded(text: string): string {
  let out = text;
  for (let i = 0; i < 4; i++) {
    let next: string;
    try {
      next = decodeURIComponent(out);
    } catch {
      return out;
    }
    if (next === out) return out;
    out = next;
  }
  return out;
}

/**
 * A "." or ".." segment lets a request leave the base path it was configured for (URL
 * normalisation resolves them, and `%2e%2e` and `\` count as well), or makes the remote server
 * resolve it after decoding. No legitimate API path needs one.
 */
function hasDotSegment(text: string): boolean {
  return fullyDecoded(text)
    .split(/[/\\]/)
    .some((s) => s === '.' || s === '..');
}

function pathRefused(field: string, why: string): AppError {
  return new AppError('validation_failed', `${field}: ${why}`, { errors: [{ path: field, message: why }] });
}

/** `path` appended under `baseUrl`; refuses any path that would resolve outside the base path. */
export function urlUnderBase(baseUrl: string, path: string, field = 'path'): URL {
  if (hasDotSegment(path)) throw pathRefused(field, 'must not contain "." or ".." segments (also percent-encoded)');
  const base = new URL(trimSlash(baseUrl));
  const url = new URL(trimSlash(baseUrl) + (path.startsWith('/') ? path : `/${path}`));
  const basePath = trimSlash(base.pathname);
  if (url.origin !== base.origin || (url.pathname !== basePath && !url.pathname.startsWith(`${basePath}/`))) {
    throw pathRefused(field, 'must stay under the connection\'s base URL');
  }
  return url;
}

/** One path segment from user input, encoded; "." and ".." (in any encoding) are refused. */
export function pathSegment(value: string, field: string): string {
  if (hasDotSegment(value)) throw pathRefused(field, 'must not be "." or ".." or contain such a segment');
  return encodeURIComponent(value);
}

export const jsonHeaders = { 'content-type': 'application/json', accept: 'application/json' };

export function composeText(content: { text: string; link?: string }): string {
  return content.link ? `${content.text}\n\n${content.link}` : content.text;
}

export type FormPart = { name: string; value: string } | { name: string; filename: string; contentType: string; data: Uint8Array };

/** A multipart/form-data body (RFC 7578) built by the platform's FormData, with its boundary. */
export async function multipartBody(parts: FormPart[]): Promise<{ body: Buffer; contentType: string }> {
  const form = new FormData();
  for (const p of parts) {
    if ('data' in p) form.append(p.name, new Blob([p.data], { type: p.contentType }), p.filename);
    else form.append(p.name, p.value);
  }
  const encoded = new Response(form);
  return { body: Buffer.from(await encoded.arrayBuffer()), contentType: encoded.headers.get('content-type')! };
}

/** Refuses media a provider cannot take, before anything is sent (a permanent validation_failed). */
export function refuseMedia(provider: string, why: string): never {
  throw new AppError('validation_failed', `${provider}: ${why}`, { errors: [{ path: 'media', message: why }] });
}
