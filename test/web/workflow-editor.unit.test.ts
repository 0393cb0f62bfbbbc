import { describe, expect, it } from 'vitest';
import {
  addStep,
  connect,
  definitionToGraph,
  disconnect,
  moveStep,
  parseDefinitionText,
  pinError,
  removeStep,
  renameStep,
  TRIGGER_NODE,
  type Definition,
} from '../../web/src/workflows/graph.js';
import { canonicalJson, diffDefinitions, diffLines } from '../../web/src/workflows/diff.js';
import { fieldKind, parseLooseJson, showLooseJson } from '../../web/src/workflows/schemaFields.js';
import { fromServer, LOCAL_STEP_TYPES } from '../../web/src/workflows/stepTypes.js';

/** The web app's workflow editor logic (web/src/workflows/): graph model, edits, diff, form field kinds. */
const edges = (def: Definition) =>
  definitionToGraph(def)
    .edges.map((e) => `${e.source}-${e.handle}/${e.kind}->${e.target}`)
    .sort();

const three: Definition = {
  name: 'Three',
  trigger: { type: 'manual' },
  steps: [
    { id: 'a', type: 'transform', with: { expression: '1' } },
    { id: 'check', type: 'condition', with: { expression: 'true', else: 'c' } },
    { id: 'b', type: 'transform', with: { expression: '2' }, next: 'a' },
    { id: 'c', type: 'emit', with: { signal: 'x' } },
  ],
};

describe('definition → graph', () => {
  it('draws the engine’s flow: start, list order, next, then/else', () => {
    expect(edges(three)).toEqual(
      [
        `${TRIGGER_NODE}-next/start->a`,
        'a-next/order->check',
        'check-then/order->b',
        'check-else/else->c',
        'b-next/next->a',
      ].sort(),
    );
    // The last step without next ends the run: no edge leaves it.
    expect(definitionToGraph(three).edges.filter((e) => e.source === 'c')).toEqual([]);
  });

  it('lays nodes out by depth from the trigger, unreachable steps below', () => {
    const g = definitionToGraph({ name: 'x', steps: [{ id: 'a', type: 'transform', next: 'c' }, { id: 'b', type: 'transform' }, { id: 'c', type: 'emit' }] });
    const y = Object.fromEntries(g.nodes.map((n) => [n.id, n.position.y]));
    expect(y[TRIGGER_NODE]).toBeLessThan(y.a!);
    expect(y.a).toBeLessThan(y.c!);
    // b is reached by no edge (a jumps to c): it is placed below everything reachable.
    expect(y.b).toBeGreaterThan(y.c!);
  });

  it('does not change the definition: the JSON round-trips exactly', () => {
    const before = JSON.stringify(three);
    definitionToGraph(three);
    expect(JSON.stringify(three)).toBe(before);
    const parsed = parseDefinitionText(JSON.stringify(three, null, 2));
    expect('definition' in parsed && parsed.definition).toEqual(three);
  });
});

describe('canvas edits are definition edits', () => {
  it('adds steps with fresh ids that flow on in list order', () => {
    let def: Definition = { name: 'n', steps: [] };
    for (const type of ['transform', 'transform', 'emit']) def = addStep(def, type, { k: 1 }).definition;
    expect(def.steps.map((s) => s.id)).toEqual(['transform_1', 'transform_2', 'emit_1']);
    expect(edges(def)).toEqual([`${TRIGGER_NODE}-next/start->transform_1`, 'transform_1-next/order->transform_2', 'transform_2-next/order->emit_1'].sort());
  });

  it('connects: next set only when it differs from list order; branches on a condition; trigger moves a step first', () => {
    const toC = connect(three, 'a', 'next', 'c');
    expect(toC.steps[0]!.next).toBe('c');
    const back = connect(toC, 'a', 'next', 'check');
    expect(back.steps[0]!.next).toBeUndefined();
    const then = connect(three, 'check', 'then', 'c');
    expect(then.steps[1]!.with).toEqual({ expression: 'true', else: 'c', then: 'c' });
    expect(() => connect(three, 'a', 'then', 'c')).toThrow(/Only a condition/);
    expect(() => connect(three, 'a', 'next', 'a')).toThrow(/itself/);
    expect(connect(three, TRIGGER_NODE, 'next', 'c').steps.map((s) => s.id)).toEqual(['c', 'a', 'check', 'b']);
  });

  it('disconnects explicit edges only', () => {
    expect(disconnect(three, { source: 'b', handle: 'next', kind: 'next' }).steps[2]!.next).toBeUndefined();
    expect(disconnect(three, { source: 'check', handle: 'else', kind: 'else' }).steps[1]!.with).toEqual({ expression: 'true' });
    expect(disconnect(three, { source: 'a', handle: 'next', kind: 'order' })).toBe(three);
  });

  it('removes a step and repairs references to it', () => {
    const def: Definition = { name: 'n', steps: [{ id: 'a', type: 'transform', next: 'b' }, { id: 'x', type: 'transform' }, { id: 'b', type: 'transform', next: 'x' }, { id: 'cond', type: 'condition', with: { expression: 'true', then: 'b' } }] };
    const out = removeStep(def, 'b');
    expect(out.steps.map((s) => s.id)).toEqual(['a', 'x', 'cond']);
    expect(out.steps[0]!.next).toBe('x'); // a → b → x becomes a → x
    expect(out.steps[2]!.with).toEqual({ expression: 'true' });
  });

  it('renames a step everywhere, refusing invalid or taken ids', () => {
    const out = renameStep(three, 'c', 'notify');
    expect(out.steps[3]!.id).toBe('notify');
    expect(out.steps[1]!.with?.else).toBe('notify');
    expect(renameStep(three, 'a', 'first').steps[2]!.next).toBe('first');
    expect(() => renameStep(three, 'a', 'b')).toThrow(/already/);
    expect(() => renameStep(three, 'a', '1bad')).toThrow(/letters/);
  });

  it('moves steps in the list (the keyboard alternative to re-wiring order)', () => {
    expect(moveStep(three, 'c', -1).steps.map((s) => s.id)).toEqual(['a', 'check', 'c', 'b']);
    expect(moveStep(three, 'a', -1)).toBe(three);
  });
});

describe('server errors pinned to node and field', () => {
  it('reads step, trigger and top-level paths, with or without a prefix', () => {
    expect(pinError({ path: 'definition.steps[2].with.url', message: 'm' })).toMatchObject({ step: 2, field: 'url', trigger: false });
    expect(pinError({ path: 'steps[0].next', message: 'm' })).toMatchObject({ step: 0, field: 'next' });
    expect(pinError({ path: 'steps[1].with', message: 'm' })).toMatchObject({ step: 1, field: 'with' });
    expect(pinError({ path: 'steps[3].with.step.with.expression', message: 'm' })).toMatchObject({ step: 3, field: 'step' });
    expect(pinError({ path: 'trigger.cron', message: 'm' })).toMatchObject({ step: null, trigger: true, field: 'cron' });
    expect(pinError({ path: 'body.name', message: 'm' })).toMatchObject({ step: null, trigger: false, field: 'name' });
  });

  it('refuses JSON that is not a definition, saying why', () => {
    expect(parseDefinitionText('{')).toMatchObject({ error: expect.stringMatching(/Not valid JSON/) });
    expect(parseDefinitionText('[]')).toMatchObject({ error: expect.stringMatching(/object/) });
    expect(parseDefinitionText('{"name":"x"}')).toMatchObject({ error: expect.stringMatching(/steps/) });
    expect(parseDefinitionText('{"steps":[{"id":1}]}')).toMatchObject({ error: expect.stringMatching(/id/) });
  });
});

describe('version diff', () => {
  it('shows changed lines only, ignoring key order', () => {
    const v1 = { name: 'n', steps: [{ id: 'a', type: 'transform', with: { expression: '1' } }] };
    const v2 = { steps: [{ with: { expression: '2' }, type: 'transform', id: 'a' }], name: 'n' };
    const d = diffDefinitions(v1, v2);
    expect(d.added).toBe(1);
    expect(d.removed).toBe(1);
    expect(d.lines.filter((l) => l.op !== 'same').map((l) => `${l.op} ${l.text.trim()}`)).toEqual(['remove "expression": "1"', 'add "expression": "2"']);
    expect(diffDefinitions(v1, structuredClone(v1))).toMatchObject({ added: 0, removed: 0 });
    expect(canonicalJson(v1)).toBe(canonicalJson({ steps: v1.steps, name: 'n' }));
  });

  it('numbers lines on both sides and keeps the LCS', () => {
    const lines = diffLines('a\nb\nc\nd', 'a\nx\nc\nd\ne');
    expect(lines.map((l) => `${l.op[0]}${l.oldLine ?? '-'}:${l.newLine ?? '-'}`)).toEqual(['s1:1', 'r2:-', 'a-:2', 's3:3', 's4:4', 'a-:5']);
  });
});

describe('form fields from step schemas', () => {
  it('picks an editor per property kind', () => {
    const http = LOCAL_STEP_TYPES.find((t) => t.type === 'http')!.withSchema.properties!;
    expect(fieldKind(http.method!)).toBe('enum');
    expect(fieldKind(http.url!)).toBe('string');
    expect(fieldKind(http.headers!)).toBe('json');
    expect(fieldKind(http.body!)).toBe('json');
    const delay = LOCAL_STEP_TYPES.find((t) => t.type === 'delay')!.withSchema.properties!;
    expect(fieldKind(delay.ms!)).toBe('number');
    const cond = LOCAL_STEP_TYPES.find((t) => t.type === 'condition')!.withSchema.properties!;
    expect(fieldKind(cond.expression!)).toBe('expression');
    expect(fieldKind(cond.then!)).toBe('step-id');
    expect(fieldKind({ type: 'boolean' })).toBe('boolean');
  });

  it('edits JSON values loosely: =expressions stay strings', () => {
    expect(parseLooseJson('=input.x')).toEqual({ ok: true, value: '=input.x' });
    expect(parseLooseJson('{"a": 1}')).toEqual({ ok: true, value: { a: 1 } });
    expect(parseLooseJson('')).toEqual({ ok: true, value: undefined });
    expect(parseLooseJson('{a')).toMatchObject({ ok: false });
    expect(showLooseJson('=input')).toBe('=input');
    expect(showLooseJson({ a: 1 })).toBe('{\n  "a": 1\n}');
  });

  it('every step example fills its schema’s required fields', () => {
    for (const t of LOCAL_STEP_TYPES) for (const r of t.withSchema.required ?? []) expect(t.example, `${t.type}.${r}`).toHaveProperty(r);
  });
});

describe('step types from the server with local form hints', () => {
  it('keeps the server schema, adds titles and formats, and drops step references from examples', () => {
    const merged = fromServer([
      {
        type: 'condition',
        kind: 'pure',
        title: 'Condition',
        description: 'd',
        withSchema: { type: 'object', properties: { expression: { type: 'string', minLength: 1 }, then: { type: 'string' }, other: { type: 'string' } }, required: ['expression'] },
        example: { id: 'big', type: 'condition', with: { expression: 'input.amount > 100', then: 'notify', else: 'skip' } },
      },
      { type: 'brand_new', kind: 'effect', title: 'New', description: 'd', withSchema: { type: 'object', properties: { n: { anyOf: [{ type: 'number' }, { type: 'string', pattern: '^=' }] } } }, example: { id: 'x', type: 'brand_new', with: { n: 1 } } },
    ]);
    const cond = merged[0]!;
    expect(cond.withSchema.required).toEqual(['expression']);
    expect(cond.withSchema.properties!.expression).toMatchObject({ minLength: 1, title: 'Expression', format: 'jsonata' });
    expect(fieldKind(cond.withSchema.properties!.then!)).toBe('step-id');
    expect(cond.withSchema.properties!.other).toEqual({ type: 'string' });
    expect(cond.example).toEqual({ expression: 'input.amount > 100' });
    // A type only the server knows still gets a form: a number-or-expression field.
    expect(fieldKind(merged[1]!.withSchema.properties!.n!)).toBe('number');
    expect(merged[1]!.example).toEqual({ n: 1 });
  });
});
