import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestPlatform, type TestPlatform } from '../helpers/platform.js';
import { freePort } from './live.js';
import { REPO, runScript } from './tools.js';

const SMOKE = path.join(REPO, 'scripts', 'smoke-tests.sh');

describe('scripts/smoke-tests.sh against a running v01t', () => {
  let t: TestPlatform;
  let base: string;

  beforeAll(async () => {
    t = await createTestPlatform();
    base = await t.platform.app.listen({ port: 0, host: '127.0.0.1' });
  });
  afterAll(async () => {
    await t?.close();
  });

  it('passes on a healthy deployment, checks every service it serves, and cleans up', async () => {
    const users = async () => (await t.platform.database.query<{ n: number }>('SELECT count(*)::int AS n FROM orchestrator.users'))[0]!.n;
    const before = await users();
    const res = await runScript(SMOKE, [base]);
    expect(res.code, res.stdout + res.stderr).toBe(0);
    for (const check of ['GET /health', 'GET /ready', 'GET /metrics', 'POST /v1/auth/signup', 'POST /v1/auth/login', 'GET /v1/me', 'orchestrator: GET']) {
      expect(res.stdout).toContain(`ok    ${check}`);
    }
    const served = /services checked: (.*)/.exec(res.stdout)![1]!.split(' ');
    expect(served).toContain('orchestrator');
    // Every service of this build gets its call: a service whose path the script does not know
    // fails here, so the script's table is kept up to date as services land.
    expect(served.sort()).toEqual([...t.platform.instances.keys()].sort());
    // The account it created is erased again.
    expect(await users()).toBe(before);
  }, 60_000);

  it('resolves an environment name through V01T_URL_<NAME>, as the runbook calls it', async () => {
    const res = await runScript(SMOKE, ['production-green'], { V01T_URL_PRODUCTION_GREEN: base });
    expect(res.code, res.stdout + res.stderr).toBe(0);
    const unset = await runScript(SMOKE, ['production-blue'], { V01T_URL_PRODUCTION_BLUE: '' });
    expect(unset.code).toBe(64);
    expect(unset.stderr).toContain('V01T_URL_PRODUCTION_BLUE is not set');
  }, 60_000);

  it('fails when nothing answers', async () => {
    const res = await runScript(SMOKE, [`http://127.0.0.1:${await freePort()}`], { SMOKE_TIMEOUT: '2' });
    expect(res.code).toBe(1);
    expect(res.stderr).toContain('FAIL  GET /health');
  });

  it('fails when a dependency is down (last: it closes the database)', async () => {
    await t.platform.database.close();
    const res = await runScript(SMOKE, [base]);
    expect(res.code).toBe(1);
    expect(res.stderr).toMatch(/FAIL  GET \/ready: HTTP 503/);
  });
});
