/**
 * The one error catalog. Every error a client can see has a stable `code`, an HTTP status and a
 * title; the HTTP layer turns an AppError into an application/problem+json body.
 */
export const ERROR_CATALOG = {
  bad_request: { status: 400, title: 'Bad request' },
  invalid_json: { status: 400, title: 'Malformed JSON body' },
  validation_failed: { status: 400, title: 'Request validation failed' },
  unsupported_media_type: { status: 415, title: 'Unsupported media type' },
  unauthenticated: { status: 401, title: 'Authentication required' },
  invalid_token: { status: 401, title: 'Invalid or expired token' },
  invalid_credentials: { status: 401, title: 'Invalid email or password' },
  mfa_required: { status: 401, title: 'A one-time password is required' },
  invalid_otp: { status: 401, title: 'Invalid one-time password' },
  forbidden: { status: 403, title: 'Forbidden' },
  insufficient_scope: { status: 403, title: 'The token lacks the scope for this action' },
  mfa_enrollment_required: { status: 403, title: 'This workspace requires multi-factor authentication' },
  signup_disabled: { status: 403, title: 'Sign-up is disabled on this instance' },
  not_found: { status: 404, title: 'Not found' },
  workspace_not_found: { status: 404, title: 'Workspace not found' },
  method_not_allowed: { status: 405, title: 'Method not allowed' },
  conflict: { status: 409, title: 'Conflict' },
  email_taken: { status: 409, title: 'An account with this email already exists' },
  already_member: { status: 409, title: 'Already a member of this workspace' },
  last_owner: { status: 409, title: 'A workspace must keep at least one owner' },
  mfa_already_enabled: { status: 409, title: 'MFA is already enabled' },
  mfa_not_enabled: { status: 409, title: 'MFA is not enabled' },
  invitation_invalid: { status: 410, title: 'Invitation is invalid, expired or already used' },
  payload_too_large: { status: 413, title: 'Payload too large' },
  ip_blocked: { status: 429, title: 'Too many failed sign-in attempts from this address' },
  account_locked: { status: 429, title: 'Too many failed sign-in attempts for this account' },
  rate_limited: { status: 429, title: 'Too many requests' },
  analytics_buffer_full: { status: 429, title: 'The analytics ingestion buffer is full; retry later' },
  analytics_buffer_unavailable: { status: 503, title: 'The analytics ingestion buffer cannot store events right now; retry later' },
  invalid_write_key: { status: 401, title: 'Invalid or revoked workspace write key' },
  egress_blocked: { status: 422, title: 'The outbound request target is not allowed' },
  egress_rate_limited: { status: 429, title: 'Outbound rate limit for this connection reached' },
  egress_failed: { status: 502, title: 'The outbound request failed' },
  egress_response_too_large: { status: 502, title: 'The remote response exceeds the size limit' },
  egress_circuit_open: { status: 503, title: 'The remote service is failing; requests are paused' },
  egress_timeout: { status: 504, title: 'The remote service did not answer in time' },
  provider_error: { status: 502, title: 'The provider refused or failed the request' },
  provider_auth_failed: { status: 502, title: 'The provider refused the connection\'s credentials' },
  connection_needs_reauth: { status: 409, title: 'The connection must be authorised again' },
  connector_unknown: { status: 400, title: 'Unknown connector' },
  webhook_signature_invalid: { status: 401, title: 'The webhook signature or timestamp is invalid' },
  oauth_state_invalid: { status: 400, title: 'The OAuth state is invalid or expired' },
  media_missing: { status: 409, title: 'A media file of the post no longer exists' },
  internal_error: { status: 500, title: 'Internal server error' },
  service_unavailable: { status: 503, title: 'Service unavailable' },
} as const satisfies Record<string, { status: number; title: string }>;

export type ErrorCode = keyof typeof ERROR_CATALOG;

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
    super(detail ?? ERROR_CATALOG[code].title);
    this.name = 'AppError';
    this.status = ERROR_CATALOG[code].status;
    this.title = ERROR_CATALOG[code].title;
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
