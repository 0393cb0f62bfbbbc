import type { JsonSchema } from './stepTypes.js';

/**
 * How a JSON Schema property is edited (pure: the Vitest suites import it).
 * Pure module (no DOM, no React).
 */
export type FieldKind = 'boolean' | 'enum' | 'step-id' | 'number' | 'expression' | 'string' | 'json';

function typesOf(prop: JsonSchema): string[] {
  if (Array.isArray(prop.type)) return prop.type;
  if (prop.type) return [prop.type];
  // anyOf/oneOf (e.g. a number or an "=expression" string): the union of the members' types.
  const members = prop.anyOf ?? prop.oneOf;
  if (members && members.every((m) => m.type !== undefined)) return [...new Set(members.flatMap(typesOf))];
  return [];
}

export function fieldKind(prop: JsonSchema): FieldKind {
  const types = typesOf(prop);
  if (prop.enum) return 'enum';
  if (prop.format === 'step-id') return 'step-id';
  if (types.length === 1 && types[0] === 'boolean') return 'boolean';
  if (types.includes('number') || types.includes('integer')) return types.every((t) => t === 'number' || t === 'integer' || t === 'string') ? 'number' : 'json';
  if (types.length === 1 && types[0] === 'string') return prop.format === 'jsonata' || prop.format === 'expression' ? 'expression' : 'string';
  return 'json';
}

/** A JSON value as text; a string starting with = (an expression) shows as itself. */
export function showLooseJson(value: unknown): string {
  if (value === undefined) return '';
  if (typeof value === 'string' && value.startsWith('=')) return value;
  return JSON.stringify(value, null, 2);
}

export function parseLooseJson(text: string): { ok: true; value: unknown } | { ok: false; error: string } {
  const t = text.trim();
  if (t === '') return { ok: true, value: undefined };
  if (t.startsWith('=')) return { ok: true, value: t };
  try {
    return { ok: true, value: JSON.parse(t) };
  } catch (err) {
    return { ok: false, error: `Not valid JSON: ${(err as Error).message}` };
  }
}
