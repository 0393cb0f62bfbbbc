// A stand-in for kubectl (none exists here) over a simulated cluster: the objects are a JSON file
// ($FAKE_CLUSTER, {"objects": [...]}) that the tests' simulated Helm writes, and every call is
// appended to $FAKE_CALLS. It answers the calls the runbook scripts make: get (one object by
// name, or by -l selector) with -o jsonpath= (the subset of JSONPath they use) or -o yaml, and
// patch (--type=json with test/replace/add, or a merge patch).
import fs from 'node:fs';
import { dump } from 'js-yaml';

const args = process.argv.slice(2);
fs.appendFileSync(process.env.FAKE_CALLS, `kubectl ${args.join(' ').replace(/\s+/g, ' ')}\n`);

const KINDS = {
  virtualservice: ['networking.istio.io/v1', 'VirtualService'],
  virtualservices: ['networking.istio.io/v1', 'VirtualService'],
  destinationrule: ['networking.istio.io/v1', 'DestinationRule'],
  deployment: ['apps/v1', 'Deployment'],
  deployments: ['apps/v1', 'Deployment'],
  service: ['v1', 'Service'],
  svc: ['v1', 'Service'],
  configmap: ['v1', 'ConfigMap'],
  configmaps: ['v1', 'ConfigMap'],
};

function fail(message, code = 1) {
  process.stderr.write(`${message}\n`);
  process.exit(code);
}

// Flags with a value; the rest are positional.
const flags = {};
const positional = [];
for (let i = 0; i < args.length; i++) {
  const a = args[i];
  const eq = /^(-[a-z]|--[a-z-]+)=(.*)$/s.exec(a);
  if (eq) flags[eq[1]] = eq[2];
  else if (/^(-n|--namespace|-o|--output|-l|--selector|-p|--patch|--type)$/.test(a)) flags[a] = args[++i];
  else positional.push(a);
}
const namespace = flags['-n'] ?? flags['--namespace'] ?? 'default';
const output = flags['-o'] ?? flags['--output'];
const selector = flags['-l'] ?? flags['--selector'];
const [verb, kindArg, name] = positional;
const kind = KINDS[kindArg?.toLowerCase()];
if (!kind) fail(`error: the server doesn't have a resource type "${kindArg}"`);

const state = JSON.parse(fs.readFileSync(process.env.FAKE_CLUSTER, 'utf8'));
const matches = (o) => o.apiVersion === kind[0] && o.kind === kind[1] && (o.metadata.namespace ?? namespace) === namespace;
const labelsMatch = (o) =>
  !selector || selector.split(',').every((term) => {
    const [k, v] = term.split('=');
    return (o.metadata.labels ?? {})[k] === v;
  });

/** JSONPath as kubectl's -o jsonpath: {.a.b[0].c}, {range .x[*]}...{end}, {"literal"}. */
function jsonpath(template, root) {
  const tokens = [];
  for (const m of template.matchAll(/\{([^}]*)\}|([^{]+)/g)) tokens.push(m[1] !== undefined ? { expr: m[1].trim() } : { text: m[2] });
  const walk = (ctx, path) => {
    let values = [ctx];
    for (const part of path.match(/\.[^.[]+|\[[^\]]*\]/g) ?? []) {
      values = values.flatMap((v) => {
        if (v == null) return [];
        if (part === '[*]') return Array.isArray(v) ? v : [];
        if (part.startsWith('[')) return [v[Number(part.slice(1, -1))]];
        return [v[part.slice(1)]];
      });
    }
    return values.filter((v) => v !== undefined);
  };
  let out = '';
  const run = (from, ctx) => {
    for (let i = from; i < tokens.length; i++) {
      const t = tokens[i];
      if (t.text !== undefined) out += t.text;
      else if (t.expr === 'end') return i;
      else if (t.expr.startsWith('range ')) {
        const items = walk(ctx, t.expr.slice(6).trim());
        let end = i;
        if (items.length === 0) {
          // Skip to the matching end without output.
          let depth = 0;
          for (end = i + 1; end < tokens.length; end++) {
            if (tokens[end].expr?.startsWith('range ')) depth++;
            else if (tokens[end].expr === 'end' && depth-- === 0) break;
          }
        }
        for (const item of items) end = run(i + 1, item);
        i = end;
      } else if (t.expr.startsWith('"')) out += JSON.parse(t.expr);
      else out += walk(ctx, t.expr).map((v) => (typeof v === 'object' ? JSON.stringify(v) : String(v))).join(' ');
    }
    return tokens.length;
  };
  run(0, root);
  return out;
}

function pointer(p) {
  return p
    .split('/')
    .slice(1)
    .map((s) => s.replace(/~1/g, '/').replace(/~0/g, '~'));
}

function mergePatch(target, patch) {
  for (const [k, v] of Object.entries(patch)) {
    if (v === null) delete target[k];
    else if (typeof v === 'object' && !Array.isArray(v) && typeof target[k] === 'object' && target[k] !== null) mergePatch(target[k], v);
    else target[k] = v;
  }
}

if (verb === 'get') {
  if (name) {
    const obj = state.objects.find((o) => matches(o) && o.metadata.name === name);
    if (!obj) fail(`Error from server (NotFound): ${kindArg} "${name}" not found`);
    if (output?.startsWith('jsonpath=')) process.stdout.write(jsonpath(output.slice('jsonpath='.length), obj));
    else process.stdout.write(dump(obj));
  } else {
    const items = state.objects.filter((o) => matches(o) && labelsMatch(o));
    if (output?.startsWith('jsonpath=')) process.stdout.write(jsonpath(output.slice('jsonpath='.length), { items }));
    else process.stdout.write(dump({ apiVersion: 'v1', kind: 'List', items }));
  }
} else if (verb === 'patch') {
  const obj = state.objects.find((o) => matches(o) && o.metadata.name === name);
  if (!obj) fail(`Error from server (NotFound): ${kindArg} "${name}" not found`);
  const patch = JSON.parse(flags['-p'] ?? flags['--patch']);
  if ((flags['--type'] ?? 'strategic') === 'json') {
    const copy = structuredClone(obj);
    for (const op of patch) {
      const keys = pointer(op.path);
      const last = keys.pop();
      let parent = copy;
      for (const k of keys) parent = parent?.[k];
      if (parent == null) fail(`The request is invalid: the server rejected our request due to an error in our request (no ${op.path})`);
      if (op.op === 'test') {
        if (JSON.stringify(parent[last]) !== JSON.stringify(op.value)) fail(`The request is invalid: the server rejected our request due to an error in our request (test failed at ${op.path})`);
      } else if (op.op === 'replace' || op.op === 'add') {
        if (op.op === 'replace' && !(last in parent)) fail(`The request is invalid: the server rejected our request due to an error in our request (no ${op.path} to replace)`);
        parent[last] = op.value;
      } else fail(`unsupported patch op ${op.op}`);
    }
    Object.assign(obj, copy);
  } else {
    mergePatch(obj, patch);
  }
  fs.writeFileSync(process.env.FAKE_CLUSTER, JSON.stringify(state, null, 2));
  process.stdout.write(`${kindArg}/${name} patched\n`);
} else {
  fail(`fake kubectl: ${verb} is not simulated`, 2);
}
