import { randomUUID } from 'node:crypto';
import { expect } from 'vitest';
import { ManualClock } from '../../src/kernel/clock.js';
import { addMember, bearer, createWorkspace, signup, type TestUser } from '../helpers/api.js';
import { createTestPlatform, type TestPlatform } from '../helpers/platform.js';
import { FakePagerDuty } from './fake-pagerduty.js';
import { mailbox, webhookReceiver } from './receivers.js';
import { OPS_CONFIG } from '../../src/services/ops/config.js';

export interface OpsFixture {
  t: TestPlatform;
  clock: ManualClock;
  pd: FakePagerDuty;
  hooks: Awaited<ReturnType<typeof webhookReceiver>>;
  smtp: Awaited<ReturnType<typeof mailbox>>;
  /** A platform admin (created directly: there is no API for the first admin). */
  admin: TestUser;
  /** A developer of the ops workspace: an operator. */
  operator: TestUser;
  /** A viewer of the ops workspace: not an operator. */
  viewer: TestUser;
  /** Not a member of the ops workspace. */
  outsider: TestUser;
  opsWs: string;
  /** Creates a connection of the ops workspace (as the admin) and returns its id. */
  connect(body: object): Promise<string>;
  close(): Promise<void>;
}

/**
 * What the incident suites share: a fake PagerDuty accepting `routingKey`, a webhook receiver and an
 * SMTP mailbox on real loopback ports, a platform on a ManualClock set to a Monday 09:00 UTC with
 * the Alertmanager bearer `amToken`, and an ops workspace (V01T_OPS_WORKSPACE_ID) with an admin, an
 * operator, a viewer and an outsider.
 */
export async function startOpsFixture(o: { amToken: string; routingKey: string; env?: Record<string, string> }): Promise<OpsFixture> {
  const pd = await new FakePagerDuty([o.routingKey]).start();
  const hooks = await webhookReceiver();
  const smtp = await mailbox();
  const clock = new ManualClock('2026-01-05T09:00:00Z'); // a Monday
  const t = await createTestPlatform({ V01T_EGRESS_ALLOW: '127.0.0.1', V01T_ALERTMANAGER_TOKEN: o.amToken, ...o.env }, { clock });
  const email = `ops-admin-${randomUUID().slice(0, 8)}@example.test`;
  const password = 'admin password 123';
  const created = await t.platform.orchestrator!.services.auth.createUser({ email, password, name: 'Ada Admin', platformAdmin: true }, null);
  const login = await t.inject({ method: 'POST', url: '/v1/auth/login', payload: { email, password } });
  expect(login.statusCode, login.body).toBe(200);
  const admin: TestUser = { id: created.id, email: created.email, token: login.json().token, password };
  const operator = await signup(t, 'Olga Operator');
  const viewer = await signup(t, 'Vic Viewer');
  const outsider = await signup(t, 'Otto Outsider');
  // The ops workspace: its members with developer or higher are operators, its connections the escalation targets.
  const opsWs = await createWorkspace(t, admin, 'Operations');
  await addMember(t, opsWs, admin, operator, 'developer');
  await addMember(t, opsWs, admin, viewer, 'viewer');
  // The workspace exists only now; an operator would set V01T_OPS_WORKSPACE_ID and restart. The
  // module reads the setting at each use, so the fixture sets it on the live configuration.
  OPS_CONFIG.read(t.platform.config).workspaceId = opsWs;
  return {
    t,
    clock,
    pd,
    hooks,
    smtp,
    admin,
    operator,
    viewer,
    outsider,
    opsWs,
    async connect(body) {
      const res = await t.inject({ method: 'POST', url: `/v1/workspaces/${opsWs}/connections`, headers: bearer(admin.token), payload: body });
      expect(res.statusCode, res.body).toBe(201);
      return res.json().connection.id as string;
    },
    async close() {
      await t.close();
      await pd.stop();
      await hooks.close();
      await smtp.close();
    },
  };
}
