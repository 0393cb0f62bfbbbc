import http from 'node:http';
import type { AddressInfo } from 'node:net';
import fc from 'fast-check';
import { Ajv2020 } from 'ajv/dist/2020.js';
import addFormats from 'ajv-formats';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestPlatform, TEST_DB, type TestPlatform } from '../helpers/platform.js';
import { addMember, bearer, createWorkspace, signup, type TestUser } from '../helpers/api.js';
import { RESOURCE_FIXTURES } from '../helpers/tenant-fixtures.js';
import { anyJson, arbitraryFromSchema, arbitraryInvalid, hostileString, type JsonSchema } from './schema-arbitrary.js';

/**
 * Property-based fuzzing of every operation of the OpenAPI document, as the owner of a workspace
 * (who is also a platform admin, so ops and admin routes are reached), as an outsider (a user of
 * another workspace) and anonymously, with generated valid and invalid path parameters, query
 * strings and bodies. Whatever is sent:
 * - no 5xx (a documented upstream failure of a connection, egress_* / provider_*, excepted);
 * - no stack trace and no SQL in any answer;
 * - every error is application/problem+json with a `code`;
 * - every answer matches its documented schema where the document declares one;
 * - an outsider and an anonymous caller never get a 2xx from a workspace route.
 * FUZZ_SEED fixes the generator (CI uses the default); FUZZ_RUNS sets the cases per operation
 * and identity (`npm run fuzz` runs a longer campaign).
 */
const SEED = Number(process.env.FUZZ_SEED ?? 20261202);
const RUNS = Number(process.env.FUZZ_RUNS ?? 3);

type Identity = 'owner' | 'outsider' | 'anonymous';
type Param = { name: string; in: string; required?: boolean; schema?: JsonSchema };
type Operation = {
  method: string;
  path: string;
  parameters?: Param[];
  requestBody?: { content?: Record<string, { schema?: JsonSchema }> };
  responses?: Record<string, { content?: Record<string, { schema?: JsonSchema }> }>;
};
type Op = Operation & { key: string; bodySchema?: JsonSchema; jsonBody: boolean };
type Req = { url: string; payload?: unknown; rawBody?: string };

/** Operations whose success changes what every later case depends on: fuzzed last. */
const LAST = new Set([
  'PATCH /v1/workspaces/{workspaceId}',
  'DELETE /v1/workspaces/{workspaceId}/members/me',
  'DELETE /v1/workspaces/{workspaceId}',
  'DELETE /v1/me',
  'POST /v1/auth/logout',
]);

/** 5xx answers that report a remote system's failure (documented in the error catalog), not ours. */
const UPSTREAM_CODES = new Set(['egress_failed', 'egress_timeout', 'egress_circuit_open', 'egress_response_too_large', 'provider_error', 'provider_auth_failed']);

const LEAK = [
  { what: 'stack trace', re: /\bat (?:async )?[\w.$<>]+ \((?:file:\/\/)?\/[^)]+:\d+:\d+\)|node_modules\/|\.ts:\d+:\d+/ },
  { what: 'SQL', re: /Failed query|syntax error at or near|violates (?:unique|check|foreign key|not-null) constraint|relation "[^"]+" does not exist|\b(?:select|insert into|update|delete from)\b[^"]{0,200}\b(?:from|values|set|where)\b[^"]{0,100}\$\d/i },
];

let t: TestPlatform;
let owner: TestUser;
let outsider: TestUser;
let ws: string;
let ops: Op[];
let upstream: http.Server;
const ids: Record<string, string> = {};
const ajv = new Ajv2020({ strict: false, allErrors: false, validateFormats: true });
addFormats.default(ajv);
const validators = new Map<string, ReturnType<typeof ajv.compile> | null>();
/** The document's shared components (the Problem schema): response schemas refer to them by `#/components/...`. */
let components: Record<string, unknown> = {};
const stats = { requests: 0, byStatus: {} as Record<string, number>, upstream5xx: 0, schemaChecked: 0 };
const msByOp = new Map<string, number>();

function validatorFor(op: Op, status: number, contentType: string) {
  const key = `${op.key} ${status} ${contentType}`;
  if (!validators.has(key)) {
    const content = op.responses?.[String(status)]?.content;
    const schema = content?.[contentType]?.schema ?? (contentType.endsWith('json') ? content?.['application/json']?.schema : undefined);
    validators.set(key, schema ? ajv.compile({ ...(schema as object), components }) : null);
  }
  return validators.get(key)!;
}

const uuidLike = /^[0-9a-f]{8}-/;

/** Every UTF-8 byte percent-encoded (encodeURIComponent throws on a lone surrogate). */
const percentEncoded = (s: string) => [...Buffer.from(s, 'utf8')].map((b) => `%${b.toString(16).padStart(2, '0')}`).join('');

function requestArbitrary(op: Op, identity: Identity, invalid: boolean): fc.Arbitrary<Req> {
  const pathParams = [...op.path.matchAll(/\{(\w+)\}/g)].map((m) => m[1]!);
  const paramArb = (name: string): fc.Arbitrary<string> => {
    const real = name === 'workspaceId' ? ws : ids[name];
    const fallback = name === 'token' ? 'x'.repeat(40) : '00000000-0000-4000-8000-000000000000';
    const good = fc.constant(real ?? fallback);
    if (!invalid) return good;
    const weird = fc.oneof(fc.uuid(), fc.string({ unit: 'binary', maxLength: 30 }), hostileString, fc.constant('a'.repeat(600))).map((s) => percentEncoded(s) || 'x');
    // The workspace id stays real for most invalid cases, so the handler behind the guard is reached.
    return name === 'workspaceId' ? fc.oneof({ weight: 4, arbitrary: good }, { weight: 1, arbitrary: weird }) : fc.oneof(good, weird);
  };
  const queryParams = (op.parameters ?? []).filter((p) => p.in === 'query');
  const queryArb = fc.tuple(
    ...queryParams.map((p) =>
      fc.option(invalid ? fc.oneof(arbitraryFromSchema(p.schema), anyJson) : arbitraryFromSchema(p.schema), { nil: undefined, freq: p.required ? 10 : 2 }),
    ),
  );
  const bodyArb: fc.Arbitrary<{ payload?: unknown; rawBody?: string }> = !op.jsonBody
    ? fc.constant({})
    : invalid
      ? fc.oneof(
          { weight: 6, arbitrary: arbitraryInvalid(op.bodySchema).map((payload) => ({ payload })) },
          { weight: 1, arbitrary: fc.constantFrom('{', '{"a":', '[1,]', '"\\ud800"', 'null', '{"__proto__":{"x":1}}').map((rawBody) => ({ rawBody })) },
        )
      : arbitraryFromSchema(op.bodySchema).map((payload) => ({ payload }));
  return fc.record({ path: fc.tuple(...pathParams.map(paramArb)), query: queryArb, body: bodyArb }).map(({ path, query, body }) => {
    let i = 0;
    let url = op.path.replace(/\{(\w+)\}/g, () => path[i++]!);
    const search = new URLSearchParams();
    queryParams.forEach((p, k) => {
      const v = query[k];
      if (v !== undefined) search.set(p.name, typeof v === 'string' ? v : JSON.stringify(v));
    });
    if ([...search.keys()].length) url += `?${search.toString()}`;
    void identity;
    return { url, ...body };
  });
}

function check(op: Op, identity: Identity, req: Req, res: Awaited<ReturnType<TestPlatform['inject']>>): string[] {
  const out: string[] = [];
  const label = `${identity} ${op.method} ${req.url.slice(0, 160)} → ${res.statusCode}`;
  stats.requests++;
  stats.byStatus[res.statusCode] = (stats.byStatus[res.statusCode] ?? 0) + 1;
  const contentType = String(res.headers['content-type'] ?? '').split(';')[0]!.trim();
  let body: unknown;
  if (contentType.endsWith('json')) {
    try {
      body = res.json();
    } catch {
      out.push(`${label}: ${contentType} body is not JSON`);
    }
  }
  const code = (body as { code?: unknown } | undefined)?.code;
  if (res.statusCode >= 500) {
    if (typeof code === 'string' && UPSTREAM_CODES.has(code)) stats.upstream5xx++;
    else if (!(op.key === 'GET /ready' && res.statusCode === 503)) out.push(`${label}: server error ${res.body.slice(0, 300)}`);
  }
  for (const { what, re } of LEAK) if (re.test(res.body)) out.push(`${label}: ${what} in the answer: ${res.body.slice(0, 300)}`);
  if (res.statusCode >= 400) {
    if (contentType !== 'application/problem+json') out.push(`${label}: error answered as ${contentType || 'no content type'}`);
    else if (typeof code !== 'string' || !code) out.push(`${label}: problem without a code`);
  }
  if (identity !== 'owner' && op.path.startsWith('/v1/workspaces/{workspaceId}') && res.statusCode < 300) out.push(`${label}: ${identity} got a success on a workspace route`);
  if (body !== undefined && res.statusCode < 500) {
    const validate = validatorFor(op, res.statusCode, contentType);
    if (validate) {
      stats.schemaChecked++;
      if (!validate(body)) out.push(`${label}: answer does not match the documented schema: ${ajv.errorsText(validate.errors)} ${res.body.slice(0, 200)}`);
    }
  }
  return out;
}

async function fuzz(selected: Op[]): Promise<string[]> {
  const failures: string[] = [];
  for (const [index, op] of selected.entries()) {
    const plan: [Identity, boolean][] = [
      ['owner', false],
      ['owner', true],
      ['outsider', true],
      ['anonymous', true],
    ];
    for (const [p, [identity, invalid]] of plan.entries()) {
      const cases = fc.sample(requestArbitrary(op, identity, invalid), { seed: SEED + index * 7 + p, numRuns: RUNS });
      const token = identity === 'owner' ? owner.token : identity === 'outsider' ? outsider.token : undefined;
      for (const req of cases) {
        const headers: Record<string, string> = token ? bearer(token) : {};
        let payload: string | undefined;
        if (req.rawBody !== undefined) payload = req.rawBody;
        else if (req.payload !== undefined) payload = JSON.stringify(req.payload);
        if (payload !== undefined) headers['content-type'] = 'application/json';
        const started = performance.now();
        const res = await t.inject({ method: op.method as 'GET', url: req.url, headers, ...(payload !== undefined ? { payload } : {}) });
        msByOp.set(op.key, (msByOp.get(op.key) ?? 0) + performance.now() - started);
        const problems = check(op, identity, req, res);
        if (problems.length) failures.push(...problems.map((p) => (req.payload !== undefined || req.rawBody !== undefined ? `${p}\n    body: ${(req.rawBody ?? JSON.stringify(req.payload)).slice(0, 300)}` : p)));
      }
    }
  }
  return failures;
}

beforeAll(async () => {
  // Connections of the fixtures talk to this loopback server, so fuzzed actions get an answer fast.
  upstream = http.createServer((req, res) => {
    req.resume();
    res.writeHead(200, { 'content-type': 'application/json' }).end('{"ok":true}');
  });
  await new Promise<void>((resolve) => upstream.listen(0, '127.0.0.1', resolve));
  const base = `http://127.0.0.1:${(upstream.address() as AddressInfo).port}`;
  // The Alertmanager receiver is on (it answers 503 service_unavailable by design while unconfigured).
  t = await createTestPlatform({ V01T_EGRESS_ALLOW: '127.0.0.1', V01T_ALERTMANAGER_TOKEN: 'fuzz-alertmanager-token-0123456789' });
  [owner, outsider] = await Promise.all([signup(t, 'Fuzz Owner'), signup(t, 'Fuzz Outsider')]);
  const member = await signup(t, 'Fuzz Member');
  await t.platform.database.query('UPDATE orchestrator.users SET platform_admin = true WHERE id = $1', [owner.id]);
  ws = await createWorkspace(t, owner, 'Fuzz');
  await createWorkspace(t, outsider, 'Elsewhere');
  await addMember(t, ws, owner, member, 'developer');
  const fixtures = {
    ...RESOURCE_FIXTURES,
    connectionId: async () => {
      const res = await t.inject({
        method: 'POST',
        url: `/v1/workspaces/${ws}/connections`,
        headers: bearer(owner.token),
        payload: { connector: 'http', name: 'fuzz', credentials: { type: 'none' }, config: { baseUrl: base } },
      });
      if (res.statusCode !== 201) throw new Error(`connection fixture: ${res.statusCode} ${res.body}`);
      return res.json().connection.id as string;
    },
  };
  const doc = (await t.inject({ method: 'GET', url: '/openapi.json' })).json() as { paths: Record<string, Record<string, Operation>>; components?: Record<string, unknown> };
  components = doc.components ?? {};
  ops = Object.entries(doc.paths).flatMap(([path, methods]) =>
    Object.entries(methods).map(([method, op]) => {
      const content = op.requestBody?.content ?? {};
      return { ...op, method: method.toUpperCase(), path, key: `${method.toUpperCase()} ${path}`, bodySchema: content['application/json']?.schema, jsonBody: 'application/json' in content };
    }),
  );
  const names = [...new Set(ops.flatMap((o) => [...o.path.matchAll(/\{(\w+)\}/g)].map((m) => m[1]!)))];
  for (const name of names) {
    const make = (fixtures as Record<string, (c: Parameters<(typeof RESOURCE_FIXTURES)[string]>[0]) => Promise<string>>)[name];
    if (make) ids[name] = await make({ t, owner, member, workspaceId: ws });
  }
  expect(Object.values(ids).every((v) => uuidLike.test(v) || v === 'request')).toBe(true);
}, 120_000);

afterAll(async () => {
  await t?.close();
  await new Promise((resolve) => upstream?.close(resolve));
  const slowest = [...msByOp].sort((a, b) => b[1] - a[1]).slice(0, 5).map(([k, ms]) => `${k} ${Math.round(ms)} ms`);
  console.info(`fuzz (${TEST_DB}, seed ${SEED}, ${RUNS} runs per operation and identity): ${JSON.stringify(stats)}; slowest: ${slowest.join(', ')}`);
});

describe('fuzzing every operation of the OpenAPI document', { timeout: 120_000 + RUNS * 40_000 }, () => {
  it('reads every operation from the document', () => {
    expect(ops.length).toBeGreaterThanOrEqual(140);
  });

  it('answers every generated request without a 5xx, a leak or an undocumented shape', async () => {
    const failures = await fuzz(ops.filter((o) => !LAST.has(o.key)));
    expect(failures).toEqual([]);
  });

  it('and so do the operations that end the session, the membership or the workspace (fuzzed last)', async () => {
    const failures = await fuzz(ops.filter((o) => LAST.has(o.key)));
    expect(failures).toEqual([]);
    expect(stats.requests).toBeGreaterThan(ops.length * 4 * RUNS - 1);
  });
});
