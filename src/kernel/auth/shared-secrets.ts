import type { Config } from '../config/index.js';

/**
 * A shared secret a route may require instead of a user (`config.auth: 'secret:<name>'`): the
 * internal API between processes, the Alertmanager receiver, CI recording a deployment. Declared
 * by the kernel (`internal`) or by a manifest (`secrets`), composed at start-up like permissions;
 * the kernel guard compares in constant time (crypto/compare.ts) before the body is read.
 */
export interface SharedSecretDef {
  /** Where the caller sends it: `Authorization: Bearer <secret>`, or a header of its own. */
  carrier: 'bearer' | { header: string };
  /** The configured value; undefined = not set. */
  value(config: Config): string | undefined;
  /** Detail of the 401 when nothing was sent (how to send it). */
  missing: string;
  /** Detail of a 503 service_unavailable when the secret is not configured (a receiver that is off); absent = 401. */
  unset?: string;
  /** Code and detail of a wrong secret; default unauthenticated with `missing`. */
  wrong?: { code: 'unauthenticated' | 'invalid_token'; detail: string };
  /**
   * A bearer that is not the secret is authenticated as a user instead; the route's permission
   * (and `platformAdmins`) then applies. `request.sharedSecret` tells which way the caller came.
   */
  orUser?: boolean;
}
export type SharedSecretMap = Record<string, SharedSecretDef>;

/** The kernel's own: V01T_INTERNAL_TOKEN, guarding every /internal/* route (the split shape). */
export const KERNEL_SHARED_SECRETS: SharedSecretMap = {
  internal: { carrier: { header: 'x-v01t-internal-token' }, value: (config) => config.internal.token, missing: 'Internal API' },
};

export interface SharedSecret extends Omit<SharedSecretDef, 'value'> {
  name: string;
  value(): string | undefined;
}

export class SharedSecretRegistry {
  private readonly defs = new Map<string, SharedSecret>();
  constructor(
    private readonly config: Config,
    ...maps: SharedSecretMap[]
  ) {
    for (const m of maps) this.add(m);
  }
  add(map: SharedSecretMap): void {
    for (const [name, def] of Object.entries(map)) {
      if (this.defs.has(name)) throw new Error(`shared secret ${name} declared twice`);
      this.defs.set(name, { ...def, name, value: () => def.value(this.config) });
    }
  }
  get(name: string): SharedSecret | undefined {
    return this.defs.get(name);
  }
}
