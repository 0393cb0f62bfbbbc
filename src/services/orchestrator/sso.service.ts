import { randomUUID, timingSafeEqual } from 'node:crypto';
import type * as Oidc from 'openid-client';
import type { AuditLog } from '../../kernel/audit/index.js';
import type { Clock } from '../../kernel/clock.js';
import type { SecretBox } from '../../kernel/crypto/secret-box.js';
import type { Transactor } from '../../kernel/db/transaction.js';
import type { EgressClient } from '../../kernel/egress/client.js';
import { AppError, notFound } from '../../kernel/errors.js';
import type { EventPublisher } from '../../kernel/events/index.js';
import { ROLES, type Role } from '../../kernel/auth/permissions.js';
import { normalizeEmail, type IdentityRepository, type UserRow } from './identity.repository.js';
import type { WorkspacesRepository } from './workspaces.repository.js';
import type { LoginGuard } from './login-guard.js';
import type { SsoFlowRow, SsoProviderRow, SsoRepository } from './sso.repository.js';
import type { SsoGroupRole } from './schema.js';
import { sha256 } from './secrets.js';

/** openid-client (with jose) is loaded by the first SSO sign-in, not at start (ADR 0073). */
let openidClientModule: Promise<typeof Oidc> | undefined;
const openidClient = () => (openidClientModule ??= import('openid-client'));

/** What an admin gives to add a provider (API and `v01t sso add`). */
export interface SsoProviderInput {
  slug: string;
  name: string;
  issuerUrl: string;
  clientId: string;
  clientSecret: string;
  scopes: string[];
  emailClaim: string;
  nameClaim: string;
  groupsClaim?: string | null;
  groupRoles: SsoGroupRole[];
  jitEnabled: boolean;
  defaultWorkspaceId?: string | null;
  defaultRole: Role;
  enabled: boolean;
}

/** A provider as admins see it: never the client secret. */
export const publicProvider = (p: SsoProviderRow) => ({
  id: p.id,
  slug: p.slug,
  name: p.name,
  issuerUrl: p.issuerUrl,
  clientId: p.clientId,
  scopes: p.scopes,
  emailClaim: p.emailClaim,
  nameClaim: p.nameClaim,
  groupsClaim: p.groupsClaim,
  groupRoles: p.groupRoles,
  jitEnabled: p.jitEnabled,
  defaultWorkspaceId: p.defaultWorkspaceId,
  defaultRole: p.defaultRole,
  enabled: p.enabled,
  createdAt: p.createdAt,
  updatedAt: p.updatedAt,
});

/** A sign-in that passed every check: the account and how the flow was started. */
export interface SsoSignIn {
  user: UserRow;
  client: SsoFlowRow['client'];
  returnTo: string;
  created: boolean;
}

/** A callback that failed: the reason goes to the security event; the caller sees `code` and `detail`. */
class SsoFailure extends AppError {}

const ROLE_RANK: Record<Role, number> = Object.fromEntries(ROLES.map((r, i) => [r, ROLES.length - i])) as Record<Role, number>;
const LOOPBACK = new Set(['127.0.0.1', 'localhost', '[::1]']);
const secretContext = (providerId: string) => `orchestrator.sso_provider:${providerId}`;
const FLOW_CONTEXT = 'orchestrator.sso_flow';
/** The stored password hash of an account made by SSO: argon2 cannot parse it, so no password ever matches. */
export const NO_PASSWORD = 'sso:no-password';

/**
 * OpenID Connect sign-in (ADR 0042): the authorization-code flow with PKCE, state and nonce through
 * openid-client, every request to the issuer through the guarded egress client. The library checks
 * the ID token's signature (against the issuer's JWKS), issuer, audience, expiry (on the injected
 * clock, through its clock-skew option) and nonce; this class decides which account it is.
 */
export class SsoService {
  private readonly discovered = new Map<string, { at: number; version: number; server: Oidc.ServerMetadata }>();

  constructor(
    private readonly db: Transactor,
    private readonly repo: SsoRepository,
    private readonly identity: IdentityRepository,
    private readonly workspaces: WorkspacesRepository,
    private readonly secrets: SecretBox,
    private readonly egress: EgressClient,
    private readonly clock: Clock,
    private readonly audit: AuditLog,
    private readonly guard: LoginGuard,
    private readonly events: EventPublisher,
    private readonly forgetAccess: (workspaceId: string, userIds: string[]) => Promise<void>,
    private readonly opts: { flowTtlSeconds: number },
  ) {}

  // ---- providers (platform admins) -------------------------------------------------------------

  async addProvider(input: SsoProviderInput, actor: { userId: string | null; ip: string | null }): Promise<SsoProviderRow> {
    parseIssuer(input.issuerUrl);
    for (const [i, w] of [input.defaultWorkspaceId ?? null, ...input.groupRoles.map((g) => g.workspaceId)].entries()) {
      if (w && !(await this.workspaces.workspaceById(w))) {
        const path = i === 0 ? 'body.defaultWorkspaceId' : `body.groupRoles.${i - 1}.workspaceId`;
        throw new AppError('validation_failed', `No workspace ${w}`, { errors: [{ path, message: 'no such workspace' }] });
      }
    }
    const id = randomUUID();
    const now = this.clock.now();
    return this.db.transaction(async (tx) => {
      const row = await this.repo.insertProvider(
        {
          id,
          slug: input.slug,
          name: input.name,
          // Exactly as the provider names itself: discovery compares it with the document's `issuer`
          // (Authentik's ends in "/", Keycloak's does not).
          issuerUrl: input.issuerUrl.trim(),
          clientId: input.clientId,
          clientSecret: await this.secrets.encrypt(input.clientSecret, secretContext(id)),
          scopes: [...new Set(['openid', ...input.scopes])],
          emailClaim: input.emailClaim,
          nameClaim: input.nameClaim,
          groupsClaim: input.groupsClaim ?? null,
          groupRoles: input.groupRoles,
          jitEnabled: input.jitEnabled,
          defaultWorkspaceId: input.defaultWorkspaceId ?? null,
          defaultRole: input.defaultRole,
          enabled: input.enabled,
          createdAt: now,
          updatedAt: now,
        },
        tx,
      );
      if (!row) throw new AppError('sso_provider_exists', `A provider with the slug "${input.slug}" exists; remove it first or pick another slug`);
      await this.audit.record({ action: 'admin.sso.provider_added', actorId: actor.userId, actorIp: actor.ip, targetType: 'sso_provider', targetId: id, data: { slug: row.slug, issuerUrl: row.issuerUrl } }, tx);
      return row;
    });
  }

  listProviders(): Promise<SsoProviderRow[]> {
    return this.repo.providers();
  }

  /** The sign-in page's buttons: enabled providers, name and start URL only. */
  async publicProviders(): Promise<{ slug: string; name: string; startUrl: string }[]> {
    return (await this.repo.providers({ enabledOnly: true })).map((p) => ({ slug: p.slug, name: p.name, startUrl: `/v1/auth/sso/${p.slug}/start` }));
  }

  async removeProvider(idOrSlug: string, actor: { userId: string | null; ip: string | null }): Promise<SsoProviderRow> {
    const p = /^[0-9a-f-]{36}$/i.test(idOrSlug) ? await this.repo.providerById(idOrSlug) : await this.repo.providerBySlug(idOrSlug);
    if (!p) throw notFound('SSO provider');
    await this.db.transaction(async (tx) => {
      await this.repo.deleteProvider(p.id, tx);
      await this.audit.record({ action: 'admin.sso.provider_removed', actorId: actor.userId, actorIp: actor.ip, targetType: 'sso_provider', targetId: p.id, data: { slug: p.slug } }, tx);
    });
    this.discovered.delete(p.id);
    return p;
  }

  /** GDPR export: the provider subjects linked to the account. */
  async linksOfUser(userId: string) {
    const providers = new Map((await this.repo.providers()).map((p) => [p.id, p.slug]));
    return (await this.repo.identitiesOfUser(userId)).map((i) => ({ provider: providers.get(i.providerId) ?? i.providerId, subject: i.subject, email: i.email, createdAt: i.createdAt, lastLoginAt: i.lastLoginAt }));
  }

  /** `v01t keys rotate`: rewraps every client secret under the current master key. */
  async rewrapSecrets(): Promise<{ rewrapped: number; unchanged: number }> {
    let rewrapped = 0;
    let unchanged = 0;
    for (const p of await this.repo.providers()) {
      const next = await this.secrets.rewrap(p.clientSecret);
      if (next === p.clientSecret) unchanged++;
      else if (await this.repo.swapClientSecret(p.id, p.clientSecret, next)) rewrapped++;
    }
    return { rewrapped, unchanged };
  }

  // ---- the flow --------------------------------------------------------------------------------

  /** Starts a sign-in: the provider's authorization URL and the state the caller's browser must carry back. */
  async start(slug: string, opts: { redirectUri: string; returnTo: string; client: 'browser' | 'api' }) {
    const p = await this.repo.providerBySlug(slug);
    if (!p || !p.enabled) throw notFound('SSO provider');
    const now = this.clock.now();
    await this.repo.deleteExpiredFlows(now);
    const [config, oidc] = await Promise.all([this.configuration(p), openidClient()]);
    const state = oidc.randomState();
    const nonce = oidc.randomNonce();
    const verifier = oidc.randomPKCECodeVerifier();
    const expiresAt = new Date(now.getTime() + this.opts.flowTtlSeconds * 1000);
    await this.repo.insertFlow({
      stateHash: sha256(state),
      providerId: p.id,
      nonce,
      codeVerifier: await this.secrets.encrypt(verifier, FLOW_CONTEXT),
      redirectUri: opts.redirectUri,
      returnTo: opts.returnTo,
      client: opts.client,
      createdAt: now,
      expiresAt,
    });
    const authorizationUrl = oidc.buildAuthorizationUrl(config, {
      redirect_uri: opts.redirectUri,
      scope: p.scopes.join(' '),
      code_challenge: await oidc.calculatePKCECodeChallenge(verifier),
      code_challenge_method: 'S256',
      state,
      nonce,
    });
    return { authorizationUrl: authorizationUrl.href, state, expiresAt };
  }

  /**
   * The provider's redirect back. `boundState` is the state the browser that started the flow holds
   * (an HttpOnly cookie): a callback carried to another browser is refused (login CSRF). Every
   * failure is a security event `sso_failed` with its reason, and answers `sso_failed` or
   * `sso_not_provisioned`.
   */
  async callback(slug: string, query: URLSearchParams, boundState: string | undefined, ip: string): Promise<SsoSignIn> {
    await this.guard.assertLoginRate(ip);
    let flowProvider: SsoProviderRow | null = null;
    let email: string | undefined;
    let userId: string | undefined;
    try {
      const state = query.get('state');
      if (!state || !boundState || !sameString(state, boundState)) throw fail('state_mismatch', 'The sign-in was not started in this browser, or was started again meanwhile; start it again');
      const flow = await this.repo.takeFlow(sha256(state), this.clock.now());
      if (!flow) throw fail('flow_expired', 'The sign-in took too long or was already completed; start it again');
      const p = await this.repo.providerById(flow.providerId);
      if (!p || p.slug !== slug || !p.enabled) throw fail('provider_unavailable', 'This provider is no longer available');
      flowProvider = p;
      const providerError = query.get('error');
      if (providerError) throw fail('provider_error', `The provider refused the sign-in: ${providerError.slice(0, 100)}`);
      const [config, oidc] = await Promise.all([this.configuration(p), openidClient()]);
      const currentUrl = new URL(flow.redirectUri);
      for (const [k, v] of query) currentUrl.searchParams.append(k, v);
      let tokens: Awaited<ReturnType<typeof oidc.authorizationCodeGrant>>;
      try {
        tokens = await oidc.authorizationCodeGrant(config, currentUrl, {
          pkceCodeVerifier: await this.secrets.decrypt(flow.codeVerifier, FLOW_CONTEXT),
          expectedState: state,
          expectedNonce: flow.nonce,
          idTokenExpected: true,
        });
      } catch (err) {
        throw fail('token_rejected', describeOidcError(err));
      }
      const idClaims = tokens.claims();
      if (!idClaims) throw fail('token_rejected', 'The provider returned no ID token');
      let claims: Record<string, unknown> = { ...idClaims };
      if (config.serverMetadata().userinfo_endpoint && tokens.access_token) {
        try {
          claims = { ...(await oidc.fetchUserInfo(config, tokens.access_token, idClaims.sub)), ...idClaims };
        } catch (err) {
          throw fail('userinfo_failed', describeOidcError(err));
        }
      }
      const emailClaim = claims[p.emailClaim];
      email = typeof emailClaim === 'string' && emailClaim.includes('@') ? emailClaim.trim() : undefined;
      const result = await this.resolveAccount(p, idClaims.sub, email, claims);
      userId = result.user.id;
      await this.applyGroupRoles(p, result.user.id, claims, ip);
      await this.repo.touchIdentity(p.id, idClaims.sub, this.clock.now());
      await this.identity.updateUser(result.user.id, { lastLoginAt: this.clock.now() });
      await this.audit.record({ action: 'auth.login', actorId: result.user.id, actorIp: ip, targetType: 'user', targetId: result.user.id, data: { sso: p.slug, provisioned: result.created } });
      return { user: result.user, client: flow.client, returnTo: flow.returnTo, created: result.created };
    } catch (err) {
      const reason = err instanceof SsoFailure ? String(err.extra.reason) : err instanceof AppError ? err.code : 'internal';
      await this.guard.event('sso_failed', { ip, userId, email, detail: { provider: flowProvider?.slug ?? slug, reason } });
      if (err instanceof SsoFailure) throw new AppError(err.code, err.message, { reason });
      throw err;
    }
  }

  /** The linked account, an existing account by a verified email, or (JIT) a new one. */
  private async resolveAccount(p: SsoProviderRow, subject: string, email: string | undefined, claims: Record<string, unknown>): Promise<{ user: UserRow; created: boolean }> {
    const linked = await this.repo.identity(p.id, subject);
    if (linked) {
      const user = await this.identity.userById(linked.userId);
      if (user) return { user, created: false };
    }
    if (!email) throw fail('no_email', `The provider sent no email address in the "${p.emailClaim}" claim`);
    // Only an address the provider vouches for may link to, or create, a v01t account: anyone can type any address into an IdP profile.
    if (claims.email_verified !== true) throw fail('email_unverified', 'The provider has not verified this email address; verify it there and sign in again');
    const now = this.clock.now();
    const existing = await this.identity.userByEmail(email);
    if (existing) {
      await this.db.transaction(async (tx) => {
        await this.repo.insertIdentity({ providerId: p.id, subject, userId: existing.id, email, createdAt: now }, tx);
        // The provider vouched for the address the account holds.
        if (!existing.emailVerifiedAt) await this.identity.updateUser(existing.id, { emailVerifiedAt: now }, tx);
        await this.audit.record({ action: 'auth.sso.linked', actorId: existing.id, targetType: 'user', targetId: existing.id, data: { provider: p.slug } }, tx);
      });
      return { user: existing, created: false };
    }
    if (!p.jitEnabled) {
      throw new SsoFailure('sso_not_provisioned', 'This instance creates accounts for single sign-on only when an administrator allows it; ask one to create or invite your account', { reason: 'not_provisioned' });
    }
    const nameClaim = claims[p.nameClaim];
    const name = (typeof nameClaim === 'string' && nameClaim.trim() ? nameClaim.trim() : email.split('@')[0]!).slice(0, 100);
    const user = await this.db.transaction(async (tx) => {
      const row = await this.identity.insertUser(
        { id: randomUUID(), email, emailNormalized: normalizeEmail(email), name, passwordHash: NO_PASSWORD, platformAdmin: false, emailVerifiedAt: now, createdAt: now, updatedAt: now },
        tx,
      );
      if (!row) return null;
      await this.repo.insertIdentity({ providerId: p.id, subject, userId: row.id, email, createdAt: now }, tx);
      if (p.defaultWorkspaceId && (await this.workspaces.workspaceById(p.defaultWorkspaceId, tx))) {
        await this.workspaces.insertMember({ workspaceId: p.defaultWorkspaceId, userId: row.id, role: p.defaultRole, personas: [], joinedAt: now }, tx);
        await this.events.publish({ name: 'orchestrator.member.joined.v1', workspaceId: p.defaultWorkspaceId, actorId: row.id, payload: { userId: row.id, role: p.defaultRole } }, tx);
      }
      await this.audit.record({ action: 'auth.sso.provisioned', actorId: row.id, targetType: 'user', targetId: row.id, data: { provider: p.slug, workspaceId: p.defaultWorkspaceId, role: p.defaultRole } }, tx);
      await this.events.publish({ name: 'orchestrator.user.signed_up.v1', workspaceId: null, actorId: row.id, payload: { userId: row.id, via: 'sso' } }, tx);
      return row;
    });
    if (!user) throw fail('conflict', 'The account was created concurrently; sign in again');
    return { user, created: true };
  }

  /**
   * The groups claim decides workspace roles on every sign-in: for each mapped workspace the highest
   * role among the user's groups; a member is added or their role changed. An owner is never
   * demoted by a claim (ownership changes stay with the workspace's owners).
   */
  private async applyGroupRoles(p: SsoProviderRow, userId: string, claims: Record<string, unknown>, ip: string): Promise<void> {
    if (!p.groupsClaim || p.groupRoles.length === 0) return;
    const raw = claims[p.groupsClaim];
    const groups = new Set(Array.isArray(raw) ? raw.filter((g): g is string => typeof g === 'string') : typeof raw === 'string' ? [raw] : []);
    const best = new Map<string, Role>();
    for (const m of p.groupRoles) {
      if (!groups.has(m.group)) continue;
      const current = best.get(m.workspaceId);
      if (!current || ROLE_RANK[m.role] > ROLE_RANK[current]) best.set(m.workspaceId, m.role);
    }
    const now = this.clock.now();
    for (const [workspaceId, role] of best) {
      await this.db.transaction(async (tx) => {
        if (!(await this.workspaces.workspaceById(workspaceId, tx))) return;
        const member = await this.workspaces.member(workspaceId, userId, tx);
        if (!member) {
          await this.workspaces.insertMember({ workspaceId, userId, role, personas: [], joinedAt: now }, tx);
          await this.events.publish({ name: 'orchestrator.member.joined.v1', workspaceId, actorId: userId, payload: { userId, role } }, tx);
        } else if (member.role !== role && member.role !== 'owner') {
          await this.workspaces.updateMember(workspaceId, userId, { role }, tx);
        } else {
          return;
        }
        await this.audit.record({ action: 'member.role_from_sso', workspaceId, actorId: userId, actorIp: ip, targetType: 'user', targetId: userId, data: { provider: p.slug, role, previous: member?.role ?? null } }, tx);
      });
      await this.forgetAccess(workspaceId, [userId]);
    }
  }

  // ---- the issuer, through the guarded egress ------------------------------------------------

  /**
   * The client configuration for a provider. Discovery is cached for an hour per provider; the
   * clock-skew option moves openid-client's "now" to the injected clock, so ID-token expiry is
   * judged on the same time as everything else.
   */
  private async configuration(p: SsoProviderRow): Promise<Oidc.Configuration> {
    const oidc = await openidClient();
    const secret = await this.secrets.decrypt(p.clientSecret, secretContext(p.id));
    const metadata: Partial<Oidc.ClientMetadata> = { client_secret: secret, [oidc.clockSkew]: Math.round((this.clock.now().getTime() - Date.now()) / 1000) };
    const insecure = new URL(p.issuerUrl).protocol === 'http:';
    let cached = this.discovered.get(p.id);
    if (!cached || cached.version !== p.updatedAt.getTime() || Date.now() - cached.at > 3600_000) {
      let discovered: Oidc.Configuration;
      try {
        discovered = await oidc.discovery(new URL(p.issuerUrl), p.clientId, metadata, oidc.ClientSecretBasic(secret), {
          [oidc.customFetch]: this.fetch,
          execute: insecure ? [oidc.allowInsecureRequests] : [],
        });
      } catch (err) {
        if (err instanceof AppError) throw fail('discovery_failed', `The issuer could not be reached: ${err.message}`);
        throw fail('discovery_failed', `The issuer's discovery document was refused: ${describeOidcError(err)}`);
      }
      cached = { at: Date.now(), version: p.updatedAt.getTime(), server: discovered.serverMetadata() };
      this.discovered.set(p.id, cached);
    }
    // A fresh copy: openid-client keeps the issuer's JWKS per metadata object, and a sign-in should see
    // the keys the issuer publishes now (a rotated or revoked key), at the cost of one GET per sign-in.
    const config = new oidc.Configuration({ ...cached.server }, p.clientId, metadata, oidc.ClientSecretBasic(secret));
    config[oidc.customFetch] = this.fetch;
    if (insecure) oidc.allowInsecureRequests(config);
    // openid-client trusts an ID token from the token endpoint on TLS alone unless told otherwise; we
    // verify its signature against the issuer's JWKS always (a loopback or misconfigured provider has no TLS to lean on).
    oidc.enableNonRepudiationChecks(config);
    return config;
  }

  /** openid-client's fetch, answered by the guarded egress client (SSRF guard, V01T_EGRESS_ALLOW, timeouts, size limit). */
  private readonly fetch: Oidc.CustomFetch = async (url, options) => {
    const headers: Record<string, string> = {};
    new Headers(options.headers as ConstructorParameters<typeof Headers>[0]).forEach((v, k) => (headers[k] = v));
    const b = options.body;
    const body =
      b == null ? undefined : typeof b === 'string' ? b : b instanceof URLSearchParams ? b.toString() : b instanceof Uint8Array ? b : b instanceof ArrayBuffer ? new Uint8Array(b) : undefined;
    const res = await this.egress.request({ url, method: options.method, headers, body, followRedirects: false, connector: 'sso', key: `sso:${new URL(url).host}`, signal: options.signal ?? undefined });
    const noBody = res.status === 204 || res.status === 304;
    return new Response(noBody ? null : new Uint8Array(res.body), { status: res.status, headers: res.headers });
  };
}

function fail(reason: string, detail: string): SsoFailure {
  return new SsoFailure('sso_failed', detail, { reason });
}

function sameString(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}

/** openid-client's errors name the failed check ("unexpected ID Token \"nonce\" claim value", "JWS signature verification failed"). */
function describeOidcError(err: unknown): string {
  if (err instanceof AppError) return err.message;
  if (err instanceof Error) {
    const cause = err.cause instanceof Error ? `: ${err.cause.message}` : '';
    return `${err.message}${cause}`.slice(0, 300);
  }
  return 'unknown error';
}

/** https only, except for a provider on this machine (a test or a local Keycloak). */
function parseIssuer(value: string): URL {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw new AppError('validation_failed', 'issuerUrl is not a URL', { errors: [{ path: 'body.issuerUrl', message: 'not a URL' }] });
  }
  if (url.protocol !== 'https:' && !(url.protocol === 'http:' && LOOPBACK.has(url.hostname))) {
    throw new AppError('validation_failed', 'issuerUrl must use https (http only for a provider on this machine)', { errors: [{ path: 'body.issuerUrl', message: 'must use https' }] });
  }
  if (url.search || url.hash || url.username) throw new AppError('validation_failed', 'issuerUrl must not carry a query, fragment or credentials', { errors: [{ path: 'body.issuerUrl', message: 'no query, fragment or credentials' }] });
  return url;
}
