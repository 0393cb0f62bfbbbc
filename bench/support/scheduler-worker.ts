/**
 * One publisher replica for `npm run bench -- scheduler`: a v01t process serving the
 * orchestrator, integration-hub and content-scheduler on the bench's PostgreSQL database, with
 * its publisher running on the wall clock. Prints "ready" once started; stops on SIGTERM.
 */
import { loadPlatformConfig } from '../../src/apps/config.js';
import { createPlatform } from '../../src/apps/platform.js';
import { createLogger } from '../../src/kernel/telemetry/logger.js';

const config = loadPlatformConfig(process.env);
const platform = await createPlatform({ config, logger: createLogger(config.log.level) });
await platform.startServices();
process.stdout.write('ready\n');
process.on('SIGTERM', () => {
  void platform.close().finally(() => process.exit(0));
});
