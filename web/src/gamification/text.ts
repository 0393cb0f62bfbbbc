/** Plain-language text for gamification data: how to earn a badge, what a rule does. */

export type Criteria =
  | { kind: 'count'; event: string; atLeast: number }
  | { kind: 'streak'; activity: string; cadence: 'daily' | 'weekly'; atLeast: number }
  | { kind: 'points'; metric: string; atLeast: number; windowDays: number };

/** "content.post.published.v1" → "content post published". */
export function eventLabel(event: string): string {
  return event.replace(/\.v\d+$/, '').split('.').join(' ').replace(/_/g, ' ');
}

const plural = (n: number, one: string, many = `${one}s`) => `${n.toLocaleString('en')} ${n === 1 ? one : many}`;

export function howToEarn(c: Criteria): string {
  switch (c.kind) {
    case 'count':
      return `Have “${eventLabel(c.event)}” happen ${c.atLeast === 1 ? 'once' : plural(c.atLeast, 'time')}.`;
    case 'streak':
      return `Keep a ${c.cadence} “${c.activity}” streak for ${plural(c.atLeast, c.cadence === 'daily' ? 'day' : 'week')} in a row.`;
    case 'points':
      return `Score ${plural(c.atLeast, 'point')} of ${c.metric} within ${plural(c.windowDays, 'day')}.`;
  }
}

export function progressText(c: Criteria, current: number): string {
  const unit = c.kind === 'points' ? 'points' : c.kind === 'streak' ? (c.cadence === 'daily' ? 'days' : 'weeks') : 'times';
  return `${Math.min(current, c.atLeast).toLocaleString('en')} of ${c.atLeast.toLocaleString('en')} ${unit}`;
}

/** Days of a month grid (Monday first) covering [from, to], as ISO dates; null pads the first week. */
export function calendarWeeks(from: string, to: string): (string | null)[][] {
  const start = Date.parse(`${from}T00:00:00Z`);
  const end = Date.parse(`${to}T00:00:00Z`);
  const weekday = (new Date(start).getUTCDay() + 6) % 7; // Monday 0
  const cells: (string | null)[] = Array.from({ length: weekday }, () => null);
  for (let t = start; t <= end; t += 86_400_000) cells.push(new Date(t).toISOString().slice(0, 10));
  const weeks: (string | null)[][] = [];
  for (let i = 0; i < cells.length; i += 7) weeks.push(cells.slice(i, i + 7));
  const last = weeks[weeks.length - 1]!;
  while (last.length < 7) last.push(null);
  return weeks;
}
