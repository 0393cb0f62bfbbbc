/**
 * A v01t process for the SIGKILL crash test (test/workflow-engine/crash.test.ts): the platform with
 * the services in V01T_SERVICES on DATABASE_URL, listening on PORT, configured from the
 * environment only (as `v01t start` would be). Prints `READY <port>` once it serves.
 */
import { createPlatform } from '../../../src/apps/platform.js';
import { loadPlatformConfig } from '../../../src/apps/config.js';
import { createLogger } from '../../../src/kernel/telemetry/logger.js';

const config = loadPlatformConfig(process.env);
const platform = await createPlatform({ config, logger: createLogger(config.log.level) });
await platform.startServices();
await platform.listen();
process.stdout.write(`READY ${config.http.port}\n`);
