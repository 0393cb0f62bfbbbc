/** Formatting of analytics numbers for people: percentages, durations, counts. */

export const pct = (v: number | null | undefined, digits = 1) => (v === null || v === undefined || !Number.isFinite(v) ? '–' : `${(v * 100).toFixed(digits)} %`);

export const count = (v: number | null | undefined) => (v === null || v === undefined ? '–' : new Intl.NumberFormat('en').format(v));

/** 3600 → "1 h", 5400 → "1 h 30 min", 45 → "45 s", 93600 → "1 d 2 h". */
export function duration(seconds: number | null | undefined): string {
  if (seconds === null || seconds === undefined || !Number.isFinite(seconds)) return '–';
  const s = Math.round(seconds);
  if (s < 60) return `${s} s`;
  const units: [number, string][] = [
    [86_400, 'd'],
    [3_600, 'h'],
    [60, 'min'],
  ];
  const parts: string[] = [];
  let rest = s;
  for (const [size, name] of units) {
    const n = Math.floor(rest / size);
    if (n > 0) parts.push(`${n} ${name}`);
    rest -= n * size;
    if (parts.length === 2) break;
  }
  // Two units are enough: "1 d 2 h", never "1 d 2 h 3 min".
  return parts.join(' ');
}

/** A bucket's label for its interval (UTC, as the API buckets). */
export function bucketLabel(iso: string, interval: string): string {
  const d = new Date(iso);
  if (interval === 'hour') return `${iso.slice(5, 10)} ${iso.slice(11, 16)}`;
  if (interval === 'month') return d.toLocaleDateString('en', { month: 'short', year: 'numeric', timeZone: 'UTC' });
  return iso.slice(0, 10);
}
