import { defineConfig, positiveInt, setting } from '../../kernel/config/index.js';

/**
 * The integration-hub's settings. Outbound HTTP (V01T_EGRESS_ALLOW, EGRESS_*) is the kernel's
 * (`ctx.egress`); the media limit is the content-scheduler's variable, read here as well because
 * the internal publish call carries the media (declared alike by both; the composition checks it).
 */
export const INTEGRATION_HUB_CONFIG = defineConfig(
  'integration-hub',
  {
    CONTENT_MEDIA_MAX_BYTES: setting(positiveInt.default(25 * 1024 * 1024), {
      description: 'largest media file (upload limit; in the split shape set it alike for the content-scheduler and the integration-hub)',
    }),
  },
  (e) => ({ mediaMaxBytes: e.CONTENT_MEDIA_MAX_BYTES }),
);
export type IntegrationHubSettings = ReturnType<typeof INTEGRATION_HUB_CONFIG.read>;
