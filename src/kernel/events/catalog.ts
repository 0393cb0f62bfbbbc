import type { z } from 'zod';

/**
 * The platform's event map, composed at start-up: every service declares the events it publishes
 * in its `events.ts` (`defineEvents`: versioned name → payload schema) and lists them in its
 * manifest (ADR 0015). Types come by declaration merging into `EventCatalog`; at run time one
 * catalog holds the events of every manifest of the build, so a process also knows the events of
 * services running elsewhere (the workflow triggers, analytics and gamification consume them all).
 */
export type EventMap = Record<string, z.ZodType>;
export type EventPayloads<T extends EventMap> = { [K in keyof T]: z.infer<T[K]> };

/** Event name → payload type; each service's events.ts merges its own in. */
// eslint-disable-next-line @typescript-eslint/no-empty-object-type
export interface EventCatalog {}
export type EventName = keyof EventCatalog & string;

/** Versioned names: lower-case dotted segments ending in `.v<N>`. */
export const EVENT_NAME_PATTERN = /^[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)+\.v[1-9][0-9]*$/;

const catalog = new Map<string, { schema: z.ZodType; owner: string }>();

/** Adds events to the run-time catalog; a name declared by two owners, or misspelt, is a start-up error. */
export function registerEvents(owner: string, map: EventMap): void {
  for (const [name, schema] of Object.entries(map)) {
    if (!EVENT_NAME_PATTERN.test(name)) throw new Error(`event name ${name} (${owner}) is not versioned like service.thing.happened.v1`);
    const known = catalog.get(name);
    if (known && (known.owner !== owner || known.schema !== schema)) throw new Error(`event ${name} declared twice (${known.owner}, ${owner})`);
    catalog.set(name, { schema, owner });
  }
}

/**
 * A service's events: registered when its events.ts is first imported and listed by its manifest,
 * which the platform registers again at start-up.
 */
export function defineEvents<const T extends EventMap>(owner: string, map: T): T {
  registerEvents(owner, map);
  return map;
}

/** Every event name known to this process, in declaration order. */
export function eventNames(): EventName[] {
  return [...catalog.keys()] as EventName[];
}

export const isEventName = (name: string): name is EventName => catalog.has(name);

export function eventSchema(name: string): z.ZodType | undefined {
  return catalog.get(name)?.schema;
}

/** The catalog as Markdown (name, publisher), for docs/events.md. */
export function eventCatalogMarkdown(): string {
  const rows = [...catalog.entries()].sort(([a], [b]) => a.localeCompare(b)).map(([name, e]) => `| \`${name}\` | ${e.owner} |`);
  return ['| event | published by |', '|---|---|', ...rows].join('\n');
}
