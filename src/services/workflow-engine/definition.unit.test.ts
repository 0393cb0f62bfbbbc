import { describe, expect, it } from 'vitest';
import { definitionWarnings, parseDefinition } from './definition.js';

const warn = (raw: unknown) => definitionWarnings(parseDefinition(raw));

describe('definition warnings', () => {
  it('has none for reads of earlier steps', () => {
    expect(
      warn({
        name: 'ok',
        steps: [
          { id: 'fetch', type: 'transform', with: { expression: '{"n": input.n}' } },
          { id: 'big', type: 'condition', with: { expression: 'steps.fetch.output.n > 3', else: 'small' } },
          { id: 'yes', type: 'emit', with: { signal: 'big', data: '=steps.fetch.output' }, next: 'done' },
          { id: 'small', type: 'transform', with: { expression: '=steps.big.output' } },
          { id: 'done', type: 'transform', with: { expression: 'steps.fetch.output.n' } },
        ],
      }),
    ).toEqual([]);
  });

  it('flags unknown ids, own output, later steps and fields other than output', () => {
    const w = warn({
      name: 'bad',
      steps: [
        { id: 'a', type: 'transform', with: { expression: 'steps.b.output + steps.nope.output' } },
        { id: 'b', type: 'transform', with: { expression: 'steps.b.output' } },
        { id: 'c', type: 'http', with: { url: 'https://example.test', body: { v: '=steps.a.result' } } },
        { id: 'd', type: 'foreach', with: { items: '=[1, 2]', step: { type: 'transform', with: { expression: 'steps.e.output' } } } },
        { id: 'e', type: 'transform', with: { expression: '1' } },
      ],
    });
    expect(w).toEqual([
      { path: 'steps[0].with.expression', message: 'reads steps.b, but no step before this one produces it (it can only run later)' },
      { path: 'steps[0].with.expression', message: 'reads steps.nope, but no step has the id "nope"' },
      { path: 'steps[1].with.expression', message: 'reads steps.b, its own output, which does not exist while it runs' },
      { path: 'steps[2].with.body.v', message: 'reads steps.a.result: a step\'s context entry has only "output" (steps.a.output)' },
      { path: 'steps[3].with.step.with.expression', message: 'reads steps.e, but no step before this one produces it (it can only run later)' },
    ]);
  });

  it('follows next jumps: a step listed later may run earlier', () => {
    expect(
      warn({
        name: 'jump',
        steps: [
          { id: 'start', type: 'transform', with: { expression: '1' }, next: 'prepare' },
          { id: 'use', type: 'transform', with: { expression: 'steps.prepare.output' } },
          { id: 'prepare', type: 'transform', with: { expression: '2' }, next: 'use' },
        ],
      }),
    ).toEqual([]);
  });
});
