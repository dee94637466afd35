import { hkdfSync, randomBytes } from 'node:crypto';
import { SwarmError } from '@swarm/core';
import { describe, expect, it } from 'vitest';
import { hkdf } from './hkdf.js';
import { bundleWrapKey, deriveDataKey, unwrapDataKey, wrapDataKey } from './key-wrap.js';
import { ratchetChainKey, ratchetChainKeys, rootChainKeys } from './ratchet.js';
import { openSecret, sealSecret } from './seal-secret.js';

function codeOf(fn: () => unknown): string | undefined {
  try {
    fn();
  } catch (error) {
    expect(error).toBeInstanceOf(SwarmError);
    return (error as SwarmError).code;
  }
  return undefined;
}

describe('hkdf', () => {
  it('matches RFC 5869 test case 3 (SHA-256, empty salt and info)', () => {
    const okm = hkdf(Buffer.alloc(22, 0x0b), '', 42);
    expect(okm.toString('hex')).toBe('8da4e775a563c18f715f802a063c5a31b8a11f5c5ee1879ec3454e5f3c738d2d9d201395faa4b61a96c8');
  });

  it('agrees with node:crypto hkdfSync', () => {
    for (const info of ['swarm/v1/x', 'ünïcode ✓', 'a\0b']) {
      const ikm = randomBytes(32);
      const salt = randomBytes(16);
      expect(hkdf(ikm, info, 48, salt).equals(Buffer.from(hkdfSync('sha256', ikm, salt, Buffer.from(info), 48)))).toBe(true);
    }
  });

  it('refuses empty key material and impossible lengths', () => {
    expect(codeOf(() => hkdf(Buffer.alloc(0), 'x'))).toBe('STATE_KEY_INVALID');
    expect(codeOf(() => hkdf(randomBytes(32), 'x', 0))).toBe('STATE_KEY_INVALID');
  });
});

describe('ratchet', () => {
  const secret = randomBytes(32);

  it('derives the same root from the same secret and a different one from another', () => {
    expect(rootChainKeys(secret).state.equals(rootChainKeys(Buffer.from(secret)).state)).toBe(true);
    expect(rootChainKeys(secret).state.equals(rootChainKeys(randomBytes(32)).state)).toBe(false);
    expect(rootChainKeys(secret).state.equals(rootChainKeys(secret).net)).toBe(false);
    expect(codeOf(() => rootChainKeys(randomBytes(16)))).toBe('STATE_KEY_INVALID');
  });

  it('gives a distinct key for every kind, operation and id', () => {
    const root = rootChainKeys(secret);
    const keys = new Set<string>([root.state.toString('hex'), root.net.toString('hex')]);
    for (const kind of ['state_cap', 'net_cap'] as const) {
      for (const op of ['run', 'fork'] as const) {
        for (const id of ['r1', 'r2', 'r1\0', 'A']) keys.add(ratchetChainKey(root.state, kind, op, id).toString('hex'));
      }
    }
    expect(keys.size).toBe(2 + 2 * 2 * 4);
    expect(ratchetChainKey(root.state, 'state_cap', 'run', 'r1').equals(ratchetChainKey(root.state, 'state_cap', 'run', 'r1'))).toBe(true);
  });

  it('steps both chains at once', () => {
    const root = rootChainKeys(secret);
    const next = ratchetChainKeys(root, 'run', 'r1');
    expect(next.state.equals(ratchetChainKey(root.state, 'state_cap', 'run', 'r1'))).toBe(true);
    expect(next.net.equals(ratchetChainKey(root.net, 'net_cap', 'run', 'r1'))).toBe(true);
  });

  it('refuses malformed inputs', () => {
    const root = rootChainKeys(secret);
    expect(codeOf(() => ratchetChainKey(randomBytes(31), 'state_cap', 'run', 'r'))).toBe('STATE_KEY_INVALID');
    expect(codeOf(() => ratchetChainKey(root.state, 'state_cap', 'run', ''))).toBe('STATE_KEY_INVALID');
    expect(codeOf(() => ratchetChainKey(root.state, 'bogus' as 'state_cap', 'run', 'r'))).toBe('STATE_KEY_INVALID');
    expect(codeOf(() => ratchetChainKey(root.state, 'state_cap', 'merge' as 'run', 'r'))).toBe('STATE_KEY_INVALID');
  });
});

describe('data key wrapping', () => {
  const chain = rootChainKeys(randomBytes(32)).state;

  it('wraps deterministically and unwraps with the same key and aad', () => {
    const dataKey = deriveDataKey(chain);
    const wrapped = wrapDataKey(dataKey, bundleWrapKey(chain), 'node-1');
    expect(wrapped).toMatch(/^swk1\.[A-Za-z0-9_-]+$/);
    expect(wrapDataKey(dataKey, bundleWrapKey(chain), 'node-1')).toBe(wrapped);
    expect(unwrapDataKey(wrapped, bundleWrapKey(chain), 'node-1').equals(dataKey)).toBe(true);
    expect(wrapped).not.toContain(dataKey.toString('base64url'));
  });

  it('uses a different nonce for different data keys under one wrap key and aad', () => {
    const wrapKey = bundleWrapKey(chain);
    const a = Buffer.from(wrapDataKey(randomBytes(32), wrapKey, 'x').slice(5), 'base64url');
    const b = Buffer.from(wrapDataKey(randomBytes(32), wrapKey, 'x').slice(5), 'base64url');
    expect(a.subarray(0, 24).equals(b.subarray(0, 24))).toBe(false);
  });

  it('refuses a wrong key, a wrong aad and altered bytes with STATE_KEY_MISMATCH', () => {
    const wrapped = wrapDataKey(deriveDataKey(chain), bundleWrapKey(chain), 'node-1');
    const other = ratchetChainKey(chain, 'state_cap', 'run', 'r1');
    expect(codeOf(() => unwrapDataKey(wrapped, bundleWrapKey(other), 'node-1'))).toBe('STATE_KEY_MISMATCH');
    expect(codeOf(() => unwrapDataKey(wrapped, bundleWrapKey(chain), 'node-2'))).toBe('STATE_KEY_MISMATCH');
    const bytes = Buffer.from(wrapped.slice(5), 'base64url');
    for (const index of [0, 23, 24, 40, bytes.length - 1]) {
      const bad = Buffer.from(bytes);
      bad[index]! ^= 0x80;
      expect(codeOf(() => unwrapDataKey(`swk1.${bad.toString('base64url')}`, bundleWrapKey(chain), 'node-1'))).toBe('STATE_KEY_MISMATCH');
    }
  });

  it('refuses malformed wrapped keys', () => {
    const wrapKey = bundleWrapKey(chain);
    expect(codeOf(() => unwrapDataKey('nope', wrapKey, 'x'))).toBe('STATE_WRAPPED_KEY_MALFORMED');
    expect(codeOf(() => unwrapDataKey('swk1.AAAA', wrapKey, 'x'))).toBe('STATE_WRAPPED_KEY_MALFORMED');
    expect(codeOf(() => unwrapDataKey('swk1.!!', wrapKey, 'x'))).toBe('STATE_WRAPPED_KEY_MALFORMED');
    expect(codeOf(() => wrapDataKey(randomBytes(16), wrapKey, 'x'))).toBe('STATE_KEY_INVALID');
  });

  it('derives wrap and data keys that differ from each other and from the chain key', () => {
    const keys = [chain, bundleWrapKey(chain), deriveDataKey(chain)].map((k) => k.toString('hex'));
    expect(new Set(keys).size).toBe(3);
  });
});

describe('sealed secrets', () => {
  const secret = randomBytes(32);

  it('round-trips, deterministically, without the plaintext in the sealed form', () => {
    const sealed = sealSecret('state-cap-token-xyz', secret, 'state_cap:node-1');
    expect(sealed).toMatch(/^sealed:v1:[A-Za-z0-9_-]+$/);
    expect(sealSecret('state-cap-token-xyz', secret, 'state_cap:node-1')).toBe(sealed);
    expect(sealed).not.toContain('state-cap-token-xyz');
    expect(sealed).not.toContain(Buffer.from('state-cap-token-xyz').toString('base64url').slice(0, 12));
    expect(openSecret(sealed, secret, 'state_cap:node-1')).toBe('state-cap-token-xyz');
    expect(openSecret(sealSecret('', secret, 'c'), secret, 'c')).toBe('');
    expect(openSecret(sealSecret('ünï ✓', secret, 'c'), secret, 'c')).toBe('ünï ✓');
  });

  it('gives different sealed text for different plaintexts or contexts', () => {
    expect(sealSecret('a', secret, 'c')).not.toBe(sealSecret('b', secret, 'c'));
    expect(sealSecret('a', secret, 'c')).not.toBe(sealSecret('a', secret, 'd'));
  });

  it('refuses another secret, another context and tampering', () => {
    const sealed = sealSecret('token', secret, 'ctx');
    expect(codeOf(() => openSecret(sealed, randomBytes(32), 'ctx'))).toBe('STATE_SEALED_SECRET_INVALID');
    expect(codeOf(() => openSecret(sealed, secret, 'ctx2'))).toBe('STATE_SEALED_SECRET_INVALID');
    const bytes = Buffer.from(sealed.slice('sealed:v1:'.length), 'base64url');
    for (let i = 0; i < bytes.length; i += 1) {
      const bad = Buffer.from(bytes);
      bad[i]! ^= 0x04;
      expect(codeOf(() => openSecret(`sealed:v1:${bad.toString('base64url')}`, secret, 'ctx'))).toBe('STATE_SEALED_SECRET_INVALID');
    }
  });

  it('refuses malformed sealed text', () => {
    expect(codeOf(() => openSecret('token', secret, 'c'))).toBe('STATE_SEALED_SECRET_MALFORMED');
    expect(codeOf(() => openSecret('sealed:v1:AAAA', secret, 'c'))).toBe('STATE_SEALED_SECRET_MALFORMED');
    expect(codeOf(() => openSecret('sealed:v1:AA==', secret, 'c'))).toBe('STATE_SEALED_SECRET_MALFORMED');
    expect(codeOf(() => sealSecret('x', randomBytes(8), 'c'))).toBe('STATE_KEY_INVALID');
  });
});
