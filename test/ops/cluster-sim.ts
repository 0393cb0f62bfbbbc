import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import type { AddressInfo } from 'node:net';
import { HelmError, renderChart, validateObject, type K8sObject, type Values } from './helm.js';

/**
 * A small simulated cluster for the blue-green tests: the objects live in a JSON file that the fake
 * kubectl (fake-kubectl.mjs) reads and patches, and this class plays Helm on them with the real
 * rendering (helm.ts): install/upgrade (with --reuse-values, -f, --set), uninstall and rollback,
 * ownership as Helm 3 keeps it (the meta.helm.sh/release-name annotation; an object another release
 * owns is refused), `lookup` answered from the live objects, and every applied object validated
 * against its Kubernetes or Istio schema. Pods are not simulated one by one: a Deployment that Helm
 * applied (and waited for) has its minimum number of ready replicas.
 */
const CLUSTER_SCOPED = new Set(['ClusterRole', 'ClusterRoleBinding', 'Namespace']);
const key = (o: K8sObject, ns: string) => `${o.apiVersion}/${o.kind}/${CLUSTER_SCOPED.has(o.kind) ? '' : (o.metadata.namespace ?? ns)}/${o.metadata.name}`;

interface Revision {
  chart: string;
  values: Values;
  keys: string[];
}

export interface Traffic {
  /** Percent of public requests per colour. */
  weights: Record<string, number>;
  /** The ready Deployments that receive each colour's share. */
  pods: Record<string, string[]>;
  /** Their images. */
  images: Record<string, string[]>;
}

export class SimCluster {
  readonly releases = new Map<string, Revision[]>();

  constructor(
    readonly file: string,
    readonly namespace = 'production',
  ) {
    if (!fs.existsSync(file)) this.save([]);
  }

  objects(): K8sObject[] {
    return (JSON.parse(fs.readFileSync(this.file, 'utf8')) as { objects: K8sObject[] }).objects;
  }

  save(objects: K8sObject[]): void {
    fs.writeFileSync(this.file, JSON.stringify({ objects }, null, 2));
  }

  find(kind: string, name: string): K8sObject | undefined {
    return this.objects().find((o) => o.kind === kind && o.metadata.name === name);
  }

  owned(release: string): K8sObject[] {
    return this.objects().filter((o) => o.metadata.annotations?.['meta.helm.sh/release-name'] === release);
  }

  /** `helm upgrade --install` (or `helm install` when the release is new). */
  upgrade(release: string, chart: string, opts: { valuesFiles?: string[]; set?: Values; reuseValues?: boolean; install?: boolean } = {}): void {
    const history = this.releases.get(release);
    if (!history && !opts.install) throw new HelmError(`"${release}" has no deployed releases`);
    const reuse = opts.reuseValues && history ? history.at(-1)!.values : undefined;
    const { values, objects } = renderChart(chart, { release, namespace: this.namespace, valuesFiles: opts.valuesFiles, set: opts.set, reuse, cluster: this.objects(), isUpgrade: !!history });
    this.apply(release, chart, values, objects, history);
  }

  /** `helm rollback RELEASE 0`: the previous revision's chart and values, rendered again. */
  rollback(release: string): void {
    const history = this.releases.get(release);
    if (!history || history.length < 2) throw new HelmError(`release: ${release} has no previous revision`);
    const previous = history.at(-2)!;
    const { values, objects } = renderChart(previous.chart, { release, namespace: this.namespace, reuse: previous.values, cluster: this.objects(), isUpgrade: true });
    this.apply(release, previous.chart, values, objects, history);
  }

  /** `helm uninstall`: deletes what the release's manifest holds, nothing else. */
  uninstall(release: string): void {
    const history = this.releases.get(release);
    if (!history) throw new HelmError(`uninstall: Release not loaded: ${release}: release: not found`);
    const mine = new Set(history.at(-1)!.keys);
    this.save(this.objects().filter((o) => !mine.has(key(o, this.namespace))));
    this.releases.delete(release);
  }

  private apply(release: string, chart: string, values: Values, rendered: K8sObject[], history: Revision[] | undefined): void {
    const live = new Map(this.objects().map((o) => [key(o, this.namespace), o]));
    const keys: string[] = [];
    for (const obj of rendered) {
      validateObject(obj);
      const k = key(obj, this.namespace);
      const owner = live.get(k)?.metadata.annotations?.['meta.helm.sh/release-name'];
      if (live.has(k) && owner !== release) {
        throw new HelmError(
          `rendered manifests contain a resource that already exists. Unable to continue with install: ${obj.kind} "${obj.metadata.name}" in namespace "${this.namespace}" exists and cannot be imported into the current release: invalid ownership metadata; annotation validation error: key "meta.helm.sh/release-name" must equal "${release}": current value is "${owner ?? ''}"`,
        );
      }
      keys.push(k);
    }
    const previous = new Set(history?.at(-1)?.keys ?? []);
    const next = new Set(keys);
    for (const k of previous) if (!next.has(k)) live.delete(k);
    for (const obj of rendered) {
      const o = structuredClone(obj);
      if (!CLUSTER_SCOPED.has(o.kind)) o.metadata.namespace = this.namespace;
      o.metadata.annotations = { ...o.metadata.annotations, 'meta.helm.sh/release-name': release, 'meta.helm.sh/release-namespace': this.namespace };
      if (o.kind === 'Deployment') {
        const hpa = rendered.find((h) => h.kind === 'HorizontalPodAutoscaler' && h.spec?.scaleTargetRef?.name === o.metadata.name);
        o.status = { readyReplicas: (hpa?.spec?.minReplicas as number | undefined) ?? (o.spec?.replicas as number | undefined) ?? 1 };
      }
      live.set(key(o, this.namespace), o);
    }
    this.save([...live.values()]);
    this.releases.set(release, [...(history ?? []), { chart, values, keys }]);
  }

  /** Where public requests go: the entry Service's pods, split by the VirtualService's weights. */
  traffic(serviceName = 'v01t-service'): Traffic {
    const objs = this.objects();
    const svc = objs.find((o) => o.kind === 'Service' && o.metadata.name === serviceName);
    const out: Traffic = { weights: {}, pods: {}, images: {} };
    if (!svc) return out;
    const selects = (sel: Record<string, string>, labels: Record<string, string>) => Object.entries(sel).every(([k, v]) => labels[k] === v);
    const ready = objs.filter((o) => o.kind === 'Deployment' && (o.status?.readyReplicas ?? 0) > 0 && selects(svc.spec!.selector, o.spec!.template.metadata.labels));
    const host = `${serviceName}.${this.namespace}.svc.cluster.local`;
    const vs = objs.find((o) => o.kind === 'VirtualService' && o.metadata.name === serviceName);
    const dr = objs.find((o) => o.kind === 'DestinationRule' && o.spec?.host === host);
    const routes: { colour: string; weight: number; labels: Record<string, string> }[] = [];
    if (vs) {
      for (const r of vs.spec!.http[0].route as { destination: { host: string; subset: string }; weight?: number }[]) {
        if (r.destination.host !== host) throw new Error(`route to ${r.destination.host}, not the entry Service`);
        const subset = (dr?.spec?.subsets as { name: string; labels: Record<string, string> }[] | undefined)?.find((s) => s.name === r.destination.subset);
        if (!subset) throw new Error(`no DestinationRule subset ${r.destination.subset} for ${host}`);
        routes.push({ colour: r.destination.subset, weight: r.weight ?? 0, labels: subset.labels });
      }
    } else {
      const colours = [...new Set(ready.map((d) => d.spec!.template.metadata.labels.colour as string))];
      for (const c of colours) routes.push({ colour: c, weight: colours.length === 1 ? 100 : NaN, labels: { colour: c } });
    }
    for (const r of routes) {
      const pods = ready.filter((d) => selects(r.labels, d.spec!.template.metadata.labels));
      out.weights[r.colour] = r.weight;
      out.pods[r.colour] = pods.map((d) => d.metadata.name).sort();
      out.images[r.colour] = [...new Set(pods.map((d) => d.spec!.template.spec.containers[0].image as string))];
    }
    return out;
  }

  /** The calls `helm ...` the fake helm forwards: the subset the runbook scripts use. */
  helmCli(args: string[]): { code: number; stdout: string; stderr: string } {
    const [cmd, ...rest] = args;
    const pos: string[] = [];
    const files: string[] = [];
    const set: Values = {};
    let reuseValues = false;
    let install = false;
    for (let i = 0; i < rest.length; i++) {
      const a = rest[i]!;
      if (a === '-f' || a === '--values') files.push(rest[++i]!);
      else if (a === '--set') {
        const [p, v] = rest[++i]!.split(/=(.*)/s) as [string, string];
        let node = set;
        const parts = p.split('.');
        for (const part of parts.slice(0, -1)) node = (node[part] ??= {}) as Values;
        node[parts.at(-1)!] = v;
      } else if (a === '--reuse-values') reuseValues = true;
      else if (a === '--install' || a === '-i') install = true;
      else if (a === '--namespace' || a === '-n' || a === '--timeout') i++;
      else if (a.startsWith('-')) continue;
      else pos.push(a);
    }
    try {
      if (cmd === 'upgrade') {
        const chartDir = pos[1]!;
        this.upgrade(pos[0]!, path.basename(chartDir), { valuesFiles: files.map((f) => path.resolve(chartDir, f)), set, reuseValues, install });
      } else if (cmd === 'rollback') this.rollback(pos[0]!);
      else if (cmd === 'uninstall') this.uninstall(pos[0]!);
      else return { code: 2, stdout: '', stderr: `fake helm: ${cmd} is not simulated` };
      return { code: 0, stdout: `Release "${pos[0]}" ${cmd === 'uninstall' ? 'uninstalled' : 'has been upgraded'}.\n`, stderr: '' };
    } catch (e) {
      return { code: 1, stdout: '', stderr: `Error: ${(e as Error).message}\n` };
    }
  }
}

export interface FakeTools {
  /** A folder with kubectl and helm, for PATH. */
  bin: string;
  calls(): string[];
  close(): Promise<void>;
}

/**
 * kubectl (fake-kubectl.mjs over the cluster's file) and helm (forwarded over HTTP to
 * cluster.helmCli in this process, so the scripts' Helm calls change the same simulated cluster).
 * Both log every call to one file, in order.
 */
export async function fakeTools(cluster: SimCluster): Promise<FakeTools> {
  const bin = fs.mkdtempSync(path.join(os.tmpdir(), 'v01t-fake-cluster-'));
  const log = path.join(bin, 'calls.log');
  fs.writeFileSync(log, '');
  const server = http.createServer((req, res) => {
    let body = '';
    req.on('data', (d) => (body += String(d)));
    req.on('end', () => {
      const { args, fail } = JSON.parse(body) as { args: string[]; fail?: string };
      fs.appendFileSync(log, `helm ${args.join(' ')}\n`);
      // HELM_FAIL=upgrade in the caller's environment: the upgrade fails as when pods never get ready.
      if (fail && fail === args[0]) res.end(JSON.stringify({ code: 1, stdout: '', stderr: 'Error: UPGRADE FAILED: timed out waiting for the condition\n' }));
      else res.end(JSON.stringify(cluster.helmCli(args)));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  const kubectl = path.join(path.dirname(new URL(import.meta.url).pathname), 'fake-kubectl.mjs');
  fs.writeFileSync(path.join(bin, 'kubectl'), `#!/usr/bin/env bash\nFAKE_CLUSTER='${cluster.file}' FAKE_CALLS='${log}' exec '${process.execPath}' '${kubectl}' "$@"\n`, { mode: 0o755 });
  fs.writeFileSync(
    path.join(bin, 'helm.mjs'),
    `const r = await fetch('http://127.0.0.1:${port}/', { method: 'POST', body: JSON.stringify({ args: process.argv.slice(2), fail: process.env.HELM_FAIL }) }).then((x) => x.json());
process.stdout.write(r.stdout); process.stderr.write(r.stderr); process.exit(r.code);\n`,
  );
  fs.writeFileSync(path.join(bin, 'helm'), `#!/usr/bin/env bash\nexec '${process.execPath}' '${path.join(bin, 'helm.mjs')}' "$@"\n`, { mode: 0o755 });
  return {
    bin,
    calls: () => fs.readFileSync(log, 'utf8').trim().split('\n').filter(Boolean),
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

/**
 * Stand-ins for scripts/smoke-tests.sh and scripts/check-metrics.sh: each logs its call to the
 * same log as the tools, takes a snapshot of where traffic points at that moment, and fails on the
 * call numbers listed in FAKE_SMOKE_FAIL / FAKE_METRICS_FAIL ("2" fails the second call, "all" every one).
 */
export function fakeChecks(tools: FakeTools, cluster: SimCluster): { smoke: string; metrics: string; snapshots(): Traffic[] } {
  const snaps = path.join(tools.bin, 'snapshots');
  fs.mkdirSync(snaps);
  const script = (name: string, failVar: string) => {
    const file = path.join(tools.bin, name);
    fs.writeFileSync(
      file,
      `#!/usr/bin/env bash
count_file='${tools.bin}/${name}.count'
n=$(( $(cat "$count_file" 2>/dev/null || echo 0) + 1 )); echo "$n" > "$count_file"
echo "${name} $*" >> '${tools.bin}/calls.log'
cp '${cluster.file}' "${snaps}/$(ls '${snaps}' | wc -l | awk '{printf "%04d", $1}').json"
for f in \${${failVar}:-}; do { [ "$f" = "$n" ] || [ "$f" = all ]; } && { echo "${name}: failing call $n" >&2; exit 1; }; done
echo "${name}: ok"
`,
      { mode: 0o755 },
    );
    return file;
  };
  return {
    smoke: script('smoke', 'FAKE_SMOKE_FAIL'),
    metrics: script('check-metrics', 'FAKE_METRICS_FAIL'),
    snapshots: () =>
      fs
        .readdirSync(snaps)
        .sort()
        .map((f) => {
          const snap = new SimCluster(path.join(snaps, f), cluster.namespace);
          return snap.traffic();
        }),
  };
}
