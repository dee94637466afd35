import crypto from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { capabilityV1, capabilityV2, codeOf } from '@swarm/test-utils';
import {
  assertCapabilityLive,
  capabilitySigningBytes,
  chainKeyRef,
  decodeCapability,
  encodeCapability,
  summarizeCapability,
  type CapabilityV2,
} from './capability.js';

/** A token built by hand from the v1 definition: base64url, no padding, of the JSON payload. */
function tokenOf(payload: unknown, json = JSON.stringify(payload)): string {
  return Buffer.from(json, 'utf8').toString('base64').replace(/=+$/, '').replace(/\+/g, '-').replace(/\//g, '_');
}

describe('decodeCapability', () => {
  it('reads a v1 token as other implementations write it', () => {
    const payload = capabilityV1('state_cap', 3);
    // Field order as written elsewhere, not canonical: decoding must not depend on it.
    const token = tokenOf(payload, JSON.stringify({ chain_key: payload.chain_key, kind: 'state_cap', ratchet_step: 3, state_id: payload.state_id, version: 1 }));
    expect(decodeCapability(token)).toEqual(payload);
    expect(decodeCapability(token, 'state_cap')).toEqual(payload);
  });

  it('round-trips what encodeCapability writes, v1 and v2', () => {
    for (const payload of [capabilityV1('net_cap', 0), capabilityV2('state_cap', 9)]) {
      const token = encodeCapability(payload);
      expect(token).toMatch(/^[A-Za-z0-9_-]+$/);
      expect(decodeCapability(token)).toEqual(payload);
    }
  });

  it('refuses a capability of the other kind', () => {
    const token = encodeCapability(capabilityV1('net_cap'));
    expect(codeOf(() => decodeCapability(token, 'state_cap'))).toBe('CAPABILITY_KIND_MISMATCH');
  });

  it.each([
    ['an unknown kind', { kind: 'fs_cap' }],
    ['an unknown version', { version: 3 }],
    ['a short chain key', { chain_key: 'ab'.repeat(31) }],
    ['an uppercase chain key', { chain_key: 'AB'.repeat(32) }],
    ['a non-hex chain key', { chain_key: 'zz'.repeat(32) }],
    ['a missing chain key', { chain_key: undefined }],
    ['a negative ratchet step', { ratchet_step: -1 }],
    ['a blank state id', { state_id: ' ' }],
  ])('refuses a payload with %s', (_label, change) => {
    const payload = { ...capabilityV1(), ...change };
    expect(codeOf(() => decodeCapability(tokenOf(payload)))).toBe('CAPABILITY_MALFORMED');
  });

  it('refuses a v2 payload without its binding fields', () => {
    const { audience: _a, ...payload } = capabilityV2();
    expect(codeOf(() => decodeCapability(tokenOf(payload)))).toBe('CAPABILITY_MALFORMED');
  });

  it('refuses non-canonical base64url forms of a valid token', () => {
    const payload = capabilityV1();
    const token = tokenOf(payload);
    const standard = Buffer.from(JSON.stringify(payload)).toString('base64');
    const padded = token.length % 4 === 0 ? `${token}` : `${token}${'='.repeat(4 - (token.length % 4))}`;
    const variants = [standard !== token ? standard : null, padded !== token ? padded : null, `${token.slice(0, 10)} ${token.slice(10)}`];
    // Flip the lowest bit of the last character when it only carries padding bits.
    const rem = Buffer.from(JSON.stringify(payload)).length % 3;
    if (rem !== 0) {
      const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';
      const last = alphabet.indexOf(token[token.length - 1]!);
      variants.push(`${token.slice(0, -1)}${alphabet[last | 1]}`);
    }
    for (const variant of variants.filter((v): v is string => v !== null)) {
      expect(codeOf(() => decodeCapability(variant)), variant).toBe('CAPABILITY_MALFORMED');
    }
  });

  it.each([
    ['an empty token', ''],
    ['base64url of text that is not JSON', tokenOf(null, 'not json')],
    ['base64url of a JSON array', tokenOf([1, 2])],
    ['base64url of JSON null', tokenOf(null)],
  ])('refuses %s', (_label, token) => {
    expect(codeOf(() => decodeCapability(token))).toBe('CAPABILITY_MALFORMED');
  });
});

describe('summarizeCapability', () => {
  it('never contains the chain key, in whole or in part', () => {
    for (const payload of [capabilityV1('state_cap'), capabilityV2('net_cap')]) {
      const text = JSON.stringify(summarizeCapability(payload));
      for (let i = 0; i + 8 <= payload.chain_key.length; i++) {
        expect(text).not.toContain(payload.chain_key.slice(i, i + 8));
      }
      expect(text).not.toContain(encodeCapability(payload));
    }
  });

  it('keeps what may be shown and a stable key reference', () => {
    const v2 = capabilityV2('net_cap', 4) as CapabilityV2;
    const summary = summarizeCapability(v2);
    expect(summary).toMatchObject({ version: 2, kind: 'net_cap', state_id: v2.state_id, ratchet_step: 4, audience: v2.audience, issuer: v2.issuer });
    expect(summary.key_ref).toBe(chainKeyRef(v2.chain_key));
    expect(chainKeyRef(v2.chain_key)).not.toBe(chainKeyRef(capabilityV1().chain_key));
  });
});

describe('capability v2 signing and expiry', () => {
  it('signs everything but the signature, so any other change breaks it', () => {
    const v2 = capabilityV2() as CapabilityV2;
    const { privateKey, publicKey } = crypto.generateKeyPairSync('ed25519');
    const signature = crypto.sign(null, capabilitySigningBytes(v2), privateKey);
    const signed = { ...v2, signature: signature.toString('base64url') };
    expect(capabilitySigningBytes(signed)).toEqual(capabilitySigningBytes(v2));
    expect(crypto.verify(null, capabilitySigningBytes(signed), publicKey, signature)).toBe(true);
    for (const change of [{ audience: 'run:other' }, { kind: 'state_cap' as const }, { expires_at_unix: (v2.expires_at_unix ?? 0) + 1 }]) {
      expect(crypto.verify(null, capabilitySigningBytes({ ...signed, ...change }), publicKey, signature)).toBe(false);
    }
  });

  it('expires a v2 capability at its expiry; v1 and open-ended v2 never expire', () => {
    const v2 = capabilityV2() as CapabilityV2;
    const at = v2.expires_at_unix!;
    expect(() => assertCapabilityLive(v2, at - 1)).not.toThrow();
    expect(codeOf(() => assertCapabilityLive(v2, at))).toBe('CAPABILITY_EXPIRED');
    expect(() => assertCapabilityLive({ ...v2, expires_at_unix: null }, Number.MAX_SAFE_INTEGER)).not.toThrow();
    expect(() => assertCapabilityLive(capabilityV1(), Number.MAX_SAFE_INTEGER)).not.toThrow();
  });
});
