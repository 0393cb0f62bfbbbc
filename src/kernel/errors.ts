/**
 * The one error catalog, composed at start-up: the kernel's codes below, and each service's,
 * declared in its `errors.ts` with `defineErrors` and listed by its manifest (ADR 0015). Every
 * error a client can see has a stable `code`, an HTTP status and a title; the HTTP layer turns an
 * AppError into an application/problem+json body. docs/errors.md is generated from it.
 */
export interface ErrorDef {
  status: number;
  title: string;
}
export type ErrorMap = Record<string, ErrorDef>;

/** Codes of the kernel's own machinery (HTTP layer, guard, egress), shared by every service. */
export const KERNEL_ERRORS = {
  bad_request: { status: 400, title: 'Bad request' },
  invalid_json: { status: 400, title: 'Malformed JSON body' },
  validation_failed: { status: 400, title: 'Request validation failed' },
  invalid_text: { status: 400, title: 'Text contains a NUL character or an unpaired surrogate' },
  nesting_too_deep: { status: 400, title: 'The request nests values too deeply' },
  request_timeout: { status: 408, title: 'The request was not received in time' },
  unsupported_media_type: { status: 415, title: 'Unsupported media type' },
  unauthenticated: { status: 401, title: 'Authentication required' },
  invalid_token: { status: 401, title: 'Invalid or expired token' },
  forbidden: { status: 403, title: 'Forbidden' },
  csrf_failed: { status: 403, title: 'Cross-site request refused' },
  insufficient_scope: { status: 403, title: 'The token lacks the scope for this action' },
  mfa_enrollment_required: { status: 403, title: 'This workspace requires multi-factor authentication' },
  not_found: { status: 404, title: 'Not found' },
  workspace_not_found: { status: 404, title: 'Workspace not found' },
  method_not_allowed: { status: 405, title: 'Method not allowed' },
  conflict: { status: 409, title: 'Conflict' },
  payload_too_large: { status: 413, title: 'Payload too large' },
  uri_too_long: { status: 414, title: 'The request URL or one of its path segments is too long' },
  headers_too_large: { status: 431, title: 'The request headers are too large' },
  rate_limited: { status: 429, title: 'Too many requests' },
  egress_blocked: { status: 422, title: 'The outbound request target is not allowed' },
  egress_rate_limited: { status: 429, title: 'Outbound rate limit for this connection reached' },
  egress_failed: { status: 502, title: 'The outbound request failed' },
  egress_response_too_large: { status: 502, title: 'The remote response exceeds the size limit' },
  egress_circuit_open: { status: 503, title: 'The remote service is failing; requests are paused' },
  egress_timeout: { status: 504, title: 'The remote service did not answer in time' },
  internal_error: { status: 500, title: 'Internal server error' },
  service_unavailable: { status: 503, title: 'Service unavailable' },
  upstream_failed: { status: 502, title: 'The service owning this route answered with a broken response' },
  upstream_unavailable: { status: 503, title: 'The service owning this route cannot be reached' },
  upstream_timeout: { status: 504, title: 'The service owning this route did not answer in time' },
} as const satisfies ErrorMap;

type KernelErrors = typeof KERNEL_ERRORS;
/**
 * Every code as a type: the kernel's, with each service's merged in by declaration from its
 * errors.ts (`declare module '../../kernel/errors.js' { interface ErrorCatalog extends ... }`).
 */
// eslint-disable-next-line @typescript-eslint/no-empty-object-type
export interface ErrorCatalog extends KernelErrors {}
export type ErrorCode = keyof ErrorCatalog & string;

const catalog = new Map<string, ErrorDef & { owner: string }>(Object.entries(KERNEL_ERRORS).map(([code, def]) => [code, { ...def, owner: 'kernel' }]));

/** Adds codes to the run-time catalog; the same code declared twice differently is a start-up error. */
export function registerErrors(owner: string, map: ErrorMap): void {
  for (const [code, def] of Object.entries(map)) {
    const known = catalog.get(code);
    if (known && (known.owner !== owner || known.status !== def.status || known.title !== def.title)) throw new Error(`error code ${code} declared twice (${known.owner}, ${owner})`);
    catalog.set(code, { ...def, owner });
  }
}

/**
 * A service's codes: registered when its errors.ts is first imported (so its own code and unit
 * tests see them) and listed by its manifest, which the platform registers again at start-up.
 */
export function defineErrors<const T extends ErrorMap>(owner: string, map: T): T {
  registerErrors(owner, map);
  return map;
}

/** Every code known at run time (the kernel's and those of the services imported so far). */
export function errorCatalogEntries(): [string, ErrorDef][] {
  return [...catalog.entries()].map(([code, d]) => [code, { status: d.status, title: d.title }]);
}

export function errorDef(code: string): ErrorDef | undefined {
  const d = catalog.get(code);
  return d && { status: d.status, title: d.title };
}

/** The catalog as Markdown, for docs/errors.md. */
export function errorCatalogMarkdown(): string {
  const rows = [...catalog.entries()].sort(([a], [b]) => a.localeCompare(b)).map(([code, d]) => `| \`${code}\` | ${d.status} | ${d.title} | ${d.owner} |`);
  return ['| code | status | title | declared by |', '|---|:-:|---|---|', ...rows].join('\n');
}

export interface FieldError {
  path: string;
  message: string;
}

export class AppError extends Error {
  readonly status: number;
  readonly title: string;
  constructor(
    readonly code: ErrorCode,
    detail?: string,
    readonly extra: { errors?: FieldError[]; retryAfterSeconds?: number; [k: string]: unknown } = {},
  ) {
    // A code the catalog does not know (its service's errors.ts was never loaded) is a bug: a 500.
    const def = catalog.get(code) ?? KERNEL_ERRORS.internal_error;
    super(detail ?? def.title);
    this.name = 'AppError';
    this.status = def.status;
    this.title = def.title;
  }
}

export const notFound = (what = 'Resource') => new AppError('not_found', `${what} not found`);
export const forbidden = (detail?: string) => new AppError('forbidden', detail);

/** The problem+json body (RFC 9457) every error response carries. */
export interface ProblemBody {
  type: string;
  title: string;
  status: number;
  detail: string;
  code: string;
  instance?: string;
  requestId?: string;
  errors?: FieldError[];
  [k: string]: unknown;
}

export function problemType(code: string): string {
  return `https://docs.v01t.io/problems/${code.replace(/_/g, '-')}`;
}
