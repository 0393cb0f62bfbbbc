import { createWorkspace, signup, type TestUser } from '../helpers/api.js';
import { createTestPlatform, type TestPlatform } from '../helpers/platform.js';
import { startFakes, type Fakes } from './fakes.js';

/**
 * What the integration-hub suites share: the fake providers on a loopback port, a platform whose
 * egress guard lets 127.0.0.1 through (plus `env`), and an owner with a workspace named `name`.
 */
export async function startHubFixture(name: string, env: Record<string, string> = {}) {
  const f: Fakes = await startFakes();
  const t: TestPlatform = await createTestPlatform({ V01T_EGRESS_ALLOW: '127.0.0.1', ...env });
  const owner: TestUser = await signup(t, `${name} Owner`);
  const ws = await createWorkspace(t, owner, name);
  return {
    f,
    t,
    owner,
    ws,
    close: async () => {
      await t.close();
      await f.close();
    },
  };
}
