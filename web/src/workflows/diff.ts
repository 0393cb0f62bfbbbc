/**
 * A line diff of two workflow versions (their definitions pretty-printed with sorted keys, so
 * reordered keys are not changes). Longest common subsequence; definitions are small (≤ 200 steps),
 * and beyond MAX_CELLS the middle is shown as removed and added rather than freezing the page.
 *
 * Pure module (no DOM, no React): the Vitest suites import it.
 */
export interface DiffLine {
  op: 'same' | 'add' | 'remove';
  text: string;
  /** Line number in the old (remove/same) or new (add/same) text, from 1. */
  oldLine: number | null;
  newLine: number | null;
}

const MAX_CELLS = 4_000_000;

function sortKeys(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(sortKeys);
  if (value && typeof value === 'object') {
    return Object.fromEntries(
      Object.keys(value as Record<string, unknown>)
        .sort()
        .map((k) => [k, sortKeys((value as Record<string, unknown>)[k])]),
    );
  }
  return value;
}

export function canonicalJson(value: unknown): string {
  return JSON.stringify(sortKeys(value), null, 2);
}

export function diffLines(oldText: string, newText: string): DiffLine[] {
  const a = oldText.split('\n');
  const b = newText.split('\n');
  // Common head and tail first: most saves change a few lines.
  let head = 0;
  while (head < a.length && head < b.length && a[head] === b[head]) head++;
  let tail = 0;
  while (tail < a.length - head && tail < b.length - head && a[a.length - 1 - tail] === b[b.length - 1 - tail]) tail++;
  const am = a.slice(head, a.length - tail);
  const bm = b.slice(head, b.length - tail);
  const out: DiffLine[] = [];
  for (let i = 0; i < head; i++) out.push({ op: 'same', text: a[i]!, oldLine: i + 1, newLine: i + 1 });
  const middle: DiffLine[] = [];
  if (am.length * bm.length > MAX_CELLS) {
    am.forEach((text, i) => middle.push({ op: 'remove', text, oldLine: head + i + 1, newLine: null }));
    bm.forEach((text, j) => middle.push({ op: 'add', text, oldLine: null, newLine: head + j + 1 }));
  } else {
    const n = am.length;
    const m = bm.length;
    // lcs[i][j]: length of the LCS of am[i..] and bm[j..]
    const lcs: Uint32Array[] = Array.from({ length: n + 1 }, () => new Uint32Array(m + 1));
    for (let i = n - 1; i >= 0; i--) {
      for (let j = m - 1; j >= 0; j--) lcs[i]![j] = am[i] === bm[j] ? lcs[i + 1]![j + 1]! + 1 : Math.max(lcs[i + 1]![j]!, lcs[i]![j + 1]!);
    }
    let i = 0;
    let j = 0;
    while (i < n || j < m) {
      if (i < n && j < m && am[i] === bm[j]) {
        middle.push({ op: 'same', text: am[i]!, oldLine: head + i + 1, newLine: head + j + 1 });
        i++;
        j++;
      } else if (i < n && (j >= m || lcs[i + 1]![j]! >= lcs[i]![j + 1]!)) {
        middle.push({ op: 'remove', text: am[i]!, oldLine: head + i + 1, newLine: null });
        i++;
      } else {
        middle.push({ op: 'add', text: bm[j]!, oldLine: null, newLine: head + j + 1 });
        j++;
      }
    }
  }
  out.push(...middle);
  for (let k = 0; k < tail; k++) {
    const ai = a.length - tail + k;
    const bi = b.length - tail + k;
    out.push({ op: 'same', text: a[ai]!, oldLine: ai + 1, newLine: bi + 1 });
  }
  return out;
}

/** The diff of two definitions, and how many lines each side changed. */
export function diffDefinitions(older: unknown, newer: unknown): { lines: DiffLine[]; added: number; removed: number } {
  const lines = diffLines(canonicalJson(older), canonicalJson(newer));
  return { lines, added: lines.filter((l) => l.op === 'add').length, removed: lines.filter((l) => l.op === 'remove').length };
}
