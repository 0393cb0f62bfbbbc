import { createHash } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Ajv } from 'ajv';
import { loadAll } from 'js-yaml';
import { DestinationRule, VirtualService } from '@kubernetes-models/istio/networking.istio.io/v1';
import { PeerAuthentication } from '@kubernetes-models/istio/security.istio.io/v1';
import { Deployment } from 'kubernetes-models/apps/v1';
import { HorizontalPodAutoscaler } from 'kubernetes-models/autoscaling/v2';
import { PodDisruptionBudget } from 'kubernetes-models/policy/v1';
import { ClusterRole, ClusterRoleBinding, RoleBinding } from 'kubernetes-models/rbac.authorization.k8s.io/v1';
import { ConfigMap, Service, ServiceAccount } from 'kubernetes-models/v1';
import { DEPLOY, readYaml, requireBinary, run } from './tools.js';

/**
 * Helm's rendering for the tests, without a helm binary (none can be installed here): the chart's
 * templates go through test/ops/helm-render, a small Go program built from Go's own text/template
 * and the Sprig library Helm uses (Debian's golang-go and golang-github-masterminds-sprig-dev),
 * with Helm's own functions as pkg/engine defines them (ADR 0056). This file does what the helm
 * command does around the engine: values.yaml, then each -f file, then --set, validated against
 * values.schema.json; .Release and .Chart; the output split into documents.
 */
export const CHARTS = path.join(DEPLOY, 'helm');
const RENDERER_SRC = path.join(path.dirname(new URL(import.meta.url).pathname), 'helm-render', 'main.go');
const GOCODE = '/usr/share/gocode/src';

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- parsed manifests, read field by field in assertions
export type K8sObject = { apiVersion: string; kind: string; metadata: { name: string; namespace?: string; labels?: Record<string, string>; annotations?: Record<string, string> }; spec?: Record<string, any>; [key: string]: any };
export type Values = Record<string, unknown>;

const isMap = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/** Helm's coalescing of a values file over the chart's values.yaml: maps merge, the rest replaces, null deletes. */
export function mergeValues(base: unknown, over: unknown): unknown {
  if (!isMap(base) || !isMap(over)) return over === undefined ? base : over;
  const out: Record<string, unknown> = { ...base };
  for (const [k, v] of Object.entries(over)) {
    if (v === null) delete out[k];
    else out[k] = mergeValues(base[k], v);
  }
  return out;
}

let built: string | undefined;
/** Builds helm-render once per source version (cached in the temp folder, shared by test files). */
export function helmRenderer(): string {
  if (built) return built;
  const go = requireBinary('go');
  for (const lib of ['github.com/Masterminds/sprig', 'github.com/ghodss/yaml']) {
    if (!fs.existsSync(path.join(GOCODE, lib))) {
      throw new Error(`${lib} is not installed: apt-get install golang-github-masterminds-sprig-dev golang-github-ghodss-yaml-dev (.ci/run installs them)`);
    }
  }
  const src = fs.readFileSync(RENDERER_SRC);
  const version = run(go, ['version']).stdout.trim();
  const hash = createHash('sha256').update(src).update(version).digest('hex').slice(0, 16);
  const dir = path.join(os.tmpdir(), `v01t-helm-render-${hash}`);
  const bin = path.join(dir, 'helm-render');
  if (!fs.existsSync(bin)) {
    // Debian ships Go libraries for GOPATH builds; Sprig's import path has a /v3 that its folder
    // lacks, so a GOPATH of our own links the /v3 paths to Debian's folders.
    const gopath = fs.mkdtempSync(path.join(os.tmpdir(), 'v01t-gopath-'));
    for (const lib of ['Masterminds/sprig', 'Masterminds/semver']) {
      fs.mkdirSync(path.join(gopath, 'src/github.com', lib), { recursive: true });
      fs.symlinkSync(path.join(GOCODE, 'github.com', lib), path.join(gopath, 'src/github.com', lib, 'v3'));
    }
    fs.mkdirSync(dir, { recursive: true });
    const tmp = `${bin}.${process.pid}`;
    const res = run(go, ['build', '-o', tmp, RENDERER_SRC], {
      env: { ...process.env, GO111MODULE: 'off', GOPATH: `${gopath}:/usr/share/gocode`, GOFLAGS: '', GOCACHE: path.join(os.tmpdir(), 'v01t-go-cache') },
      timeoutMs: 300_000,
    });
    fs.rmSync(gopath, { recursive: true, force: true });
    if (res.status !== 0) throw new Error(`go build of helm-render failed: ${res.stderr}`);
    fs.renameSync(tmp, bin);
  }
  built = bin;
  return bin;
}

export interface RenderOptions {
  release: string;
  namespace?: string;
  /** -f files, relative to the chart folder. */
  valuesFiles?: string[];
  /** --set (as a values tree). */
  set?: Values;
  /** Helm's --reuse-values: the values of the release's last revision instead of values.yaml. */
  reuse?: Values;
  /** The live objects `lookup` finds. */
  cluster?: K8sObject[];
  isUpgrade?: boolean;
}

export interface Rendered {
  values: Values;
  objects: K8sObject[];
}

export class HelmError extends Error {}

const ajv = new Ajv({ allErrors: true, strict: false });
const schemas = new Map<string, ReturnType<Ajv['compile']>>();
/** The merged values of a release, validated as Helm does before rendering. */
export function chartValues(chart: string, opts: Pick<RenderOptions, 'valuesFiles' | 'set' | 'reuse'> = {}): Values {
  const dir = path.join(CHARTS, chart);
  let values = opts.reuse ?? readYaml<Values>(path.join(dir, 'values.yaml'));
  for (const f of opts.valuesFiles ?? []) values = mergeValues(values, readYaml(path.resolve(dir, f))) as Values;
  if (opts.set) values = mergeValues(values, opts.set) as Values;
  let validate = schemas.get(chart);
  if (!validate) {
    validate = ajv.compile(JSON.parse(fs.readFileSync(path.join(dir, 'values.schema.json'), 'utf8')) as object);
    schemas.set(chart, validate);
  }
  if (!validate(values)) {
    throw new HelmError(`values don't meet the specifications of the schema(s): ${(validate.errors ?? []).map((e) => `${e.instancePath} ${e.message}`).join('; ')}`);
  }
  return values;
}

/** Helm's engine alone: every template of the set parsed together, each non-partial one executed with `top`. */
export function renderTemplates(templates: Record<string, string>, top: Record<string, unknown>, cluster: K8sObject[] = []): Record<string, string> {
  const res = run(helmRenderer(), [], { input: JSON.stringify({ templates, top, cluster }) });
  if (res.status !== 0) throw new HelmError(res.stderr.trim());
  return JSON.parse(res.stdout) as Record<string, string>;
}

/** `helm template` / the manifests of `helm upgrade --install`, for a chart under deploy/helm. */
export function renderChart(chart: string, opts: RenderOptions): Rendered {
  const dir = path.join(CHARTS, chart);
  const values = chartValues(chart, opts);
  const meta = readYaml<Record<string, string>>(path.join(dir, 'Chart.yaml'));
  const templates: Record<string, string> = {};
  for (const f of fs.readdirSync(path.join(dir, 'templates')).sort()) {
    templates[`${meta.name}/templates/${f}`] = fs.readFileSync(path.join(dir, 'templates', f), 'utf8');
  }
  const namespace = opts.namespace ?? 'production';
  const top = {
    Values: values,
    Release: { Name: opts.release, Namespace: namespace, Service: 'Helm', IsInstall: !opts.isUpgrade, IsUpgrade: !!opts.isUpgrade, Revision: 1 },
    // chart.Metadata's fields, as .Chart exposes them.
    Chart: { Name: meta.name, Version: meta.version, AppVersion: meta.appVersion, Description: meta.description, Type: meta.type, KubeVersion: meta.kubeVersion, APIVersion: meta.apiVersion },
    Capabilities: { KubeVersion: { Version: 'v1.30.0', Major: '1', Minor: '30' } },
  };
  const files = renderTemplates(templates, top, opts.cluster);
  const objects: K8sObject[] = [];
  for (const name of Object.keys(files).sort()) {
    for (const doc of loadAll(files[name]!)) {
      if (doc == null) continue;
      objects.push(doc as K8sObject);
    }
  }
  return { values, objects };
}

/**
 * The schema of every kind the charts render: Kubernetes' own (kubernetes-models, generated from
 * the Kubernetes OpenAPI document) and Istio's CRDs (@kubernetes-models/istio 3.0.1, generated from
 * the OpenAPI v3 schemas in Istio 1.29.2's manifests/charts/base/files/crd-all.gen.yaml; the exact
 * npm version pins them).
 */
export const MODELS: Record<string, new (o: never) => { validate(): void }> = {
  'apps/v1/Deployment': Deployment,
  'autoscaling/v2/HorizontalPodAutoscaler': HorizontalPodAutoscaler,
  'policy/v1/PodDisruptionBudget': PodDisruptionBudget,
  'v1/Service': Service,
  'v1/ConfigMap': ConfigMap,
  'v1/ServiceAccount': ServiceAccount,
  'rbac.authorization.k8s.io/v1/ClusterRole': ClusterRole,
  'rbac.authorization.k8s.io/v1/ClusterRoleBinding': ClusterRoleBinding,
  'rbac.authorization.k8s.io/v1/RoleBinding': RoleBinding,
  'networking.istio.io/v1/VirtualService': VirtualService,
  'networking.istio.io/v1/DestinationRule': DestinationRule,
  'security.istio.io/v1/PeerAuthentication': PeerAuthentication,
};

/** Throws unless the object is valid against its kind's schema (an unknown kind throws too). */
export function validateObject(obj: K8sObject): void {
  const Model = MODELS[`${obj.apiVersion}/${obj.kind}`];
  if (!Model) throw new Error(`no schema for ${obj.apiVersion} ${obj.kind}`);
  try {
    new Model(obj as never).validate();
  } catch (e) {
    throw new Error(`${obj.kind} ${obj.metadata?.name}: ${(e as Error).message}`, { cause: e });
  }
}
