import { z } from 'zod';
import type { KernelConfig } from './types.js';

/**
 * One environment variable: its zod schema (parsing and default), what it means, and whether its
 * value is a secret (never echoed in a configuration error, shown as such in the reference).
 * The reference (docs/config-reference.md) takes the type and default from the schema unless
 * `type` or `default` say it better (a default computed from other variables).
 */
export interface Setting<S extends z.ZodType = z.ZodType> {
  schema: S;
  description: string;
  secret: boolean;
  type?: string;
  default?: string;
}

export function setting<S extends z.ZodType>(schema: S, meta: { description: string; secret?: boolean; type?: string; default?: string }): Setting<S> {
  return { schema, description: meta.description, secret: meta.secret ?? false, type: meta.type, default: meta.default };
}

export type SettingMap = Record<string, Setting>;
export type SettingValues<V extends SettingMap> = { [K in keyof V]: z.output<V[K]['schema']> };

/** A problem with one variable (a cross-variable rule names the variable to fix). */
export interface ConfigIssue {
  variable: string;
  message: string;
}

/**
 * A block of settings declared by one owner (the kernel or a service, in `<service>/config.ts`):
 * its variables, and how their parsed values become the typed settings the owner receives.
 * `build` sees the kernel's settings too (a default under the data folder, a choice that follows
 * DATABASE_URL); it runs only once every variable of the process is valid.
 */
export interface ConfigSlice<T = unknown, K = KernelConfig> {
  /** Where the settings sit in the composed configuration (`config.settings[key]`); the owner's name unless given. */
  key: string;
  /** Who declares them, as the reference names it (`kernel`, `workflow-engine`, ...). */
  owner: string;
  variables: SettingMap;
  /** Validates the variables; returns the problems, or the values when there are none. */
  validate(env: Readonly<Record<string, string>>): { issues: ConfigIssue[] } | { values: Record<string, unknown> };
  build(values: Record<string, unknown>, kernel: K): T;
  /** The owner's settings in a composed configuration (tests, the owner's shared-secret values). */
  read(config: { settings: Readonly<Record<string, unknown>> }): T;
}

/**
 * Declares an owner's settings: `defineConfig('workflow-engine', { WORKFLOW_LEASE_MS: setting(...) }, (v) => ({ leaseMs: v.WORKFLOW_LEASE_MS }))`.
 * The manifest lists the slice (`config`); the platform parses it with the kernel's at start-up and
 * hands the result to the service as `ctx.settings`.
 */
export function defineConfig<const V extends SettingMap, T, K = KernelConfig>(
  owner: string,
  variables: V,
  build: (values: SettingValues<V>, kernel: K) => T,
  opts: { key?: string; check?: (values: SettingValues<V>) => ConfigIssue[] } = {},
): ConfigSlice<T, K> {
  const key = opts.key ?? owner;
  const shape = z.object(Object.fromEntries(Object.entries(variables).map(([name, s]) => [name, s.schema])));
  return {
    key,
    owner,
    variables,
    validate(env) {
      const present = Object.fromEntries(Object.keys(variables).flatMap((name) => (env[name] === undefined ? [] : [[name, env[name]]])));
      const parsed = shape.safeParse(present);
      if (!parsed.success) {
        return {
          issues: parsed.error.issues.map((i) => {
            const variable = String(i.path[0] ?? owner);
            const given = present[variable];
            const secret = variables[variable]?.secret ?? false;
            // A secret URL is shown without its credentials (where it points helps); any other secret not at all.
            const shown = given === undefined ? '' : secret && !/URL$/.test(variable) ? ' (value not shown: a secret)' : ` (got "${redactValue(variable, given)}")`;
            return { variable, message: `${i.message}${shown}` };
          }),
        };
      }
      const values = parsed.data as SettingValues<V>;
      const issues = opts.check?.(values) ?? [];
      return issues.length ? { issues } : { values };
    },
    build: (values, kernel) => build(values as SettingValues<V>, kernel),
    read(config) {
      if (!Object.hasOwn(config.settings, key)) throw new Error(`the configuration holds no ${key} settings (load it with the platform's loadPlatformConfig)`);
      return config.settings[key] as T;
    },
  };
}

/** Every variable's problem in one message; the CLI prints it without a stack trace. */
export class ConfigError extends Error {
  constructor(public readonly problems: string[]) {
    super(`invalid configuration:\n${problems.map((p) => `  - ${p}`).join('\n')}`);
    this.name = 'ConfigError';
  }
}

/** Credentials in URLs and anything named like a secret never appear in a message; long values are cut. */
export function redactValue(name: string, value: string): string {
  if (/URL$/.test(name)) return value.replace(/\/\/([^@/]*)@/, '//***@');
  if (/TOKEN|KEY|SECRET|PASSWORD/.test(name)) return '***';
  return value.length > 80 ? `${value.slice(0, 80)}…` : value;
}

/** Empty strings mean "unset": shells and Helm often render unset values as "". */
export function cleanEnv(env: NodeJS.ProcessEnv | Readonly<Record<string, string | undefined>>): Record<string, string> {
  return Object.fromEntries(Object.entries(env).filter((e): e is [string, string] => e[1] !== undefined && e[1] !== ''));
}

/**
 * Composes slices: each variable is declared once (a variable two services both read, such as the
 * media size limit, may be declared by both if they agree on type, default and secrecy), every
 * slice is validated, and all problems are reported together.
 */
export function validateSlices(env: Readonly<Record<string, string>>, slices: readonly ConfigSlice<unknown, never>[]): { issues: ConfigIssue[]; values: Map<string, Record<string, unknown>> } {
  const declared = new Map<string, { owner: string; s: Setting }>();
  const keys = new Set<string>();
  for (const slice of slices) {
    if (keys.has(slice.key)) throw new Error(`configuration slice ${slice.key} declared twice`);
    keys.add(slice.key);
    for (const [name, s] of Object.entries(slice.variables)) {
      const prior = declared.get(name);
      if (prior && describeSetting(prior.s).summary !== describeSetting(s).summary) {
        throw new Error(`configuration variable ${name} is declared by ${prior.owner} and ${slice.owner} differently (type, default or secrecy)`);
      }
      if (!prior) declared.set(name, { owner: slice.owner, s });
    }
  }
  const issues: ConfigIssue[] = [];
  const values = new Map<string, Record<string, unknown>>();
  const reported = new Set<string>();
  for (const slice of slices) {
    const r = slice.validate(env);
    if ('values' in r) values.set(slice.key, r.values);
    else {
      for (const i of r.issues) {
        const line = `${i.variable}: ${i.message}`;
        if (!reported.has(line)) issues.push(i);
        reported.add(line);
      }
    }
  }
  return { issues, values };
}

/** The reference's type and default of a setting, read from its zod schema unless it says them itself. */
export function describeSetting(s: Setting): { type: string; default: string; value: boolean; summary: string } {
  let schema = s.schema as z.ZodType;
  let fallback: string | undefined;
  let optional = false;
  let empty = false;
  for (;;) {
    const def = schema._zod.def as unknown as { type: string; innerType?: z.ZodType; defaultValue?: unknown };
    if (def.type === 'default' && def.innerType) {
      if (fallback === undefined) {
        empty = def.defaultValue === '';
        fallback = empty ? 'empty' : String(def.defaultValue);
      }
      schema = def.innerType;
    } else if (def.type === 'optional' && def.innerType) {
      optional = true;
      schema = def.innerType;
    } else break;
  }
  const type = s.type ?? typeOf(schema);
  const dflt = s.default ?? fallback ?? (optional ? 'unset' : 'required');
  // A default from the schema is a value (shown as code); a declared one is words (`2 on PostgreSQL, 1 on PGlite`).
  return { type, default: dflt, value: s.default === undefined && fallback !== undefined && !empty, summary: `${type}|${dflt}|${s.secret}` };
}

function typeOf(schema: z.ZodType): string {
  const def = schema._zod.def as unknown as { type: string; in?: z.ZodType; entries?: Record<string, string>; format?: string; checks?: { _zod: { def: Record<string, unknown> } }[] };
  switch (def.type) {
    case 'pipe': {
      const inner = def.in ? (def.in._zod.def as unknown as { type: string; entries?: Record<string, string> }) : undefined;
      if (inner?.type === 'enum' && inner.entries && Object.keys(inner.entries).includes('true')) return 'boolean';
      return def.in ? typeOf(def.in) : 'text';
    }
    case 'enum':
      return `one of ${Object.values(def.entries ?? {}).join(', ')}`;
    case 'number': {
      const checks = (def.checks ?? []).map((c) => c._zod.def);
      const int = checks.some((c) => c.check === 'number_format' && /int/.test(String(c.format)));
      // The tightest bounds (positive() then min(10) leaves two lower bounds); exclusive ones as integers allow.
      const bound = (kind: 'greater_than' | 'less_than') =>
        checks
          .filter((c) => c.check === kind)
          .map((c) => Number(c.value) + (c.inclusive || !int ? 0 : kind === 'greater_than' ? 1 : -1))
          .reduce<number | undefined>((best, v) => (best === undefined ? v : kind === 'greater_than' ? Math.max(best, v) : Math.min(best, v)), undefined);
      const lo = bound('greater_than');
      const hi = bound('less_than');
      const range = lo !== undefined && hi !== undefined ? ` ${lo}..${hi}` : lo !== undefined ? ` ≥ ${lo}` : hi !== undefined ? ` ≤ ${hi}` : '';
      return `${int ? 'integer' : 'number'}${range}`;
    }
    case 'string':
      if (def.format === 'url') return 'URL';
      if (def.format === 'uuid') return 'UUID';
      return 'text';
    default:
      return 'text';
  }
}

/** The reference of every variable, one Markdown table (docs/config-reference.md). */
export function configReferenceMarkdown(slices: readonly ConfigSlice<unknown, never>[]): string {
  const rows = new Map<string, { owners: string[]; s: Setting }>();
  for (const slice of slices) {
    for (const [name, s] of Object.entries(slice.variables)) {
      const row = rows.get(name);
      if (row) row.owners.push(slice.owner);
      else rows.set(name, { owners: [slice.owner], s });
    }
  }
  const cell = (text: string) => text.replace(/\|/g, '\\|').replace(/\n/g, ' ');
  const lines = [...rows.entries()]
    .sort(([a, x], [b, y]) => order(first(x.owners)) - order(first(y.owners)) || first(x.owners).localeCompare(first(y.owners)) || a.localeCompare(b))
    .map(([name, { owners: declaredBy, s }]) => {
      const owners = [...declaredBy].sort((a, b) => order(a) - order(b) || a.localeCompare(b));
      const d = describeSetting(s);
      return `| \`${name}\` | ${owners.join(', ')} | ${cell(d.type)} | ${cell(d.value ? `\`${d.default}\`` : d.default)} | ${cell(s.description)} | ${s.secret ? 'yes' : ''} |`;
    });
  return ['| variable | declared by | type | default | meaning | secret |', '|---|---|---|---|---|:-:|', ...lines].join('\n');
}

const order = (owner: string) => (owner === 'kernel' ? 0 : 1);
const first = (owners: string[]) => [...owners].sort((a, b) => order(a) - order(b) || a.localeCompare(b))[0]!;

/** Schemas every slice uses: a boolean spelled true/false/1/0/yes/no, a positive integer, a port. */
export const envBool = z.enum(['true', 'false', '1', '0', 'yes', 'no']).transform((v) => v === 'true' || v === '1' || v === 'yes');
export const positiveInt = z.coerce.number().int().positive();
export const port = z.coerce.number().int().min(0).max(65535);
