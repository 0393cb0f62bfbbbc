import fs from 'node:fs';
import path from 'node:path';
import { Ajv } from 'ajv';
import { loadAll } from 'js-yaml';
import { describe, expect, it } from 'vitest';
import { Deployment } from 'kubernetes-models/apps/v1';
import { HorizontalPodAutoscaler } from 'kubernetes-models/autoscaling/v2';
import { PodDisruptionBudget } from 'kubernetes-models/policy/v1';
import { ConfigMap, Service } from 'kubernetes-models/v1';
import { SERVICE_NAMES } from '../../src/kernel/config/index.js';
import { CACHE_LAYER_NAMES, CACHE_LAYERS } from '../../src/kernel/cache/layers.js';
import { DEPLOY, readYaml } from './tools.js';

/**
 * No Helm binary can be installed here, so the templates are never rendered. What is checked:
 * the values files against values.schema.json (as Helm would, after merging over values.yaml),
 * every .Values path the templates use exists, and the hand-written rendering of the example
 * values (examples/rendered-example.yaml) is valid Kubernetes and says what the runbook asks.
 */
const CHART = path.join(DEPLOY, 'helm', 'v01t');
type Values = Record<string, unknown>;
const isMap = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/** Helm's coalescing of a values file over the chart's values.yaml: maps merge, the rest replaces. */
function merge(base: unknown, over: unknown): unknown {
  if (!isMap(base) || !isMap(over)) return over === undefined ? base : over;
  const out: Record<string, unknown> = { ...base };
  for (const [k, v] of Object.entries(over)) out[k] = merge(base[k], v);
  return out;
}

const defaults = readYaml<Values>(path.join(CHART, 'values.yaml'));
const schema = JSON.parse(fs.readFileSync(path.join(CHART, 'values.schema.json'), 'utf8')) as object;
const validate = new Ajv({ allErrors: true, strict: false }).compile(schema);
const errorsOf = (values: unknown) => (validate(values) ? [] : (validate.errors ?? []).map((e) => `${e.instancePath} ${e.message}`));

interface ServiceValues {
  enabled: boolean;
  autoscaling: { enabled: boolean; minReplicas: number; maxReplicas: number; targetCPUUtilizationPercentage: number; targetMemoryUtilizationPercentage: number };
  podDisruptionBudget: { enabled: boolean; maxUnavailable: number | string };
  resources: { requests: Record<string, string>; limits: Record<string, string> };
}
/** The chart's v01t.serviceValues helper: chart-wide defaults overlaid with services.<name>. */
function serviceValues(values: Values, name: string): ServiceValues {
  const services = values.services as Record<string, unknown>;
  return merge({ autoscaling: values.autoscaling, podDisruptionBudget: values.podDisruptionBudget, resources: values.resources }, services[name]) as ServiceValues;
}

describe('Helm chart values (deploy/helm/v01t)', () => {
  it('values.yaml and every example values file pass values.schema.json after merging', () => {
    expect(errorsOf(defaults)).toEqual([]);
    for (const file of ['values-production-green.yaml', 'examples/values-example.yaml']) {
      expect(errorsOf(merge(defaults, readYaml(path.join(CHART, file)))), file).toEqual([]);
    }
  });

  it('the schema rejects wrong values', () => {
    const bad: [string, unknown][] = [
      ['no replicas', { autoscaling: { minReplicas: 0 } }],
      ['a CPU target above 100%', { services: { orchestrator: { enabled: true, autoscaling: { targetCPUUtilizationPercentage: 170 } } } }],
      ['an environment that is not a label value', { environment: 'Production Green' }],
      ['a secret in the ConfigMap', { config: { DATABASE_URL: 'postgres://u:p@db/v01t' } }],
      ['a service this build does not know', { services: { 'api-gateway': { enabled: true } } }],
      ['a probe path without a slash', { livenessProbe: { path: 'health' } }],
      ['a misspelt key', { autoscalling: { enabled: true } }],
    ];
    for (const [what, over] of bad) expect(errorsOf(merge(defaults, over)), what).not.toEqual([]);
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
    expect(readYaml<Values>(path.join(CHART, 'values-production-green.yaml')).environment).toBe('production-green');
  });

  it("gives each of the runbook's cache layers its Redis instance settings, with the code's TTLs", () => {
    const layers = (defaults.cache as { layers: Record<string, { ttlSeconds: number; maxmemory: string; maxmemoryPolicy: string; secretKey: string }> }).layers;
    expect(Object.keys(layers).sort()).toEqual([...CACHE_LAYER_NAMES].sort());
    for (const name of CACHE_LAYER_NAMES) {
      expect(layers[name], name).toEqual({ ttlSeconds: CACHE_LAYERS[name].ttlSeconds, maxmemory: CACHE_LAYERS[name].maxMemory, maxmemoryPolicy: CACHE_LAYERS[name].policy, secretKey: `CACHE_${name.toUpperCase()}_REDIS_URL` });
    }
    expect(errorsOf(merge(defaults, { config: { CACHE_USER_SESSIONS_REDIS_URL: 'redis://:pw@sessions:6379' } })), 'a layer URL is a secret').not.toEqual([]);
    expect(errorsOf(merge(defaults, { cache: { layers: { user_sessions: { maxmemoryPolicy: 'least-loved' } } } }))).not.toEqual([]);
  });

  it('every .Values path the templates read exists in values.yaml', () => {
    const dir = path.join(CHART, 'templates');
    const missing: string[] = [];
    for (const file of fs.readdirSync(dir)) {
      const text = fs.readFileSync(path.join(dir, file), 'utf8');
      for (const m of text.matchAll(/\.Values((?:\.[A-Za-z][\w]*)+)/g)) {
        let node: unknown = defaults;
        for (const key of m[1]!.slice(1).split('.')) node = isMap(node) ? node[key] : undefined;
        if (node === undefined) missing.push(`${file}: .Values${m[1]}`);
      }
    }
    expect(missing).toEqual([]);
  });
});

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- parsed manifests, read field by field in assertions
type K8sObject = { apiVersion: string; kind: string; metadata: { name: string; labels?: Record<string, string> }; spec?: Record<string, any> };

describe('the example rendering (examples/rendered-example.yaml)', () => {
  const values = merge(defaults, readYaml(path.join(CHART, 'examples', 'values-example.yaml'))) as Values;
  const docs = (loadAll(fs.readFileSync(path.join(CHART, 'examples', 'rendered-example.yaml'), 'utf8')) as K8sObject[]).filter(Boolean);
  const of = (kind: string) => docs.filter((d) => d.kind === kind);
  const enabled = SERVICE_NAMES.filter((n) => serviceValues(values, n).enabled);
  const environment = values.environment as string;

  it('is valid against the Kubernetes schemas', () => {
    const models: Record<string, new (o: never) => { validate(): void }> = {
      'apps/v1/Deployment': Deployment,
      'autoscaling/v2/HorizontalPodAutoscaler': HorizontalPodAutoscaler,
      'policy/v1/PodDisruptionBudget': PodDisruptionBudget,
      'v1/Service': Service,
      'v1/ConfigMap': ConfigMap,
    };
    for (const d of docs) {
      const Model = models[`${d.apiVersion}/${d.kind}`];
      expect(Model, `${d.apiVersion} ${d.kind}`).toBeDefined();
      expect(() => new Model!(d as never).validate(), `${d.kind} ${d.metadata.name}`).not.toThrow();
    }
  });

  it('has a Deployment, Service, HPA and PDB per enabled service, and one ConfigMap', () => {
    expect(enabled.sort()).toEqual(['orchestrator', 'workflow-engine']);
    for (const kind of ['Deployment', 'HorizontalPodAutoscaler', 'PodDisruptionBudget']) {
      expect(of(kind).map((d) => d.metadata.name).sort(), kind).toEqual(enabled.map((n) => `v01t-${n}`).sort());
    }
    expect(of('Service').map((d) => d.metadata.name).sort()).toEqual([...enabled.map((n) => `v01t-${n}`), 'v01t-service'].sort());
    expect(of('ConfigMap').map((d) => d.metadata.name)).toEqual([`${environment}-config`]);
    // The public entry (v01t-service selects the orchestrator) forwards the workflow routes to their pods (ADR 0055).
    expect((of('ConfigMap')[0] as unknown as { data: Record<string, string> }).data.V01T_WORKFLOW_ENGINE_URL).toBe('http://v01t-workflow-engine:8080');
  });

  it('runs each service from the one image with the runbook probes, limits and the environment label', () => {
    const tag = (values.image as { tag: string }).tag;
    for (const name of enabled) {
      const d = of('Deployment').find((x) => x.metadata.name === `v01t-${name}`)!;
      const pod = d.spec!.template;
      const c = pod.spec.containers[0];
      expect(c.image).toBe(`v01t/v01t:${tag}`);
      expect(c.args).toEqual(['serve', name]);
      expect(c.livenessProbe).toEqual({ httpGet: { path: '/health', port: 'http' }, periodSeconds: 30, timeoutSeconds: 5, failureThreshold: 3 });
      expect(c.readinessProbe.httpGet.path).toBe('/ready');
      expect(c.resources).toEqual(serviceValues(values, name).resources);
      expect(c.envFrom).toEqual([{ configMapRef: { name: `${environment}-config` } }, { secretRef: { name: values.existingSecret } }]);
      expect(pod.spec.securityContext.runAsNonRoot).toBe(true);
      expect(pod.metadata.labels).toMatchObject({ app: 'v01t', environment, 'app.kubernetes.io/component': name });
      // The selector picks the pods of this Deployment (and the PDB and Service pick the same).
      const selector = d.spec!.selector.matchLabels as Record<string, string>;
      expect(pod.metadata.labels).toMatchObject(selector);
      expect(of('PodDisruptionBudget').find((x) => x.metadata.name === d.metadata.name)!.spec!.selector.matchLabels).toEqual(selector);
      expect(of('Service').find((x) => x.metadata.name === d.metadata.name)!.spec!.selector).toEqual(selector);
    }
  });

  it('scales each service as its values say', () => {
    for (const name of enabled) {
      const want = serviceValues(values, name).autoscaling;
      const h = of('HorizontalPodAutoscaler').find((x) => x.metadata.name === `v01t-${name}`)!;
      expect(h.spec!.scaleTargetRef).toEqual({ apiVersion: 'apps/v1', kind: 'Deployment', name: `v01t-${name}` });
      expect([h.spec!.minReplicas, h.spec!.maxReplicas]).toEqual([want.minReplicas, want.maxReplicas]);
      const targets = Object.fromEntries((h.spec!.metrics as { resource: { name: string; target: { averageUtilization: number } } }[]).map((m) => [m.resource.name, m.resource.target.averageUtilization]));
      expect(targets).toEqual({ cpu: want.targetCPUUtilizationPercentage, memory: want.targetMemoryUtilizationPercentage });
    }
  });

  it('lets the runbook switch traffic by patching the public selector to production-green', () => {
    const pub = of('Service').find((x) => x.metadata.name === 'v01t-service')!;
    const selector = pub.spec!.selector as Record<string, string>;
    const blue = of('Deployment').find((x) => x.metadata.name === 'v01t-orchestrator')!.spec!.template.metadata.labels as Record<string, string>;
    const selects = (sel: Record<string, string>, labels: Record<string, string>) => Object.entries(sel).every(([k, v]) => labels[k] === v);
    expect(selects(selector, blue)).toBe(true);
    // A release pins nothing in this selector, so the other colour's pods (another release,
    // environment=production-green) match once the runbook's patch changes `environment`.
    expect(Object.keys(selector).sort()).toEqual(['app', 'app.kubernetes.io/component', 'environment']);
    const patched = { ...selector, environment: 'production-green' };
    const green = { ...blue, 'app.kubernetes.io/instance': 'v01t-green', environment: 'production-green' };
    expect(selects(patched, green)).toBe(true);
    expect(selects(patched, blue)).toBe(false);
  });
});
