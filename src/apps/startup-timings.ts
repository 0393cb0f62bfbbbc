/**
 * Where a start's time goes, phase by phase (database open, migrations, each service's create and
 * start, routes): logged with `v01t listening` (`startupPhasesMs`) so a slow start names its phase
 * (ADR 0065).
 */
export class StartupTimings {
  readonly phases: Record<string, number> = {};

  async time<T>(name: string, fn: () => Promise<T>): Promise<T> {
    const started = performance.now();
    try {
      return await fn();
    } finally {
      this.phases[name] = Math.round(performance.now() - started);
    }
  }
}
