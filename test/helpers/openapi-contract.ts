import fs from 'node:fs';
import { Ajv2020, type ValidateFunction } from 'ajv/dist/2020.js';
import addFormats from 'ajv-formats';
import FindMyWay from 'find-my-way';

interface Media {
  schema?: unknown;
}
interface Operation {
  responses?: Record<string, { content?: Record<string, Media> }>;
}
export interface OpenApiDocument {
  paths: Record<string, Record<string, Operation>>;
  components?: { schemas?: Record<string, unknown> };
}

interface InjectedResponse {
  statusCode: number;
  headers: Record<string, unknown>;
  body: string;
}

const DOC_ID = 'https://v01t.test/openapi.json';

/**
 * Checks responses against the OpenAPI document the server publishes: the status must be declared
 * for the operation, the content type must be one the status declares, and a JSON body must match
 * its schema. A request no operation matches (an unknown path, a wrong method) is not checked.
 */
export class OpenApiContract {
  private readonly router = FindMyWay<FindMyWay.HTTPVersion.V1>({ ignoreTrailingSlash: true, maxParamLength: 500 });
  private readonly ajv = new Ajv2020({ strict: false, allErrors: true, validateFormats: true });
  private readonly validators = new Map<string, ValidateFunction>();

  constructor(private readonly doc: OpenApiDocument) {
    addFormats.default(this.ajv);
    // Operations' schemas refer to #/components/schemas/X: those resolve against this copy.
    this.ajv.addSchema({ $id: DOC_ID, components: { schemas: doc.components?.schemas ?? {} } });
    for (const [p, ops] of Object.entries(doc.paths)) {
      const route = p.replace(/\{([^}]+)\}/g, ':$1');
      for (const method of Object.keys(ops)) this.router.on(method.toUpperCase() as 'GET', route, () => {}, { path: p, method });
    }
  }

  /** The violations of one exchange; empty when it matches the document. */
  violations(method: string, url: string, res: InjectedResponse): string[] {
    const path = url.split('?')[0] ?? '/';
    const found = this.router.find(method.toUpperCase() as 'GET', path);
    if (!found) return [];
    const { path: docPath, method: docMethod } = found.store as { path: string; method: string };
    const op = this.doc.paths[docPath]![docMethod]!;
    const name = `${method.toUpperCase()} ${docPath} → ${res.statusCode}`;
    const declared = op.responses?.[String(res.statusCode)] ?? op.responses?.default;
    if (!declared) return [`${name}: status not documented (documented: ${Object.keys(op.responses ?? {}).join(', ')}); body ${res.body.slice(0, 300)}`];
    const content = declared.content;
    if (!content || Object.keys(content).length === 0) return res.body.length === 0 ? [] : [`${name}: documented without a body, but answered ${res.body.slice(0, 200)}`];
    const type = String(res.headers['content-type'] ?? '').split(';')[0]!.trim().toLowerCase();
    const mediaKey = Object.keys(content).find((k) => k.toLowerCase() === type) ?? Object.keys(content).find((k) => k === '*/*');
    if (!mediaKey) return [`${name}: content type ${type || '(none)'} not documented (documented: ${Object.keys(content).join(', ')})`];
    const schema = content[mediaKey]!.schema;
    if (!schema || !/[/+]json$/.test(type)) return [];
    let body: unknown;
    try {
      body = JSON.parse(res.body);
    } catch {
      return [`${name}: ${type} body is not JSON: ${res.body.slice(0, 200)}`];
    }
    // Compiled from a copy whose #/components/... refs point into the registered document; keyed
    // by that text, so the many operations answering the same schema (every Problem) share one.
    const text = JSON.stringify(schema).replace(/"#\/components\//g, `"${DOC_ID}#/components/`);
    let validate = this.validators.get(text);
    if (!validate) {
      try {
        validate = this.ajv.compile(JSON.parse(text) as object);
      } catch (err) {
        return [`${name}: the document's ${mediaKey} schema does not compile: ${(err as Error).message}`];
      }
      this.validators.set(text, validate);
    }
    if (validate(body)) return [];
    return [`${name}: body does not match the documented schema: ${this.ajv.errorsText(validate.errors, { separator: '; ' })}; body ${res.body.slice(0, 500)}`];
  }
}

export class OpenApiViolation extends Error {
  override name = 'OpenApiViolation';
}

type InjectFn = (opts: never, cb?: never) => unknown;

/**
 * Wraps a Fastify instance's `inject` so every awaited response is checked against `contract`;
 * a response that breaks the document rejects the inject call with the reasons.
 */
export function checkResponses<T extends { inject: InjectFn }>(app: T, contract: () => OpenApiContract): void {
  const original = app.inject.bind(app) as (opts?: unknown, cb?: unknown) => unknown;
  const wrapped = (opts?: unknown, cb?: unknown): unknown => {
    // The chain form (no options) and the callback form are not used by the suites; pass them through.
    if (opts === undefined || cb !== undefined || typeof opts === 'string') return original(opts, cb);
    const o = opts as { method?: string; url?: string | { pathname?: string }; path?: string };
    const url = typeof o.url === 'string' ? o.url : (o.url?.pathname ?? o.path ?? '/');
    return (original(opts) as Promise<InjectedResponse>).then((res) => {
      const problems = contract().violations(o.method ?? 'GET', url, res);
      // V01T_OPENAPI_VIOLATIONS=<file> records instead of failing: one run of every suite then
      // lists every gap of the document at once.
      const record = process.env.V01T_OPENAPI_VIOLATIONS;
      if (problems.length && record) {
        fs.appendFileSync(record, problems.map((p) => `${p}\n`).join(''));
        return res;
      }
      if (problems.length) throw new OpenApiViolation(`response breaks docs/openapi.json:\n  ${problems.join('\n  ')}`);
      return res;
    });
  };
  (app as { inject: unknown }).inject = wrapped;
}
