import { randomUUID } from 'node:crypto';
import type { TestPlatform } from './platform.js';

export const bearer = (token: string) => ({ authorization: `Bearer ${token}` });

export interface TestUser {
  id: string;
  email: string;
  token: string;
  password: string;
}

/** Signs a new user up through the API. */
export async function signup(t: TestPlatform, name = 'Test User', opts: { ip?: string } = {}): Promise<TestUser> {
  const email = `${name.toLowerCase().replace(/\W+/g, '.')}.${randomUUID().slice(0, 8)}@example.test`;
  const password = `pw-${randomUUID()}`;
  const res = await t.inject({ method: 'POST', url: '/v1/auth/signup', payload: { email, password, name }, remoteAddress: opts.ip });
  if (res.statusCode !== 201) throw new Error(`signup failed: ${res.statusCode} ${res.body}`);
  const body = res.json() as { user: { id: string }; token: string };
  return { id: body.user.id, email, token: body.token, password };
}

export async function createWorkspace(t: TestPlatform, owner: TestUser, name = 'Workspace'): Promise<string> {
  const res = await t.inject({ method: 'POST', url: '/v1/workspaces', headers: bearer(owner.token), payload: { name } });
  if (res.statusCode !== 201) throw new Error(`workspace creation failed: ${res.statusCode} ${res.body}`);
  return (res.json() as { workspace: { id: string } }).workspace.id;
}

/** Invites `user` into the workspace with `role` and accepts the invitation. */
export async function addMember(t: TestPlatform, workspaceId: string, admin: TestUser, user: TestUser, role: string): Promise<void> {
  const inv = await t.inject({ method: 'POST', url: `/v1/workspaces/${workspaceId}/invitations`, headers: bearer(admin.token), payload: { email: user.email, role } });
  if (inv.statusCode !== 201) throw new Error(`invite failed: ${inv.statusCode} ${inv.body}`);
  const acc = await t.inject({ method: 'POST', url: '/v1/invitations/accept', headers: bearer(user.token), payload: { token: inv.json().token } });
  if (acc.statusCode !== 200) throw new Error(`accept failed: ${acc.statusCode} ${acc.body}`);
}

/** Asserts a problem+json answer and returns its body. */
export function problem(res: { statusCode: number; headers: Record<string, unknown>; json(): unknown }): { code: string; status: number; detail: string; errors?: { path: string; message: string }[] } {
  const type = String(res.headers['content-type'] ?? '');
  if (!type.startsWith('application/problem+json')) throw new Error(`expected application/problem+json, got ${type}`);
  return res.json() as never;
}
