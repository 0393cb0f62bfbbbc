import fs from 'node:fs';
import path from 'node:path';
import { builtinModules } from 'node:module';
import { describe, expect, it } from 'vitest';
import { DEPLOY, REPO, run } from './tools.js';

/**
 * No Docker engine runs on this machine, so the image is never built here. These checks read the
 * Dockerfile for the properties the issue requires and check what the runtime stage relies on.
 */
interface Instruction {
  op: string;
  args: string;
}
interface Stage {
  from: string;
  name?: string;
  instructions: Instruction[];
}

function parseDockerfile(text: string): { args: Instruction[]; stages: Stage[] } {
  const logical = text
    .replace(/\\\r?\n/g, ' ')
    .split(/\r?\n/)
    .map((l) => l.trim())
    .filter((l) => l && !l.startsWith('#'));
  const args: Instruction[] = [];
  const stages: Stage[] = [];
  for (const line of logical) {
    const m = /^(\w+)\s+([\s\S]*)$/.exec(line);
    if (!m) throw new Error(`unparseable Dockerfile line: ${line}`);
    const op = m[1]!.toUpperCase();
    const rest = m[2]!.trim();
    if (op === 'FROM') {
      const f = /^(\S+)(?:\s+AS\s+(\S+))?$/i.exec(rest);
      stages.push({ from: f![1]!, name: f![2], instructions: [] });
    } else if (stages.length === 0) {
      args.push({ op, args: rest });
    } else {
      stages.at(-1)!.instructions.push({ op, args: rest });
    }
  }
  return { args, stages };
}

const dockerfile = parseDockerfile(fs.readFileSync(path.join(DEPLOY, 'Dockerfile'), 'utf8'));
const build = dockerfile.stages[0]!;
const runtime = dockerfile.stages.at(-1)!;
const all = (s: Stage, op: string) => s.instructions.filter((i) => i.op === op);

describe('container image (deploy/Dockerfile)', () => {
  it('is multi-stage: a build stage and a runtime stage on the same base, a supported Node LTS (22 or 24, package.json engines)', () => {
    expect(dockerfile.stages.length).toBeGreaterThanOrEqual(2);
    expect(build.name).toBe('build');
    expect(runtime.name).toBe('runtime');
    const base = dockerfile.args.find((a) => a.op === 'ARG' && a.args.startsWith('NODE_IMAGE='))?.args.split('=')[1];
    expect(base).toMatch(/^node:(22|24)[-.]/);
    expect(build.from).toBe('${NODE_IMAGE}');
    expect(runtime.from).toBe('${NODE_IMAGE}');
  });

  it('installs with the lockfile, compiles, and keeps only production dependencies', () => {
    const runs = all(build, 'RUN').map((r) => r.args).join('\n');
    expect(runs).toMatch(/npm ci\b/);
    expect(runs).toMatch(/npm run build/);
    expect(runs).toMatch(/npm prune --omit=dev/);
    // The runtime stage takes files only from the build stage, never the source tree.
    for (const c of all(runtime, 'COPY')) expect(c.args, c.args).toMatch(/^--from=build\s/);
    const copied = all(runtime, 'COPY').map((c) => c.args.split(/\s+/)[1]);
    // dist/v01t.js: the CLI bundle bin/v01t.js loads (ADR 0065), and the chunks it imports on first use (ADR 0073).
    // dist/pglite-template: the embedded database a first start copies instead of running initdb (ADR 0065).
    expect(copied.sort()).toEqual(['/app/bin', '/app/dist/pglite-template', '/app/dist/src', '/app/dist/v01t-chunks', '/app/dist/v01t.js', '/app/dist/web', '/app/node_modules', '/app/package.json', '/app/sbom.cdx.json']);
    // The template is prepared by the built script, into the folder the runtime copies, after the build made it.
    const template = /node (dist\/src\/apps\/pglite-template\.js) (\S+)/.exec(runs);
    expect(template, 'the build stage prepares the PGlite template').not.toBeNull();
    expect(template![2]).toBe('dist/pglite-template');
    expect(runs.indexOf(template![0])).toBeGreaterThan(runs.indexOf('npm run build'));
    expect(fs.existsSync(path.join(REPO, 'src/apps/pglite-template.ts'))).toBe(true);
  });

  it('gives `npm run build` everything it reads (the server and the web app), and ships the SBOM made before the prune', () => {
    const fromContext = all(build, 'COPY').flatMap((c) => c.args.split(/\s+/).slice(0, -1));
    const script = (JSON.parse(fs.readFileSync(path.join(REPO, 'package.json'), 'utf8')) as { scripts: Record<string, string> }).scripts.build!;
    const reads = [...script.matchAll(/(?:\bnode|-p|--config)\s+(\S+)/g)].map((m) => m[1]!);
    expect(reads).toEqual(expect.arrayContaining(['scripts/transpile.mjs', 'web/vite.config.ts']));
    for (const read of reads) expect(fromContext.some((c) => read === c || read.startsWith(`${c}/`)), `${read} is copied for npm run build`).toBe(true);
    expect(fromContext).toEqual(expect.arrayContaining(['src', 'web', 'tsconfig.json', 'tsconfig.build.json']));
    // Types are checked in the image build too (esbuild only strips them).
    expect(all(build, 'RUN').map((r) => r.args).join('\n')).toMatch(/tsc -p tsconfig\.build\.json --noEmit/);
    const runs = all(build, 'RUN').map((r) => r.args).join('\n');
    expect(runs.indexOf('npm run sbom')).toBeGreaterThan(runs.indexOf('npm run build'));
    expect(runs.indexOf('npm run sbom')).toBeLessThan(runs.indexOf('npm prune'));
  });

  it('runs as a non-root user, numerically (Kubernetes runAsNonRoot can verify it)', () => {
    const users = all(runtime, 'USER').map((u) => u.args);
    expect(users.length).toBeGreaterThan(0);
    const last = users.at(-1)!;
    expect(last).toMatch(/^\d+(:\d+)?$/);
    expect(Number(last.split(':')[0])).toBeGreaterThan(0);
  });

  it('checks health on /health every 30 s with a 5 s timeout and 3 retries', () => {
    const hc = all(runtime, 'HEALTHCHECK');
    expect(hc).toHaveLength(1);
    expect(hc[0]!.args).toMatch(/--interval=30s/);
    expect(hc[0]!.args).toMatch(/--timeout=5s/);
    expect(hc[0]!.args).toMatch(/--retries=3/);
    expect(hc[0]!.args).toMatch(/\/health/);
  });

  it('is one image for every service: the v01t CLI is the entry point, `start` the default', () => {
    expect(all(runtime, 'ENTRYPOINT').at(-1)?.args).toBe('["node", "bin/v01t.js"]');
    expect(all(runtime, 'CMD').at(-1)?.args).toBe('["start"]');
    const env = all(runtime, 'ENV').map((e) => e.args).join(' ');
    expect(env).toMatch(/HOST=0\.0\.0\.0/);
    expect(env).toMatch(/V01T_DATA_DIR=\/var\/lib\/v01t/);
    // `docker run IMAGE serve <service>` reaches the CLI's serve command (built by npm run build).
    const res = run(process.execPath, [path.join(REPO, 'bin', 'v01t.js'), 'serve', '--help']);
    expect(res.status, res.stderr).toBe(0);
    expect(res.stdout).toMatch(/orchestrator/);
  });

  it('copies only paths that exist and that .dockerignore leaves in the build context', () => {
    const ignore = fs
      .readFileSync(path.join(REPO, '.dockerignore'), 'utf8')
      .split('\n')
      .map((l) => l.trim())
      .filter((l) => l && !l.startsWith('#'));
    for (const must of ['.git', 'node_modules', 'dist', 'data']) expect(ignore).toContain(must);
    const fromContext = dockerfile.stages.flatMap((s) => all(s, 'COPY')).filter((c) => !c.args.startsWith('--from='));
    for (const c of fromContext) {
      const sources = c.args.split(/\s+/).slice(0, -1);
      for (const src of sources) {
        expect(fs.existsSync(path.join(REPO, src)), `${src} exists`).toBe(true);
        // Last matching line wins, as Docker reads .dockerignore; `!pattern` lets a path back in.
        const matches = (pattern: string) => src === pattern || src.startsWith(`${pattern}/`);
        const last = ignore.filter((p) => matches(p.replace(/^!/, ''))).at(-1);
        expect(last === undefined || last.startsWith('!'), `${src} is ignored by .dockerignore`).toBe(true);
      }
    }
  });

  it('needs no dev dependency at run time: every package the server code imports is a production dependency', () => {
    const pkg = JSON.parse(fs.readFileSync(path.join(REPO, 'package.json'), 'utf8')) as { dependencies: Record<string, string> };
    const files: string[] = [];
    const walk = (dir: string) => {
      for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
        const full = path.join(dir, e.name);
        if (e.isDirectory()) walk(full);
        else if (e.name.endsWith('.ts') && !e.name.endsWith('.test.ts')) files.push(full);
      }
    };
    walk(path.join(REPO, 'src'));
    const missing = new Set<string>();
    for (const file of files) {
      const text = fs.readFileSync(file, 'utf8');
      // Value imports only: `import type` is erased by tsc and needs nothing at run time.
      for (const m of text.matchAll(/^\s*(?:import|export)\s+(?!type\s)(?:[^'"]*?\s+from\s+)?['"]([^'".][^'"]*)['"]/gm)) {
        const spec = m[1]!;
        if (spec.startsWith('node:') || builtinModules.includes(spec)) continue;
        const name = spec.startsWith('@') ? spec.split('/').slice(0, 2).join('/') : spec.split('/')[0]!;
        if (!pkg.dependencies[name]) missing.add(`${name} (${path.relative(REPO, file)})`);
      }
      // Dynamic imports of packages (optional adapters) count too.
      for (const m of text.matchAll(/import\(\s*['"]([^'".][^'"]*)['"]\s*\)/g)) {
        const spec = m[1]!;
        if (spec.startsWith('node:') || builtinModules.includes(spec)) continue;
        const name = spec.startsWith('@') ? spec.split('/').slice(0, 2).join('/') : spec.split('/')[0]!;
        if (!pkg.dependencies[name]) missing.add(`${name} (${path.relative(REPO, file)})`);
      }
    }
    expect([...missing]).toEqual([]);
  });
});
