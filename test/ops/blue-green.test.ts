import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { fakeChecks, fakeTools, SimCluster, type FakeTools, type Traffic } from './cluster-sim.js';
import { REPO, runScript } from './tools.js';

/**
 * The runbook's blue-green deployment on the rendered charts (docs/operations.md, ADR 0056): a
 * simulated cluster (cluster-sim.ts) holds the objects Helm's engine renders, the real
 * scripts/shift-traffic.sh and scripts/emergency-deploy.sh run against a fake kubectl and helm over
 * it, with fake smoke tests and check-metrics.sh whose outcome each test chooses.
 */
const SHIFT = path.join(REPO, 'scripts', 'shift-traffic.sh');
const EMERGENCY = path.join(REPO, 'scripts', 'emergency-deploy.sh');
const CHART_DIR = path.join(REPO, 'deploy', 'helm', 'v01t');

const share = (t: Traffic) => ({ blue: t.weights.blue, green: t.weights.green });
const greenShare = (t: Traffic) => t.weights.green;
/** Every colour that gets requests has ready pods of that colour behind it. */
function expectServed(t: Traffic): void {
  for (const [colour, weight] of Object.entries(t.weights)) {
    if (weight > 0) {
      expect(t.pods[colour]!.length, `${colour} gets ${weight}% but has no ready pod`).toBeGreaterThan(0);
      for (const d of t.pods[colour]!) expect(d).toMatch(new RegExp(`^v01t-${colour}-`));
    }
  }
}

function install(cluster: SimCluster, colour: 'blue' | 'green', tag: string): void {
  cluster.upgrade(`v01t-${colour}`, 'v01t', { install: true, valuesFiles: [`values-production-${colour}.yaml`], set: { image: { tag } } });
}

let dir: string;
let cluster: SimCluster;
let tools: FakeTools;
let checks: ReturnType<typeof fakeChecks>;

beforeEach(async () => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'v01t-blue-green-'));
  cluster = new SimCluster(path.join(dir, 'cluster.json'));
  tools = await fakeTools(cluster);
  checks = fakeChecks(tools, cluster);
});
afterEach(async () => {
  await tools.close();
  fs.rmSync(dir, { recursive: true, force: true });
  fs.rmSync(tools.bin, { recursive: true, force: true });
});

const env = (extra: Record<string, string> = {}) => ({
  PATH: `${tools.bin}:${process.env.PATH}`,
  V01T_SMOKE_URL: 'https://api.v01t.io',
  V01T_SHIFT_WAIT: '0',
  V01T_SMOKE_TESTS: checks.smoke,
  V01T_CHECK_METRICS: checks.metrics,
  V01T_BACKUP_DIR: dir,
  ...extra,
});
const shift = (args: string[], extra: Record<string, string> = {}) => runScript(SHIFT, args, env(extra));
const patches = () => tools.calls().filter((c) => c.startsWith('kubectl patch'));
const patchedGreen = () => patches().map((c) => Number(/"\/spec\/http\/0\/route\/1\/weight","value":(\d+)/.exec(c)![1]));

describe('scripts/shift-traffic.sh', () => {
  beforeEach(() => {
    install(cluster, 'blue', '1.0.0');
    cluster.upgrade('v01t-entry', 'v01t-entry', { install: true });
    install(cluster, 'green', '1.1.0');
  });

  it('moves green through 10, 50 and 100 with the smoke tests and check-metrics after each step', async () => {
    expect(share(cluster.traffic())).toEqual({ blue: 100, green: 0 });
    const res = await shift(['100']);
    expect(res.code, res.stdout + res.stderr).toBe(0);
    expect(patchedGreen()).toEqual([10, 50, 100]);
    // In order: a step, then its two checks.
    const order = tools.calls().filter((c) => /^(kubectl patch|smoke|check-metrics)/.test(c)).map((c) => c.split(' ').slice(0, 2).join(' '));
    expect(order).toEqual(['kubectl patch', 'smoke https://api.v01t.io', 'check-metrics --window', 'kubectl patch', 'smoke https://api.v01t.io', 'check-metrics --window', 'kubectl patch', 'smoke https://api.v01t.io', 'check-metrics --window']);
    // What each check saw: the step's weights, on pods of the right colour.
    const seen = checks.snapshots();
    expect(seen.map(greenShare)).toEqual([10, 10, 50, 50, 100, 100]);
    seen.forEach(expectServed);
    const now = cluster.traffic();
    expect(share(now)).toEqual({ blue: 0, green: 100 });
    expect(now.images.green).toEqual(['v01t/v01t:1.1.0']);
    expectServed(now);
  });

  it('returns all traffic to blue (green 0) by itself when check-metrics fails at 50%', async () => {
    const res = await shift(['100'], { FAKE_METRICS_FAIL: '2' });
    expect(res.code).toBe(1);
    expect(res.stderr).toContain('returning all traffic to blue');
    expect(patchedGreen()).toEqual([10, 50, 0]);
    expect(checks.snapshots().map(greenShare)).toEqual([10, 10, 50, 50]);
    expect(share(cluster.traffic())).toEqual({ blue: 100, green: 0 });
    expectServed(cluster.traffic());
  });

  it('returns when the smoke tests fail at the first step, before check-metrics runs', async () => {
    const res = await shift(['100'], { FAKE_SMOKE_FAIL: '1' });
    expect(res.code).toBe(1);
    expect(patchedGreen()).toEqual([10, 0]);
    expect(tools.calls().filter((c) => c.startsWith('check-metrics'))).toEqual([]);
    expect(share(cluster.traffic())).toEqual({ blue: 100, green: 0 });
  });

  it('takes check-metrics warnings (exit 2) as healthy, and stops at a partial target', async () => {
    fs.writeFileSync(checks.metrics, '#!/usr/bin/env bash\necho "check-metrics $*" >> "$(dirname "$0")/calls.log"\nexit 2\n');
    const res = await shift(['50']);
    expect(res.code, res.stderr).toBe(0);
    expect(res.stderr).toContain('warnings only');
    expect(patchedGreen()).toEqual([10, 50]);
    expect(share(cluster.traffic())).toEqual({ blue: 50, green: 50 });
  });

  it('moves back to blue through the same steps (green 90, 50, 0), and on failure returns to green', async () => {
    expect((await shift(['100'], { V01T_SHIFT_WAIT: '0' })).code).toBe(0);
    const ok = await shift(['0']);
    expect(ok.code, ok.stderr).toBe(0);
    expect(patchedGreen()).toEqual([10, 50, 100, 90, 50, 0]);
    expect((await shift(['100'])).code).toBe(0);
    const failed = await shift(['0'], { FAKE_SMOKE_FAIL: 'all' });
    expect(failed.code).toBe(1);
    expect(patchedGreen().slice(-2)).toEqual([90, 100]);
    expect(share(cluster.traffic())).toEqual({ blue: 0, green: 100 });
  });

  it('never sends traffic to a colour without ready pods, nor returns it to one', async () => {
    cluster.uninstall('v01t-green');
    const refused = await shift(['10']);
    expect(refused.code).toBe(2);
    expect(refused.stderr).toContain('v01t-green-orchestrator has no ready pod');
    expect(patches()).toEqual([]);
    expect(share(cluster.traffic())).toEqual({ blue: 100, green: 0 });

    // Green back, half the traffic on it, then blue loses its pods: a failed check keeps green.
    install(cluster, 'green', '1.1.0');
    expect((await shift(['50'])).code).toBe(0);
    cluster.save(cluster.objects().map((o) => (o.kind === 'Deployment' && o.metadata.name.startsWith('v01t-blue-') ? { ...o, status: { readyReplicas: 0 } } : o)));
    const stuck = await shift(['100'], { FAKE_METRICS_FAIL: 'all' });
    expect(stuck.code).toBe(2);
    expect(stuck.stderr).toContain('NOT returned to blue');
    expect(share(cluster.traffic())).toEqual({ blue: 0, green: 100 });
    expectServed(cluster.traffic());
  });

  it('refuses a VirtualService whose routes are not in the rendered order, and --dry-run changes nothing', async () => {
    const dry = await shift(['100', '--dry-run']);
    expect(dry.code, dry.stderr).toBe(0);
    expect(dry.stdout).toContain('steps (green %): 10 50 100');
    expect(patches()).toEqual([]);
    cluster.save(cluster.objects().map((o) => (o.kind === 'VirtualService' ? { ...o, spec: { ...o.spec, http: [{ ...o.spec!.http[0], route: [...o.spec!.http[0].route].reverse() }] } } : o)));
    const res = await shift(['10']);
    expect(res.code).toBe(2);
    expect(res.stderr).toContain('the patch was refused');
    expect(share(cluster.traffic())).toEqual({ blue: 100, green: 0 });
    expect((await shift(['abc'])).code).toBe(64);
    expect((await shift(['10'], { V01T_SMOKE_URL: '' })).code).toBe(64);
  });
});

describe("the runbook's deployment, step by step (docs/operations.md)", () => {
  it('install, shift, clean up, upgrade and emergency deploy: traffic never goes back to a colour without pods, nor to blue by an upgrade', async () => {
    // 1. Blue, then the entry (it owns the public Service and the routing), then green.
    install(cluster, 'blue', '1.0.0');
    expect(cluster.traffic()).toEqual({ weights: {}, pods: {}, images: {} });
    cluster.upgrade('v01t-entry', 'v01t-entry', { install: true });
    expect(share(cluster.traffic())).toEqual({ blue: 100, green: 0 });
    expectServed(cluster.traffic());
    install(cluster, 'green', '1.1.0');
    expect(share(cluster.traffic())).toEqual({ blue: 100, green: 0 });
    // No second owner for the public Service: another entry release is refused by Helm.
    expect(() => cluster.upgrade('v01t-entry-2', 'v01t-entry', { install: true })).toThrow(/invalid ownership metadata/);

    // 2. Shift 10 -> 50 -> 100.
    const shifted = await shift(['100']);
    expect(shifted.code, shifted.stderr).toBe(0);
    expect(checks.snapshots().map(share)).toEqual([
      { blue: 90, green: 10 },
      { blue: 90, green: 10 },
      { blue: 50, green: 50 },
      { blue: 50, green: 50 },
      { blue: 0, green: 100 },
      { blue: 0, green: 100 },
    ]);
    checks.snapshots().forEach(expectServed);

    // 3. Clean up blue: `helm uninstall v01t-blue` removes blue's objects and nothing else.
    const before = cluster.objects();
    const blues = cluster.owned('v01t-blue').map((o) => `${o.kind}/${o.metadata.name}`);
    cluster.uninstall('v01t-blue');
    const after = cluster.objects().map((o) => `${o.kind}/${o.metadata.name}`);
    expect(before.map((o) => `${o.kind}/${o.metadata.name}`).filter((k) => !after.includes(k))).toEqual(blues);
    expect(blues.every((k) => /\/(v01t-blue-|production-config)/.test(k))).toBe(true);
    for (const k of ['Service/v01t-service', 'VirtualService/v01t-service', 'DestinationRule/v01t-service', 'PeerAuthentication/v01t', 'ClusterRole/v01t-developer']) expect(after).toContain(k);
    expect(share(cluster.traffic())).toEqual({ blue: 0, green: 100 });
    expectServed(cluster.traffic());

    // 4. Upgrades: the entry with its defaults (traffic.green 0) keeps the live weights; the old
    //    single release `v01t` is refused; the live colour's upgrade keeps its traffic.
    cluster.upgrade('v01t-entry', 'v01t-entry');
    expect(share(cluster.traffic())).toEqual({ blue: 0, green: 100 });
    expect(() => cluster.upgrade('v01t', 'v01t', { install: true, set: { image: { tag: '1.1.1' } } })).toThrow(/must end in -blue/);
    cluster.upgrade('v01t-green', 'v01t', { reuseValues: true, set: { image: { tag: '1.1.1' } } });
    expect(cluster.traffic().images).toEqual({ blue: [], green: ['v01t/v01t:1.1.1'] });
    expect(share(cluster.traffic())).toEqual({ blue: 0, green: 100 });

    // 5. Emergency deploy: blue is idle (weight 0, uninstalled): it is installed with the hotfix,
    //    smoke-tested, and then gets all traffic in one step.
    const tag = 'hotfix-v20261203-1000';
    const res = await runScript(EMERGENCY, [tag], env());
    expect(res.code, res.stdout + res.stderr).toBe(0);
    const helmCalls = tools.calls().filter((c) => c.startsWith('helm '));
    expect(helmCalls).toEqual([`helm upgrade --install v01t-blue ${CHART_DIR} --namespace production --reuse-values -f ${CHART_DIR}/values-production-blue.yaml --set image.tag=${tag} --atomic --wait --timeout 10m`]);
    expect(tools.calls()).toContain('smoke production');
    expect(share(cluster.traffic())).toEqual({ blue: 100, green: 0 });
    expect(cluster.traffic().images.blue).toEqual([`v01t/v01t:${tag}`]);
    expectServed(cluster.traffic());
    expect(fs.readdirSync(dir).some((f) => /^backup-config-\d{8}-\d{4}\.yaml$/.test(f))).toBe(true);

    // 6. A second emergency deploy goes to the now idle green; its metrics fail after the switch,
    //    so traffic returns to blue, which keeps the first hotfix.
    const res2 = await runScript(EMERGENCY, ['hotfix-2'], env({ FAKE_METRICS_FAIL: 'all' }));
    expect(res2.code).toBe(1);
    expect(res2.stderr).toContain('returning all traffic to blue');
    expect(tools.calls().filter((c) => c.startsWith('helm ')).at(-1)).toMatch(/^helm upgrade --install v01t-green .* --set image.tag=hotfix-2 /);
    expect(share(cluster.traffic())).toEqual({ blue: 100, green: 0 });
    expect(cluster.traffic().images).toEqual({ blue: [`v01t/v01t:${tag}`], green: ['v01t/v01t:hotfix-2'] });
    expectServed(cluster.traffic());

    // 7. While a shift is half done there is no idle colour: the emergency deploy refuses.
    expect((await shift(['50'])).code).toBe(0);
    const split = await runScript(EMERGENCY, ['hotfix-3'], env());
    expect(split.code).toBe(1);
    expect(split.stderr).toContain('traffic is split (blue 50%, green 50%)');
    expect(share(cluster.traffic())).toEqual({ blue: 50, green: 50 });
  }, 120_000);

  it('without Istio the emergency deploy switches the Service selector to the idle colour, and an entry upgrade keeps it', async () => {
    install(cluster, 'blue', '1.0.0');
    cluster.upgrade('v01t-entry', 'v01t-entry', { install: true, set: { istio: { enabled: false } } });
    expect(cluster.traffic().pods.blue).toEqual(['v01t-blue-orchestrator']);
    const res = await runScript(EMERGENCY, ['hotfix-1'], env());
    expect(res.code, res.stdout + res.stderr).toBe(0);
    expect(tools.calls()).toContain(`kubectl patch service v01t-service -n production -p {"spec":{"selector":{"colour":"green"}}}`);
    expect(cluster.traffic()).toMatchObject({ weights: { green: 100 }, images: { green: ['v01t/v01t:hotfix-1'] } });
    cluster.upgrade('v01t-entry', 'v01t-entry', { reuseValues: true });
    expect(cluster.traffic()).toMatchObject({ weights: { green: 100 }, pods: { green: ['v01t-green-orchestrator'] } });
  }, 60_000);
});
