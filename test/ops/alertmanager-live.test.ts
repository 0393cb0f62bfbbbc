import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { dump } from 'js-yaml';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestPlatform, type TestPlatform } from '../helpers/platform.js';
import { bearer, type TestUser } from '../helpers/api.js';
import { freePort, pollUntil } from './live.js';
import { DEPLOY, readYaml, requireBinary } from './tools.js';

const TOKEN = randomBytes(24).toString('hex');

type WebhookConfig = { url: string; send_resolved: boolean; max_alerts?: number; http_config: { authorization: { type: string; credentials_file: string } } };

/**
 * A real Alertmanager (Debian's) delivering to a running v01t: the receiver block of
 * deploy/alertmanager/alertmanager.yml as committed, with only its URL and secret file pointed at
 * this test. Alertmanager's own timers (group_wait, group_interval) run on the wall clock, so the
 * test polls with deadlines.
 */
describe('a real Alertmanager posting to v01t', () => {
  let t: TestPlatform;
  let admin: TestUser;
  let am: ChildProcess | undefined;
  let amUrl = '';
  let output = '';
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'v01t-am-'));

  beforeAll(async () => {
    const bin = requireBinary('prometheus-alertmanager');
    t = await createTestPlatform({ V01T_ALERTMANAGER_TOKEN: TOKEN });
    const base = await t.platform.app.listen({ port: 0, host: '127.0.0.1' });
    const created = await t.platform.orchestrator!.services.auth.createUser({ email: 'am-admin@example.test', password: 'admin password 123', name: 'Admin', platformAdmin: true }, null);
    const login = await t.inject({ method: 'POST', url: '/v1/auth/login', payload: { email: 'am-admin@example.test', password: 'admin password 123' } });
    admin = { id: created.id, email: created.email, token: login.json().token, password: '' };

    const committed = readYaml<{ receivers: { name: string; webhook_configs?: WebhookConfig[] }[] }>(path.join(DEPLOY, 'alertmanager', 'alertmanager.yml'));
    const receiver = committed.receivers.find((r) => r.name === 'v01t-incidents')!;
    const tokenFile = path.join(dir, 'v01t-alertmanager-token');
    fs.writeFileSync(tokenFile, `${TOKEN}\n`, { mode: 0o600 });
    const webhook: WebhookConfig = {
      ...receiver.webhook_configs![0]!,
      url: `${base}/v1/ops/alertmanager`,
      http_config: { authorization: { ...receiver.webhook_configs![0]!.http_config.authorization, credentials_file: tokenFile } },
    };
    fs.writeFileSync(
      path.join(dir, 'alertmanager.yml'),
      dump({
        route: { receiver: 'v01t-incidents', group_by: ['alertname', 'team', 'service'], group_wait: '1s', group_interval: '2s', repeat_interval: '1h' },
        receivers: [{ name: 'v01t-incidents', webhook_configs: [webhook] }],
      }),
    );
    const port = await freePort();
    amUrl = `http://127.0.0.1:${port}`;
    am = spawn(
      bin,
      [`--config.file=${path.join(dir, 'alertmanager.yml')}`, `--storage.path=${path.join(dir, 'data')}`, `--web.listen-address=127.0.0.1:${port}`, '--cluster.listen-address=', '--log.level=warn'],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    am.stdout!.on('data', (d) => (output += String(d)));
    am.stderr!.on('data', (d) => (output += String(d)));
    await pollUntil('alertmanager to be ready', async () => ((await fetch(`${amUrl}/-/ready`)).ok ? true : undefined), 30_000);
  }, 120_000);

  afterAll(async () => {
    if (am && am.exitCode === null) {
      const done = new Promise((r) => am!.once('exit', r));
      am.kill('SIGTERM');
      await done;
    }
    await t?.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  const postAlert = async (endsAt?: Date) => {
    const res = await fetch(`${amUrl}/api/v2/alerts`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify([
        {
          labels: { alertname: 'HighErrorRatio', severity: 'critical', team: 'engineering', service: 'orchestrator' },
          annotations: { summary: 'Error ratio above 1%' },
          startsAt: new Date(Date.now() - 60_000).toISOString(),
          ...(endsAt ? { endsAt: endsAt.toISOString() } : {}),
        },
      ]),
    });
    expect(res.status, await res.text()).toBe(200);
  };
  const incidents = async () =>
    (await t.inject({ method: 'GET', url: '/v1/ops/incidents', headers: bearer(admin.token) })).json().incidents as { id: string; status: string; severity: string; title: string }[];

  it('opens a Sev1 incident from a firing alert and resolves it when the alert resolves', async () => {
    await postAlert();
    const opened = await pollUntil('an incident opened by Alertmanager', async () => ((await incidents()).length ? await incidents() : undefined), 30_000).catch((err) => {
      throw new Error(`${String(err)}\nalertmanager output:\n${output}`);
    });
    expect(opened).toHaveLength(1);
    expect(opened[0]).toMatchObject({ severity: 'Sev1', status: 'open', title: 'HighErrorRatio: Error ratio above 1% (orchestrator, engineering)' });
    const detail = (await t.inject({ method: 'GET', url: `/v1/ops/incidents/${opened[0]!.id}`, headers: bearer(admin.token) })).json().incident;
    expect(detail.alerts).toHaveLength(1);
    expect(detail.alerts[0].labels).toMatchObject({ alertname: 'HighErrorRatio', severity: 'critical' });

    await postAlert(new Date(Date.now() - 1000));
    await pollUntil('the incident resolved by Alertmanager', async () => ((await incidents())[0]!.status === 'resolved' ? true : undefined), 30_000).catch((err) => {
      throw new Error(`${String(err)}\nalertmanager output:\n${output}`);
    });
    expect(await incidents()).toHaveLength(1);
  }, 90_000);
});
