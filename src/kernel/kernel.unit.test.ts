import { describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from './config/index.js';
import { classifyQuery } from './db/instrument.js';
import { canonicalJson, entryHash, GENESIS_HASH } from './audit/index.js';
import { PermissionRegistry, CORE_PERMISSIONS, canGrantRole, scopeAllows } from './auth/permissions.js';
import { LocalKeyProvider, SecretBox, SecretBoxError } from './crypto/secret-box.js';
import { MemoryCache } from './cache/index.js';
import { ManualClock } from './clock.js';
import { randomBytes } from 'node:crypto';

describe('config', () => {
  it('applies defaults: embedded profile on 127.0.0.1:8080 with ./data', () => {
    const c = loadConfig({});
    expect(c.http).toMatchObject({ host: '127.0.0.1', port: 8080 });
    expect(c.dataDir.endsWith('/data')).toBe(true);
    expect(c.profile).toBe('embedded');
    expect(c.services).toHaveLength(6);
    expect(c.servicesExplicit).toBe(false);
  });

  it('switches to the distributed profile when DATABASE_URL is set', () => {
    const c = loadConfig({ DATABASE_URL: 'postgres://u@h/db', REDIS_URL: 'redis://h:6379' });
    expect(c.profile).toBe('distributed');
    expect(c.redis.url).toBe('redis://h:6379');
  });

  it('names every bad variable and hides secrets in the message', () => {
    let err: unknown;
    try {
      loadConfig({ PORT: 'eighty', DATABASE_URL: 'mysql://user:hunter2@h/db', V01T_SERVICES: 'orchestrator,nope' });
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(ConfigError);
    const msg = (err as Error).message;
    expect(msg).toMatch(/PORT/);
    expect(msg).toMatch(/DATABASE_URL/);
    expect(msg).toMatch(/unknown service "nope"/);
    expect(msg).not.toContain('hunter2');
  });

  it('treats empty variables as unset and parses TRUST_PROXY forms', () => {
    expect(loadConfig({ PORT: '' }).http.port).toBe(8080);
    expect(loadConfig({ TRUST_PROXY: 'true' }).http.trustProxy).toBe(true);
    expect(loadConfig({ TRUST_PROXY: '2' }).http.trustProxy).toBe(2);
    expect(loadConfig({ TRUST_PROXY: '10.0.0.0/8' }).http.trustProxy).toBe('10.0.0.0/8');
    expect(() => loadConfig({ TRUST_PROXY: 'everyone' })).toThrow(ConfigError);
  });
});

describe('classifyQuery', () => {
  it.each([
    ['select "id" from "orchestrator"."users" where "id" = $1', 'select', 'orchestrator.users'],
    ['insert into "orchestrator"."tokens" ("id") values ($1)', 'insert', 'orchestrator.tokens'],
    ['update "orchestrator"."members" set "role" = $1', 'update', 'orchestrator.members'],
    ['delete from kernel.audit_log where seq < 3', 'delete', 'kernel.audit_log'],
    ['WITH d AS (DELETE FROM kernel.audit_log RETURNING 1) SELECT count(*) FROM d', 'select', 'kernel.audit_log'],
    ['BEGIN', 'transaction', 'none'],
    ['SELECT 1', 'select', 'none'],
    ['CREATE TABLE x (a int)', 'other', 'none'],
  ])('%s → %s on %s', (sql, type, table) => {
    expect(classifyQuery(sql)).toEqual({ queryType: type, table });
  });
});

describe('audit hashing', () => {
  const entry = {
    id: '4d1c1b4e-7c55-4a4e-9d5e-0c7f0a1b2c3d',
    occurredAt: new Date('2026-01-01T00:00:00.000Z'),
    workspaceId: null,
    actorId: null,
    actorIp: '127.0.0.1',
    action: 'auth.login',
    targetType: 'user',
    targetId: 'u1',
    data: { b: 1, a: [1, { y: 2, x: 1 }] },
  };

  it('canonical JSON sorts keys at every depth', () => {
    expect(canonicalJson({ b: 1, a: { d: 1, c: 2 } })).toBe('{"a":{"c":2,"d":1},"b":1}');
  });

  it('changes when the content, or the previous hash, changes', () => {
    const h = entryHash(GENESIS_HASH, entry);
    expect(h).toMatch(/^[0-9a-f]{64}$/);
    expect(entryHash(GENESIS_HASH, { ...entry, data: { a: [1, { x: 1, y: 2 }], b: 1 } })).toBe(h);
    expect(entryHash(GENESIS_HASH, { ...entry, action: 'auth.logout' })).not.toBe(h);
    expect(entryHash('f'.repeat(64), entry)).not.toBe(h);
  });
});

describe('permissions and scopes', () => {
  const registry = new PermissionRegistry(CORE_PERMISSIONS, { 'workflows.write': { description: 'x', roles: ['owner', 'admin', 'developer'] } });

  it('grants by role and refuses unknown permissions', () => {
    expect(registry.can('owner', 'workspace.delete')).toBe(true);
    expect(registry.can('admin', 'workspace.delete')).toBe(false);
    expect(registry.can('viewer', 'members.read')).toBe(true);
    expect(registry.can('viewer', 'members.manage')).toBe(false);
    expect(registry.can('developer', 'workflows.write')).toBe(true);
    expect(registry.can('analyst', 'workflows.write')).toBe(false);
    expect(registry.can('owner', 'no.such.permission')).toBe(false);
  });

  it('refuses a permission declared twice', () => {
    expect(() => registry.add({ 'workspace.read': { description: 'dup', roles: ['owner'] } })).toThrow(/declared twice/);
  });

  it('lets owners grant anything and admins anything but owner', () => {
    expect(canGrantRole('owner', 'owner')).toBe(true);
    expect(canGrantRole('admin', 'owner')).toBe(false);
    expect(canGrantRole('admin', 'developer')).toBe(true);
    expect(canGrantRole('developer', 'viewer')).toBe(false);
  });

  it('reads token scopes: *, read shorthand, service wildcard, exact names', () => {
    expect(scopeAllows(['*'], 'members.manage')).toBe(true);
    expect(scopeAllows(['read'], 'members.read')).toBe(true);
    expect(scopeAllows(['read'], 'members.manage')).toBe(false);
    expect(scopeAllows(['members.*'], 'members.manage')).toBe(true);
    expect(scopeAllows(['workspace.read'], 'workspace.update')).toBe(false);
  });

  it('renders the permission matrix', () => {
    const md = registry.markdown();
    expect(md).toContain('| `workspace.delete` | ✔ |  |  |  |  |');
  });
});

describe('SecretBox', () => {
  const key = () => randomBytes(32);

  it('round-trips and binds the ciphertext to its context', async () => {
    const box = new SecretBox(new LocalKeyProvider(key()));
    const c = await box.encrypt('s3cret-value', 'mfa:user-1');
    expect(c).not.toContain('s3cret');
    expect(await box.decrypt(c, 'mfa:user-1')).toBe('s3cret-value');
    await expect(box.decrypt(c, 'mfa:user-2')).rejects.toBeInstanceOf(SecretBoxError);
  });

  it('rewraps under a new master key while the old one is still readable', async () => {
    const oldKey = key();
    const newKey = key();
    const before = await new SecretBox(new LocalKeyProvider(oldKey)).encrypt('token', 'ctx');
    const rotating = new SecretBox(new LocalKeyProvider(newKey, [oldKey]));
    const after = await rotating.rewrap(before);
    expect(after.split('.')[1]).not.toBe(before.split('.')[1]);
    expect(await new SecretBox(new LocalKeyProvider(newKey)).decrypt(after, 'ctx')).toBe('token');
    await expect(new SecretBox(new LocalKeyProvider(newKey)).decrypt(before, 'ctx')).rejects.toThrow(/not available/);
  });

  it('detects tampering', async () => {
    const box = new SecretBox(new LocalKeyProvider(key()));
    const c = await box.encrypt('value', 'ctx');
    const parts = c.split('.');
    const body = Buffer.from(parts[3]!, 'base64url');
    body[body.length - 1]! ^= 1;
    parts[3] = body.toString('base64url');
    await expect(box.decrypt(parts.join('.'), 'ctx')).rejects.toBeInstanceOf(SecretBoxError);
  });
});

describe('MemoryCache', () => {
  it('expires keys by the injected clock and keeps the first TTL of a counter', async () => {
    const clock = new ManualClock();
    const cache = new MemoryCache(clock);
    expect(await cache.incr('n', 10)).toBe(1);
    clock.advance(6000);
    expect(await cache.incr('n', 10)).toBe(2);
    expect(await cache.ttl('n')).toBe(4);
    clock.advance(4001);
    expect(await cache.get('n')).toBeNull();
    expect(await cache.incr('n', 10)).toBe(1);
  });
});

describe('toAppError: a lost database connection is an outage, not a bug', () => {
  it('maps refused, reset and terminated connections (also wrapped in cause) to 503 with Retry-After', async () => {
    const { toAppError } = await import('./http/problem.js');
    const cases: unknown[] = [
      Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:5432'), { code: 'ECONNREFUSED' }),
      new Error('Failed query: select 1', { cause: Object.assign(new Error('terminating connection due to administrator command'), { code: '57P01' }) }),
      new Error('Failed query', { cause: new Error('Connection terminated unexpectedly') }),
      Object.assign(new Error('the database system is starting up'), { code: '57P03' }),
      Object.assign(new Error('connection failure'), { code: '08006' }),
    ];
    for (const err of cases) {
      const { appError, unexpected } = toAppError(err);
      expect(appError.code).toBe('service_unavailable');
      expect(appError.status).toBe(503);
      expect(unexpected).toBe(false);
    }
    // A real bug stays a 500 (logged as unexpected).
    const bug = toAppError(Object.assign(new Error('duplicate key value'), { code: '23505' }));
    expect(bug.appError.code).toBe('internal_error');
    expect(bug.unexpected).toBe(true);
  });
});
