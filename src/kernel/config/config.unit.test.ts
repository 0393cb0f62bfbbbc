import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { configReferenceMarkdown, ConfigError, defineConfig, envBool, KERNEL_CONFIG, loadConfig, positiveInt, setting, type ConfigSlice } from './index.js';

/** Two slices as services declare them: defaults, one computed from the kernel's settings, a secret, a cross-variable rule. */
const alpha = defineConfig(
  'alpha',
  {
    ALPHA_BATCH: setting(positiveInt.max(500).default(20), { description: 'items per batch' }),
    ALPHA_ENABLED: setting(envBool.default(true), { description: 'whether alpha runs' }),
    ALPHA_DIR: setting(z.string().min(1).optional(), { default: 'V01T_DATA_DIR/alpha', description: 'where alpha keeps files' }),
  },
  (e, kernel) => ({ batch: e.ALPHA_BATCH, enabled: e.ALPHA_ENABLED, dir: e.ALPHA_DIR ?? path.join(kernel.dataDir, 'alpha') }),
);
const beta = defineConfig(
  'beta',
  {
    BETA_TOKEN: setting(z.string().min(32, 'must be at least 32 characters').optional(), { secret: true, description: 'bearer secret of beta' }),
    BETA_MODE: setting(z.enum(['fast', 'safe']).optional(), { description: 'how beta works' }),
    BETA_URL: setting(z.url().optional(), { secret: true, description: 'where beta reaches its peer' }),
    BETA_RETRIES: setting(positiveInt.max(10).default(3), { description: 'attempts' }),
  },
  (e) => ({ token: e.BETA_TOKEN, mode: e.BETA_MODE ?? 'safe', url: e.BETA_URL, retries: e.BETA_RETRIES }),
  { check: (e) => (e.BETA_MODE === 'fast' && !e.BETA_URL ? [{ variable: 'BETA_URL', message: 'required when BETA_MODE=fast' }] : []) },
);
const slices = [alpha, beta] as ConfigSlice<unknown, never>[];

function problems(env: Record<string, string>, chosen = slices): string[] {
  try {
    loadConfig(env, chosen);
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigError);
    return (err as ConfigError).problems;
  }
  return [];
}

describe('composed configuration', () => {
  it("gives each slice its defaults, computed ones from the kernel's settings, under its key", () => {
    const c = loadConfig({ V01T_DATA_DIR: '/srv/v01t' }, slices);
    expect(alpha.read(c)).toEqual({ batch: 20, enabled: true, dir: '/srv/v01t/alpha' });
    expect(beta.read(c)).toEqual({ token: undefined, mode: 'safe', url: undefined, retries: 3 });
    expect(c.http.port).toBe(8080);
    const set = loadConfig({ ALPHA_BATCH: '7', ALPHA_ENABLED: 'no', ALPHA_DIR: '/x', BETA_MODE: 'fast', BETA_URL: 'https://peer.example' }, slices);
    expect(alpha.read(set)).toEqual({ batch: 7, enabled: false, dir: '/x' });
    expect(beta.read(set)).toMatchObject({ mode: 'fast', url: 'https://peer.example' });
  });

  it('reports bad values of the kernel and of two slices together, one line per variable', () => {
    const found = problems({ PORT: 'eighty', ALPHA_BATCH: '0', ALPHA_ENABLED: 'maybe', BETA_RETRIES: '11' });
    expect(found.map((p) => p.split(':')[0])).toEqual(['PORT', 'ALPHA_BATCH', 'ALPHA_ENABLED', 'BETA_RETRIES']);
    expect(found.find((p) => p.startsWith('ALPHA_BATCH'))).toContain('(got "0")');
  });

  it("checks a slice's cross-variable rule and every slice even when V01T_SERVICES is wrong", () => {
    expect(problems({ BETA_MODE: 'fast' })).toEqual(['BETA_URL: required when BETA_MODE=fast']);
    const chosenFor: string[][] = [];
    const select = (services: readonly string[]) => {
      chosenFor.push([...services]);
      return slices;
    };
    expect(() => loadConfig({ V01T_SERVICES: 'nope', ALPHA_BATCH: 'x' }, select)).toThrow(ConfigError);
    expect(() => loadConfig({ V01T_SERVICES: 'nope', ALPHA_BATCH: 'x' }, select)).toThrow(/V01T_SERVICES: unknown service "nope"[\s\S]*ALPHA_BATCH: /);
    expect(chosenFor[0]).toHaveLength(6);
    loadConfig({ V01T_SERVICES: 'gamification' }, select);
    expect(chosenFor.at(-1)).toEqual(['gamification']);
  });

  it('never prints a secret: not in the message, not in the problems; a secret URL without its credentials', () => {
    let err: unknown;
    try {
      loadConfig({ BETA_TOKEN: 'hunter2-too-short', BETA_URL: 'notaurl://admin:s3cr3tpw@', V01T_INTERNAL_TOKEN: 'short-internal-hunter3', DATABASE_URL: 'mysql://u:pgpass99@h/db' }, slices);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(ConfigError);
    const text = `${(err as Error).message}\n${(err as ConfigError).problems.join('\n')}\n${(err as Error).stack ?? ''}`;
    for (const secret of ['hunter2', 'hunter3', 's3cr3tpw', 'pgpass99']) expect(text).not.toContain(secret);
    expect(text).toMatch(/BETA_TOKEN: must be at least 32 characters \(value not shown: a secret\)/);
    expect(text).toMatch(/V01T_INTERNAL_TOKEN: .*not shown/);
    expect(text).toMatch(/DATABASE_URL: .*mysql:\/\/\*\*\*@h\/db/);
  });

  it('refuses a variable declared twice differently, and a slice key twice; accepts a shared one declared alike', () => {
    const clash = defineConfig('gamma', { ALPHA_BATCH: setting(positiveInt.default(99), { description: 'another meaning' }) }, (e) => e.ALPHA_BATCH);
    expect(() => loadConfig({}, [alpha, clash] as ConfigSlice<unknown, never>[])).toThrow(/ALPHA_BATCH is declared by alpha and gamma differently/);
    expect(() => loadConfig({}, [alpha, alpha] as ConfigSlice<unknown, never>[])).toThrow(/slice alpha declared twice/);
    const alike = defineConfig('delta', { ALPHA_BATCH: setting(positiveInt.max(500).default(20), { description: 'read by delta too' }) }, (e) => e.ALPHA_BATCH);
    const c = loadConfig({ ALPHA_BATCH: '5' }, [alpha, alike] as ConfigSlice<unknown, never>[]);
    expect(alike.read(c)).toBe(5);
    expect(configReferenceMarkdown([alpha, alike] as ConfigSlice<unknown, never>[])).toMatch(/\| `ALPHA_BATCH` \| alpha, delta \|/);
  });

  it('keeps a slice it was not given out of the configuration', () => {
    const c = loadConfig({ BETA_RETRIES: 'not checked here' }, [alpha] as ConfigSlice<unknown, never>[]);
    expect(() => beta.read(c)).toThrow(/no beta settings/);
  });

  it('documents every variable with its owner, type, default and secrecy', () => {
    const md = configReferenceMarkdown([KERNEL_CONFIG, ...slices] as ConfigSlice<unknown, never>[]);
    expect(md).toMatch(/^\| `PORT` \| kernel \| integer 0\.\.65535 \| `8080` \| .+ \|  \|$/m);
    expect(md).toMatch(/^\| `EXPRESSION_TIMEOUT_MS` \| kernel \| integer 10\.\.60000 \| `1000` \|/m);
    expect(md).toMatch(/^\| `S3_PREFIX` \| kernel \| text \| empty \|/m);
    expect(md).toMatch(/^\| `BODY_LIMIT_BYTES` \| kernel \| integer ≥ 1 \| `1048576` \|/m);
    expect(md).toMatch(/^\| `ALPHA_BATCH` \| alpha \| integer 1\.\.500 \| `20` \| items per batch \|  \|$/m);
    expect(md).toMatch(/^\| `ALPHA_ENABLED` \| alpha \| boolean \| `true` \|/m);
    expect(md).toMatch(/^\| `ALPHA_DIR` \| alpha \| text \| V01T_DATA_DIR\/alpha \|/m);
    expect(md).toMatch(/^\| `BETA_TOKEN` \| beta \| text \| unset \| bearer secret of beta \| yes \|$/m);
    expect(md).toMatch(/^\| `BETA_MODE` \| beta \| one of fast, safe \| unset \|/m);
    expect(md.indexOf('`PORT`')).toBeLessThan(md.indexOf('`ALPHA_BATCH`'));
  });
});
