import { describe, expect, it } from 'vitest';
import { accessLogFields, auditLogFields, securityLogFields } from './siem.js';
import { tracingSettings } from './tracing.js';

const env = { OTEL_TRACES_SAMPLER: 'parentbased_traceidratio', OTEL_TRACES_SAMPLER_ARG: 0.1, OTEL_BSP_SCHEDULE_DELAY: 5000 };

describe('tracingSettings', () => {
  it('is off without an endpoint, or when disabled, and builds the traces URL as the specification says', () => {
    expect(tracingSettings(env).url).toBeUndefined();
    expect(tracingSettings({ ...env, OTEL_EXPORTER_OTLP_ENDPOINT: 'http://collector:4318/' }).url).toBe('http://collector:4318/v1/traces');
    expect(tracingSettings({ ...env, OTEL_EXPORTER_OTLP_ENDPOINT: 'http://collector:4318', OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: 'http://tempo:4318/otlp/traces' }).url).toBe('http://tempo:4318/otlp/traces');
    expect(tracingSettings({ ...env, OTEL_EXPORTER_OTLP_ENDPOINT: 'http://collector:4318', OTEL_SDK_DISABLED: true }).url).toBeUndefined();
    expect(tracingSettings({ ...env, OTEL_EXPORTER_OTLP_ENDPOINT: 'http://collector:4318', OTEL_TRACES_EXPORTER: 'none' }).url).toBeUndefined();
  });
});

describe('SIEM fields', () => {
  it('access lines drop the query and write a secret-bearing path as its route', () => {
    const base = { method: 'POST', status: 202, durationMs: 1.5, ip: '192.0.2.1' };
    expect(accessLogFields({ ...base, url: '/hooks/workflows/abc123secret?x=1', route: '/hooks/workflows/:token' })['url.path']).toBe('/hooks/workflows/:token');
    expect(accessLogFields({ ...base, url: '/hooks/connections/abc123secret', route: '/hooks/connections/:token' })['url.path']).toBe('/hooks/connections/:token');
    const plain = accessLogFields({ ...base, url: '/v1/reset?token=t0ken', route: '/v1/reset', status: 404 });
    expect(plain).toMatchObject({ 'url.path': '/v1/reset', 'event.outcome': 'failure', 'event.duration': 1_500_000 });
    expect(JSON.stringify(plain)).not.toContain('t0ken');
  });

  it('audit lines classify actions and name the role given', () => {
    const entry = { id: 'e', seq: 1, workspaceId: 'w', actorId: 'a', actorIp: null, targetType: 'user', targetId: 'u', data: { from: 'viewer', to: 'owner' } };
    expect(auditLogFields({ ...entry, action: 'member.role_changed' })).toMatchObject({ 'event.category': ['iam'], 'event.type': ['change'], 'user.target.roles': ['owner'], 'v01t.role.previous': 'viewer' });
    expect(auditLogFields({ ...entry, action: 'auth.login', data: {} })).toMatchObject({ 'event.category': ['authentication'], 'event.type': ['start'] });
    expect(auditLogFields({ ...entry, action: 'token.revoked', data: {} })['event.type']).toEqual(['deletion']);
    expect(auditLogFields({ ...entry, action: 'backup.created', targetType: null, targetId: null, data: {} })).not.toHaveProperty('user.target.id');
  });

  it('security lines: failures, blocks and successes', () => {
    expect(securityLogFields({ kind: 'login_failed', ip: '192.0.2.1', detail: { reason: 'unknown_email' } })).toMatchObject({ 'event.outcome': 'failure', 'event.reason': 'unknown_email', 'event.type': ['start'] });
    expect(securityLogFields({ kind: 'ip_blocked', ip: '192.0.2.1', detail: { failures: 11 } })).toMatchObject({ 'event.outcome': 'failure', 'event.type': ['denied'], 'v01t.detail': { failures: 11 } });
    expect(securityLogFields({ kind: 'password_reset', userId: 'u' })).toMatchObject({ 'event.outcome': 'success', 'event.category': ['iam'] });
  });
});
