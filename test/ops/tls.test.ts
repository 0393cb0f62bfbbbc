import { execFileSync, spawn } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import fs from 'node:fs';
import https from 'node:https';
import os from 'node:os';
import path from 'node:path';
import tls from 'node:tls';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestPlatform, type TestPlatform } from '../helpers/platform.js';
import { freePort } from '../helpers/ports.js';
import { StartupError } from '../../src/apps/platform.js';
import { requireBinary } from './tools.js';

/**
 * The API over TLS as the runbook sets it (TLS 1.3, TLS_AES_256_GCM_SHA384 and
 * TLS_CHACHA20_POLY1305_SHA256, HSTS), checked with Node's TLS client and with `openssl s_client`,
 * and a renewed certificate served without a restart.
 */
const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'v01t-tls-'));
const certFile = path.join(dir, 'tls.crt');
const keyFile = path.join(dir, 'tls.key');
let t: TestPlatform;
let port = 0;

/** A self-signed P-256 certificate for 127.0.0.1 with the given common name, written to the files (key first, then cert, by rename as a Secret update would). */
function issue(cn: string, into = { certFile, keyFile }): string {
  const tmp = fs.mkdtempSync(path.join(dir, 'new-'));
  execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-days', '2', '-subj', `/CN=${cn}`, '-addext', 'subjectAltName=IP:127.0.0.1', '-keyout', path.join(tmp, 'k'), '-out', path.join(tmp, 'c')], { stdio: 'ignore' });
  fs.renameSync(path.join(tmp, 'k'), into.keyFile);
  fs.renameSync(path.join(tmp, 'c'), into.certFile);
  return fs.readFileSync(into.certFile, 'utf8');
}

function handshake(opts: tls.ConnectionOptions): Promise<{ protocol: string | null; cipher: string; cn: string }> {
  return new Promise((resolve, reject) => {
    const socket = tls.connect({ host: '127.0.0.1', port, rejectUnauthorized: false, ...opts }, () => {
      const cert = socket.getPeerCertificate();
      resolve({ protocol: socket.getProtocol(), cipher: socket.getCipher().name, cn: String(cert.subject?.CN) });
      socket.end();
    });
    socket.once('error', reject);
  });
}

function get(pathname: string, ca: string): Promise<{ status: number; headers: Record<string, unknown>; body: string }> {
  return new Promise((resolve, reject) => {
    const req = https.request({ host: '127.0.0.1', port, path: pathname, ca, agent: false }, (res) => {
      let body = '';
      res.on('data', (c: Buffer) => (body += c.toString()));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
    });
    req.once('error', reject);
    req.end();
  });
}

/** `openssl s_client` in its own process, asynchronously: the server under test runs in this one. */
function sClient(args: string[]): Promise<{ code: number; out: string }> {
  return new Promise((resolve) => {
    const child = spawn('openssl', ['s_client', '-connect', `127.0.0.1:${port}`, ...args], { stdio: ['pipe', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (out += d.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), 15_000);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code: code ?? -1, out });
    });
    child.stdin.end();
  });
}

let firstCert = '';
beforeAll(async () => {
  requireBinary('openssl');
  firstCert = issue('v01t-first');
  port = await freePort();
  t = await createTestPlatform({ HOST: '127.0.0.1', PORT: String(port), TLS_CERT_FILE: certFile, TLS_KEY_FILE: keyFile, TLS_RELOAD_INTERVAL_MS: '100' });
  await t.platform.listen();
}, 120_000);

afterAll(async () => {
  await t?.close();
  fs.rmSync(dir, { recursive: true, force: true });
});

describe('HTTPS on the API', () => {
  it('speaks TLS 1.3 with one of the two runbook suites, and answers with HSTS', async () => {
    const h = await handshake({});
    expect(h.protocol).toBe('TLSv1.3');
    expect(['TLS_AES_256_GCM_SHA384', 'TLS_CHACHA20_POLY1305_SHA256']).toContain(h.cipher);
    const chacha = await handshake({ ciphers: 'TLS_CHACHA20_POLY1305_SHA256' });
    expect(chacha.cipher).toBe('TLS_CHACHA20_POLY1305_SHA256');
    const res = await get('/health', firstCert);
    expect(res.status).toBe(200);
    expect(res.headers['strict-transport-security']).toBe('max-age=31536000; includeSubDomains');
  });

  it('refuses TLS 1.2 and any other TLS 1.3 suite (Node client)', async () => {
    await expect(handshake({ maxVersion: 'TLSv1.2' })).rejects.toThrow();
    await expect(handshake({ ciphers: 'TLS_AES_128_GCM_SHA256' })).rejects.toThrow();
  });

  it('answers openssl s_client the same way', async () => {
    const ok = await sClient(['-tls1_3', '-ciphersuites', 'TLS_AES_256_GCM_SHA384']);
    expect(ok.out).toMatch(/TLSv1\.3/);
    expect(ok.out).toMatch(/Cipher is TLS_AES_256_GCM_SHA384/);
    const old = await sClient(['-tls1_2']);
    expect(old.out).not.toMatch(/Cipher is (?!\(NONE\))/);
    expect(old.code).not.toBe(0);
    const weak = await sClient(['-tls1_3', '-ciphersuites', 'TLS_AES_128_GCM_SHA256']);
    expect(weak.code).not.toBe(0);
    expect(weak.out).not.toMatch(/Cipher is TLS_AES_128_GCM_SHA256/);
  });

  it('serves a renewed certificate to new connections without a restart, and keeps the old one when the new files are broken', async () => {
    expect((await handshake({})).cn).toBe('v01t-first');
    const second = issue('v01t-second');
    const deadline = Date.now() + 15_000;
    let cn = '';
    while (Date.now() < deadline && cn !== 'v01t-second') {
      cn = (await handshake({})).cn;
      if (cn !== 'v01t-second') await new Promise((r) => setTimeout(r, 100));
    }
    expect(cn).toBe('v01t-second');
    expect(new X509Certificate(second).subject).toMatch(/CN=v01t-second/);
    expect((await get('/health', second)).status).toBe(200);
    // A half-written renewal (a key that does not match) is refused; the server keeps the last good pair.
    const other = { certFile: path.join(dir, 'other.crt'), keyFile: path.join(dir, 'other.key') };
    issue('v01t-other', other);
    fs.copyFileSync(other.keyFile, keyFile);
    await new Promise((r) => setTimeout(r, 600));
    expect((await handshake({})).cn).toBe('v01t-second');
  });

  it('refuses to start on a missing or mismatched pair, naming the file', async () => {
    await expect(createTestPlatform({ TLS_CERT_FILE: path.join(dir, 'nope.crt'), TLS_KEY_FILE: keyFile })).rejects.toThrow(/TLS_CERT_FILE .*nope\.crt cannot be read: ENOENT/);
    await expect(createTestPlatform({ TLS_CERT_FILE: certFile, TLS_KEY_FILE: keyFile })).rejects.toBeInstanceOf(StartupError);
    await expect(createTestPlatform({ TLS_CERT_FILE: certFile })).rejects.toThrow(/TLS_KEY_FILE/);
  });
});
