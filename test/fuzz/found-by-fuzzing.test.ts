import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestPlatform, type TestPlatform } from '../helpers/platform.js';
import { bearer, createWorkspace, problem, signup, type TestUser } from '../helpers/api.js';

/** Each 5xx the OpenAPI fuzzer (openapi.fuzz.test.ts) found, pinned by the smallest request that caused it. */
let t: TestPlatform;
let owner: TestUser;
let ws: string;

beforeAll(async () => {
  t = await createTestPlatform();
  owner = await signup(t, 'Found Owner');
  ws = await createWorkspace(t, owner, 'Found');
}, 60_000);

afterAll(async () => {
  await t?.close();
});

describe('regressions found by fuzzing', () => {
  it('a campaign date that is no calendar date (month 26, April 31, 2023-02-29, year 0000) is a 400, not a 500 from PostgreSQL', async () => {
    for (const [startsOn, endsOn] of [
      ['4259-26-91', '4321-99-62'],
      ['2023-04-31', '2023-05-01'],
      ['2023-02-29', '2023-03-01'],
      ['0000-01-01', '2020-01-01'],
    ]) {
      const res = await t.inject({ method: 'POST', url: `/v1/workspaces/${ws}/campaigns`, headers: bearer(owner.token), payload: { name: 'c', startsOn, endsOn } });
      expect(res.statusCode, `${startsOn}: ${res.body}`).toBe(400);
      expect(problem(res).code).toBe('validation_failed');
    }
    const ok = await t.inject({ method: 'POST', url: `/v1/workspaces/${ws}/campaigns`, headers: bearer(owner.token), payload: { name: 'leap', startsOn: '2024-02-29', endsOn: '2024-03-01' } });
    expect(ok.statusCode, ok.body).toBe(201);
    const patch = await t.inject({ method: 'PATCH', url: `/v1/workspaces/${ws}/campaigns/${ok.json().campaign.id}`, headers: bearer(owner.token), payload: { endsOn: '2024-13-01' } });
    expect(patch.statusCode, patch.body).toBe(400);
  });
});
