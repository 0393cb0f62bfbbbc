import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { SERVICE_NAMES } from '../../src/kernel/config/index.js';
import { CACHE_LAYER_NAMES, CACHE_LAYERS } from '../../src/kernel/cache/layers.js';
import { CHARTS, chartValues, HelmError, mergeValues, renderChart, renderTemplates, validateObject, type K8sObject, type Values } from './helm.js';
import { readYaml } from './tools.js';

/**
 * The two charts, rendered by Helm's engine (Go text/template with Sprig and Helm's functions, see
 * helm.ts and ADR 0056): deploy/helm/v01t (one release per colour: v01t-blue, v01t-green) and
 * deploy/helm/v01t-entry (the public Service, the Istio routing between the colours, the
 * developers' ClusterRole). Every rendered object is validated against its Kubernetes or Istio schema.
 */
const CHART = path.join(CHARTS, 'v01t');
const ENTRY = path.join(CHARTS, 'v01t-entry');
const isMap = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
const defaults = readYaml<Values>(path.join(CHART, 'values.yaml'));

interface ServiceValues {
  enabled: boolean;
  autoscaling: { enabled: boolean; minReplicas: number; maxReplicas: number; targetCPUUtilizationPercentage: number; targetMemoryUtilizationPercentage: number };
  podDisruptionBudget: { enabled: boolean; maxUnavailable: number | string };
  resources: { requests: Record<string, string>; limits: Record<string, string> };
}
/** The chart's v01t.serviceValues helper: chart-wide defaults overlaid with services.<name>. */
function serviceValues(values: Values, name: string): ServiceValues {
  const services = values.services as Record<string, unknown>;
  return mergeValues({ autoscaling: values.autoscaling, podDisruptionBudget: values.podDisruptionBudget, resources: values.resources }, services[name]) as ServiceValues;
}
const errorsOf = (chart: string, set: Values) => {
  try {
    chartValues(chart, { set });
    return '';
  } catch (e) {
    return (e as Error).message;
  }
};

describe("Helm's engine as the tests run it (test/ops/helm-render)", () => {
  const top = { Values: { name: 'v01t', list: [2, 1], empty: '' }, Release: { Name: 'r', Namespace: 'ns', Service: 'Helm' } };
  const one = (tpl: string) => renderTemplates({ 'c/templates/_h.tpl': '{{- define "c.n" -}}[{{ . }}]{{- end -}}', 'c/templates/t.yaml': tpl }, top)['c/templates/t.yaml'];

  it("has Sprig and Helm's functions with their Go semantics", () => {
    expect(one('{{ .Values.name | quote }} {{ .Values.name | upper | trunc 3 }} {{ printf "%s-%d" "a" 7 }}')).toBe('"v01t" V01 a-7');
    // sigs.k8s.io/yaml: keys sorted, lists not indented, no trailing newline; numbers from values are float64.
    expect(one('{{ toYaml (dict "b" .Values.list "a" (dict "y" 1 "x" "1")) }}')).toBe('a:\n  x: "1"\n  "y": 1\nb:\n- 2\n- 1');
    expect(one('x:{{ include "c.n" "in" | nindent 2 }}')).toBe('x:\n  [in]');
    expect(one('{{ .Values.missing }}|{{ .Values.empty | default "d" }}|{{ sub 100 10 }}|{{ hasSuffix "-blue" "v01t-blue" }}')).toBe('|d|90|true');
    expect(one('{{ (fromYaml "a: [1]").a }} {{ toJson (list 1 "x") }}')).toBe('[1] [1,"x"]');
    // The partial (_h.tpl) is not rendered as a file.
    expect(Object.keys(renderTemplates({ 'c/templates/_h.tpl': 'x', 'c/templates/t.yaml': 'y' }, top))).toEqual(['c/templates/t.yaml']);
  });

  it('fails as Helm does: required, fail, unknown functions, env removed', () => {
    expect(() => one('{{ required "name is required" .Values.nope }}')).toThrow(/name is required/);
    expect(() => one('{{ required "empty" .Values.empty }}')).toThrow(/empty/);
    expect(() => one('{{ fail "stop here" }}')).toThrow(/stop here/);
    expect(() => one('{{ env "HOME" }}')).toThrow(/function "env" not defined/);
    expect(() => one('{{ nosuch 1 }}')).toThrow(/function "nosuch" not defined/);
  });

  it('answers lookup from the live objects given, and with nothing when there are none', () => {
    const live: K8sObject = { apiVersion: 'v1', kind: 'Service', metadata: { name: 's', namespace: 'ns' }, spec: { selector: { colour: 'green' } } };
    // As in Helm, a field of the empty answer is a nil pointer: templates test the answer first.
    const tpl = '{{ $s := lookup "v1" "Service" "ns" "s" }}{{ if $s }}{{ $s.spec.selector.colour }}{{ else }}none{{ end }}';
    expect(() => renderTemplates({ 'c/templates/t.yaml': '{{ (lookup "v1" "Service" "ns" "s").spec.selector }}' }, top, [])).toThrow(/nil pointer/);
    expect(renderTemplates({ 'c/templates/t.yaml': tpl }, top, [live])['c/templates/t.yaml']).toBe('green');
    expect(renderTemplates({ 'c/templates/t.yaml': tpl }, top, [])['c/templates/t.yaml']).toBe('none');
  });
});

describe('chart values (deploy/helm/v01t, deploy/helm/v01t-entry)', () => {
  it('values.yaml and every values file pass values.schema.json after merging', () => {
    expect(() => chartValues('v01t')).not.toThrow();
    for (const file of ['values-production-blue.yaml', 'values-production-green.yaml', 'examples/values-example.yaml']) {
      expect(() => chartValues('v01t', { valuesFiles: [file] }), file).not.toThrow();
    }
    expect(() => chartValues('v01t-entry')).not.toThrow();
  });

  it('the schemas reject wrong values', () => {
    const bad: [string, Values][] = [
      ['no replicas', { autoscaling: { minReplicas: 0 } }],
      ['a CPU target above 100%', { services: { orchestrator: { enabled: true, autoscaling: { targetCPUUtilizationPercentage: 170 } } } }],
      ['an environment that is not a label value', { environment: 'Production Green' }],
      ['a colour that is neither blue nor green', { colour: 'red' }],
      ['a secret in the ConfigMap', { config: { DATABASE_URL: 'postgres://u:p@db/v01t' } }],
      ['a service this build does not know', { services: { 'api-gateway': { enabled: true } } }],
      ['a probe path without a slash', { livenessProbe: { path: 'health' } }],
      ['a misspelt key', { autoscalling: { enabled: true } }],
      ['the public Service the colours used to own', { publicService: { enabled: true } }],
    ];
    for (const [what, over] of bad) expect(errorsOf('v01t', over), what).toMatch(/schema/);
    for (const [what, over] of [
      ['a weight above 100', { traffic: { green: 110 } }],
      ['a weight that is not a number', { traffic: { green: '10' } }],
      ['a subject of an unknown kind', { developerRole: { subjects: [{ kind: 'Robot', name: 'x' }] } }],
    ] as [string, Values][]) {
      expect(errorsOf('v01t-entry', over), what).toMatch(/schema/);
    }
  });

  it('lists every service of the build, each scaling 3..20 (orchestrator 50) on CPU 70% and memory 80%', () => {
    expect(Object.keys(defaults.services as object).sort()).toEqual([...SERVICE_NAMES].sort());
    for (const name of SERVICE_NAMES) {
      const s = serviceValues(defaults, name);
      expect(s.enabled, name).toBe(true);
      expect(s.autoscaling, name).toEqual({
        enabled: true,
        minReplicas: 3,
        maxReplicas: name === 'orchestrator' ? 50 : 20,
        targetCPUUtilizationPercentage: 70,
        targetMemoryUtilizationPercentage: 80,
      });
      expect(s.podDisruptionBudget.enabled, name).toBe(true);
      expect(s.resources.requests.cpu && s.resources.limits.memory, name).toBeTruthy();
    }
    expect(defaults.livenessProbe).toEqual({ path: '/health', periodSeconds: 30, timeoutSeconds: 5, failureThreshold: 3 });
    expect((defaults.readinessProbe as { path: string }).path).toBe('/ready');
    expect(chartValues('v01t', { valuesFiles: ['values-production-green.yaml'] })).toMatchObject({ colour: 'green', environment: 'production-green' });
    expect(chartValues('v01t', { valuesFiles: ['values-production-blue.yaml'] })).toMatchObject({ colour: 'blue', environment: 'production' });
  });

  it("gives each of the runbook's cache layers its Redis instance settings, with the code's TTLs", () => {
    const layers = (defaults.cache as { layers: Record<string, { ttlSeconds: number; maxmemory: string; maxmemoryPolicy: string; secretKey: string }> }).layers;
    expect(Object.keys(layers).sort()).toEqual([...CACHE_LAYER_NAMES].sort());
    for (const name of CACHE_LAYER_NAMES) {
      expect(layers[name], name).toEqual({ ttlSeconds: CACHE_LAYERS[name].ttlSeconds, maxmemory: CACHE_LAYERS[name].maxMemory, maxmemoryPolicy: CACHE_LAYERS[name].policy, secretKey: `CACHE_${name.toUpperCase()}_REDIS_URL` });
    }
    expect(errorsOf('v01t', { config: { CACHE_USER_SESSIONS_REDIS_URL: 'redis://:pw@sessions:6379' } }), 'a layer URL is a secret').toMatch(/schema/);
    expect(errorsOf('v01t', { cache: { layers: { user_sessions: { maxmemoryPolicy: 'least-loved' } } } })).toMatch(/schema/);
  });

  it('every .Values path the templates read exists in values.yaml', () => {
    const missing: string[] = [];
    for (const chart of [CHART, ENTRY]) {
      const values = readYaml<Values>(path.join(chart, 'values.yaml'));
      const dir = path.join(chart, 'templates');
      for (const file of fs.readdirSync(dir)) {
        const text = fs.readFileSync(path.join(dir, file), 'utf8');
        for (const m of text.matchAll(/\.Values((?:\.[A-Za-z][\w]*)+)/g)) {
          let node: unknown = values;
          for (const key of m[1]!.slice(1).split('.')) node = isMap(node) ? node[key] : undefined;
          if (node === undefined) missing.push(`${path.basename(chart)}/${file}: .Values${m[1]}`);
        }
      }
    }
    expect(missing).toEqual([]);
  });
});

describe('a colour release (deploy/helm/v01t, examples/values-example.yaml as v01t-blue)', () => {
  const { values, objects: docs } = renderChart('v01t', { release: 'v01t-blue', valuesFiles: ['examples/values-example.yaml'] });
  const of = (kind: string) => docs.filter((d) => d.kind === kind);
  const enabled = SERVICE_NAMES.filter((n) => serviceValues(values, n).enabled);
  const environment = values.environment as string;

  it('is valid against the Kubernetes schemas', () => {
    expect(docs.length).toBeGreaterThan(0);
    for (const d of docs) expect(() => validateObject(d), `${d.kind} ${d.metadata.name}`).not.toThrow();
    // The check is not vacuous: a broken Deployment fails it.
    const broken = structuredClone(of('Deployment')[0]!);
    broken.spec!.template.spec.containers[0].ports[0].containerPort = 'http';
    expect(() => validateObject(broken)).toThrow(/containerPort/);
  });

  it('owns only its own objects: a Deployment, Service, ServiceAccount, HPA and PDB per enabled service, and its ConfigMap', () => {
    expect(enabled.sort()).toEqual(['orchestrator', 'workflow-engine']);
    const names = enabled.map((n) => `v01t-blue-${n}`).sort();
    for (const kind of ['Deployment', 'Service', 'ServiceAccount', 'HorizontalPodAutoscaler', 'PodDisruptionBudget']) {
      expect(of(kind).map((d) => d.metadata.name).sort(), kind).toEqual(names);
    }
    expect(of('ConfigMap').map((d) => d.metadata.name)).toEqual([`${environment}-config`]);
    expect([...new Set(docs.map((d) => d.kind))].sort()).toEqual(['ConfigMap', 'Deployment', 'HorizontalPodAutoscaler', 'PodDisruptionBudget', 'Service', 'ServiceAccount']);
    // No public entry, no Istio routing, no cluster-wide object: those belong to v01t-entry.
    expect(docs.filter((d) => d.metadata.name === 'v01t-service')).toEqual([]);
    for (const d of docs) expect(d.metadata.labels, `${d.kind} ${d.metadata.name}`).toMatchObject({ colour: 'blue', 'app.kubernetes.io/instance': 'v01t-blue' });
    // The public entry (the orchestrator) forwards the workflow routes to this colour's pods (ADR 0055).
    expect((of('ConfigMap')[0] as unknown as { data: Record<string, string> }).data.V01T_WORKFLOW_ENGINE_URL).toBe('http://v01t-blue-workflow-engine:8080');
  });

  it('runs each service from the one image with the runbook probes, limits, its colour and its own token-less ServiceAccount', () => {
    const tag = (values.image as { tag: string }).tag;
    for (const name of enabled) {
      const d = of('Deployment').find((x) => x.metadata.name === `v01t-blue-${name}`)!;
      const pod = d.spec!.template;
      const c = pod.spec.containers[0];
      expect(c.image).toBe(`v01t/v01t:${tag}`);
      expect(c.args).toEqual(['serve', name]);
      expect(c.livenessProbe).toEqual({ httpGet: { path: '/health', port: 'http' }, periodSeconds: 30, timeoutSeconds: 5, failureThreshold: 3 });
      expect(c.readinessProbe.httpGet.path).toBe('/ready');
      expect(c.resources).toEqual(serviceValues(values, name).resources);
      expect(c.envFrom).toEqual([{ configMapRef: { name: `${environment}-config` } }, { secretRef: { name: values.existingSecret } }]);
      expect(pod.spec.securityContext.runAsNonRoot).toBe(true);
      expect(pod.spec.serviceAccountName).toBe(`v01t-blue-${name}`);
      expect(pod.spec.automountServiceAccountToken).toBe(false);
      expect(pod.metadata.labels).toMatchObject({ app: 'v01t', environment, colour: 'blue', 'app.kubernetes.io/component': name });
      const selector = d.spec!.selector.matchLabels as Record<string, string>;
      expect(pod.metadata.labels).toMatchObject(selector);
      expect(of('PodDisruptionBudget').find((x) => x.metadata.name === d.metadata.name)!.spec!.selector.matchLabels).toEqual(selector);
      expect(of('Service').find((x) => x.metadata.name === d.metadata.name)!.spec!.selector).toEqual(selector);
    }
  });

  it('gives each service a ServiceAccount with nothing it does not need: no token, no Role', () => {
    for (const sa of of('ServiceAccount')) expect(sa).toMatchObject({ automountServiceAccountToken: false });
    const withIrsa = renderChart('v01t', { release: 'v01t-blue', set: { serviceAccount: { annotations: { 'eks.amazonaws.com/role-arn': 'arn:aws:iam::1:role/v01t' } } } }).objects;
    const sas = withIrsa.filter((d) => d.kind === 'ServiceAccount');
    expect(sas.map((s) => s.metadata.name).sort()).toEqual(SERVICE_NAMES.map((n) => `v01t-blue-${n}`).sort());
    for (const sa of sas) expect(sa.metadata.annotations).toEqual({ 'eks.amazonaws.com/role-arn': 'arn:aws:iam::1:role/v01t' });
    expect(withIrsa.filter((d) => /Role/.test(d.kind))).toEqual([]);
  });

  it('scales each service as its values say', () => {
    for (const name of enabled) {
      const want = serviceValues(values, name).autoscaling;
      const h = of('HorizontalPodAutoscaler').find((x) => x.metadata.name === `v01t-blue-${name}`)!;
      expect(h.spec!.scaleTargetRef).toEqual({ apiVersion: 'apps/v1', kind: 'Deployment', name: `v01t-blue-${name}` });
      expect([h.spec!.minReplicas, h.spec!.maxReplicas]).toEqual([want.minReplicas, want.maxReplicas]);
      const targets = Object.fromEntries((h.spec!.metrics as { resource: { name: string; target: { averageUtilization: number } } }[]).map((m) => [m.resource.name, m.resource.target.averageUtilization]));
      expect(targets).toEqual({ cpu: want.targetCPUUtilizationPercentage, memory: want.targetMemoryUtilizationPercentage });
    }
  });

  it('refuses a release not named after its colour, such as the single `v01t` whose upgrade sent traffic back to blue', () => {
    expect(() => renderChart('v01t', { release: 'v01t' })).toThrow(/release "v01t" must end in -blue/);
    expect(() => renderChart('v01t', { release: 'v01t-green' })).toThrow(/must end in -blue/);
    expect(() => renderChart('v01t', { release: 'v01t-blue', valuesFiles: ['values-production-green.yaml'] })).toThrow(/must end in -green/);
    const green = renderChart('v01t', { release: 'v01t-green', valuesFiles: ['values-production-green.yaml'] }).objects;
    expect(green.find((d) => d.kind === 'Deployment')!.spec!.template.metadata.labels).toMatchObject({ colour: 'green', environment: 'production-green' });
    expect(green.find((d) => d.kind === 'ConfigMap')!.metadata.name).toBe('production-green-config');
  });
});

describe('the public entry (deploy/helm/v01t-entry)', () => {
  const { objects: docs } = renderChart('v01t-entry', { release: 'v01t-entry' });
  const one = (kind: string, objects = docs) => objects.find((d) => d.kind === kind)!;
  const host = 'v01t-service.production.svc.cluster.local';
  const weights = (objects: K8sObject[]) => Object.fromEntries((one('VirtualService', objects).spec!.http[0].route as { destination: { subset: string }; weight: number }[]).map((r) => [r.destination.subset, r.weight]));

  it('is valid against the Kubernetes and the pinned Istio schemas', () => {
    expect(docs.map((d) => `${d.apiVersion} ${d.kind}`).sort()).toEqual([
      'networking.istio.io/v1 DestinationRule',
      'networking.istio.io/v1 VirtualService',
      'rbac.authorization.k8s.io/v1 ClusterRole',
      'security.istio.io/v1 PeerAuthentication',
      'v1 Service',
    ]);
    for (const d of docs) expect(() => validateObject(d), `${d.kind} ${d.metadata.name}`).not.toThrow();
    // The Istio schemas do check: a weight that is not a number, a TLS mode Istio does not know.
    const vs = structuredClone(one('VirtualService'));
    vs.spec!.http[0].route[0].weight = 'half';
    expect(() => validateObject(vs)).toThrow(/weight/);
    const pa = structuredClone(one('PeerAuthentication'));
    pa.spec!.mtls.mode = 'STRICTEST';
    expect(() => validateObject(pa)).toThrow(/mode/);
  });

  it('routes the one public Service to a subset per colour, all to blue on first install', () => {
    const svc = one('Service');
    expect(svc.metadata.name).toBe('v01t-service');
    // Both colours' public pods: Istio splits by subset; no release or colour in the selector.
    expect(svc.spec!.selector).toEqual({ app: 'v01t', 'app.kubernetes.io/component': 'orchestrator' });
    expect(svc.spec!.ports).toEqual([{ name: 'http', port: 80, targetPort: 'http', protocol: 'TCP' }]);
    expect(one('DestinationRule').spec).toEqual({
      host,
      trafficPolicy: { tls: { mode: 'ISTIO_MUTUAL' } },
      subsets: [
        { name: 'blue', labels: { colour: 'blue' } },
        { name: 'green', labels: { colour: 'green' } },
      ],
    });
    const vs = one('VirtualService');
    expect(vs.spec!.hosts).toEqual([host]);
    expect(vs.spec!.http[0].route.map((r: { destination: unknown }) => r.destination)).toEqual([
      { host, subset: 'blue', port: { number: 80 } },
      { host, subset: 'green', port: { number: 80 } },
    ]);
    expect(weights(docs)).toEqual({ blue: 100, green: 0 });
    expect(weights(renderChart('v01t-entry', { release: 'v01t-entry', set: { traffic: { green: 10 } } }).objects)).toEqual({ blue: 90, green: 10 });
    // Public host names through a Gateway, besides the mesh.
    const pub = one('VirtualService', renderChart('v01t-entry', { release: 'v01t-entry', set: { istio: { enabled: true, hosts: ['api.v01t.io'], gateways: ['istio-system/public'] } } }).objects);
    expect([pub.spec!.hosts, pub.spec!.gateways]).toEqual([[host, 'api.v01t.io'], ['mesh', 'istio-system/public']]);
  });

  it('requires mutual TLS (STRICT) between every v01t pod', () => {
    expect(one('PeerAuthentication').spec).toEqual({ selector: { matchLabels: { app: 'v01t' } }, mtls: { mode: 'STRICT' } });
  });

  it('keeps the live weights on upgrade (lookup), so `helm upgrade v01t-entry` never moves traffic', () => {
    const live = structuredClone(one('VirtualService'));
    live.metadata.namespace = 'production';
    live.spec!.http[0].route[0].weight = 50;
    live.spec!.http[0].route[1].weight = 50;
    expect(weights(renderChart('v01t-entry', { release: 'v01t-entry', cluster: [live], isUpgrade: true }).objects)).toEqual({ blue: 50, green: 50 });
    live.spec!.http[0].route[0].weight = 0;
    live.spec!.http[0].route[1].weight = 100;
    expect(weights(renderChart('v01t-entry', { release: 'v01t-entry', cluster: [live], isUpgrade: true, set: { traffic: { green: 0 } } }).objects)).toEqual({ blue: 0, green: 100 });
  });

  it('without Istio selects one colour, keeps the live one on upgrade, and refuses a split', () => {
    const plain = renderChart('v01t-entry', { release: 'v01t-entry', set: { istio: { enabled: false } } }).objects;
    expect(plain.map((d) => d.kind).sort()).toEqual(['ClusterRole', 'Service']);
    expect(one('Service', plain).spec!.selector).toEqual({ app: 'v01t', 'app.kubernetes.io/component': 'orchestrator', colour: 'blue' });
    const live = { ...structuredClone(one('Service', plain)), spec: { ...one('Service', plain).spec, selector: { app: 'v01t', 'app.kubernetes.io/component': 'orchestrator', colour: 'green' } } };
    live.metadata.namespace = 'production';
    expect(one('Service', renderChart('v01t-entry', { release: 'v01t-entry', set: { istio: { enabled: false } }, cluster: [live] }).objects).spec!.selector.colour).toBe('green');
    expect(() => renderChart('v01t-entry', { release: 'v01t-entry', set: { istio: { enabled: false }, traffic: { green: 50 } } })).toThrow(HelmError);
  });

  it("ships the runbook's v01t-developer ClusterRole, read-only, and binds it only when asked, in its namespace", () => {
    const role = one('ClusterRole');
    expect(role.metadata.name).toBe('v01t-developer');
    expect(role.rules).toEqual([
      { apiGroups: [''], resources: ['pods', 'pods/log', 'services'], verbs: ['get', 'list', 'watch'] },
      { apiGroups: ['apps'], resources: ['deployments'], verbs: ['get', 'list', 'watch'] },
    ]);
    expect(docs.filter((d) => /Binding/.test(d.kind))).toEqual([]);
    const subjects = [{ kind: 'Group', apiGroup: 'rbac.authorization.k8s.io', name: 'v01t-developers' }];
    const bound = renderChart('v01t-entry', { release: 'v01t-entry', set: { developerRole: { create: true, name: 'v01t-developer', subjects } } }).objects;
    const binding = one('RoleBinding', bound);
    expect(() => validateObject(binding)).not.toThrow();
    expect(binding).toMatchObject({ metadata: { name: 'v01t-developer' }, roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: 'v01t-developer' }, subjects });
    expect(bound.filter((d) => d.kind === 'ClusterRoleBinding')).toEqual([]);
    // A second entry release in the same cluster (staging) leaves the ClusterRole to the first.
    expect(renderChart('v01t-entry', { release: 'v01t-entry', set: { developerRole: { create: false, name: 'v01t-developer' } } }).objects.filter((d) => d.kind === 'ClusterRole')).toEqual([]);
  });
});
