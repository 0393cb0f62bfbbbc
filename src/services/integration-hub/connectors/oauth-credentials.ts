import { z } from 'zod';
import { AppError } from '../../../kernel/errors.js';

/** Credentials of a connector that takes either a static token or an OAuth 2.0 grant. */
export const oauthCredentials = z.object({
  type: z.literal('oauth2'),
  clientId: z.string().min(1),
  clientSecret: z.string().min(1),
  accessToken: z.string().optional(),
  refreshToken: z.string().optional(),
  /** ISO time the access token expires (absent = does not expire). */
  expiresAt: z.string().optional(),
});
export type OAuthCredentials = z.infer<typeof oauthCredentials>;

export function bearerOf(c: { type: string; token?: string; accessToken?: string }): string {
  const token = c.type === 'oauth2' ? c.accessToken : c.token;
  if (!token) throw new AppError('connection_needs_reauth', 'The connection has no access token yet: complete the OAuth authorisation');
  return token;
}
