/** DuckDB's SQL dialect, apart from the driver so a store not opened yet (LazyOlapStore) can build SQL without loading DuckDB. */
import { dateLiteralText, ident, intLiteral, type OlapDialect } from './port.js';

const jsonPath = (key: string) => duckStr(`$."${key.replace(/["\\]/g, '')}"`);
export const duckStr = (value: string) => `'${value.replace(/'/g, "''").replace(/\0/g, '')}'`;

export const duckDbDialect: OlapDialect = {
  str: duckStr,
  int: intLiteral,
  idiv: (a, b) => `((${a}) // (${b}))`,
  countDistinctIf: (expr, cond) => `count(DISTINCT ${expr}) FILTER (WHERE ${cond})`,
  jsonString: (col, key) => `(CASE WHEN json_type(${col}, ${jsonPath(key)}) = 'VARCHAR' THEN json_extract_string(${col}, ${jsonPath(key)}) ELSE '' END)`,
  jsonNumber: (col, key) =>
    `(CASE WHEN json_type(${col}, ${jsonPath(key)}) IN ('BIGINT', 'UBIGINT', 'DOUBLE') THEN CAST(json_extract(${col}, ${jsonPath(key)}) AS DOUBLE) ELSE 0 END)`,
  dateString: (expr) => `strftime(${expr}, '%Y-%m-%d')`,
  date: (value) => `DATE '${dateLiteralText(value)}'`,
  monthStart: (expr) => `CAST(date_trunc('month', ${expr}) AS DATE)`,
  weekStart: (expr) => `CAST(date_trunc('week', ${expr}) AS DATE)`,
  expand: (n, name) => ({ select: ident(name), from: `CROSS JOIN (SELECT CAST(range AS INTEGER) AS ${ident(name)} FROM range(${intLiteral(n)}))` }),
};

