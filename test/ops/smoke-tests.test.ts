import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { createTestPlatform, type TestPlatform } from '../helpers/platform.js';
import { fakeTools, SimCluster, type FakeTools } from './cluster-sim.js';
import { freePort } from './live.js';
import { REPO, runScript } from './tools.js';

const SMOKE = path.join(REPO, 'scripts', 'smoke-tests.sh');
const EMERGENCY = path.join(REPO, 'scripts', 'emergency-deploy.sh');

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

  describe('scripts/emergency-deploy.sh (helm and kubectl simulated: cluster-sim.ts)', () => {
    const tag = 'hotfix-v20251031-1415';
    const chart = path.join(REPO, 'deploy', 'helm', 'v01t');
    let dir: string;
    let cluster: SimCluster;
    let tools: FakeTools;
    let metrics: string;
    // Blue serves all traffic, green is idle: the emergency deploy goes to green.
    beforeEach(async () => {
      dir = fs.mkdtempSync(path.join(os.tmpdir(), 'v01t-emergency-'));
      cluster = new SimCluster(path.join(dir, 'cluster.json'));
      for (const colour of ['blue', 'green']) cluster.upgrade(`v01t-${colour}`, 'v01t', { install: true, valuesFiles: [`values-production-${colour}.yaml`], set: { image: { tag: '1.0.0' } } });
      cluster.upgrade('v01t-entry', 'v01t-entry', { install: true });
      tools = await fakeTools(cluster);
      // Prometheus is not part of this suite: check-metrics.sh has its own (prometheus-live).
      metrics = path.join(dir, 'check-metrics');
      fs.writeFileSync(metrics, '#!/usr/bin/env bash\necho "all KPIs within the runbook\'s thresholds"\n', { mode: 0o755 });
    });
    afterEach(async () => {
      await tools.close();
      fs.rmSync(dir, { recursive: true, force: true });
      fs.rmSync(tools.bin, { recursive: true, force: true });
    });
    const envFor = (extra: Record<string, string> = {}) => ({
      PATH: `${tools.bin}:${process.env.PATH}`,
      V01T_BACKUP_DIR: dir,
      V01T_SMOKE_URL: base,
      V01T_SMOKE_URL_GREEN: base,
      V01T_SHIFT_WAIT: '0',
      V01T_CHECK_METRICS: metrics,
      V01T_DEPLOY_TOKEN: DEPLOY_TOKEN,
      V01T_DEPLOY_URL: base,
      ...extra,
    });
    const weights = () => cluster.traffic().weights;
    /** The newest deployment in v01t's history (GET /v1/ops/deployments' implementation). */
    const lastRecorded = async () => (await t.platform.ops!.deployments.history({ limit: 1 })).deployments[0];

    it('--dry-run prints the plan, reads which colour is idle and changes nothing', async () => {
      const res = await runScript(EMERGENCY, [tag, '--dry-run'], envFor());
      expect(res.code, res.stdout + res.stderr).toBe(0);
      expect(res.stdout).toContain('to the idle colour, green: release v01t-green');
      expect(res.stdout).toContain(`helm upgrade --install v01t-green ${chart} --namespace production --reuse-values -f ${chart}/values-production-green.yaml --set image.tag=${tag} --atomic --wait --timeout 10m`);
      expect(res.stdout).toContain(`${path.join(REPO, 'scripts')}/smoke-tests.sh ${base}`);
      expect(res.stdout).toContain('shift-traffic.sh --steps 100 100');
      expect(res.stdout).toContain('dry run: nothing was changed');
      expect(res.stdout).toContain(`POST ${base}/v1/ops/deployments`);
      expect(tools.calls().every((c) => c.startsWith('kubectl get'))).toBe(true);
      expect(weights()).toEqual({ blue: 100, green: 0 });
      expect(await lastRecorded()).toBeUndefined();
    });

    it('backs up the config, upgrades the idle colour, passes the smoke tests against it, and moves traffic to it', async () => {
      const res = await runScript(EMERGENCY, [tag], envFor());
      expect(res.code, res.stdout + res.stderr).toBe(0);
      const calls = tools.calls().filter((c) => !c.startsWith('kubectl get virtualservice') && !c.startsWith('kubectl get deployment'));
      expect(calls[0]).toBe('kubectl get configmap -n production -l app.kubernetes.io/instance=v01t-green -o yaml');
      expect(calls[1]).toBe(`helm upgrade --install v01t-green ${chart} --namespace production --reuse-values -f ${chart}/values-production-green.yaml --set image.tag=${tag} --atomic --wait --timeout 10m`);
      expect(calls[2]).toMatch(/^kubectl patch virtualservice v01t-service -n production --type=json .*"value":0},.*"value":100}\]$/);
      expect(calls).toHaveLength(3);
      // The smoke tests ran twice: against green before the switch, through the public URL after.
      expect(res.stdout.match(/smoke tests passed/g)).toHaveLength(2);
      const backup = fs.readdirSync(dir).find((f) => /^backup-config-\d{8}-\d{4}\.yaml$/.test(f));
      expect(fs.readFileSync(path.join(dir, backup!), 'utf8')).toContain('name: production-green-config');
      expect(weights()).toEqual({ blue: 0, green: 100 });
      expect(cluster.traffic().images.green).toEqual([`v01t/v01t:${tag}`]);
      expect(await lastRecorded()).toMatchObject({ version: tag, environment: 'production-green', result: 'success', via: 'ci', notes: 'scripts/emergency-deploy.sh' });
    }, 60_000);

    it('rolls the idle colour back when its smoke tests fail, and never moves traffic', async () => {
      const res = await runScript(EMERGENCY, [tag], envFor({ V01T_SMOKE_URL_GREEN: `http://127.0.0.1:${await freePort()}`, SMOKE_TIMEOUT: '2' }));
      expect(res.code).toBe(1);
      expect(res.stderr).toContain('smoke tests failed; rolling back v01t-green (it has no traffic)');
      expect(tools.calls().at(-1)).toBe('helm rollback v01t-green 0 --namespace production --wait --timeout 10m');
      expect(tools.calls().filter((c) => c.startsWith('kubectl patch'))).toEqual([]);
      expect(cluster.traffic().images.green).toEqual(['v01t/v01t:1.0.0']);
      expect(weights()).toEqual({ blue: 100, green: 0 });
      expect(await lastRecorded()).toMatchObject({ version: tag, result: 'rolled_back' });
    }, 60_000);

    it('stops when helm upgrade fails, before any smoke test', async () => {
      const res = await runScript(EMERGENCY, [tag], envFor({ HELM_FAIL: 'upgrade' }));
      expect(res.code).toBe(1);
      expect(res.stderr).toContain('helm upgrade failed');
      expect(res.stdout).not.toContain('ok    GET /health');
      expect(tools.calls().filter((c) => c.startsWith('helm rollback'))).toEqual([]);
      expect(await lastRecorded()).toMatchObject({ version: tag, result: 'failed' });
      expect(weights()).toEqual({ blue: 100, green: 0 });
      // A wrong token only warns: the deployment itself is not undone for it.
      const wrong = await runScript(EMERGENCY, [tag], envFor({ V01T_DEPLOY_TOKEN: 'x'.repeat(40) }));
      expect(wrong.code, wrong.stderr).toBe(0);
      expect(wrong.stderr).toContain("could not record the result (success) in v01t's deployment history");
    }, 60_000);

    it('refuses a bad tag, or to run without smoke tests', async () => {
      expect((await runScript(EMERGENCY, ['-bad tag!'], envFor())).code).toBe(64);
      expect((await runScript(EMERGENCY, ['bad tag!'], envFor())).code).toBe(64);
      const noSmoke = await runScript(EMERGENCY, [tag], envFor({ V01T_SMOKE_URL: '' }));
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
