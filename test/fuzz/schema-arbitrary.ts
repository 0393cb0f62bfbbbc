import fc from 'fast-check';

/** The subset of JSON Schema (2020-12, as the OpenAPI 3.1 document carries it) the generator reads. */
export type JsonSchema = {
  type?: string | string[];
  format?: string;
  enum?: unknown[];
  const?: unknown;
  pattern?: string;
  minimum?: number;
  maximum?: number;
  exclusiveMinimum?: number;
  exclusiveMaximum?: number;
  minLength?: number;
  maxLength?: number;
  minItems?: number;
  maxItems?: number;
  items?: JsonSchema;
  properties?: Record<string, JsonSchema>;
  required?: string[];
  additionalProperties?: boolean | JsonSchema;
  propertyNames?: JsonSchema;
  anyOf?: JsonSchema[];
  oneOf?: JsonSchema[];
  allOf?: JsonSchema[];
};

/** Text that breaks naive code: NUL, lone surrogates, SQL and JSONata syntax, path tricks, huge numbers. */
export const hostileString = fc.constantFrom(
  '\u0000',
  'a\u0000b',
  '\ud800',
  'x\udfff',
  "'; DROP TABLE users; --",
  '" OR 1=1 --',
  '$$',
  '%00',
  '../../etc/passwd',
  '..%2f..%2f',
  '${7*7}',
  '{{constructor.constructor("return 1")()}}',
  '$string($)',
  '__proto__',
  'constructor',
  '9'.repeat(400),
  '-1e309',
  ' ',
  '',
  '\u202e\u200b',
  '🚀'.repeat(50),
  'x'.repeat(5000),
);

const anyText = fc.oneof({ weight: 3, arbitrary: fc.string({ unit: 'binary', maxLength: 40 }) }, { weight: 2, arbitrary: hostileString });

/** Any JSON value, weighted towards the shapes handlers stumble over. */
export const anyJson: fc.Arbitrary<unknown> = fc.oneof(
  fc.jsonValue({ maxDepth: 3 }),
  anyText,
  fc.constantFrom(null, true, false, 0, -1, 2 ** 53, -(2 ** 31), 1.5, [], {}),
  fc.dictionary(anyText, fc.jsonValue({ maxDepth: 2 }), { maxKeys: 4 }),
);

function stringFor(s: JsonSchema): fc.Arbitrary<string> {
  const minLength = s.minLength ?? 0;
  const maxLength = Math.min(s.maxLength ?? minLength + 30, minLength + 60);
  switch (s.format) {
    case 'uuid':
      return fc.uuid({ version: 4 });
    case 'email':
      return fc.emailAddress().map((e) => e.slice(0, Math.max(3, Math.min(e.length, s.maxLength ?? 200))));
    case 'date-time':
      return fc.date({ min: new Date('2000-01-01T00:00:00Z'), max: new Date('2100-01-01T00:00:00Z'), noInvalidDate: true }).map((d) => d.toISOString());
    case 'date':
      return fc.date({ min: new Date('2000-01-01T00:00:00Z'), max: new Date('2100-01-01T00:00:00Z'), noInvalidDate: true }).map((d) => d.toISOString().slice(0, 10));
    case 'uri':
      return fc.webUrl();
  }
  if (s.pattern) {
    try {
      return fc.stringMatching(new RegExp(s.pattern)).filter((x) => x.length >= minLength && x.length <= (s.maxLength ?? Infinity));
    } catch {
      /* a pattern JS cannot take: fall through to free text */
    }
  }
  return fc.string({ minLength, maxLength });
}

function numberFor(s: JsonSchema, integer: boolean): fc.Arbitrary<number> {
  const min = s.minimum ?? (s.exclusiveMinimum !== undefined ? s.exclusiveMinimum + (integer ? 1 : 1e-6) : -1e6);
  const max = s.maximum ?? (s.exclusiveMaximum !== undefined ? s.exclusiveMaximum - (integer ? 1 : 1e-6) : 1e6);
  return integer ? fc.integer({ min: Math.ceil(Math.max(min, -(2 ** 31))), max: Math.floor(Math.min(max, 2 ** 31)) }) : fc.double({ min, max, noNaN: true, noDefaultInfinity: true });
}

/**
 * Values the schema accepts (mostly: patterns and cross-field rules can still refuse them). Depth
 * is bounded so recursive shapes stay small.
 */
export function arbitraryFromSchema(s: JsonSchema | undefined, depth = 0): fc.Arbitrary<unknown> {
  if (!s || depth > 5) return fc.constant({});
  if (s.const !== undefined) return fc.constant(s.const);
  if (s.enum?.length) return fc.constantFrom(...s.enum);
  const alternatives = s.anyOf ?? s.oneOf;
  if (alternatives?.length) return fc.oneof(...alternatives.map((a) => arbitraryFromSchema(a, depth + 1)));
  if (s.allOf?.length) {
    return fc.tuple(...s.allOf.map((a) => arbitraryFromSchema(a, depth + 1))).map((parts) => Object.assign({}, ...parts.filter((p) => p && typeof p === 'object')));
  }
  const types = Array.isArray(s.type) ? s.type : s.type ? [s.type] : s.properties ? ['object'] : [];
  if (types.length > 1) return fc.oneof(...types.map((type) => arbitraryFromSchema({ ...s, type }, depth)));
  switch (types[0]) {
    case 'null':
      return fc.constant(null);
    case 'string':
      return stringFor(s);
    case 'integer':
      return numberFor(s, true);
    case 'number':
      return numberFor(s, false);
    case 'boolean':
      return fc.boolean();
    case 'array':
      return fc.array(arbitraryFromSchema(s.items, depth + 1), { minLength: s.minItems ?? 0, maxLength: Math.min(s.maxItems ?? 3, (s.minItems ?? 0) + 3) });
    case 'object': {
      const props = s.properties ?? {};
      const required = new Set(s.required ?? []);
      const record: Record<string, fc.Arbitrary<unknown>> = {};
      for (const [k, v] of Object.entries(props)) record[k] = arbitraryFromSchema(v, depth + 1);
      const known = fc.record(record, { requiredKeys: [...required].filter((k) => k in props) });
      if (Object.keys(props).length === 0 && s.additionalProperties && typeof s.additionalProperties === 'object') {
        return fc.dictionary(fc.string({ minLength: 1, maxLength: 12 }), arbitraryFromSchema(s.additionalProperties, depth + 1), { maxKeys: 3 });
      }
      return known;
    }
    default:
      return anyJson;
  }
}

/**
 * An input that is usually wrong somewhere: one field replaced by any JSON or hostile text, a
 * required field dropped, an unknown field added, or a whole value of the wrong kind.
 */
export function arbitraryInvalid(s: JsonSchema | undefined): fc.Arbitrary<unknown> {
  const valid = arbitraryFromSchema(s);
  const keys = Object.keys(s?.properties ?? {});
  const mutations: fc.Arbitrary<unknown>[] = [anyJson];
  if (keys.length > 0) {
    mutations.push(
      fc.tuple(valid, fc.constantFrom(...keys), anyJson).map(([v, k, bad]) => ({ ...(v as object), [k]: bad })),
      fc.tuple(valid, fc.constantFrom(...keys)).map(([v, k]) => {
        const copy = { ...(v as Record<string, unknown>) };
        delete copy[k];
        return copy;
      }),
      fc.tuple(valid, anyText, anyJson).map(([v, k, bad]) => ({ ...(v as object), [k]: bad })),
    );
  }
  return fc.oneof(...mutations);
}
