/**
 * The fields of the log lines a SIEM reads (ADR 0058, docs/siem.md): access, audit and security
 * events, with Elastic Common Schema names written as dotted keys (`event.action`, `source.ip`),
 * which Elasticsearch expands into objects and Splunk's JSON extraction names the same way. The
 * same fields are written whatever LOG_FORMAT says; LOG_FORMAT=ecs also renames the envelope
 * (`@timestamp`, `log.level`, `message`, `service.name`, `trace.id`). docs/siem.md lists them and
 * test/siem-logs.test.ts checks the emitted lines against that list.
 */

export type LogFields = Record<string, unknown>;

/** ECS event.outcome. */
type Outcome = 'success' | 'failure' | 'unknown';

/** One HTTP request, as the access line records it. */
export interface AccessRecord {
  method: string;
  /** The raw URL (path and query); only the path is written. */
  url: string;
  /** The matched route pattern (`/v1/workspaces/:workspaceId/...`), if any. */
  route?: string;
  status: number;
  durationMs: number;
  ip: string;
  userId?: string;
  userAgent?: string | string[];
  workspaceId?: string;
}

/**
 * The access line: never the query string (tokens travel there), and a route whose path carries a
 * secret (`/hooks/workflows/:token`) is written as its pattern.
 */
export function accessLogFields(r: AccessRecord): LogFields {
  const path = r.route && /:(token|secret)\b/.test(r.route) ? r.route : (r.url.split('?')[0] ?? '/');
  return {
    'event.kind': 'event',
    'event.category': ['web'],
    'event.type': ['access'],
    'event.action': 'http_request',
    'event.dataset': 'v01t.access',
    'event.outcome': (r.status < 400 ? 'success' : 'failure') satisfies Outcome,
    'event.duration': Math.round(r.durationMs * 1e6),
    'http.request.method': r.method,
    'http.response.status_code': r.status,
    'url.path': path,
    ...(r.route ? { 'http.route': r.route } : {}),
    'source.ip': r.ip,
    ...(r.userId ? { 'user.id': r.userId } : {}),
    ...(typeof r.userAgent === 'string' ? { 'user_agent.original': r.userAgent.slice(0, 512) } : {}),
    ...(r.workspaceId ? { 'v01t.workspace.id': r.workspaceId } : {}),
  };
}

/** An audit log entry (kernel/audit) as the audit line records it. */
export interface AuditRecord {
  id: string;
  seq: number;
  action: string;
  workspaceId: string | null;
  actorId: string | null;
  actorIp: string | null;
  targetType: string | null;
  targetId: string | null;
  data: Record<string, unknown>;
}

const IAM_PREFIXES = ['member.', 'invitation.', 'token.', 'user.', 'workspace.', 'account.', 'platform_admin.', 'role.'];

function auditCategory(action: string): string[] {
  if (action.startsWith('auth.')) return ['authentication'];
  if (IAM_PREFIXES.some((p) => action.startsWith(p))) return ['iam'];
  return ['configuration'];
}

function auditType(action: string): string[] {
  if (action.startsWith('auth.login')) return ['start'];
  if (action.startsWith('auth.logout')) return ['end'];
  if (/(changed|updated|_from_sso|rotated|enabled|disabled)$/.test(action)) return ['change'];
  if (/(created|added|invited|accepted|joined|granted)$/.test(action)) return ['creation'];
  if (/(deleted|removed|revoked|erased|left)$/.test(action)) return ['deletion'];
  return ['info'];
}

/** The audit line of an appended entry. A role change names the new role (`user.target.roles`) and the old one. */
export function auditLogFields(e: AuditRecord): LogFields {
  const to = e.data.to ?? e.data.role;
  const from = e.data.from ?? e.data.previous;
  return {
    'event.kind': 'event',
    'event.category': auditCategory(e.action),
    'event.type': auditType(e.action),
    'event.action': e.action,
    'event.dataset': 'v01t.audit',
    'event.outcome': 'success' satisfies Outcome,
    'event.id': e.id,
    'event.sequence': e.seq,
    ...(e.actorId ? { 'user.id': e.actorId } : {}),
    ...(e.actorIp ? { 'source.ip': e.actorIp } : {}),
    ...(e.targetType === 'user' && e.targetId ? { 'user.target.id': e.targetId } : {}),
    ...(typeof to === 'string' && e.targetType === 'user' ? { 'user.target.roles': [to] } : {}),
    ...(typeof from === 'string' || from === null ? { 'v01t.role.previous': from } : {}),
    ...(e.targetType ? { 'v01t.target.type': e.targetType } : {}),
    ...(e.targetId ? { 'v01t.target.id': e.targetId } : {}),
    ...(e.workspaceId ? { 'v01t.workspace.id': e.workspaceId } : {}),
  };
}

/** A security event of the sign-in guard (orchestrator: failed sign-ins, blocks, recovery). */
export interface SecurityRecord {
  kind: string;
  ip?: string;
  userId?: string;
  detail?: Record<string, unknown>;
}

const DENIED = new Set(['ip_blocked', 'account_backoff']);
const SUCCEEDED = new Set(['password_reset', 'password_reset_requested', 'break_glass_login']);

export function securityLogFields(r: SecurityRecord): LogFields {
  const failed = /(_failed|_invalid_token|_unknown_email)$/.test(r.kind);
  const outcome: Outcome = failed || DENIED.has(r.kind) ? 'failure' : SUCCEEDED.has(r.kind) ? 'success' : 'unknown';
  const reason = r.detail?.reason;
  return {
    'event.kind': 'event',
    'event.category': r.kind.startsWith('password_reset') || r.kind.startsWith('signup') ? ['iam'] : ['authentication'],
    'event.type': DENIED.has(r.kind) ? ['denied'] : r.kind.includes('login') || r.kind.endsWith('check_failed') || r.kind === 'sso_failed' ? ['start'] : ['info'],
    'event.action': r.kind,
    'event.dataset': 'v01t.security',
    'event.outcome': outcome,
    ...(typeof reason === 'string' ? { 'event.reason': reason } : {}),
    ...(r.ip ? { 'source.ip': r.ip } : {}),
    ...(r.userId ? { 'user.id': r.userId } : {}),
    ...(r.detail ? { 'v01t.detail': Object.fromEntries(Object.entries(r.detail).filter(([k]) => k !== 'reason')) } : {}),
  };
}
