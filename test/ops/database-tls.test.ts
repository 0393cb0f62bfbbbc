import { execFileSync } from 'node:child_process';
import { chmodSync, chownSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { postgresId, ThrowawayPostgres } from '../chaos/harness.js';
import { createTestPlatform } from '../helpers/platform.js';
import { bearer, createWorkspace, signup } from '../helpers/api.js';
import { requireBinary } from './tools.js';

/**
 * TLS to PostgreSQL (DATABASE_SSL_MODE, the runbook's `ssl_mode: require` with a client
 * certificate) against a cluster of this suite's own: ssl=on, and a pg_hba.conf that accepts TCP
 * only as `hostssl ... cert` (a client certificate signed by its CA, named for the user).
 */
const work = mkdtempSync(path.join(os.tmpdir(), 'v01t-dbtls-'));
chmodSync(work, 0o711);
const pki = path.join(work, 'pki');
const asRoot = process.getuid?.() === 0;
const file = (name: string) => path.join(pki, name);
let cluster: ThrowawayPostgres;
const ROOT = path.resolve(import.meta.dirname, '../..');

function openssl(args: string[]): void {
  execFileSync('openssl', args, { stdio: 'ignore' });
}

/** A CA, a certificate it signs for `cn` (with an IP SAN for the server), and the key. */
function issueCa(name: string): void {
  openssl(['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-days', '2', '-subj', `/CN=${name}`, '-keyout', file(`${name}.key`), '-out', file(`${name}.crt`)]);
}
function issue(ca: string, name: string, cn: string, san?: string): void {
  openssl(['req', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-subj', `/CN=${cn}`, '-keyout', file(`${name}.key`), '-out', file(`${name}.csr`)]);
  const ext = san ? ['-extfile', file(`${name}.ext`)] : [];
  if (san) execFileSync('sh', ['-c', `printf 'subjectAltName=${san}\\n' > ${file(`${name}.ext`)}`]);
  openssl(['x509', '-req', '-in', file(`${name}.csr`), '-CA', file(`${ca}.crt`), '-CAkey', file(`${ca}.key`), '-CAcreateserial', '-days', '2', '-out', file(`${name}.crt`), ...ext]);
}

beforeAll(async () => {
  requireBinary('openssl');
  mkdirSync(pki, { recursive: true });
  issueCa('ca');
  issueCa('wrong-ca');
  issue('ca', 'server', '127.0.0.1', 'IP:127.0.0.1');
  issue('ca', 'client', 'postgres');
  issue('wrong-ca', 'stranger', 'postgres');
  for (const f of ['server.key', 'client.key', 'stranger.key']) chmodSync(file(f), 0o600);
  if (asRoot) {
    // The server reads its key as the postgres user, and refuses a key others can read.
    chownSync(pki, postgresId('-u'), postgresId('-g'));
    for (const f of ['server.key', 'server.crt', 'ca.crt']) chownSync(file(f), postgresId('-u'), postgresId('-g'));
  }
  cluster = new ThrowawayPostgres(
    path.join(work, 'pg'),
    `-c ssl=on -c ssl_cert_file=${file('server.crt')} -c ssl_key_file=${file('server.key')} -c ssl_ca_file=${file('ca.crt')}`,
    'local all all trust\nhostssl all all 127.0.0.1/32 cert\n',
  );
  await cluster.init();
}, 180_000);

afterAll(() => {
  cluster?.destroy();
  rmSync(work, { recursive: true, force: true });
});

const withClientCert = { DATABASE_SSL_CERT: file('client.crt'), DATABASE_SSL_KEY: file('client.key') };

describe('TLS to PostgreSQL', () => {
  it('a plain connection is refused by a hostssl-only server', async () => {
    await expect(createTestPlatform({ DATABASE_URL: cluster.url, DATABASE_SSL_MODE: 'disable' })).rejects.toThrow(/no encryption|pg_hba\.conf/);
  });

  it('TLS without a client certificate is refused where the server asks for one', async () => {
    await expect(createTestPlatform({ DATABASE_URL: cluster.url, DATABASE_SSL_MODE: 'require' })).rejects.toThrow(/certificate/i);
  });

  it('require with the client certificate serves the API, and pg-boss’s pool is encrypted too', async () => {
    const t = await createTestPlatform({ DATABASE_URL: cluster.url, DATABASE_SSL_MODE: 'require', ...withClientCert });
    try {
      await t.platform.startServices();
      const owner = await signup(t, 'Tls Owner');
      const ws = await createWorkspace(t, owner);
      const wf = await t.inject({ method: 'POST', url: `/v1/workspaces/${ws}/workflows`, headers: bearer(owner.token), payload: { name: 'over tls', steps: [{ id: 't', type: 'transform', with: { expression: 'input.n + 1' } }] } });
      expect(wf.statusCode, wf.body).toBe(201);
      const run = await t.inject({ method: 'POST', url: `/v1/workspaces/${ws}/workflows/${wf.json().workflow.id}/runs`, headers: bearer(owner.token), payload: { input: { n: 41 } } });
      expect(run.statusCode, run.body).toBe(202);
      const deadline = Date.now() + 30_000;
      let status = '';
      while (Date.now() < deadline && status !== 'succeeded') {
        status = (await t.inject({ method: 'GET', url: `/v1/workspaces/${ws}/runs/${run.json().run.id}`, headers: bearer(owner.token) })).json().run.status;
        if (status !== 'succeeded') await new Promise((r) => setTimeout(r, 100));
      }
      expect(status).toBe('succeeded');
      // Every client connection the server sees from v01t (platform pool and pg-boss) is over TLS with the client certificate.
      const conns = await t.platform.database.query<{ application_name: string; ssl: boolean; client_dn: string | null }>(
        "SELECT a.application_name, s.ssl, s.client_dn FROM pg_stat_activity a JOIN pg_stat_ssl s ON s.pid = a.pid WHERE a.application_name LIKE 'v01t%'",
      );
      expect(conns.map((c) => c.application_name)).toEqual(expect.arrayContaining(['v01t-workflow-queue']));
      expect(conns.every((c) => c.ssl && c.client_dn === '/CN=postgres')).toBe(true);
    } finally {
      await t.close();
    }
  }, 120_000);

  it('verify-full accepts the server certificate from the right CA and refuses it under a wrong one', async () => {
    const t = await createTestPlatform({ DATABASE_URL: cluster.url, DATABASE_SSL_MODE: 'verify-full', DATABASE_SSL_CA: file('ca.crt'), ...withClientCert });
    expect((await t.inject({ method: 'GET', url: '/ready' })).statusCode).toBe(200);
    await t.close();
    await expect(createTestPlatform({ DATABASE_URL: cluster.url, DATABASE_SSL_MODE: 'verify-full', DATABASE_SSL_CA: file('wrong-ca.crt'), ...withClientCert })).rejects.toThrow(/self-signed|unable to verify|certificate/i);
    // A client certificate from another CA is refused by the server.
    await expect(createTestPlatform({ DATABASE_URL: cluster.url, DATABASE_SSL_MODE: 'require', DATABASE_SSL_CERT: file('stranger.crt'), DATABASE_SSL_KEY: file('stranger.key') })).rejects.toThrow();
    // verify-full without a CA, or a file that is not there, stops the start naming the variable.
    await expect(createTestPlatform({ DATABASE_URL: cluster.url, DATABASE_SSL_MODE: 'verify-full' })).rejects.toThrow(/DATABASE_SSL_CA/);
    await expect(createTestPlatform({ DATABASE_URL: cluster.url, DATABASE_SSL_MODE: 'require', DATABASE_SSL_CERT: file('nope.crt') })).rejects.toThrow(/DATABASE_SSL_CERT .*nope\.crt cannot be read/);
  }, 120_000);

  it('`v01t migrate` connects with the same settings', () => {
    execFileSync(process.execPath, ['scripts/ensure-build.mjs'], { cwd: ROOT, stdio: 'ignore' });
    const env = { PATH: process.env.PATH ?? '', DATABASE_URL: cluster.url, DATABASE_SSL_MODE: 'verify-full', DATABASE_SSL_CA: file('ca.crt'), ...withClientCert, LOG_LEVEL: 'warn' };
    const out = execFileSync(process.execPath, ['bin/v01t.js', 'migrate', '--status'], { cwd: ROOT, env, encoding: 'utf8' });
    expect(out).toMatch(/applied|pending|up to date/i);
    let refused = '';
    try {
      execFileSync(process.execPath, ['bin/v01t.js', 'migrate', '--status'], { cwd: ROOT, env: { ...env, DATABASE_SSL_MODE: 'disable' }, encoding: 'utf8', stdio: 'pipe' });
    } catch (err) {
      refused = String((err as { stderr?: string }).stderr);
    }
    expect(refused).toMatch(/^v01t: the database cannot be reached or refused the connection: .*(no encryption|pg_hba\.conf)/);
    expect(refused).not.toMatch(/\n\s+at /);
  }, 240_000);
});
