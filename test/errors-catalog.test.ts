import { describe, expect, it } from 'vitest';
import { AppError, defineErrors, errorCatalogMarkdown, errorDef, registerErrors } from '../src/kernel/errors.js';
import { availableModules } from '../src/apps/platform.js';

describe('the error catalog composed from the manifests', () => {
  it("holds every manifest's codes once the build's manifests are loaded, each with its owner", () => {
    const modules = Object.values(availableModules(() => new Map()));
    for (const m of modules) for (const code of Object.keys(m?.errors ?? {})) expect(errorDef(code), code).toEqual(m!.errors![code]);
    expect(new AppError('email_taken').status).toBe(409);
    expect(errorCatalogMarkdown()).toMatch(/\| `email_taken` \| 409 \| .* \| orchestrator \|/);
    expect(errorCatalogMarkdown()).toMatch(/\| `egress_blocked` \| 422 \| .* \| kernel \|/);
  });

  it('refuses a code declared twice by different owners or differently, and accepts the same declaration again', () => {
    defineErrors('test-a', { test_only_code: { status: 418, title: 'Test' } });
    expect(() => registerErrors('test-a', { test_only_code: { status: 418, title: 'Test' } })).not.toThrow();
    expect(() => registerErrors('test-b', { test_only_code: { status: 418, title: 'Test' } })).toThrow(/declared twice/);
    expect(() => registerErrors('test-a', { test_only_code: { status: 400, title: 'Test' } })).toThrow(/declared twice/);
    expect(() => registerErrors('test-a', { not_found: { status: 404, title: 'Not found' } })).toThrow(/declared twice \(kernel, test-a\)/);
  });
});
