import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestPlatform, type TestPlatform } from '../helpers/platform.js';
import { freePort } from './live.js';
import { REPO, runScript } from './tools.js';

const SMOKE = path.join(REPO, 'scripts', 'smoke-tests.sh');
const EMERGENCY = path.join(REPO, 'scripts', 'emergency-deploy.sh');

/**
 * Stand-ins for helm and kubectl (neither exists here): they log their arguments and answer as
 * the real tools would for these calls. HELM_FAIL=upgrade makes `helm upgrade` fail.
 */
function fakeClusterTools(): { bin: string; log: string; calls(): string[] } {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'v01t-fake-tools-'));
  const log = path.join(dir, 'calls.log');
  const tool = (name: string, body: string) => {
    fs.writeFileSync(path.join(dir, name), `#!/usr/bin/env bash\necho "${name} $*" >> "${log}"\n${body}\n`, { mode: 0o755 });
  };
  tool('helm', '[ "$1" = upgrade ] && [ "${HELM_FAIL:-}" = upgrade ] && { echo "Error: UPGRADE FAILED: timed out waiting for the condition" >&2; exit 1; }\nexit 0');
  tool('kubectl', 'printf "apiVersion: v1\\nkind: ConfigMap\\nmetadata:\\n  name: production-config\\ndata:\\n  LOG_LEVEL: info\\n"');
  return { bin: dir, log, calls: () => (fs.existsSync(log) ? fs.readFileSync(log, 'utf8').trim().split('\n') : []) };
}

const DEPLOY_TOKEN = randomBytes(24).toString('hex');

describe('scripts/smoke-tests.sh against a running v01t', () => {
  let t: TestPlatform;
  let base: string;

  beforeAll(async () => {
    t = await createTestPlatform({ V01T_DEPLOY_TOKEN: DEPLOY_TOKEN });
    base = await t.platform.app.listen({ port: 0, host: '127.0.0.1' });
  });
  afterAll(async () => {
    await t?.close();
  });

  it('passes on a healthy deployment, checks every service it serves, and cleans up', async () => {
    const users = async () => (await t.platform.database.query<{ n: number }>('SELECT count(*)::int AS n FROM orchestrator.users'))[0]!.n;
    const before = await users();
    const res = await runScript(SMOKE, [base]);
    expect(res.code, res.stdout + res.stderr).toBe(0);
    for (const check of ['GET /health', 'GET /ready', 'GET /metrics', 'POST /v1/auth/signup', 'POST /v1/auth/login', 'GET /v1/me', 'orchestrator: GET']) {
      expect(res.stdout).toContain(`ok    ${check}`);
    }
    const served = /services checked: (.*)/.exec(res.stdout)![1]!.split(' ');
    expect(served).toContain('orchestrator');
    // Every service of this build gets its call: a service whose path the script does not know
    // fails here, so the script's table is kept up to date as services land.
    expect(served.sort()).toEqual([...t.platform.instances.keys()].sort());
    // The account it created is erased again.
    expect(await users()).toBe(before);
  }, 60_000);

  it('resolves an environment name through V01T_URL_<NAME>, as the runbook calls it', async () => {
    const res = await runScript(SMOKE, ['production-green'], { V01T_URL_PRODUCTION_GREEN: base });
    expect(res.code, res.stdout + res.stderr).toBe(0);
    const unset = await runScript(SMOKE, ['production-blue'], { V01T_URL_PRODUCTION_BLUE: '' });
    expect(unset.code).toBe(64);
    expect(unset.stderr).toContain('V01T_URL_PRODUCTION_BLUE is not set');
  }, 60_000);

  it('fails when nothing answers', async () => {
    const res = await runScript(SMOKE, [`http://127.0.0.1:${await freePort()}`], { SMOKE_TIMEOUT: '2' });
    expect(res.code).toBe(1);
    expect(res.stderr).toContain('FAIL  GET /health');
  });

  describe('scripts/emergency-deploy.sh', () => {
    const tag = 'hotfix-v20251031-1415';
    const envFor = (tools: { bin: string }, extra: Record<string, string> = {}) => ({
      PATH: `${tools.bin}:${process.env.PATH}`,
      V01T_BACKUP_DIR: tools.bin,
      V01T_SMOKE_URL: base,
      V01T_DEPLOY_TOKEN: DEPLOY_TOKEN,
      V01T_DEPLOY_URL: base,
      ...extra,
    });
    /** The newest deployment in v01t's history (GET /v1/ops/deployments' implementation). */
    const lastRecorded = async () => (await t.platform.ops!.deployments.history({ limit: 1 })).deployments[0];

    it('--dry-run prints the plan and runs nothing', async () => {
      const tools = fakeClusterTools();
      const res = await runScript(EMERGENCY, [tag, '--dry-run'], envFor(tools));
      expect(res.code, res.stdout + res.stderr).toBe(0);
      expect(res.stdout).toContain(`helm upgrade v01t ${path.join(REPO, 'deploy', 'helm', 'v01t')} --namespace production --reuse-values --set image.tag=${tag} --atomic --wait --timeout 10m`);
      expect(res.stdout).toContain(`${path.join(REPO, 'scripts')}/smoke-tests.sh ${base}`);
      expect(res.stdout).toContain('dry run: nothing was changed');
      expect(res.stdout).toContain(`POST ${base}/v1/ops/deployments`);
      expect(tools.calls()).toEqual([]);
      expect(await lastRecorded()).toBeUndefined();
    });

    it('backs up the config, upgrades, and passes the smoke tests against the deployment', async () => {
      const tools = fakeClusterTools();
      const res = await runScript(EMERGENCY, [tag], envFor(tools));
      expect(res.code, res.stdout + res.stderr).toBe(0);
      const calls = tools.calls();
      expect(calls[0]).toBe('kubectl get configmap production-config -n production -o yaml');
      expect(calls[1]).toMatch(new RegExp(`^helm upgrade v01t \\S+/deploy/helm/v01t --namespace production --reuse-values --set image.tag=${tag} --atomic --wait --timeout 10m$`));
      expect(calls).toHaveLength(2);
      expect(res.stdout).toContain('smoke tests passed');
      const backup = fs.readdirSync(tools.bin).find((f) => /^backup-config-\d{8}-\d{4}\.yaml$/.test(f));
      expect(fs.readFileSync(path.join(tools.bin, backup!), 'utf8')).toContain('kind: ConfigMap');
      expect(await lastRecorded()).toMatchObject({ version: tag, environment: 'production', result: 'success', via: 'ci', notes: 'scripts/emergency-deploy.sh' });
    }, 60_000);

    it('rolls back when the smoke tests fail', async () => {
      const tools = fakeClusterTools();
      const res = await runScript(EMERGENCY, [tag], envFor(tools, { V01T_SMOKE_URL: `http://127.0.0.1:${await freePort()}`, SMOKE_TIMEOUT: '2' }));
      expect(res.code).toBe(1);
      expect(res.stderr).toContain('smoke tests failed; rolling back');
      expect(tools.calls().at(-1)).toBe('helm rollback v01t 0 --namespace production --wait --timeout 10m');
      expect(await lastRecorded()).toMatchObject({ version: tag, result: 'rolled_back' });
    }, 60_000);

    it('stops when helm upgrade fails, before any smoke test', async () => {
      const tools = fakeClusterTools();
      const res = await runScript(EMERGENCY, [tag], envFor(tools, { HELM_FAIL: 'upgrade' }));
      expect(res.code).toBe(1);
      expect(res.stderr).toContain('helm upgrade failed');
      expect(res.stdout).not.toContain('ok    GET /health');
      expect(tools.calls().filter((c) => c.startsWith('helm rollback'))).toEqual([]);
      expect(await lastRecorded()).toMatchObject({ version: tag, result: 'failed' });
      // A wrong token only warns: the deployment itself is not undone for it.
      const wrong = await runScript(EMERGENCY, [tag], envFor(tools, { V01T_DEPLOY_TOKEN: 'x'.repeat(40) }));
      expect(wrong.code, wrong.stderr).toBe(0);
      expect(wrong.stderr).toContain("could not record the result (success) in v01t's deployment history");
    });

    it('refuses a bad tag, or to run without smoke tests', async () => {
      const tools = fakeClusterTools();
      expect((await runScript(EMERGENCY, ['-bad tag!'], envFor(tools))).code).toBe(64);
      expect((await runScript(EMERGENCY, ['bad tag!'], envFor(tools))).code).toBe(64);
      const noSmoke = await runScript(EMERGENCY, [tag], envFor(tools, { V01T_SMOKE_URL: '' }));
      expect(noSmoke.code).toBe(64);
      expect(noSmoke.stderr).toContain('the smoke tests are not skipped');
      expect(tools.calls()).toEqual([]);
    });
  });

  it('fails when a dependency is down (last: it closes the database)', async () => {
    await t.platform.database.close();
    const res = await runScript(SMOKE, [base]);
    expect(res.code).toBe(1);
    expect(res.stderr).toMatch(/FAIL  GET \/ready: HTTP 503/);
  });
});
