import { defineErrors } from '../../kernel/errors.js';

/** The orchestrator's error codes (its manifest lists them; composed into the one catalog at start-up, ADR 0015). */
export const ORCHESTRATOR_ERRORS = defineErrors('orchestrator', {
  invalid_credentials: { status: 401, title: 'Invalid email or password' },
  mfa_required: { status: 401, title: 'A one-time password is required' },
  invalid_otp: { status: 401, title: 'Invalid one-time password' },
  signup_disabled: { status: 403, title: 'Sign-up is disabled on this instance' },
  email_taken: { status: 409, title: 'An account with this email already exists' },
  already_member: { status: 409, title: 'Already a member of this workspace' },
  last_owner: { status: 409, title: 'A workspace must keep at least one owner' },
  mfa_already_enabled: { status: 409, title: 'MFA is already enabled' },
  mfa_not_enabled: { status: 409, title: 'MFA is not enabled' },
  link_invalid: { status: 410, title: 'The link is invalid, expired or already used' },
  email_unverified: { status: 403, title: 'Confirm your email address first' },
  invitation_invalid: { status: 410, title: 'Invitation is invalid, expired or already used' },
  sso_only: { status: 403, title: 'This instance signs in through single sign-on only' },
  sso_failed: { status: 401, title: 'Single sign-on failed' },
  sso_not_provisioned: { status: 403, title: 'No account for this single sign-on identity' },
  sso_provider_exists: { status: 409, title: 'A single sign-on provider with this slug already exists' },
  ip_blocked: { status: 429, title: 'Too many failed sign-in attempts from this address' },
  account_locked: { status: 429, title: 'Too many failed sign-in attempts for this account' },
});

type OrchestratorErrors = typeof ORCHESTRATOR_ERRORS;
declare module '../../kernel/errors.js' {
  // eslint-disable-next-line @typescript-eslint/no-empty-object-type
  interface ErrorCatalog extends OrchestratorErrors {}
}
