import { describe, expect, it } from 'vitest';
import { FORWARDED_PRINCIPAL_HEADER, PrincipalSigner } from './forwarded-principal.js';

const principal = { userId: 'u-1', tokenId: 't-1', tokenKind: 'session' as const, scopes: ['*'], platformAdmin: false, mfaEnabled: true };
const token = 'installation-internal-token-0123456789abcdef';

describe('forwarded principal (x-v01t-principal)', () => {
  const signer = new PrincipalSigner(token);
  const now = 1_800_000_000_000;

  it('round-trips the principal and the workspace access for the credential it was made for', () => {
    const workspace = { workspaceId: 'w-1', access: { workspaceId: 'w-1', role: 'developer' as const, requireMfa: false } };
    const header = signer.sign({ principal, workspace }, 'v01t_s_abc', now);
    expect(FORWARDED_PRINCIPAL_HEADER).toBe('x-v01t-principal');
    expect(signer.verify(header, 'v01t_s_abc', now + 1000)).toEqual({ principal, workspace });
  });

  it('refuses another credential, another key, a changed byte, an expired or far-future header, junk', () => {
    const header = signer.sign({ principal }, 'v01t_s_abc', now);
    expect(signer.verify(header, 'v01t_s_other', now)).toBeUndefined();
    expect(new PrincipalSigner(`${token}x`).verify(header, 'v01t_s_abc', now)).toBeUndefined();
    const [payload, mac] = header.split('.') as [string, string];
    const tampered = Buffer.from(payload, 'base64url').toString('utf8').replace('"platformAdmin":false', '"platformAdmin":true ');
    expect(signer.verify(`${Buffer.from(tampered).toString('base64url')}.${mac}`, 'v01t_s_abc', now)).toBeUndefined();
    expect(signer.verify(header, 'v01t_s_abc', now + 31_000)).toBeUndefined();
    expect(signer.verify(signer.sign({ principal }, 'v01t_s_abc', now + 120_000), 'v01t_s_abc', now)).toBeUndefined();
    for (const junk of [undefined, '', '.', 'abc', `${payload}.`, ['a', 'b'], 'x'.repeat(9000)]) expect(signer.verify(junk as never, 'v01t_s_abc', now)).toBeUndefined();
  });
});
