// The web app's initial JavaScript (the entry script and every chunk index.html preloads) must stay
// within its budget gzipped: the first screen should load fast on a slow connection. Routes are
// code-split, so a screen's own code never counts here.
import { readFileSync } from 'node:fs';
import { gzipSync } from 'node:zlib';
import { join } from 'node:path';

const BUDGET_KB = Number(process.env.WEB_INITIAL_JS_BUDGET_KB ?? 200);
const dir = 'dist/web';
const html = readFileSync(join(dir, 'index.html'), 'utf8');
const files = [...html.matchAll(/(?:src|href)="\/(assets\/[^"]+\.js)"/g)].map((m) => m[1]);
if (files.length === 0) {
  console.error('check-bundle: no script found in dist/web/index.html (run npm run build first)');
  process.exit(1);
}
let total = 0;
for (const f of files) {
  const size = gzipSync(readFileSync(join(dir, f))).length;
  total += size;
  console.log(`${f}: ${(size / 1024).toFixed(1)} KB gzip`);
}
const kb = total / 1024;
console.log(`initial JavaScript: ${kb.toFixed(1)} KB gzip (budget ${BUDGET_KB} KB)`);
if (kb > BUDGET_KB) {
  console.error('check-bundle: over budget: split a route out of the shell or drop a dependency');
  process.exit(1);
}
