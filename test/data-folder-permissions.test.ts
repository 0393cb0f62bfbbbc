import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestPlatform, type TestPlatform } from './helpers/platform.js';
import { bearer, createWorkspace, signup } from './helpers/api.js';
import { loadKeyProvider } from '../src/kernel/crypto/secret-box.js';

/**
 * The data folder is the owner's alone: folders 0700, the files v01t writes 0600, even under a
 * permissive umask (022 here). Files the engines write themselves (PGlite's cluster, DuckDB's
 * WAL) sit inside 0700 folders; the CLI narrows the umask too (test/cli.test.ts walks it all).
 */
let t: TestPlatform;
let previousUmask: number;

const mode = (p: string) => fs.statSync(p).mode & 0o777;

function walk(dir: string): { dirs: string[]; files: string[] } {
  const out = { dirs: [dir], files: [] as string[] };
  for (const entry of fs.readdirSync(dir, { withFileTypes: true })) {
    const full = path.join(dir, entry.name);
    if (entry.isDirectory()) {
      const sub = walk(full);
      out.dirs.push(...sub.dirs);
      out.files.push(...sub.files);
    } else if (entry.isFile()) out.files.push(full);
  }
  return out;
}

beforeAll(async () => {
  previousUmask = process.umask(0o022);
  t = await createTestPlatform({ V01T_EPHEMERAL: 'false', ANALYTICS_BUFFER: 'file' });
}, 60_000);

afterAll(async () => {
  await t?.close();
  process.umask(previousUmask);
});

describe('data folder permissions', () => {
  it('creates the data folder, its sub-folders and the files v01t writes without group or other access', async () => {
    const owner = await signup(t, 'Perm Owner');
    const ws = await createWorkspace(t, owner, 'Perms');
    const png = Buffer.concat([Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]), Buffer.alloc(16)]);
    const payload = Buffer.concat([Buffer.from('--fx\r\nContent-Disposition: form-data; name="file"; filename="f.png"\r\nContent-Type: image/png\r\n\r\n'), png, Buffer.from('\r\n--fx--\r\n')]);
    const upload = await t.inject({ method: 'POST', url: `/v1/workspaces/${ws}/media`, headers: { ...bearer(owner.token), 'content-type': 'multipart/form-data; boundary=fx' }, payload });
    expect(upload.statusCode, upload.body).toBe(201);
    const ingest = await t.inject({ method: 'POST', url: `/v1/workspaces/${ws}/events`, headers: bearer(owner.token), payload: { batch: [{ event: 'perm.check', userId: 'u1', messageId: 'm1' }] } });
    expect(ingest.statusCode, ingest.body).toBe(202);

    const { dirs, files } = walk(t.dataDir);
    const engineOwned = (p: string) => p.startsWith(path.join(t.dataDir, 'pg') + path.sep) || p.endsWith('.wal');
    const ours = files.filter((f) => !engineOwned(f));
    // The media object with its sidecar, an analytics buffer segment and the DuckDB file at least.
    expect(ours.some((f) => f.includes(`${path.sep}analytics-buffer${path.sep}`))).toBe(true);
    expect(ours.some((f) => f.endsWith('.meta'))).toBe(true);
    expect(ours.some((f) => f.endsWith('analytics.duckdb'))).toBe(true);
    const open = [
      ...dirs.filter((d) => !engineOwned(d) || d === path.join(t.dataDir, 'pg')).filter((d) => mode(d) !== 0o700).map((d) => `${d} ${mode(d).toString(8)}`),
      ...ours.filter((f) => mode(f) & 0o077).map((f) => `${f} ${mode(f).toString(8)}`),
    ];
    expect(open).toEqual([]);
  });

  it('narrows a data folder an older version left readable, and writes the master key file 0600', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'v01t-perm-'));
    try {
      const data = path.join(dir, 'data');
      fs.mkdirSync(data, { mode: 0o755 });
      fs.chmodSync(data, 0o755);
      loadKeyProvider({ dataDir: data });
      expect(mode(data)).toBe(0o700);
      expect(mode(path.join(data, 'master.key'))).toBe(0o600);
      const fresh = path.join(dir, 'fresh', 'nested');
      loadKeyProvider({ dataDir: fresh });
      expect(mode(fresh)).toBe(0o700);
      expect(mode(path.join(dir, 'fresh'))).toBe(0o700);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
