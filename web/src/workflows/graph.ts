/**
 * The editor's graph model (docs/adr/0030-workflow-editor.md). The workflow definition is the only
 * source of truth: the canvas is derived from it (`definitionToGraph`) and every canvas gesture is a
 * pure operation on the definition (`addStep`, `removeStep`, `connect`, `disconnect`, `renameStep`),
 * so the JSON view and the canvas can never disagree and a definition round-trips unchanged.
 *
 * Flow semantics (src/services/workflow-engine/executor.ts): the trigger starts the first step; a
 * step goes to its `next`, or else to the step after it in the list; a condition goes to `with.then`
 * (default: as above) when true and to `with.else` (default: the run ends) when false.
 *
 * Pure module (no DOM, no React): the Vitest suites import it.
 */
export interface Trigger {
  type: string;
  [key: string]: unknown;
}

export interface Step {
  id: string;
  type: string;
  with?: Record<string, unknown>;
  retry?: Record<string, unknown>;
  timeoutMs?: number;
  next?: string;
  [key: string]: unknown;
}

export interface Definition {
  name: string;
  description?: string;
  trigger?: Trigger;
  steps: Step[];
  timeoutMs?: number;
  concurrency?: number;
  [key: string]: unknown;
}

export const TRIGGER_NODE = 'trigger:start';

/** start: trigger → first step; order: implicit list order; next: explicit `next`; then/else: a condition's branches. */
export type EdgeKind = 'start' | 'order' | 'next' | 'then' | 'else';

export interface GraphNode {
  id: string;
  kind: 'trigger' | 'step';
  /** Index in definition.steps (steps only). */
  index: number;
  label: string;
  type: string;
  position: { x: number; y: number };
}

export interface GraphEdge {
  id: string;
  source: string;
  target: string;
  kind: EdgeKind;
  /** Which of the source's handles the edge leaves from. */
  handle: 'next' | 'then' | 'else';
  /** Whether removing the edge changes the definition (implicit edges cannot be removed). */
  removable: boolean;
}

export interface Graph {
  nodes: GraphNode[];
  edges: GraphEdge[];
}

const STEP_ID = /^[A-Za-z_][A-Za-z0-9_]{0,63}$/;

export function isValidStepId(id: string): boolean {
  return STEP_ID.test(id);
}

function withOf(step: Step): Record<string, unknown> {
  return step.with ?? {};
}

/** The edges leaving a step, by the engine's rules. */
export function stepEdges(def: Definition, index: number): GraphEdge[] {
  const step = def.steps[index];
  if (!step) return [];
  const ids = new Set(def.steps.map((s) => s.id));
  const listNext = def.steps[index + 1]?.id;
  const out: GraphEdge[] = [];
  const push = (target: string | undefined, kind: EdgeKind, handle: GraphEdge['handle'], removable: boolean) => {
    if (target === undefined || !ids.has(target)) return;
    out.push({ id: `${step.id}:${handle}->${target}`, source: step.id, target, kind, handle, removable });
  };
  const explicitNext = typeof step.next === 'string' ? step.next : undefined;
  if (step.type === 'condition') {
    const w = withOf(step);
    if (typeof w.then === 'string') push(w.then, 'then', 'then', true);
    else if (explicitNext !== undefined) push(explicitNext, 'then', 'next', true);
    else push(listNext, 'order', 'then', false);
    if (typeof w.else === 'string') push(w.else, 'else', 'else', true);
    return out;
  }
  if (explicitNext !== undefined) push(explicitNext, 'next', 'next', true);
  else push(listNext, 'order', 'next', false);
  return out;
}

/**
 * Top-to-bottom layout: a step's row is its depth from the trigger (breadth first), steps on the
 * same row side by side; steps nothing reaches go below. Positions are not part of the definition
 * (the server keeps it strict), so the same definition always draws the same way.
 */
export function definitionToGraph(def: Definition, spacing = { x: 240, y: 130 }): Graph {
  const edges: GraphEdge[] = [];
  if (def.steps[0]) edges.push({ id: `${TRIGGER_NODE}->${def.steps[0].id}`, source: TRIGGER_NODE, target: def.steps[0].id, kind: 'start', handle: 'next', removable: false });
  def.steps.forEach((_, i) => edges.push(...stepEdges(def, i)));

  const depth = new Map<string, number>([[TRIGGER_NODE, 0]]);
  const queue = [TRIGGER_NODE];
  while (queue.length) {
    const at = queue.shift()!;
    for (const e of edges) {
      if (e.source === at && !depth.has(e.target)) {
        depth.set(e.target, depth.get(at)! + 1);
        queue.push(e.target);
      }
    }
  }
  let maxDepth = Math.max(0, ...depth.values());
  for (const s of def.steps) if (!depth.has(s.id)) depth.set(s.id, ++maxDepth);

  const rows = new Map<number, number>();
  const place = (id: string) => {
    const d = depth.get(id) ?? 0;
    const col = rows.get(d) ?? 0;
    rows.set(d, col + 1);
    return { x: col * spacing.x, y: d * spacing.y };
  };
  const trigger = def.trigger ?? { type: 'manual' };
  const nodes: GraphNode[] = [{ id: TRIGGER_NODE, kind: 'trigger', index: -1, label: `Trigger: ${trigger.type}`, type: trigger.type, position: place(TRIGGER_NODE) }];
  def.steps.forEach((s, i) => nodes.push({ id: s.id, kind: 'step', index: i, label: s.id, type: s.type, position: place(s.id) }));
  return { nodes, edges };
}

/** A step id not yet used: `<type>_<n>`. */
export function freshStepId(def: Definition, type: string): string {
  const used = new Set(def.steps.map((s) => s.id));
  for (let n = 1; ; n++) {
    const id = `${type}_${n}`;
    if (!used.has(id)) return id;
  }
}

/** Adds a step at the end (the previous last step flows into it by list order). */
export function addStep(def: Definition, type: string, withValue: Record<string, unknown> = {}): { definition: Definition; id: string } {
  const id = freshStepId(def, type);
  return { definition: { ...def, steps: [...def.steps, { id, type, with: structuredClone(withValue) }] }, id };
}

/** Rewrites every reference (next, then, else) to a step id. `to` undefined drops the reference. */
function rewriteRefs(steps: Step[], from: string, to: string | undefined): Step[] {
  return steps.map((s) => {
    let out = s;
    if (s.next === from) {
      out = { ...out };
      if (to === undefined) delete out.next;
      else out.next = to;
    }
    if (s.type === 'condition' && s.with) {
      for (const k of ['then', 'else'] as const) {
        if (out.with?.[k] === from) {
          const w = { ...out.with };
          if (to === undefined) delete w[k];
          else w[k] = to;
          out = { ...out, with: w };
        }
      }
    }
    return out;
  });
}

/**
 * Removes a step. A step that pointed at it by `next` now points where the removed step went
 * explicitly (or falls back to list order); branches to it are dropped.
 */
export function removeStep(def: Definition, id: string): Definition {
  const removed = def.steps.find((s) => s.id === id);
  if (!removed) return def;
  const rest = def.steps.filter((s) => s.id !== id);
  const steps = rest.map((s) => {
    if (s.next === id) {
      const copy = { ...s };
      if (removed.next !== undefined && removed.next !== s.id) copy.next = removed.next;
      else delete copy.next;
      return copy;
    }
    return s;
  });
  return { ...def, steps: rewriteRefs(steps, id, undefined) };
}

export function renameStep(def: Definition, from: string, to: string): Definition {
  if (from === to || !def.steps.some((s) => s.id === from)) return def;
  if (!isValidStepId(to)) throw new Error('A step id has letters, digits and _, and starts with a letter or _');
  if (def.steps.some((s) => s.id === to)) throw new Error(`Another step already has the id “${to}”`);
  const steps = def.steps.map((s) => (s.id === from ? { ...s, id: to } : s));
  return { ...def, steps: rewriteRefs(steps, from, to) };
}

/**
 * Connects a handle of `source` to `target`: the trigger's handle makes `target` the first step;
 * a step's `next` handle sets `next` (left implicit when the target already follows in the list);
 * a condition's `then`/`else` handles set `with.then`/`with.else`.
 */
export function connect(def: Definition, source: string, handle: GraphEdge['handle'], target: string): Definition {
  if (source === target) throw new Error('A step cannot lead to itself');
  const targetIndex = def.steps.findIndex((s) => s.id === target);
  if (targetIndex < 0) throw new Error(`No step “${target}”`);
  if (source === TRIGGER_NODE) {
    if (targetIndex === 0) return def;
    const moved = def.steps[targetIndex]!;
    const rest = def.steps.filter((_, i) => i !== targetIndex);
    return { ...def, steps: [moved, ...rest] };
  }
  const index = def.steps.findIndex((s) => s.id === source);
  const step = def.steps[index];
  if (!step) throw new Error(`No step “${source}”`);
  let updated: Step;
  if (handle === 'then' || handle === 'else') {
    if (step.type !== 'condition') throw new Error('Only a condition has then/else branches');
    updated = { ...step, with: { ...withOf(step), [handle]: target } };
  } else {
    updated = { ...step };
    if (def.steps[index + 1]?.id === target && step.type !== 'condition') delete updated.next;
    else updated.next = target;
  }
  return { ...def, steps: def.steps.map((s, i) => (i === index ? updated : s)) };
}

/** Removes an explicit edge (implicit list-order and start edges cannot be removed). */
export function disconnect(def: Definition, edge: Pick<GraphEdge, 'source' | 'handle' | 'kind'>): Definition {
  const index = def.steps.findIndex((s) => s.id === edge.source);
  const step = def.steps[index];
  if (!step || edge.kind === 'order' || edge.kind === 'start') return def;
  let updated: Step = { ...step };
  if (edge.handle === 'then' || edge.handle === 'else') {
    const w = { ...withOf(step) };
    delete w[edge.handle];
    updated = { ...updated, with: w };
  } else delete updated.next;
  return { ...def, steps: def.steps.map((s, i) => (i === index ? updated : s)) };
}

export function updateStep(def: Definition, id: string, patch: Partial<Step>): Definition {
  return { ...def, steps: def.steps.map((s) => (s.id === id ? { ...s, ...patch } : s)) };
}

/** Moves a step up or down in the list (changes implicit list-order edges; a keyboard alternative to dragging). */
export function moveStep(def: Definition, id: string, delta: -1 | 1): Definition {
  const i = def.steps.findIndex((s) => s.id === id);
  const j = i + delta;
  if (i < 0 || j < 0 || j >= def.steps.length) return def;
  const steps = [...def.steps];
  [steps[i], steps[j]] = [steps[j]!, steps[i]!];
  return { ...def, steps };
}

/** Where a server field path points: `steps[2].with.url` (optionally prefixed, e.g. `definition.` or `body.`). */
export interface PinnedError {
  path: string;
  message: string;
  /** Step index, or null for trigger and workflow-level errors. */
  step: number | null;
  /** `trigger` for trigger errors. */
  trigger: boolean;
  /** The `with` field (first segment after `with.`), or the step field (`id`, `next`, `type` ...). */
  field: string | null;
}

export function pinError(e: { path: string; message: string }): PinnedError {
  const step = /(?:^|\.)steps\[(\d+)\](?:\.(.*))?$/.exec(e.path);
  if (step) {
    const rest = step[2] ?? '';
    const withField = /^with\.([^.[]+)/.exec(rest);
    return { ...e, step: Number(step[1]), trigger: false, field: withField ? withField[1]! : rest === 'with' ? 'with' : rest.split(/[.[]/)[0] || null };
  }
  const trigger = /(?:^|\.)trigger(?:\.([^.[]+))?/.exec(e.path);
  if (trigger) return { ...e, step: null, trigger: true, field: trigger[1] ?? null };
  const top = /(?:^|\.)(name|description|timeoutMs|concurrency)$/.exec(e.path);
  return { ...e, step: null, trigger: false, field: top ? top[1]! : null };
}

/** Parses the JSON view's text; an error names what is wrong instead of throwing. */
export function parseDefinitionText(text: string): { definition: Definition } | { error: string } {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (err) {
    return { error: `Not valid JSON: ${(err as Error).message}` };
  }
  if (!value || typeof value !== 'object' || Array.isArray(value)) return { error: 'The definition must be a JSON object' };
  const v = value as Record<string, unknown>;
  if (!Array.isArray(v.steps)) return { error: 'The definition needs a "steps" array' };
  if (v.steps.some((s) => !s || typeof s !== 'object' || typeof (s as Step).id !== 'string' || typeof (s as Step).type !== 'string')) {
    return { error: 'Every step needs a string "id" and "type"' };
  }
  return { definition: value as Definition };
}
