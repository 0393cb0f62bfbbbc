/**
 * `npm run bench -- NAME [args]`: runs bench/NAME.ts, whose default export returns its figures,
 * and ends by printing one JSON line: {"bench":"NAME","figures":{...}}.
 * Figure names say what and where, with unit suffixes (_per_s, _ms, _mb, _ratio).
 */
import { readdirSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

export type Figures = Record<string, number>;
export type Bench = (args: string[]) => Promise<Figures>;

const here = path.dirname(fileURLToPath(import.meta.url));
const available = readdirSync(here)
  .filter((f) => f.endsWith('.js') && !['run.js'].includes(f) && !f.startsWith('_'))
  .map((f) => f.replace(/\.js$/, ''))
  .sort();

const [name, ...args] = process.argv.slice(2);
if (!name || !available.includes(name)) {
  console.error(`usage: npm run bench -- NAME\navailable: ${available.join(', ') || '(none)'}`);
  process.exit(2);
}
const mod = (await import(pathToFileURL(path.join(here, `${name}.js`)).href)) as { default: Bench };
const figures = await mod.default(args);
const rounded = Object.fromEntries(Object.entries(figures).map(([k, v]) => [k, Number.isInteger(v) ? v : Math.round(v * 1000) / 1000]));
console.log(JSON.stringify({ bench: name, figures: rounded }));
process.exit(0);
