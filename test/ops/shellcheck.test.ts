import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { REPO, requireBinary, run } from './tools.js';

describe('runbook scripts (scripts/*.sh)', () => {
  const scripts = fs.readdirSync(path.join(REPO, 'scripts')).filter((f) => f.endsWith('.sh'));

  it('are all shellcheck-clean', () => {
    const shellcheck = requireBinary('shellcheck');
    expect(scripts.length).toBeGreaterThan(0);
    const res = run(shellcheck, ['--severity=style', '--external-sources', ...scripts.map((f) => path.join(REPO, 'scripts', f))]);
    expect(res.status, res.stdout + res.stderr).toBe(0);
  });

  it('are executable bash scripts', () => {
    for (const f of scripts) {
      const file = path.join(REPO, 'scripts', f);
      expect(fs.readFileSync(file, 'utf8').split('\n')[0], f).toBe('#!/usr/bin/env bash');
      expect(fs.statSync(file).mode & 0o111, f).not.toBe(0);
    }
  });
});
