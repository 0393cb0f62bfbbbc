import { Ajv2020 } from 'ajv/dist/2020.js';
import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { ManualClock } from '../../../kernel/clock.js';
import { AppError } from '../../../kernel/errors.js';
import { definitionWarnings, parseDefinition, type Definition } from '../definition.js';
import { Executor } from '../executor.js';
import type { NewAttempt, RunRow, WorkflowRepository } from '../repository.js';
import { STEP_MODULES, StepRegistry, stepRegistry, stepTypeCatalog } from './index.js';
import { defineStep, requiredString } from './types.js';

/** The problems parseDefinition reports, or [] when it accepts. */
function problems(raw: unknown, registry?: StepRegistry): { path: string; message: string }[] {
  try {
    parseDefinition(raw, registry);
    return [];
  } catch (err) {
    if (err instanceof AppError) return err.extra.errors ?? [];
    throw err;
  }
}

/** Steps an example may name (a condition's then/else). */
const targets = (except: string) => ['notify', 'skip'].filter((id) => id !== except).map((id) => ({ id, type: 'transform', with: { expression: '1' } }));

describe('step registry', () => {
  it('holds each type once, with a title, a description and a kind', () => {
    expect(new Set(STEP_MODULES.map((m) => m.type)).size).toBe(STEP_MODULES.length);
    for (const m of STEP_MODULES) {
      expect(['pure', 'wait', 'effect']).toContain(m.kind);
      expect(m.title.length, m.type).toBeGreaterThan(0);
      expect(m.description.length, m.type).toBeGreaterThan(20);
    }
    expect(() => new StepRegistry([STEP_MODULES[0]!, STEP_MODULES[0]!])).toThrow(/same type/);
  });

  it.each(STEP_MODULES.map((m) => [m.type, m] as const))('the %s example is a valid step, in a definition and against its published JSON Schema', (_type, m) => {
    expect(m.example.type).toBe(m.type);
    expect(m.with.safeParse(m.example.with).success).toBe(true);
    expect(problems({ name: 'x', steps: [m.example, ...targets(m.example.id)] })).toEqual([]);
    const entry = stepTypeCatalog().find((e) => e.type === m.type)!;
    const ajv = new Ajv2020({ strict: false });
    expect(ajv.validate(entry.withSchema, m.example.with), JSON.stringify(ajv.errors)).toBe(true);
  });

  it('refuses an unknown type at the step, and a with that is not its type\'s, at the field', () => {
    expect(problems({ name: 'x', steps: [{ id: 'a', type: 'teleport', with: {} }] })).toEqual([{ path: 'steps[0].type', message: expect.stringMatching(/^unknown step type "teleport"; one of http, /) }]);
    expect(problems({ name: 'x', steps: [{ id: 'a', type: 'transform', with: {} }, { id: 'b', type: 'integration', with: { connectionId: 'c' } }] })).toEqual([
      { path: 'steps[0].with.expression', message: 'required: a JSONata expression' },
      { path: 'steps[1].with.action', message: 'required: the connector action to run' },
    ]);
    // A foreach maps only the types that say so; the inner step's errors name its path.
    expect(problems({ name: 'x', steps: [{ id: 'a', type: 'foreach', with: { items: '=[1]', step: { type: 'delay', with: { ms: 1 } } } }] })).toEqual([
      { path: 'steps[0].with.step.type', message: 'foreach maps an http, integration or transform step' },
    ]);
    expect(problems({ name: 'x', steps: [{ id: 'a', type: 'foreach', with: { items: '=[1]', step: { type: 'http', with: { url: 'gopher://x' } } } }] })).toEqual([
      { path: 'steps[0].with.step.with.url', message: 'must be an http(s) URL' },
    ]);
  });
});

/** A step type that is not the engine's: only its module and a registry. */
const shout = defineStep({
  type: 'shout',
  kind: 'pure',
  title: 'Shout',
  description: 'Upper-cases a text (a test step type).',
  with: z.object({ text: requiredString('the text to shout') }).loose(),
  example: { id: 'loud', type: 'shout', with: { text: '=input.name' } },
  validate(v) {
    if (typeof v.with.text === 'string' && v.with.text.length > 20) v.error('with.text', 'at most 20 characters');
  },
  successors: (_w, fallthrough) => [fallthrough],
  async execute({ step, resolve }) {
    return { output: String(await resolve(step.with.text, 'with.text')).toUpperCase() };
  },
});
const withShout = new StepRegistry([...STEP_MODULES, shout]);

describe('a new step type is its module plus a registry line', () => {
  const def = { name: 'greet', steps: [{ id: 'loud', type: 'shout', with: { text: '=input.name' } }, { id: 'done', type: 'transform', with: { expression: 'steps.loud.output & "!"' } }] };

  it('is validated by its module: refused by the engine\'s registry, checked by one that has it', () => {
    expect(problems(def)).toEqual([{ path: 'steps[0].type', message: expect.stringContaining('unknown step type "shout"') }]);
    expect(problems(def, withShout)).toEqual([]);
    expect(problems({ name: 'g', steps: [{ id: 'loud', type: 'shout', with: {} }] }, withShout)).toEqual([{ path: 'steps[0].with.text', message: 'required: the text to shout' }]);
    expect(problems({ name: 'g', steps: [{ id: 'loud', type: 'shout', with: { text: 'x'.repeat(21) } }] }, withShout)).toEqual([{ path: 'steps[0].with.text', message: 'at most 20 characters' }]);
    expect(definitionWarnings(parseDefinition(def, withShout), withShout)).toEqual([]);
    expect(stepTypeCatalog(withShout).at(-1)).toMatchObject({ type: 'shout', kind: 'pure', withSchema: { type: 'object', required: ['text'] } });
  });

  it('is executed by the executor through the registry (a pure type takes the batched path, ADR 0311)', async () => {
    const definition = parseDefinition(def, withShout) as Definition;
    const clock = new ManualClock();
    const run: RunRow = {
      ...{ id: '00000000-0000-4000-8000-000000000001', workspaceId: '00000000-0000-4000-8000-000000000002', workflowId: '00000000-0000-4000-8000-000000000003', version: 1 },
      ...{ status: 'queued', trigger: 'manual', input: { name: 'ada' }, outputs: {}, output: null, currentStep: null, stepAttempt: 0, wait: null, error: null, idempotencyKey: null, takeovers: 0, createdBy: null },
      ...{ createdAt: clock.now().toISOString(), startedAt: null, finishedAt: null, deadlineAt: null, triggerRef: null, chainDepth: 0 },
    };
    const written: { finished: unknown[]; attempts: NewAttempt[]; events: string[] } = { finished: [], attempts: [], events: [] };
    // Fakes: the batched path reads the run and its definition, then writes outcome, attempts and events in one transaction.
    const repo = {
      runsByIds: async () => [run],
      definition: async () => definition,
      finishFresh: async (rows: { id: string }[]) => {
        written.finished.push(...rows);
        return new Set(rows.map((r) => r.id));
      },
      insertAttemptsOfRuns: async (rows: NewAttempt[]) => void written.attempts.push(...rows),
    } as unknown as WorkflowRepository;
    const counter = { inc: () => {}, observe: () => {} };
    const executor = (steps?: StepRegistry) =>
      new Executor({
        db: { transaction: (fn) => fn({} as never) },
        repo,
        clock,
        events: { publish: async (e: { name: string }) => void written.events.push(e.name) } as never,
        logger: { warn: () => {}, error: () => {}, info: () => {} } as never,
        metrics: { runs: counter, stepDuration: counter } as never,
        http: () => {
          throw new Error('no I/O expected');
        },
        integration: () => null,
        wake: async () => {
          throw new Error('the batched path enqueues nothing');
        },
        workerId: 'test',
        leaseMs: 10_000,
        workspaceConcurrency: 0,
        steps,
      });

    await executor(withShout).advanceMany([run.id]);
    expect(written.finished).toEqual([expect.objectContaining({ id: run.id, status: 'succeeded', output: 'ADA!', outputs: { loud: 'ADA', done: 'ADA!' } })]);
    expect(written.attempts.map((a) => `${a.stepId}:${a.stepType}:${a.status}`)).toEqual(['loud:shout:succeeded', 'done:transform:succeeded']);
    expect(written.events).toEqual(['workflow.run.started.v1', 'workflow.run.succeeded.v1']);
    // Nothing of it was added to the engine's own registry.
    expect(stepRegistry.get('shout')).toBeUndefined();
  });
});
