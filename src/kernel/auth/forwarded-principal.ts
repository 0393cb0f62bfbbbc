import { createHash, createHmac } from 'node:crypto';
import { sameSecret } from '../crypto/compare.js';
import type { Principal, WorkspaceAccess } from './principal.js';

/**
 * The caller as the public entry (the orchestrator's gateway) authenticated them, handed to the
 * service that owns the route in the distributed shape, so it need not ask the orchestrator's
 * identity API again on every request (ADR 0055).
 *
 * `x-v01t-principal: <payload>.<mac>`: payload = base64url(JSON), mac = HMAC-SHA256 under a key
 * derived from V01T_INTERNAL_TOKEN. The payload is bound to the credential it was made for (a hash
 * of the bearer token or session cookie, so it cannot be replayed with another) and lives 30 s.
 * A header that fails any check is ignored: the service authenticates the request itself.
 */
export const FORWARDED_PRINCIPAL_HEADER = 'x-v01t-principal';
const LIFETIME_MS = 30_000;

export interface ForwardedPrincipal {
  principal: Principal;
  /** The caller's access to the workspace of the route, when the route is under /v1/workspaces/:workspaceId (null: not a member). */
  workspace?: { workspaceId: string; access: WorkspaceAccess | null };
}

interface Payload extends ForwardedPrincipal {
  /** sha256 of the credential, base64url. */
  cred: string;
  /** Expiry, ms since the epoch. */
  exp: number;
}

function keyOf(internalToken: string): Buffer {
  return createHmac('sha256', internalToken).update('v01t forwarded principal v1').digest();
}

function credentialHash(token: string): string {
  return createHash('sha256').update(token).digest('base64url');
}

export class PrincipalSigner {
  private readonly key: Buffer;
  constructor(internalToken: string) {
    this.key = keyOf(internalToken);
  }

  private mac(payload: string): string {
    return createHmac('sha256', this.key).update(payload).digest('base64url');
  }

  sign(forwarded: ForwardedPrincipal, credential: string, now = Date.now()): string {
    const payload: Payload = { ...forwarded, cred: credentialHash(credential), exp: now + LIFETIME_MS };
    const encoded = Buffer.from(JSON.stringify(payload)).toString('base64url');
    return `${encoded}.${this.mac(encoded)}`;
  }

  /** The forwarded principal if the header is this installation's, fresh and made for this credential; undefined otherwise. */
  verify(header: string | string[] | undefined, credential: string, now = Date.now()): ForwardedPrincipal | undefined {
    if (typeof header !== 'string' || header.length > 8192) return undefined;
    const dot = header.indexOf('.');
    if (dot <= 0) return undefined;
    const encoded = header.slice(0, dot);
    if (!sameSecret(header.slice(dot + 1), this.mac(encoded))) return undefined;
    let payload: Payload;
    try {
      payload = JSON.parse(Buffer.from(encoded, 'base64url').toString('utf8')) as Payload;
    } catch {
      return undefined;
    }
    if (typeof payload.exp !== 'number' || payload.exp < now || payload.exp > now + 2 * LIFETIME_MS) return undefined;
    if (!sameSecret(payload.cred, credentialHash(credential))) return undefined;
    if (!payload.principal || typeof payload.principal.userId !== 'string') return undefined;
    return { principal: payload.principal, workspace: payload.workspace };
  }
}
