/**
 * The program of an expression worker process, run with `node -e` (plain CommonJS, so the same
 * text works from the TypeScript sources under the test runner and from the build). It receives
 * one evaluation at a time over the IPC channel and answers with the result as JSON text, or with
 * an error code. Its heap is capped by `--max-old-space-size`; the parent kills it on a timeout.
 * An out-of-memory crash or a kill ends only this process (a worker thread would not do: a single
 * huge allocation past a thread's resourceLimits aborts the whole process, see ADR 0320).
 *
 * argv[1]: the absolute path of the jsonata package's entry file (resolved by the parent).
 */
export const CHILD_PROGRAM = String.raw`
'use strict';
const jsonata = require(process.argv[1]);
const ENTRY = Symbol.for('jsonata.__evaluate_entry');
const EXIT = Symbol.for('jsonata.__evaluate_exit');
const cache = new Map();
let depth = 0;
let maxDepth = 200;
class Limit extends Error { constructor(code, message) { super(message); this.code = code; } }
function compiled(source) {
  let e = cache.get(source);
  if (!e) {
    e = jsonata(source);
    e.assign(ENTRY, () => { if (++depth > maxDepth) throw new Limit('expression_too_deep', 'nesting or recursion deeper than ' + maxDepth); });
    e.assign(EXIT, () => { depth--; });
    if (cache.size >= 500) cache.clear();
    cache.set(source, e);
  }
  return e;
}
process.on('message', async (m) => {
  if (!m || typeof m.id !== 'number') return;
  let answer;
  try {
    depth = 0;
    maxDepth = m.maxDepth;
    const input = m.context === undefined ? undefined : JSON.parse(m.context);
    const value = await compiled(m.source).evaluate(input);
    const json = value === undefined ? 'null' : JSON.stringify(value);
    const bytes = json === undefined ? 4 : Buffer.byteLength(json);
    if (bytes > m.maxResultBytes) answer = { id: m.id, ok: false, code: 'expression_too_large', message: 'the result is ' + bytes + ' bytes (at most ' + m.maxResultBytes + ')' };
    else answer = { id: m.id, ok: true, json: json === undefined ? 'null' : json };
  } catch (err) {
    const code = err && err.code && /^expression_/.test(err.code) ? err.code : err instanceof RangeError ? (/call stack/i.test(err.message) ? 'expression_too_deep' : 'expression_too_large') : 'expression_failed';
    const message = String((err && err.message) || err).slice(0, 500);
    answer = { id: m.id, ok: false, code, message };
  }
  process.send(answer);
});
// The parent went away (stopped or killed): nothing is left to evaluate for.
process.on('disconnect', () => process.exit(0));
// Loaded: time limits count from here on, not the start-up of a process on a busy machine.
process.send({ ready: true });
`;

/**
 * The supervisor: a small process started once (the only fork of the platform process, whose
 * page tables make a fork cost tens of milliseconds of its event loop) that starts, feeds and
 * kills the expression workers on the platform process's behalf, relaying their answers. It runs
 * no user code. argv[1]: JSON `{ execPath, args }` of a worker.
 */
export const SUPERVISOR_PROGRAM = String.raw`
'use strict';
const { spawn } = require('node:child_process');
const cfg = JSON.parse(process.argv[1]);
const workers = new Map();
const tell = (m) => { try { process.send(m); } catch (e) { /* the platform went away */ } };
process.on('message', (m) => {
  if (!m) return;
  if (m.op === 'spawn') {
    let reported = false;
    const gone = (why) => { if (reported) return; reported = true; workers.delete(m.wid); tell({ op: 'exit', wid: m.wid, why }); };
    let p;
    try {
      p = spawn(cfg.execPath, cfg.args, { env: {}, stdio: ['ignore', 'ignore', 'ignore', 'ipc'], serialization: 'json' });
    } catch (e) {
      gone('could not start: ' + e.message);
      return;
    }
    workers.set(m.wid, p);
    p.on('message', (r) => tell({ op: 'result', wid: m.wid, r }));
    p.on('exit', (code, signal) => gone(signal ? 'was ended by ' + signal : 'exited with code ' + code));
    p.on('error', (e) => gone('failed: ' + e.message));
  } else if (m.op === 'task') {
    const p = workers.get(m.wid);
    if (!p) return tell({ op: 'exit', wid: m.wid, why: 'is gone' });
    p.send(m.task, (err) => { if (err) { try { p.kill('SIGKILL'); } catch (e) { /* gone */ } } });
  } else if (m.op === 'kill') {
    const p = workers.get(m.wid);
    if (p) { try { p.kill('SIGKILL'); } catch (e) { /* gone */ } }
  }
});
process.on('disconnect', () => {
  for (const p of workers.values()) { try { p.kill('SIGKILL'); } catch (e) { /* gone */ } }
  process.exit(0);
});
`;
