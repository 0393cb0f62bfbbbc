import { z } from 'zod';
import { defineConfig, setting } from '../config/index.js';
import type { RemoteDeclaration } from '../module.js';

/**
 * The remote side of a service that other processes reach only through its public routes (the
 * gateway of the distributed shape), not through a contract: where it lives, nothing more.
 */
export function publicOnlyRemote(service: string, variable: string): RemoteDeclaration {
  return {
    url: defineConfig(service, { [variable]: setting(z.url().optional(), { description: `where the public entry (the orchestrator's process) forwards the ${service}'s routes in the distributed shape; unset = served in this process (needs \`V01T_INTERNAL_TOKEN\`)` }) }, (e) => e[variable] as string | undefined, { key: `${service}.remote` }),
    connect: () => ({}),
  };
}
