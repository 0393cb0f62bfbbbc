/**
 * The response-target countdown of an incident, as a pure function of the incident and a time:
 * it runs until the incident is acknowledged (or resolved without one) and then stays at the value
 * it had at that moment, whatever the clock says afterwards.
 */
export interface CountdownInput {
  respondBy: string;
  acknowledgedAt: string | null;
  resolvedAt: string | null;
}

export interface Countdown {
  /** running: target ahead; overdue: target passed, nobody acknowledged; stopped: acknowledged (or resolved). */
  state: 'running' | 'overdue' | 'stopped';
  /** Target minus now (or minus the acknowledgement once stopped); negative when late. */
  remainingMs: number;
  text: string;
}

/** 754_000 → "12:34"; 4_000_000 → "1:06:40"; 2 days → "2 d 0 h". */
export function duration(ms: number): string {
  const s = Math.floor(Math.abs(ms) / 1000);
  const d = Math.floor(s / 86_400);
  const h = Math.floor((s % 86_400) / 3600);
  const m = Math.floor((s % 3600) / 60);
  const sec = s % 60;
  if (d > 0) return `${d} d ${h} h`;
  const mm = String(m).padStart(h > 0 ? 2 : 1, '0');
  return h > 0 ? `${h}:${mm}:${String(sec).padStart(2, '0')}` : `${mm}:${String(sec).padStart(2, '0')}`;
}

export function countdown(i: CountdownInput, nowMs: number): Countdown {
  const target = Date.parse(i.respondBy);
  const stop = i.acknowledgedAt ?? i.resolvedAt;
  if (stop) {
    const left = target - Date.parse(stop);
    const how = i.acknowledgedAt ? 'Acknowledged' : 'Resolved';
    return { state: 'stopped', remainingMs: left, text: left >= 0 ? `${how} with ${duration(left)} to spare` : `${how} ${duration(left)} after the target` };
  }
  const left = target - nowMs;
  return left >= 0 ? { state: 'running', remainingMs: left, text: `${duration(left)} left to respond` } : { state: 'overdue', remainingMs: left, text: `Overdue by ${duration(left)}` };
}

export type TimerKey = 'acknowledge' | 'assess' | 'assemble';
export interface TimersInput {
  status: string;
  timers: Record<TimerKey, { dueAt: string; doneAt: string | null; breached: boolean }> | null;
}

/**
 * The first minutes' timers (ADR 0060) an incident is past without having met them, at `now`: the
 * server says which were breached when it answered, the browser's clock moves them on in between.
 */
export function breachingTimers(i: TimersInput, now: number): TimerKey[] {
  if (i.status === 'resolved' || !i.timers) return [];
  return (Object.keys(i.timers) as TimerKey[]).filter((k) => i.timers![k].doneAt === null && (i.timers![k].breached || now >= Date.parse(i.timers![k].dueAt)));
}
