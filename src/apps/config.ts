import { configReferenceMarkdown, KERNEL_CONFIG, loadConfig, SERVICE_NAMES, type Config, type ConfigSlice, type ServiceName } from '../kernel/config/index.js';
import type { ServiceModule } from '../kernel/module.js';
import { availableModules, modulesFor } from './platform.js';

type AnySlice = ConfigSlice<unknown, never>;

/** Every manifest of the build (their config slices do not depend on the app's wiring). */
function buildModules(): ServiceModule[] {
  return Object.values(availableModules(() => new Map())).filter((m): m is ServiceModule => m !== undefined);
}

/**
 * The slices a process with these services composes: each hosted module's settings, and the URL of
 * every service that has a remote side (read where that service does not run).
 */
export function platformSlices(services: readonly ServiceName[]): AnySlice[] {
  const all = buildModules();
  const catalog = Object.fromEntries(all.map((m) => [m.name, m]));
  const own = modulesFor(catalog, services).flatMap((m) => (m.config ? [m.config as AnySlice] : []));
  const remotes = all.flatMap((m) => (m.remote ? [m.remote.url as AnySlice] : []));
  return [...own, ...remotes];
}

/**
 * The configuration of a process: the kernel's variables plus the slices of the services it runs
 * (V01T_SERVICES), validated together; a ConfigError lists every bad variable.
 */
export function loadPlatformConfig(env: NodeJS.ProcessEnv | Readonly<Record<string, string | undefined>> = process.env): Config {
  return loadConfig(env, (services) => platformSlices(services));
}

/** Every variable of the build, for docs/config-reference.md. */
export function configReference(): { slices: AnySlice[]; markdown: string } {
  const slices = [KERNEL_CONFIG as AnySlice, ...platformSlices(SERVICE_NAMES)];
  return { slices, markdown: configReferenceMarkdown(slices) };
}
