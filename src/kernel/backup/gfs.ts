/**
 * Grandfather-father-son retention of backups (runbook: 7 daily, 4 weekly, 12 monthly). Days are
 * UTC calendar days. A backup is kept when it is the newest backup of one of the newest `daily`
 * days that have a backup, the newest of one of the newest `weekly` Sundays that have one, or the
 * newest of one of the newest `monthly` first-of-the-month days that have one. Everything else is
 * pruned. The newest backup is always kept.
 */
export interface GfsPolicy {
  daily: number;
  weekly: number;
  monthly: number;
}

export interface Dated {
  id: string;
  createdAt: string;
}

const day = (iso: string) => iso.slice(0, 10);

export function gfsSelect<T extends Dated>(backups: readonly T[], policy: GfsPolicy): { keep: T[]; prune: T[]; reasons: Map<string, string[]> } {
  const sorted = [...backups].sort((a, b) => b.createdAt.localeCompare(a.createdAt) || b.id.localeCompare(a.id));
  // The newest backup of each day, newest day first.
  const newestOfDay = new Map<string, T>();
  for (const b of sorted) if (!newestOfDay.has(day(b.createdAt))) newestOfDay.set(day(b.createdAt), b);
  const days = [...newestOfDay.entries()];
  const reasons = new Map<string, string[]>();
  const mark = (b: T, why: string) => reasons.set(b.id, [...(reasons.get(b.id) ?? []), why]);
  for (const [, b] of days.slice(0, policy.daily)) mark(b, 'daily');
  const sundays = days.filter(([d]) => new Date(`${d}T00:00:00Z`).getUTCDay() === 0);
  for (const [, b] of sundays.slice(0, policy.weekly)) mark(b, 'weekly');
  const firsts = days.filter(([d]) => d.endsWith('-01'));
  for (const [, b] of firsts.slice(0, policy.monthly)) mark(b, 'monthly');
  if (sorted[0] && !reasons.has(sorted[0].id)) mark(sorted[0], 'newest');
  return { keep: sorted.filter((b) => reasons.has(b.id)), prune: sorted.filter((b) => !reasons.has(b.id)), reasons };
}
