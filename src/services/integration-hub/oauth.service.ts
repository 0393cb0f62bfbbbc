import { createHash, randomBytes } from 'node:crypto';
import type { Clock } from '../../kernel/clock.js';
import type { Transactor } from '../../kernel/db/transaction.js';
import { AppError } from '../../kernel/errors.js';
import type { ConnectionsRepository } from './connections.repository.js';
import { connectorOf, type Actor, type ConnectionsService } from './connections.service.js';
import type { Vault } from './vault.js';

const STATE_TTL_MS = 10 * 60_000;
const sha256hex = (v: string) => createHash('sha256').update(v).digest('hex');
const b64url = (b: Buffer) => b.toString('base64url');

/**
 * OAuth 2.0 authorisation code flow with PKCE (RFC 7636, S256) and a single-use state bound to the
 * connection. The verifier never leaves the server (stored sealed); only the state hash is a key.
 */
export class OAuthService {
  constructor(
    private readonly db: Transactor,
    private readonly repo: ConnectionsRepository,
    private readonly connections: ConnectionsService,
    private readonly vault: Vault,
    private readonly clock: Clock,
    private readonly publicUrl: string | undefined,
  ) {}

  async start(actor: Actor, workspaceId: string, connectionId: string, redirectUri?: string, returnTo?: string): Promise<{ authorizeUrl: string; expiresAt: Date }> {
    const row = await this.connections.require(workspaceId, connectionId);
    const connector = connectorOf(row.connector);
    if (!connector.oauth) throw new AppError('bad_request', `Connector ${connector.id} does not use OAuth`);
    const creds = await this.vault.open<Record<string, unknown>>(row.id, row.credentials);
    if (creds.type !== 'oauth2') throw new AppError('bad_request', 'The connection\'s credentials are not of type oauth2 (set clientId and clientSecret)');
    const redirect = redirectUri ?? (this.publicUrl ? new URL('/oauth/integrations/callback', this.publicUrl).href : null);
    if (!redirect) throw new AppError('bad_request', 'Give redirectUri or set V01T_PUBLIC_URL');
    const state = b64url(randomBytes(32));
    const verifier = b64url(randomBytes(48));
    const challenge = b64url(createHash('sha256').update(verifier).digest());
    const expiresAt = new Date(this.clock.now().getTime() + STATE_TTL_MS);
    await this.repo.insertOauthState({
      stateHash: sha256hex(state),
      connectionId: row.id,
      verifier: await this.vault.sealValue(`oauth-verifier:${row.id}`, verifier),
      redirectUri: redirect,
      returnTo: returnTo ?? null,
      createdBy: actor.userId,
      expiresAt,
    });
    const url = new URL(connector.oauth.authorizeUrl(row.config));
    url.searchParams.set('response_type', 'code');
    url.searchParams.set('client_id', String(creds.clientId));
    url.searchParams.set('redirect_uri', redirect);
    url.searchParams.set('scope', connector.oauth.scopes.join(connector.oauth.scopeSeparator));
    url.searchParams.set('state', state);
    url.searchParams.set('code_challenge', challenge);
    url.searchParams.set('code_challenge_method', 'S256');
    return { authorizeUrl: url.href, expiresAt };
  }

  /**
   * Finishes the flow. A flow started with returnTo (the web app) ends with `redirect`: that page with
   * ?oauth=connected, or ?oauth=failed&code=..., so the person lands back in the app either way. An
   * unknown or expired state has no page to go back to and stays a problem+json answer.
   */
  async callback(q: { state: string; code?: string; error?: string }): Promise<{ connectionId: string; status: string; redirect?: string }> {
    const st = await this.repo.consumeOauthState(sha256hex(q.state));
    if (!st || st.expiresAt.getTime() < this.clock.now().getTime()) throw new AppError('oauth_state_invalid');
    if (!st.returnTo) return this.finish(st, q);
    const back = (params: Record<string, string>) => `${st.returnTo}${st.returnTo!.includes('?') ? '&' : '?'}${new URLSearchParams(params).toString()}`;
    try {
      const done = await this.finish(st, q);
      return { ...done, redirect: back({ oauth: 'connected' }) };
    } catch (err) {
      if (!(err instanceof AppError)) throw err;
      return { connectionId: st.connectionId, status: 'failed', redirect: back({ oauth: 'failed', code: err.code }) };
    }
  }

  private async finish(st: { connectionId: string; verifier: string; redirectUri: string; createdBy: string | null }, q: { code?: string; error?: string }): Promise<{ connectionId: string; status: string }> {
    if (q.error || !q.code) throw new AppError('bad_request', `The provider refused the authorisation${q.error ? `: ${q.error}` : ''}`);
    const row = await this.repo.byId(st.connectionId);
    if (!row) throw new AppError('oauth_state_invalid', 'The connection no longer exists');
    const connector = connectorOf(row.connector);
    const creds = await this.vault.open<Record<string, unknown>>(row.id, row.credentials);
    const verifier = await this.vault.openValue(`oauth-verifier:${row.id}`, st.verifier);
    const tokens = await this.connections.tokenRequest(row, connector, creds, { grant_type: 'authorization_code', code: q.code, redirect_uri: st.redirectUri, code_verifier: verifier });
    const next = { ...creds, accessToken: tokens.accessToken, refreshToken: tokens.refreshToken ?? creds.refreshToken, expiresAt: tokens.expiresAt?.toISOString() };
    const sealed = await this.vault.seal(row.id, next);
    await this.db.transaction(async (tx) => {
      const updated = await this.repo.update(row.workspaceId, row.id, { credentials: sealed, tokenExpiresAt: tokens.expiresAt, status: 'active', statusDetail: null, updatedAt: this.clock.now() }, tx);
      if (updated) await this.connections.configured(updated, { userId: st.createdBy }, tx);
    });
    return { connectionId: row.id, status: 'active' };
  }
}
