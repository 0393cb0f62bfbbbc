import jsonata from 'jsonata';
import { afterAll, describe, expect, it, vi } from 'vitest';
import { compileFast, NOT_FAST } from './fast.js';
import { ExpressionGuard, ExpressionLimitError } from './index.js';

const guard = new ExpressionGuard({ timeoutMs: 1000, memoryMb: 64, maxResultBytes: 10_000, maxDepth: 500, maxLength: 20_000, workers: 1, maxQueuedPerWorkspace: 8 });
afterAll(() => guard.close());

/** JSONata's own answer, as the guard's in-process path returns it (no match is null, plain JSON). */
async function jsonataSays(source: string, input: unknown): Promise<unknown> {
  const v: unknown = await jsonata(source).evaluate(input);
  if (v === undefined) return null;
  const json = JSON.stringify(v);
  return json === undefined ? null : JSON.parse(json);
}

const inputs: unknown[] = [
  { input: { answer: 'yes', who: 'bench' }, steps: { flag: { output: { flag: 'yes' } } } },
  { input: { answer: 'no' }, steps: { flag: { output: { flag: 'no' } } } },
  { input: {}, steps: {} },
  { input: { answer: null }, steps: { flag: { output: { flag: null } } } },
  { input: { answer: 3, nested: { deep: { x: [1, 2] } } }, steps: { flag: { output: 'text' } } },
  { input: { answer: [1, 2] }, steps: { flag: { output: [{ flag: 'yes' }] } } },
  { input: { answer: ['yes'] }, steps: [{ flag: 'yes' }] },
  { input: { answer: { a: 1 } }, steps: { flag: { output: { flag: { yes: true } } } } },
  { input: 'a string', steps: 7 },
  { a: 1, b: 1, c: '1', o: { p: 2 }, n: null, t: true, z: 0 },
  { a: 'x', b: 'y', constructor: 'own' },
  [{ input: { answer: 'yes' } }, { input: { answer: 'no' } }],
  [],
  'plain',
  null,
  42,
];

const subset = [
  '{"flag": input.answer}',
  'steps.flag.output.flag = "yes"',
  '{"result": "accepted"}',
  'input',
  'input.answer',
  'input.nested.deep',
  'input.nested.deep.x',
  'steps.flag.output',
  'input.answer != "yes"',
  'input.answer = null',
  'n = null',
  'a = b',
  'a = c',
  'a != b',
  'missing = missing',
  'missing != 1',
  'a = 1',
  'z = 0',
  't = true',
  'o = o',
  'o.p = 2',
  'constructor',
  'a.constructor',
  'input.answer.length',
  '"text"',
  '1.5',
  '-2',
  'true',
  'null',
  '{"x": a, "y": {"z": input.answer, "w": missing}, "n": null, "v": false}',
  '{"all": input}',
  '{"k": steps.flag.output.flag = "yes"}',
];

describe('direct evaluation of the smallest expressions (ADR 0087)', () => {
  it('answers what JSONata answers, for every expression of the subset and every input', async () => {
    for (const source of subset) {
      expect(guard.compile(source).fast, source).not.toBeNull();
      for (const input of inputs) {
        expect(await guard.evaluate(source, input), `${source} over ${JSON.stringify(input)}`).toEqual(await jsonataSays(source, input));
      }
    }
  });

  it('runs the bench workflow’s expressions without JSONata’s evaluator', async () => {
    const input = { input: { answer: 'yes', who: 'bench' }, steps: { flag: { output: { flag: 'yes' } } } };
    for (const [source, want] of [
      ['{"flag": input.answer}', { flag: 'yes' }],
      ['steps.flag.output.flag = "yes"', true],
      ['{"result": "accepted"}', { result: 'accepted' }],
    ] as const) {
      const c = guard.compile(source);
      const jsonataEvaluate = vi.spyOn(c.expr, 'evaluate');
      expect(await guard.evaluate(source, input)).toEqual(want);
      expect(jsonataEvaluate).not.toHaveBeenCalled();
      jsonataEvaluate.mockRestore();
    }
  });

  it('leaves arrays, inherited properties and inputs that are not objects to JSONata', async () => {
    const fast = compileFast(jsonata('{"flag": input.answer}').ast())!;
    expect(fast({ input: { answer: ['yes'] } })).toBe(NOT_FAST);
    expect(fast([{ input: { answer: 'yes' } }])).toBe(NOT_FAST);
    expect(fast('text')).toBe(NOT_FAST);
    expect(compileFast(jsonata('a.constructor').ast())!({ a: {} })).toBe(NOT_FAST);
    expect(compileFast(jsonata('o = o').ast())!({ o: { p: 1 } })).toBe(NOT_FAST);
    const c = guard.compile('{"flag": input.answer}');
    const jsonataEvaluate = vi.spyOn(c.expr, 'evaluate');
    expect(await guard.evaluate('{"flag": input.answer}', { input: { answer: ['yes'] } })).toEqual({ flag: ['yes'] });
    expect(jsonataEvaluate).toHaveBeenCalledTimes(1);
    jsonataEvaluate.mockRestore();
  });

  it('compiles nothing outside the subset', () => {
    for (const source of ['a[0]', 'a.b[]', '$.a', '$x', 'a + 1', 'a < 1', 'a and b', '{"a": 1, "a": 2}', '{"__proto__": 1}', '{a: 1}', 'a ? b : c', '$string(a)', '[a]', 'a.*', '(a)', 'a.(b)']) {
      expect(compileFast(jsonata(source).ast()), source).toBeNull();
    }
  });

  it('keeps the result size limit', async () => {
    const big = { s: 'x'.repeat(20_000) };
    const err = await guard.evaluate('{"s": s}', big).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ExpressionLimitError);
    expect((err as ExpressionLimitError).code).toBe('expression_too_large');
  });
});
