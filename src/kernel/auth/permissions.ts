/** Workspace roles, most to least powerful. */
export const ROLES = ['owner', 'admin', 'developer', 'analyst', 'viewer'] as const;
export type Role = (typeof ROLES)[number];

export const PERSONAS = ['founder', 'vCreator', 'vBuilder', 'vAnalyst', 'vAutomator'] as const;
export type Persona = (typeof PERSONAS)[number];

/** A permission: a name, what it allows, and the roles that hold it. Services declare theirs in their manifest. */
export interface PermissionDef {
  description: string;
  roles: readonly Role[];
}
export type PermissionMap = Record<string, PermissionDef>;

const everyone = ROLES;
const adminsUp = ['owner', 'admin'] as const;

/** Permissions of the workspace itself (the orchestrator's). */
export const CORE_PERMISSIONS: PermissionMap = {
  'workspace.read': { description: 'See the workspace and its settings', roles: everyone },
  'workspace.update': { description: 'Rename the workspace, change its settings (MFA requirement)', roles: adminsUp },
  'workspace.delete': { description: 'Delete the workspace', roles: ['owner'] },
  'members.read': { description: 'List members, their roles and personas', roles: everyone },
  'members.manage': { description: 'Invite, remove members and change roles (admins cannot grant owner)', roles: adminsUp },
  'audit.read': { description: 'Read the workspace audit log', roles: adminsUp },
};

/**
 * The registry of every permission any loaded service declared; `can()` answers from it.
 * Unknown permissions are refused, so a typo denies instead of allowing.
 */
export class PermissionRegistry {
  private readonly defs = new Map<string, PermissionDef>();
  constructor(...maps: PermissionMap[]) {
    for (const m of maps) this.add(m);
  }
  add(map: PermissionMap): void {
    for (const [name, def] of Object.entries(map)) {
      if (this.defs.has(name)) throw new Error(`permission ${name} declared twice`);
      this.defs.set(name, def);
    }
  }
  has(permission: string): boolean {
    return this.defs.has(permission);
  }
  can(role: Role, permission: string): boolean {
    return this.defs.get(permission)?.roles.includes(role) ?? false;
  }
  list(): [string, PermissionDef][] {
    return [...this.defs.entries()].sort(([a], [b]) => a.localeCompare(b));
  }
  /** The permission matrix as Markdown, for docs/permissions.md. */
  markdown(): string {
    const head = `| permission | ${ROLES.join(' | ')} | what it allows |\n|---|${ROLES.map(() => ':-:').join('|')}|---|`;
    const rows = this.list().map(
      ([name, def]) => `| \`${name}\` | ${ROLES.map((r) => (def.roles.includes(r) ? '✔' : '')).join(' | ')} | ${def.description} |`,
    );
    return [head, ...rows].join('\n');
  }
}

/** Roles an actor may hand out: owners any, admins any but owner. */
export function canGrantRole(actor: Role, target: Role): boolean {
  if (actor === 'owner') return true;
  if (actor === 'admin') return target !== 'owner';
  return false;
}

/** Token scopes: "*" or permission names; "read" is shorthand for every *.read permission. */
export function scopeAllows(scopes: readonly string[], permission: string): boolean {
  if (scopes.includes('*')) return true;
  if (scopes.includes(permission)) return true;
  if (scopes.includes('read') && permission.endsWith('.read')) return true;
  const service = permission.split('.')[0];
  return scopes.includes(`${service}.*`);
}
