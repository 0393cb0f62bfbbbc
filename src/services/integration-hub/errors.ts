import { defineErrors } from '../../kernel/errors.js';

/** The integration-hub's error codes (its manifest lists them; composed into the one catalog at start-up, ADR 0015). */
export const INTEGRATION_HUB_ERRORS = defineErrors('integration-hub', {
  provider_error: { status: 502, title: 'The provider refused or failed the request' },
  provider_auth_failed: { status: 502, title: 'The provider refused the connection\'s credentials' },
  connection_needs_reauth: { status: 409, title: 'The connection must be authorised again' },
  connector_unknown: { status: 400, title: 'Unknown connector' },
  webhook_signature_invalid: { status: 401, title: 'The webhook signature or timestamp is invalid' },
  oauth_state_invalid: { status: 400, title: 'The OAuth state is invalid or expired' },
});

type IntegrationHubErrors = typeof INTEGRATION_HUB_ERRORS;
declare module '../../kernel/errors.js' {
  // eslint-disable-next-line @typescript-eslint/no-empty-object-type
  interface ErrorCatalog extends IntegrationHubErrors {}
}
