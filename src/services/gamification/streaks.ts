import type { Cadence } from './time.js';

export interface StreakState {
  current: number;
  longest: number;
  /** Period index (day or week number) of the last activity; null before the first. */
  lastPeriod: number | null;
  freezes: number;
  freezesUsed: number;
}

export interface FreezePolicy {
  /** One freeze is earned each time the streak reaches a multiple of this many periods. */
  earnEvery: number;
  maxHeld: number;
}

export const emptyStreak = (): StreakState => ({ current: 0, longest: 0, lastPeriod: null, freezes: 0, freezesUsed: 0 });

/**
 * Records activity in `period`. Missed periods in between are covered by freezes when enough are
 * held (spent automatically, one per missed period); otherwise the streak restarts at 1.
 */
export function touchStreak(s: StreakState, period: number, policy: FreezePolicy): { state: StreakState; extended: boolean; frozeSpent: number } {
  if (s.lastPeriod !== null && period <= s.lastPeriod) return { state: s, extended: false, frozeSpent: 0 };
  const missed = s.lastPeriod === null ? 0 : period - s.lastPeriod - 1;
  let { freezes, freezesUsed } = s;
  let current: number;
  let frozeSpent = 0;
  if (s.lastPeriod === null) current = 1;
  else if (missed === 0) current = s.current + 1;
  else if (missed <= freezes) {
    frozeSpent = missed;
    freezes -= missed;
    freezesUsed += missed;
    current = s.current + 1;
  } else current = 1;
  if (policy.earnEvery > 0 && current % policy.earnEvery === 0 && freezes < policy.maxHeld) freezes += 1;
  return { state: { current, longest: Math.max(s.longest, current), lastPeriod: period, freezes, freezesUsed }, extended: true, frozeSpent };
}

/**
 * The streak as it stands at `period` without new activity: still alive when the gap since the
 * last activity is covered by held freezes (the freezes that will be spent are shown as spent).
 */
export function streakAt(s: StreakState, period: number): StreakState & { alive: boolean } {
  if (s.lastPeriod === null) return { ...s, alive: false };
  // The current period is not missed yet: the user still has until its end.
  const missed = Math.max(0, period - s.lastPeriod - 1);
  if (missed === 0) return { ...s, alive: s.current > 0 };
  if (missed <= s.freezes) return { ...s, freezes: s.freezes - missed, freezesUsed: s.freezesUsed + missed, alive: true };
  return { ...s, current: 0, alive: false };
}

export type { Cadence };
