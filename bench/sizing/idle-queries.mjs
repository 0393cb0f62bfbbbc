// ADR 0095: the statements an idle process runs. Preloaded (NODE_OPTIONS=--import=this file) into
// `v01t start` (embedded); from V01T_SIZING_QUERIES_FROM_S (10) to V01T_SIZING_QUERIES_TO_S (40)
// seconds after the process started, counts PGlite's query/exec calls by statement (its first 160
// characters), with the rows they returned and the characters of those rows as JSON, and writes
// them, most rows first, as JSON to $V01T_SIZING_QUERIES.
import fs from 'node:fs';
import path from 'node:path';

const out = process.env.V01T_SIZING_QUERIES;
if (out) {
  // The ESM entry, as the application imports it (the CommonJS one would be another class).
  const { PGlite } = await import(path.join(process.cwd(), 'node_modules/@electric-sql/pglite/dist/index.js'));
  const stats = new Map();
  let on = false;
  const from = Number(process.env.V01T_SIZING_QUERIES_FROM_S ?? 10) * 1000;
  const to = Number(process.env.V01T_SIZING_QUERIES_TO_S ?? 40) * 1000;
  setTimeout(() => (on = true), from).unref();
  setTimeout(() => {
    on = false;
    const rows = [...stats.entries()].map(([sql, s]) => ({ sql, ...s })).sort((a, b) => b.chars - a.chars);
    fs.writeFileSync(out, JSON.stringify({ seconds: (to - from) / 1000, statements: rows.reduce((n, r) => n + r.calls, 0), rows }, null, 1));
  }, to).unref();
  const note = (sql, result) => {
    if (!on) return;
    const key = String(sql).replace(/\s+/g, ' ').slice(0, 160);
    const s = stats.get(key) ?? { calls: 0, rows: 0, chars: 0 };
    s.calls++;
    for (const r of Array.isArray(result) ? result : [result]) {
      s.rows += r?.rows?.length ?? 0;
      s.chars += JSON.stringify(r?.rows ?? []).length;
    }
    stats.set(key, s);
  };
  let proto = PGlite.prototype;
  while (proto && !Object.hasOwn(proto, 'query')) proto = Object.getPrototypeOf(proto);
  for (const name of ['query', 'exec']) {
    const orig = proto[name];
    proto[name] = async function (sql, ...rest) {
      const result = await orig.call(this, sql, ...rest);
      note(sql, result);
      return result;
    };
  }
}
