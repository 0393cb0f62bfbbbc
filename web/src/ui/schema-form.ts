/**
 * The logic of the JSON-Schema form renderer (SchemaForm.tsx): which field a schema property
 * becomes, the raw form state → typed value conversion, and the checks the browser makes before
 * the server's own (whose problem+json field errors are shown next to the same fields).
 *
 * Covers what the connector catalog's schemas use (zod's JSON Schema output, draft 2020-12):
 * objects of strings (uri format, pattern, lengths), numbers and integers (bounds), booleans, string
 * enums, string arrays, free-form records (edited as JSON), and a oneOf/anyOf of objects told apart
 * by a `const` property (the credentials' `type`). ADR 0035 says why not a form library.
 */
export interface JsonSchema {
  type?: string | string[];
  title?: string;
  description?: string;
  properties?: Record<string, JsonSchema>;
  required?: string[];
  additionalProperties?: boolean | JsonSchema;
  oneOf?: JsonSchema[];
  anyOf?: JsonSchema[];
  enum?: unknown[];
  const?: unknown;
  default?: unknown;
  format?: string;
  pattern?: string;
  minLength?: number;
  maxLength?: number;
  minimum?: number;
  maximum?: number;
  exclusiveMinimum?: number;
  exclusiveMaximum?: number;
  items?: JsonSchema;
  maxItems?: number;
  minItems?: number;
}

export type FieldKind = 'text' | 'secret' | 'url' | 'number' | 'integer' | 'boolean' | 'enum' | 'list' | 'json';

export interface FieldSpec {
  name: string;
  label: string;
  kind: FieldKind;
  required: boolean;
  description?: string;
  options?: string[];
  schema: JsonSchema;
}

/** Raw form state: text inputs hold strings, checkboxes booleans. */
export type RawValues = Record<string, string | boolean>;

export interface Variants {
  /** The property whose const tells the variants apart (e.g. `type`). */
  key: string;
  options: { value: string; schema: JsonSchema }[];
}

const variantsOf = (schema: JsonSchema): JsonSchema[] | undefined => schema.oneOf ?? schema.anyOf;

/** A oneOf/anyOf of objects that share one property holding a const: a choice of variants. */
export function variants(schema: JsonSchema): Variants | null {
  const list = variantsOf(schema);
  if (!list || list.length === 0) return null;
  const first = list[0]?.properties ?? {};
  const key = Object.keys(first).find((k) => list.every((v) => v.properties?.[k]?.const !== undefined));
  if (!key) return null;
  return { key, options: list.map((v) => ({ value: String(v.properties![key]!.const), schema: v })) };
}

/** The object schema in force: the variant chosen in `values` (or the first), or the schema itself. */
export function activeSchema(schema: JsonSchema, values: RawValues): JsonSchema {
  const v = variants(schema);
  if (!v) return schema;
  return (v.options.find((o) => o.value === values[v.key]) ?? v.options[0])!.schema;
}

const ACRONYMS: Record<string, string> = { oauth: 'OAuth', url: 'URL', id: 'ID', api: 'API', smtp: 'SMTP', tls: 'TLS', ms: 'ms', pds: 'PDS', did: 'DID' };

/** baseUrl → "Base URL", healthPath → "Health path". */
export function humanize(name: string): string {
  const words = name
    .replace(/([a-z0-9])([A-Z])/g, '$1 $2')
    .replace(/[_-]+/g, ' ')
    .trim()
    .split(/\s+/)
    .map((w) => ACRONYMS[w.toLowerCase()] ?? w.toLowerCase());
  const text = words.join(' ');
  return text.charAt(0).toUpperCase() + text.slice(1);
}

const SECRET_NAME = /secret|token|password|apikey|routingkey|^value$/i;

const typeOf = (s: JsonSchema): string | undefined => (Array.isArray(s.type) ? s.type.find((t) => t !== 'null') : s.type);

function kindOf(name: string, s: JsonSchema, secrets: boolean): FieldKind {
  const t = typeOf(s);
  if (s.enum && s.enum.every((e) => typeof e === 'string')) return 'enum';
  if (t === 'boolean') return 'boolean';
  if (t === 'integer') return 'integer';
  if (t === 'number') return 'number';
  if (t === 'array' && typeOf(s.items ?? {}) === 'string') return 'list';
  if (t === 'string') {
    if (secrets && SECRET_NAME.test(name)) return 'secret';
    return s.format === 'uri' ? 'url' : 'text';
  }
  return 'json';
}

/**
 * The fields of an object schema (after the variant choice), in the schema's order. With
 * `secrets`, string fields named like secrets become password inputs (credential forms).
 */
export function fieldsOf(schema: JsonSchema, values: RawValues, opts: { secrets?: boolean } = {}): FieldSpec[] {
  const v = variants(schema);
  const obj = activeSchema(schema, values);
  const required = new Set(obj.required ?? []);
  return Object.entries(obj.properties ?? {})
    .filter(([name]) => name !== v?.key)
    .map(([name, s]) => {
      const kind = kindOf(name, s, opts.secrets ?? false);
      return {
        name,
        label: s.title ?? humanize(name),
        kind,
        required: required.has(name) && s.default === undefined,
        description: s.description,
        options: kind === 'enum' ? (s.enum as string[]) : undefined,
        schema: s,
      };
    });
}

/** The form's starting state: defaults, the first variant, and (for edits) the current values. */
export function initialValues(schema: JsonSchema, current: Record<string, unknown> = {}): RawValues {
  const out: RawValues = {};
  const v = variants(schema);
  if (v) out[v.key] = typeof current[v.key] === 'string' ? (current[v.key] as string) : v.options[0]!.value;
  for (const f of fieldsOf(schema, out)) {
    const value = current[f.name] ?? f.schema.default;
    if (f.kind === 'boolean') out[f.name] = value === true;
    else if (value === undefined || value === null) out[f.name] = '';
    else if (f.kind === 'list') out[f.name] = Array.isArray(value) ? value.join('\n') : String(value);
    else if (f.kind === 'json') out[f.name] = JSON.stringify(value, null, 2);
    else out[f.name] = String(value);
  }
  return out;
}

export interface FieldError {
  path: string;
  message: string;
}

function checkString(path: string, s: JsonSchema, value: string, errors: FieldError[]) {
  if (s.minLength !== undefined && value.length < s.minLength) errors.push({ path, message: s.minLength === 1 ? 'Required' : `At least ${s.minLength} characters` });
  if (s.maxLength !== undefined && value.length > s.maxLength) errors.push({ path, message: `At most ${s.maxLength} characters` });
  if (s.pattern !== undefined) {
    let re: RegExp | null = null;
    try {
      re = new RegExp(s.pattern, 'u');
    } catch {
      re = null; // A pattern the browser cannot compile is left to the server.
    }
    if (re && !re.test(value)) errors.push({ path, message: `Does not match the expected format (${s.pattern})` });
  }
  if (s.format === 'uri') {
    try {
      new URL(value);
    } catch {
      errors.push({ path, message: 'A full URL, e.g. https://example.com/path' });
    }
  }
}

/**
 * Turns the raw form state into the typed object the API takes, with the browser-side errors by
 * field name. Empty optional fields are left out, so the server applies its defaults.
 */
export function toValue(schema: JsonSchema, raw: RawValues, opts: { secrets?: boolean; keepEmpty?: boolean } = {}): { value: Record<string, unknown>; errors: FieldError[] } {
  const value: Record<string, unknown> = {};
  const errors: FieldError[] = [];
  const v = variants(schema);
  if (v) value[v.key] = String(raw[v.key] ?? v.options[0]!.value);
  for (const f of fieldsOf(schema, raw, opts)) {
    const r = raw[f.name];
    if (f.kind === 'boolean') {
      value[f.name] = r === true;
      continue;
    }
    const text = typeof r === 'string' ? r : '';
    if (text.trim() === '') {
      if (f.required && !opts.keepEmpty) errors.push({ path: f.name, message: 'Required' });
      continue;
    }
    switch (f.kind) {
      case 'number':
      case 'integer': {
        const n = Number(text);
        if (!Number.isFinite(n) || (f.kind === 'integer' && !Number.isInteger(n))) {
          errors.push({ path: f.name, message: f.kind === 'integer' ? 'A whole number' : 'A number' });
          break;
        }
        const s = f.schema;
        if (s.minimum !== undefined && n < s.minimum) errors.push({ path: f.name, message: `At least ${s.minimum}` });
        if (s.maximum !== undefined && n > s.maximum) errors.push({ path: f.name, message: `At most ${s.maximum}` });
        if (s.exclusiveMinimum !== undefined && n <= s.exclusiveMinimum) errors.push({ path: f.name, message: `More than ${s.exclusiveMinimum}` });
        if (s.exclusiveMaximum !== undefined && n >= s.exclusiveMaximum) errors.push({ path: f.name, message: `Less than ${s.exclusiveMaximum}` });
        value[f.name] = n;
        break;
      }
      case 'enum':
        if (!f.options!.includes(text)) errors.push({ path: f.name, message: `One of ${f.options!.join(', ')}` });
        value[f.name] = text;
        break;
      case 'list': {
        const items = text
          .split('\n')
          .map((l) => l.trim())
          .filter(Boolean);
        if (f.schema.maxItems !== undefined && items.length > f.schema.maxItems) errors.push({ path: f.name, message: `At most ${f.schema.maxItems} entries` });
        items.forEach((item, i) => checkString(`${f.name}.${i}`, f.schema.items ?? {}, item, errors));
        value[f.name] = items;
        break;
      }
      case 'json':
        try {
          value[f.name] = JSON.parse(text);
        } catch {
          errors.push({ path: f.name, message: 'Not valid JSON' });
        }
        break;
      default:
        checkString(f.name, f.schema, text, errors);
        value[f.name] = text;
    }
  }
  return { value, errors };
}

/**
 * The server's field errors (problem+json `errors[].path`, e.g. `body.config.url` or `config.url`)
 * that belong to the form under `prefix`, keyed by field name.
 */
export function serverErrors(errors: FieldError[] | undefined, prefix: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const e of errors ?? []) {
    const path = e.path.replace(/^body\./, '');
    if (path.startsWith(`${prefix}.`)) {
      const name = path.slice(prefix.length + 1).split('.')[0]!;
      out[name] ??= e.message;
    }
  }
  return out;
}
