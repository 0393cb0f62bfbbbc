import { z } from 'zod';
import { PERSONAS, ROLES } from '../../kernel/auth/permissions.js';

export const emailSchema = z.email().max(254);
export const idParam = z.uuid();

export const userSchema = z.object({
  id: z.uuid(),
  email: z.string(),
  name: z.string(),
  emailVerified: z.boolean().describe('the address was confirmed from a mailed link (or a password reset)'),
  mfaEnabled: z.boolean(),
  platformAdmin: z.boolean(),
  createdAt: z.date(),
});

export const signupBody = z.object({
  email: emailSchema,
  password: z.string().min(1).max(256),
  name: z.string().trim().min(1).max(100),
});

export const loginBody = z.object({
  email: z.string().min(1).max(254),
  password: z.string().min(1).max(256),
  otp: z.string().min(6).max(20).optional(),
  /** With V01T_SSO_ONLY: a platform admin's password sign-in (break glass when the identity provider is down). */
  breakGlass: z.boolean().optional(),
});

export const sessionResponse = z.object({ token: z.string(), expiresAt: z.date() });

export const apiTokenSchema = z.object({
  id: z.uuid(),
  name: z.string(),
  scopes: z.array(z.string()),
  createdAt: z.date(),
  expiresAt: z.date().nullable(),
  lastUsedAt: z.date().nullable(),
  revoked: z.boolean(),
});

export const createTokenBody = z.object({
  name: z.string().trim().min(1).max(100),
  scopes: z.array(z.string().min(1).max(100)).min(1).max(50),
  expiresInDays: z.number().int().min(1).max(365).default(90),
});

export const otpBody = z.object({ otp: z.string().min(6).max(20) });

export const workspaceSchema = z.object({
  id: z.uuid(),
  name: z.string(),
  requireMfa: z.boolean(),
  createdAt: z.date(),
  role: z.enum(ROLES).optional(),
});

export const memberSchema = z.object({
  userId: z.uuid(),
  email: z.string(),
  name: z.string(),
  role: z.enum(ROLES),
  personas: z.array(z.string()),
  joinedAt: z.date(),
  mfaEnabled: z.boolean(),
});

export const invitationSchema = z.object({
  id: z.uuid(),
  email: z.string(),
  role: z.enum(ROLES),
  createdAt: z.date(),
  expiresAt: z.date(),
  status: z.enum(['pending', 'accepted', 'revoked', 'expired']),
});

export const personasBody = z.object({ personas: z.array(z.enum(PERSONAS)).max(PERSONAS.length) });

export const auditEntrySchema = z.object({
  seq: z.number(),
  id: z.uuid(),
  occurredAt: z.date(),
  workspaceId: z.string().nullable(),
  actorId: z.string().nullable(),
  actorIp: z.string().nullable(),
  action: z.string(),
  targetType: z.string().nullable(),
  targetId: z.string().nullable(),
  data: z.record(z.string(), z.unknown()),
  hash: z.string(),
  prevHash: z.string(),
});

export const pageQuery = {
  cursor: z.coerce.number().int().positive().optional().describe('nextCursor of the previous page'),
  limit: z.coerce.number().int().min(1).max(500).default(100),
};
