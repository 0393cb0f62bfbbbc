/** XP curve of a persona: reaching level L (L ≥ 2) needs round(base × (L − 1)^exponent) XP in total. */
export interface LevelCurve {
  base: number;
  exponent: number;
  maxLevel: number;
}

export const xpForLevel = (curve: LevelCurve, level: number): number => (level <= 1 ? 0 : Math.round(curve.base * Math.pow(level - 1, curve.exponent)));

export function levelFor(curve: LevelCurve, xp: number): number {
  let level = 1;
  while (level < curve.maxLevel && xp >= xpForLevel(curve, level + 1)) level++;
  return level;
}

export function levelProgress(curve: LevelCurve, xp: number): { level: number; xp: number; levelXp: number; nextLevelXp: number | null; progress: number } {
  const level = levelFor(curve, xp);
  const levelXp = xpForLevel(curve, level);
  const nextLevelXp = level >= curve.maxLevel ? null : xpForLevel(curve, level + 1);
  const progress = nextLevelXp === null ? 1 : Math.max(0, Math.min(1, (xp - levelXp) / (nextLevelXp - levelXp)));
  return { level, xp, levelXp, nextLevelXp, progress: Math.round(progress * 1000) / 1000 };
}
