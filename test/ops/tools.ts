import { execFileSync, spawn, spawnSync, type SpawnSyncReturns } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { load as loadYaml } from 'js-yaml';

export const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
export const DEPLOY = path.join(REPO, 'deploy');

/** Which Debian package ships each tool these suites run (installed by .ci/run). */
const PACKAGE_OF: Record<string, string> = {
  promtool: 'prometheus',
  prometheus: 'prometheus',
  amtool: 'prometheus-alertmanager',
  'prometheus-alertmanager': 'prometheus-alertmanager',
  shellcheck: 'shellcheck',
  haproxy: 'haproxy',
};

/**
 * The absolute path of a tool, or an error that says how to get it: a missing tool must fail the
 * suite, never skip it, or a machine without it would pass silently.
 */
export function requireBinary(name: string): string {
  const found = spawnSync('sh', ['-c', `command -v ${name}`], { encoding: 'utf8' });
  const bin = found.stdout.trim();
  if (found.status !== 0 || !bin) {
    throw new Error(`${name} is not installed: apt-get install ${PACKAGE_OF[name] ?? name} (.ci/run installs it through V01T_CI_DEBIAN_PACKAGES)`);
  }
  return bin;
}

export function run(bin: string, args: string[], opts: { cwd?: string; env?: NodeJS.ProcessEnv; input?: string; timeoutMs?: number } = {}): SpawnSyncReturns<string> {
  return spawnSync(bin, args, { cwd: opts.cwd ?? REPO, env: opts.env ?? process.env, input: opts.input, encoding: 'utf8', timeout: opts.timeoutMs ?? 60_000 });
}

export function runOk(bin: string, args: string[], opts: { cwd?: string; env?: NodeJS.ProcessEnv } = {}): string {
  return execFileSync(bin, args, { cwd: opts.cwd ?? REPO, env: opts.env ?? process.env, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
}

export function readYaml<T = unknown>(file: string): T {
  return loadYaml(fs.readFileSync(file, 'utf8')) as T;
}

export interface AlertRule {
  alert: string;
  expr: string;
  for?: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
}
export interface RecordingRule {
  record: string;
  expr: string;
}

export function ruleFiles(): string[] {
  const dir = path.join(DEPLOY, 'prometheus', 'rules');
  return fs
    .readdirSync(dir)
    .filter((f) => f.endsWith('.yml'))
    .sort()
    .map((f) => path.join(dir, f));
}

export function allRules(): (AlertRule | RecordingRule)[] {
  return ruleFiles().flatMap((f) => readYaml<{ groups: { rules: (AlertRule | RecordingRule)[] }[] }>(f).groups.flatMap((g) => g.rules));
}

export function alertRules(): AlertRule[] {
  return allRules().filter((r): r is AlertRule => 'alert' in r);
}

/** Runs a program asynchronously (the v01t or peer under test answers in this same process), collecting its output. */
export function runProcess(bin: string, args: string[], env: NodeJS.ProcessEnv = {}, cwd: string = REPO): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(bin, args, { cwd, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += String(d)));
    child.stderr.on('data', (d) => (stderr += String(d)));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code: code ?? -1, stdout, stderr }));
  });
}

/** Runs a bash script asynchronously. */
export function runScript(file: string, args: string[], env: NodeJS.ProcessEnv = {}): Promise<{ code: number; stdout: string; stderr: string }> {
  return runProcess('bash', [file, ...args], env);
}
