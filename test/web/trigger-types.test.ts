import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { triggerSchema } from '../../src/services/workflow-engine/definition.js';
import { TRIGGER_TYPES } from '../../web/src/workflows/stepTypes.js';

/** The editor's trigger forms are written by hand: they must offer exactly what the engine accepts. */
describe('trigger forms of the workflow editor against the engine\'s trigger schema', () => {
  const server = new Map(triggerSchema.options.map((o) => [String(o.shape.type.value), o]));

  it('offers every trigger type the engine knows, and no other', () => {
    expect(TRIGGER_TYPES.map((t) => t.type).sort()).toEqual([...server.keys()].sort());
  });

  it.each(TRIGGER_TYPES.map((t) => [t.type, t] as const))('%s: the same settings, the same choices, and its example is valid', (type, t) => {
    const schema = server.get(type)!;
    const serverKeys = Object.keys(schema.shape).filter((k) => k !== 'type').sort();
    const props = (t.schema as { properties?: Record<string, { enum?: unknown[]; minimum?: number; maximum?: number }> }).properties ?? {};
    expect(Object.keys(props).sort()).toEqual(serverKeys);
    for (const [key, prop] of Object.entries(props)) {
      const json = z.toJSONSchema(schema.shape[key as keyof typeof schema.shape] as z.ZodType, { io: 'input' }) as { enum?: unknown[]; minimum?: number; maximum?: number };
      if (prop.enum) expect(prop.enum, `${type}.${key}`).toEqual(json.enum);
      if (prop.minimum !== undefined) expect(prop.minimum, `${type}.${key} minimum`).toBe(json.minimum);
      if (prop.maximum !== undefined) expect(prop.maximum, `${type}.${key} maximum`).toBe(json.maximum);
    }
    expect(schema.safeParse({ type, ...t.example }).success).toBe(true);
  });
});
