import fs from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { addMember, bearer, createWorkspace, signup, type TestUser } from './helpers/api.js';
import { createTestPlatform, type TestPlatform } from './helpers/platform.js';

/**
 * The lines a SIEM reads (docs/siem.md, ADR 0058) carry the fields docs/siem.md lists: the suite
 * reads the field tables of the document and checks them against the lines the server writes
 * for a failed sign-in and a role change, so the document and the output cannot drift. The
 * example queries of the document may only use documented fields.
 */

const DOC = fs.readFileSync('docs/siem.md', 'utf8');

/** The documented fields of one table (`<!-- fields:NAME -->`), with whether each is always present. */
function documented(name: string): { field: string; always: boolean }[] {
  const start = DOC.indexOf(`<!-- fields:${name} -->`);
  expect(start, `docs/siem.md has a fields:${name} table`).toBeGreaterThanOrEqual(0);
  const rows: { field: string; always: boolean }[] = [];
  for (const line of DOC.slice(start).split('\n').slice(1)) {
    if (!line.startsWith('|')) {
      if (rows.length) break;
      continue;
    }
    const m = /^\|\s*`([^`]+)`\s*\|(.*)\|\s*$/.exec(line);
    if (m) rows.push({ field: m[1]!, always: !m[2]!.includes('*when known*') });
  }
  expect(rows.length).toBeGreaterThan(3);
  return rows;
}

let t: TestPlatform;
let owner: TestUser;
let member: TestUser;
let ws: string;
const lines: string[] = [];
const parsed = () => lines.map((l) => JSON.parse(l) as Record<string, unknown>);

beforeAll(async () => {
  t = await createTestPlatform({ LOG_FORMAT: 'ecs', LOG_LEVEL: 'info' }, { logDestination: { write: (l: string) => void lines.push(l) } });
  owner = await signup(t, 'Siem Owner');
  member = await signup(t, 'Siem Member');
  ws = await createWorkspace(t, owner, 'Siem');
  await addMember(t, ws, owner, member, 'viewer');
}, 60_000);

afterAll(async () => {
  await t?.close();
});

/** Checks the documented fields of `name` (and of every line) on `line`. */
function expectDocumented(line: Record<string, unknown>, name: string): void {
  for (const { field, always } of [...documented('envelope'), ...documented(name)]) {
    if (always) expect(line[field], `${name} line: ${field}`).toBeDefined();
  }
}

describe('SIEM log lines (LOG_FORMAT=ecs)', () => {
  it('a failed sign-in writes a security line and an access line with the documented fields', async () => {
    const from = lines.length;
    const res = await t.inject({ method: 'POST', url: '/v1/auth/login', remoteAddress: '203.0.113.7', payload: { email: member.email, password: 'not-the-password-1' } });
    expect(res.statusCode).toBe(401);
    const written = parsed().slice(from);

    const security = written.find((l) => l['event.dataset'] === 'v01t.security' && l['event.action'] === 'login_failed');
    expect(security, 'a login_failed security line').toBeDefined();
    expectDocumented(security!, 'security');
    expect(security).toMatchObject({
      'log.level': 'info',
      'event.category': ['authentication'],
      'event.outcome': 'failure',
      'event.reason': 'wrong_password',
      'source.ip': '203.0.113.7',
      'user.id': member.id,
      'service.name': 'v01t',
    });
    expect(JSON.stringify(security)).not.toContain(member.email);

    const access = written.find((l) => l['event.dataset'] === 'v01t.access' && l['url.path'] === '/v1/auth/login');
    expect(access, 'the access line of the sign-in').toBeDefined();
    expectDocumented(access!, 'access');
    expect(access).toMatchObject({ 'http.request.method': 'POST', 'http.response.status_code': 401, 'event.outcome': 'failure', 'source.ip': '203.0.113.7' });
    expect(access!['http.request.id']).toBe(res.headers['x-request-id']);
  });

  it('a role change writes an audit line naming who, whom and the role given', async () => {
    const from = lines.length;
    const res = await t.inject({ method: 'PATCH', url: `/v1/workspaces/${ws}/members/${member.id}`, remoteAddress: '198.51.100.4', headers: bearer(owner.token), payload: { role: 'admin' } });
    expect(res.statusCode, res.body).toBe(200);
    const audit = parsed()
      .slice(from)
      .find((l) => l['event.dataset'] === 'v01t.audit' && l['event.action'] === 'member.role_changed');
    expect(audit, 'a member.role_changed audit line').toBeDefined();
    expectDocumented(audit!, 'audit');
    expect(audit).toMatchObject({
      'event.category': ['iam'],
      'event.type': ['change'],
      'event.outcome': 'success',
      'user.id': owner.id,
      'source.ip': '198.51.100.4',
      'user.target.id': member.id,
      'user.target.roles': ['admin'],
      'v01t.role.previous': 'viewer',
      'v01t.workspace.id': ws,
    });
    // The same entry in the audit log (the record of truth).
    const [entry] = await t.platform.database.query<{ id: string }>("SELECT id FROM kernel.audit_log WHERE action = 'member.role_changed' ORDER BY seq DESC LIMIT 1");
    expect(audit!['event.id']).toBe(entry!.id);
  });

  it('every line has the ECS envelope, and no line the pino one', () => {
    expect(lines.length).toBeGreaterThan(10);
    const required = documented('envelope').map((f) => f.field);
    for (const line of parsed()) {
      for (const field of required) expect(line[field], `${field} in ${JSON.stringify(line).slice(0, 200)}`).toBeDefined();
      expect(line).not.toHaveProperty('msg');
      expect(line).not.toHaveProperty('time');
      expect(Number.isNaN(Date.parse(String(line['@timestamp'])))).toBe(false);
    }
  });

  it('the example queries of docs/siem.md use documented fields only', () => {
    const known = new Set(['envelope', 'access', 'security', 'audit'].flatMap((n) => documented(n).map((f) => f.field)));
    const blocks = [...DOC.matchAll(/```(spl|kql|esql)\n([\s\S]*?)```/g)].map((m) => m[2]!);
    expect(blocks.length).toBeGreaterThanOrEqual(5);
    for (const block of blocks) {
      // Field names are the dotted identifiers outside quoted values (Splunk's {} marks a multivalue field).
      const text = block.replace(/"[^"]*"/g, '""').replace(/\{\}/g, '');
      for (const [name] of text.matchAll(/@?[a-z_]+(?:\.[a-z_]+)+/g)) expect(known.has(name), `${name} in a query of docs/siem.md is documented`).toBe(true);
    }
  });
});
