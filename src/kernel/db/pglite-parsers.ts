import type { PGlite, QueryOptions, Results } from '@electric-sql/pglite';

type Parser = (x: string, typeId?: number) => unknown;
type Parsers = Record<number | string, Parser>;
type TypesModule = { parseType: (x: string | null, type: number, parsers?: Parsers) => unknown; arrayParser: (x: string, parser: Parser | undefined, typarray: number) => unknown };

/**
 * The types drizzle-orm's PGlite session asks PGlite to return as text (its PglitePreparedQuery
 * passes identity parsers for them with every query): timestamp, timestamptz, interval, date and
 * their arrays, and numeric[]. Array type -> its element type, for the arrays among them.
 */
export const DRIZZLE_TEXT_TYPES = [1114, 1184, 1186, 1082, 1231, 1115, 1185, 1187, 1182] as const;
const ELEMENT_OF: Partial<Record<number, number>> = { 1115: 1114, 1185: 1184, 1187: 1186, 1182: 1082 };
const TEXT_TYPES = new Set<number>(DRIZZLE_TEXT_TYPES);
const asText: Parser = (x) => x;
const PROBE = '1970-01-01 00:00:00+00';

/** Are these the identity parsers of DRIZZLE_TEXT_TYPES, and only those (what drizzle passes)? */
export function isDrizzleTextParsers(p: QueryOptions['parsers']): boolean {
  if (!p) return false;
  let n = 0;
  for (const key in p) {
    n++;
    const f = (p as Parsers)[key];
    if (!TEXT_TYPES.has(Number(key)) || typeof f !== 'function' || f(PROBE) !== PROBE) return false;
  }
  return n === DRIZZLE_TEXT_TYPES.length;
}

export interface PgliteParsing {
  /**
   * The options to run a query with (drizzle's text parsers dropped: the instance's are those now),
   * and whether its result needs `reparse` (it passed no parsers: PGlite's own parsing expected).
   */
  options(o: QueryOptions | undefined): { options: QueryOptions | undefined; reparse: boolean };
  /** A result of a query run without drizzle's parsers: its text-typed values parsed as PGlite would. */
  reparse<T>(r: Results<T>): Results<T>;
}

/**
 * PGlite parses a result with its instance's parsers, and with the parsers a query passes merged
 * over them: `{ ...this.parsers, ...options.parsers }` for every such query (its parseResults). The
 * instance holds a parser for every array type of the database (each table's row type has one): ~400
 * entries here, and that copy allocated ~130 kB and took ~100 µs of CPU per statement (ADR 0095).
 * drizzle passes its parsers with every query, so every ORM statement paid it; of the idle
 * platform's 6.6 MB/s of allocation, half.
 *
 * So the instance's parsers become drizzle's (`DRIZZLE_TEXT_TYPES` as text) and a drizzle query
 * runs without options.parsers: the same parsers, no copy. A query that passes none (Database.query,
 * pg-boss, transactions' raw clients) gets PGlite's own parsing of those types back from
 * `reparse`, which parses the values of the (rare) fields of those types with the parsers the
 * instance had: the same values as before. A query with parsers of its own gets PGlite's for those
 * types merged under them.
 */
export function useDrizzleParsers(client: Pick<PGlite, 'parsers'>, types: TypesModule): PgliteParsing {
  const own: Parsers = { ...client.parsers };
  // PGlite's array parsers read their element's parser from the instance when they run: bound to
  // the element parsers the instance had, so they keep parsing elements as before.
  for (const [array, element] of Object.entries(ELEMENT_OF)) {
    if (own[array]) own[array] = (x) => types.arrayParser(x, own[element!], Number(array));
  }
  const pglite: Parsers = Object.fromEntries(DRIZZLE_TEXT_TYPES.map((oid) => [oid, (x: string) => types.parseType(x, oid, own)]));
  for (const oid of DRIZZLE_TEXT_TYPES) client.parsers[oid] = asText;
  const byRowMode = { array: { rowMode: 'array' } as QueryOptions, object: { rowMode: 'object' } as QueryOptions };
  return {
    options(o) {
      if (!o?.parsers) return { options: o, reparse: true };
      if (isDrizzleTextParsers(o.parsers)) {
        const keys = Object.keys(o);
        const plain = keys.length === 2 && o.rowMode !== undefined ? byRowMode[o.rowMode] : undefined;
        return { options: plain ?? { ...o, parsers: undefined }, reparse: false };
      }
      return { options: { ...o, parsers: { ...pglite, ...o.parsers } }, reparse: false };
    },
    reparse(r) {
      const fields = r.fields;
      let at: number[] | undefined;
      for (let i = 0; i < fields.length; i++) if (TEXT_TYPES.has(fields[i]!.dataTypeID)) (at ??= []).push(i);
      if (!at || r.rows.length === 0) return r;
      const arrays = Array.isArray(r.rows[0]);
      for (const i of at) {
        const { name, dataTypeID } = fields[i]!;
        // An object row keeps the last of the fields with one name.
        if (!arrays && fields.findLastIndex((f) => f.name === name) !== i) continue;
        const parse = pglite[dataTypeID]!;
        for (const row of r.rows as unknown as Record<string | number, unknown>[]) {
          const key = arrays ? i : name;
          const v = row[key];
          if (typeof v === 'string') row[key] = parse(v);
        }
      }
      return r;
    },
  };
}
