#!/usr/bin/env node
// The runbook's dependency scan, `npm audit --audit-level moderate`, on the production dependencies,
// with a reviewed allowlist (security/audit-allowlist.json) for advisories the team has accepted.
//
//   node scripts/audit.mjs [--level moderate] [--allowlist FILE] [--registry URL] [--if-unavailable fail|warn] [--json]
//
// Exit status: 0 no finding at or above the level that the allowlist does not cover; 1 findings (each
// printed with its advisory, package, path and severity); 2 the allowlist is malformed, or the
// advisory endpoint could not be asked and --if-unavailable is fail (the default). An allowlist entry
// past its `expires` date no longer covers anything, so an acceptance is reviewed again; one that
// matches nothing is reported as stale so it can be removed.
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';

const LEVELS = ['info', 'low', 'moderate', 'high', 'critical'];

function parseArgs(argv) {
  const opts = { level: 'moderate', allowlist: 'security/audit-allowlist.json', registry: undefined, ifUnavailable: 'fail', json: false, today: undefined };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const value = () => {
      const v = argv[++i];
      if (v === undefined) usage(`${a} needs a value`);
      return v;
    };
    if (a === '--level') opts.level = value();
    else if (a === '--allowlist') opts.allowlist = value();
    else if (a === '--registry') opts.registry = value();
    else if (a === '--if-unavailable') opts.ifUnavailable = value();
    else if (a === '--today') opts.today = value();
    else if (a === '--json') opts.json = true;
    else usage(`unknown option ${a}`);
  }
  if (!LEVELS.includes(opts.level)) usage(`--level must be one of ${LEVELS.join(', ')}`);
  if (!['fail', 'warn'].includes(opts.ifUnavailable)) usage('--if-unavailable must be fail or warn');
  return opts;
}

function usage(message) {
  process.stderr.write(`audit: ${message}\nusage: node scripts/audit.mjs [--level moderate] [--allowlist FILE] [--registry URL] [--if-unavailable fail|warn] [--json]\n`);
  process.exit(2);
}

/** The allowlist: [{ advisory: "GHSA-…", package, reason, reviewedBy, reviewedOn, expires }]. */
function readAllowlist(file) {
  let raw;
  try {
    raw = JSON.parse(readFileSync(file, 'utf8'));
  } catch (err) {
    if (err.code === 'ENOENT') return [];
    throw new Error(`${file}: ${err.message}`);
  }
  const entries = Array.isArray(raw) ? raw : raw.accepted;
  if (!Array.isArray(entries)) throw new Error(`${file}: expected { "accepted": [ … ] }`);
  const required = ['advisory', 'package', 'reason', 'reviewedBy', 'expires'];
  entries.forEach((e, i) => {
    for (const key of required) {
      if (typeof e?.[key] !== 'string' || e[key].trim() === '') throw new Error(`${file}: accepted[${i}] needs "${key}" (a non-empty string)`);
    }
    if (!/^\d{4}-\d{2}-\d{2}$/.test(e.expires)) throw new Error(`${file}: accepted[${i}].expires must be YYYY-MM-DD`);
  });
  return entries;
}

/** The advisory's stable id: the GHSA id from its URL, else npm's numeric source id. */
const advisoryId = (via) => (/(GHSA-[\w-]+)/i.exec(via.url ?? '')?.[1]?.toUpperCase() ?? String(via.source));

/** Every advisory (not the packages that only depend on a vulnerable one) at or above the level. */
export function findings(report, level) {
  const min = LEVELS.indexOf(level);
  const out = new Map();
  for (const vuln of Object.values(report.vulnerabilities ?? {})) {
    for (const via of vuln.via ?? []) {
      if (typeof via !== 'object' || LEVELS.indexOf(via.severity) < min) continue;
      const id = advisoryId(via);
      const key = `${id} ${via.name}`;
      const found = out.get(key) ?? { advisory: id, package: via.name, severity: via.severity, title: via.title, url: via.url, range: via.range, nodes: new Set() };
      for (const n of vuln.nodes ?? []) found.nodes.add(n);
      out.set(key, found);
    }
  }
  return [...out.values()].map((f) => ({ ...f, nodes: [...f.nodes].sort() }));
}

export function judge(found, allowlist, today) {
  const live = allowlist.filter((e) => e.expires >= today);
  const expired = allowlist.filter((e) => e.expires < today);
  const covers = (e, f) => e.advisory.toUpperCase() === f.advisory.toUpperCase() && e.package === f.package;
  const open = found.filter((f) => !live.some((e) => covers(e, f)));
  const accepted = found.filter((f) => live.some((e) => covers(e, f)));
  const stale = live.filter((e) => !found.some((f) => covers(e, f)));
  return { open, accepted, expired, stale };
}

function main() {
  const opts = parseArgs(process.argv.slice(2));
  let allowlist;
  try {
    allowlist = readAllowlist(opts.allowlist);
  } catch (err) {
    process.stderr.write(`audit: ${err.message}\n`);
    process.exit(2);
  }
  const args = ['audit', '--omit=dev', '--json'];
  if (opts.registry) args.push('--registry', opts.registry);
  const npm = spawnSync(process.platform === 'win32' ? 'npm.cmd' : 'npm', args, { encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 });
  let report;
  try {
    report = JSON.parse(npm.stdout);
  } catch {
    report = undefined;
  }
  // npm prints {"error": {...}} (or nothing) when the advisory endpoint refuses or cannot be reached.
  if (!report || report.error || !report.metadata) {
    const why = report?.error?.summary ?? report?.error?.detail ?? (npm.stderr || npm.error?.message || 'no report').trim().split('\n').slice(-3).join(' ');
    const message = `the advisory endpoint could not be asked: ${why}`;
    if (opts.ifUnavailable === 'warn') {
      process.stderr.write(`audit: WARNING ${message}; nothing was scanned\n`);
      if (opts.json) process.stdout.write(`${JSON.stringify({ scanned: false, reason: why })}\n`);
      process.exit(0);
    }
    process.stderr.write(`audit: ${message}\n`);
    process.exit(2);
  }
  const today = opts.today ?? new Date().toISOString().slice(0, 10);
  const found = findings(report, opts.level);
  const verdict = judge(found, allowlist, today);
  const deps = report.metadata.dependencies?.prod ?? 0;
  if (opts.json) {
    process.stdout.write(`${JSON.stringify({ scanned: true, level: opts.level, productionDependencies: deps, ...verdict })}\n`);
  } else {
    process.stdout.write(`audit: ${deps} production dependencies scanned at level ${opts.level}: ${verdict.open.length} open, ${verdict.accepted.length} accepted\n`);
    for (const f of verdict.open) process.stdout.write(`  OPEN ${f.severity} ${f.advisory} ${f.package} ${f.range ?? ''} (${f.nodes.join(', ')}): ${f.title} ${f.url ?? ''}\n`);
    for (const f of verdict.accepted) process.stdout.write(`  accepted ${f.severity} ${f.advisory} ${f.package}\n`);
  }
  for (const e of verdict.expired) process.stderr.write(`audit: allowlist entry ${e.advisory} ${e.package} expired on ${e.expires}; review it again\n`);
  for (const e of verdict.stale) process.stderr.write(`audit: allowlist entry ${e.advisory} ${e.package} matches nothing now; remove it\n`);
  process.exit(verdict.open.length > 0 ? 1 : 0);
}

if (import.meta.url === `file://${process.argv[1]}`) main();
