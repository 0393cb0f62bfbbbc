import fs from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import zlib from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { REPO, requireBinary, runProcess, runScript } from './tools.js';

/**
 * The supply-chain checks .ci/run makes: the runbook's `npm audit --audit-level moderate` (real npm,
 * asked against a local peer that speaks the registry's bulk-advisory protocol, since the public
 * endpoint is not reachable here), the reviewed allowlist, the CycloneDX SBOM, and the base-image pin.
 */

interface Advisory { id: number; url: string; title: string; severity: string; vulnerable_versions: string }
interface Run { code: number; stdout: string; stderr: string }

const runNode = (args: string[], env: NodeJS.ProcessEnv = {}): Promise<Run> => runProcess(process.execPath, args, env);

const pkg = JSON.parse(fs.readFileSync(path.join(REPO, 'package.json'), 'utf8')) as { dependencies: Record<string, string>; devDependencies: Record<string, string> };
const lock = JSON.parse(fs.readFileSync(path.join(REPO, 'package-lock.json'), 'utf8')) as { packages: Record<string, { version: string }> };

describe('npm audit on production dependencies, with the reviewed allowlist (scripts/audit.mjs)', () => {
  let server: http.Server;
  let registry = '';
  /** What the peer answers to the next bulk request; null answers 405 as the unreachable endpoint here does. */
  let advisories: Record<string, Advisory[]> | null = {};
  const asked: Record<string, string[]>[] = [];
  let dir = '';

  beforeAll(async () => {
    requireBinary('npm');
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'v01t-audit-'));
    server = http.createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        let body = Buffer.concat(chunks);
        if (req.headers['content-encoding'] === 'gzip') body = zlib.gunzipSync(body);
        if (req.method === 'POST' && req.url?.endsWith('/-/npm/v1/security/advisories/bulk')) {
          asked.push(JSON.parse(body.toString('utf8')) as Record<string, string[]>);
          if (advisories === null) {
            res.writeHead(405, { 'content-type': 'application/json' }).end('{"error":"Method Not Allowed"}');
            return;
          }
          res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(advisories));
          return;
        }
        res.writeHead(404, { 'content-type': 'application/json' }).end('{}');
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    registry = `http://127.0.0.1:${(server.address() as AddressInfo).port}/`;
  });
  afterAll(async () => {
    await new Promise((resolve) => server.close(resolve));
    fs.rmSync(dir, { recursive: true, force: true });
  });

  const advisory = (id: number, ghsa: string, severity: string): Advisory => ({ id, url: `https://github.com/advisories/${ghsa}`, title: `test advisory ${ghsa}`, severity, vulnerable_versions: '<999.0.0' });
  const allowlist = (entries: object[]) => {
    const file = path.join(dir, `allow-${asked.length}-${Math.random().toString(36).slice(2)}.json`);
    fs.writeFileSync(file, JSON.stringify({ accepted: entries }));
    return file;
  };
  const audit = (file: string, extra: string[] = []) => runNode(['scripts/audit.mjs', '--registry', registry, '--allowlist', file, '--today', '2026-12-03', ...extra]);

  it('asks about production dependencies only, at their locked versions', async () => {
    advisories = {};
    const res = await audit(allowlist([]));
    expect(res.code, res.stderr).toBe(0);
    const names = Object.keys(asked.at(-1)!);
    expect(names).toContain('fastify');
    expect(asked.at(-1)!.fastify).toEqual([lock.packages['node_modules/fastify']!.version]);
    for (const dev of ['vitest', '@cyclonedx/cyclonedx-npm', 'eslint']) expect(names).not.toContain(dev);
    expect(res.stdout).toMatch(/production dependencies scanned at level moderate: 0 open, 0 accepted/);
  });

  it('fails on a moderate finding and names the advisory, the package and where it sits', async () => {
    advisories = { fastify: [advisory(1100001, 'GHSA-aaaa-bbbb-cccc', 'moderate')] };
    const res = await audit(allowlist([]));
    expect(res.code).toBe(1);
    expect(res.stdout).toMatch(/OPEN moderate GHSA-AAAA-BBBB-CCCC fastify <999\.0\.0 \(node_modules\/fastify\)/);
  });

  it('passes a finding below the level (low), and passes it at --level low only when accepted', async () => {
    advisories = { fastify: [advisory(1100002, 'GHSA-low0-0000-0000', 'low')] };
    expect((await audit(allowlist([]))).code).toBe(0);
    expect((await audit(allowlist([]), ['--level', 'low'])).code).toBe(1);
  });

  it('an accepted advisory passes while its review holds; once expired it fails again, and the entry says so', async () => {
    advisories = { fastify: [advisory(1100003, 'GHSA-dddd-eeee-ffff', 'high')] };
    const entry = { advisory: 'GHSA-dddd-eeee-ffff', package: 'fastify', reason: 'test: the affected API is not used', reviewedBy: 'security', reviewedOn: '2026-11-01' };
    const live = await audit(allowlist([{ ...entry, expires: '2027-01-31' }]));
    expect(live.code, live.stdout).toBe(0);
    expect(live.stdout).toMatch(/accepted high GHSA-DDDD-EEEE-FFFF fastify/);
    const expired = await audit(allowlist([{ ...entry, expires: '2026-12-02' }]));
    expect(expired.code).toBe(1);
    expect(expired.stderr).toMatch(/GHSA-dddd-eeee-ffff fastify expired on 2026-12-02/);
    // The same advisory id on another package is not covered.
    const other = await audit(allowlist([{ ...entry, package: 'pg', expires: '2027-01-31' }]));
    expect(other.code).toBe(1);
    expect(other.stderr).toMatch(/matches nothing now/);
  });

  it('refuses a malformed allowlist entry (no reason, no expiry) with exit 2', async () => {
    advisories = {};
    const res = await audit(allowlist([{ advisory: 'GHSA-x', package: 'fastify', reviewedBy: 'me', expires: '2027-01-01' }]));
    expect(res.code).toBe(2);
    expect(res.stderr).toMatch(/accepted\[0\] needs "reason"/);
  });

  it('an unreachable advisory endpoint fails (exit 2) unless told to warn, and then says nothing was scanned', async () => {
    advisories = null;
    const fail = await audit(allowlist([]));
    expect(fail.code).toBe(2);
    expect(fail.stderr).toMatch(/advisory endpoint could not be asked/);
    const warn = await audit(allowlist([]), ['--if-unavailable', 'warn']);
    expect(warn.code).toBe(0);
    expect(warn.stderr).toMatch(/WARNING .*nothing was scanned/);
  });

  it('the committed allowlist is well formed and every entry expires within 90 days of its review', () => {
    const raw = JSON.parse(fs.readFileSync(path.join(REPO, 'security', 'audit-allowlist.json'), 'utf8')) as { accepted: { reviewedOn: string; expires: string }[] };
    expect(Array.isArray(raw.accepted)).toBe(true);
    for (const e of raw.accepted) expect((Date.parse(e.expires) - Date.parse(e.reviewedOn)) / 86_400_000).toBeLessThanOrEqual(90);
  });
});

describe('CycloneDX SBOM of the production dependencies (npm run sbom)', () => {
  it('lists every production dependency at its locked version and no dev dependency', async () => {
    const out = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'v01t-sbom-')), 'sbom.cdx.json');
    const made = await runNode([path.join(REPO, 'node_modules', '@cyclonedx', 'cyclonedx-npm', 'bin', 'cyclonedx-npm-cli.js'), '--omit', 'dev', '--output-format', 'JSON', '--output-reproducible', '--validate', '--output-file', out]);
    expect(made.code, made.stderr).toBe(0);
    const bom = JSON.parse(fs.readFileSync(out, 'utf8')) as { bomFormat: string; specVersion: string; metadata: { component: { name: string } }; components: { name: string; group?: string; version: string; purl: string }[] };
    expect(bom.bomFormat).toBe('CycloneDX');
    expect(bom.specVersion).toBe('1.6');
    expect(bom.metadata.component.name).toBe('v01t');
    const byName = new Map(bom.components.map((c) => [c.group ? `${c.group}/${c.name}` : c.name, c]));
    for (const dep of Object.keys(pkg.dependencies)) {
      const c = byName.get(dep);
      expect(c, `${dep} in the SBOM`).toBeDefined();
      expect(c!.version).toBe(lock.packages[`node_modules/${dep}`]!.version);
      expect(c!.purl).toMatch(/^pkg:npm\//);
    }
    expect(byName.has('vitest')).toBe(false);
    expect(byName.has('@cyclonedx/cyclonedx-npm')).toBe(false);
  }, 120_000);
});

describe('base image pinned by digest (scripts/pin-base-image.sh)', () => {
  it('asks the registry for the tag’s index digest and writes name:tag@sha256 into the Dockerfile; --check gates on it', async () => {
    requireBinary('curl');
    const digest = `sha256:${'ab12'.repeat(16)}`;
    const seen: { url: string; accept: string; auth: string }[] = [];
    const server = http.createServer((req, res) => {
      seen.push({ url: req.url ?? '', accept: String(req.headers.accept ?? ''), auth: String(req.headers.authorization ?? '') });
      if (req.url?.startsWith('/token')) {
        res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ token: 'pull-token-1' }));
      } else if (req.method === 'HEAD' && req.url === '/v2/library/node/manifests/24-bookworm-slim' && req.headers.authorization === 'Bearer pull-token-1') {
        res.writeHead(200, { 'docker-content-digest': digest, 'content-type': 'application/vnd.oci.image.index.v1+json' }).end();
      } else res.writeHead(401).end();
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    try {
      const dockerfile = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'v01t-pin-')), 'Dockerfile');
      fs.copyFileSync(path.join(REPO, 'deploy', 'Dockerfile'), dockerfile);
      const env = { DOCKERFILE: dockerfile, REGISTRY: base, AUTH_URL: `${base}/token` };
      const script = path.join(REPO, 'scripts', 'pin-base-image.sh');
      expect((await runScript(script, ['--check'], env)).code).toBe(1);
      const pinned = await runScript(script, [], env);
      expect(pinned.code, pinned.stderr).toBe(0);
      expect(fs.readFileSync(dockerfile, 'utf8')).toContain(`ARG NODE_IMAGE=node:24-bookworm-slim@${digest}\n`);
      expect(seen.find((s) => s.url.startsWith('/token'))!.url).toContain('scope=repository:library/node:pull');
      expect(seen.find((s) => s.url.startsWith('/v2/'))!.accept).toContain('application/vnd.oci.image.index.v1+json');
      expect((await runScript(script, ['--check'], env)).code).toBe(0);
      // Pinning again re-resolves the tag (the digest part is dropped before asking).
      expect((await runScript(script, [], env)).code).toBe(0);
      expect(fs.readFileSync(dockerfile, 'utf8').match(/^ARG NODE_IMAGE=.*$/gm)).toEqual([`ARG NODE_IMAGE=node:24-bookworm-slim@${digest}`]);
    } finally {
      await new Promise((resolve) => server.close(resolve));
    }
  });

  it('says so (exit 2) when the registry cannot be asked, leaving the Dockerfile as it was', async () => {
    const dockerfile = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'v01t-pin-')), 'Dockerfile');
    fs.copyFileSync(path.join(REPO, 'deploy', 'Dockerfile'), dockerfile);
    const before = fs.readFileSync(dockerfile, 'utf8');
    const res = await runScript(path.join(REPO, 'scripts', 'pin-base-image.sh'), [], { DOCKERFILE: dockerfile, REGISTRY: 'http://127.0.0.1:9', AUTH_URL: 'http://127.0.0.1:9/token' });
    expect(res.code).toBe(2);
    expect(res.stderr).toMatch(/could not get a pull token/);
    expect(fs.readFileSync(dockerfile, 'utf8')).toBe(before);
  });
});
