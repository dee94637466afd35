import { createHmac, hkdfSync, randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { SIV_OVERHEAD, sivOpen, sivSeal } from './siv.js';
import { xchachaSeal } from './xchacha.js';

const LABEL = 'swarm/v1/test-siv';

function derive(key: Buffer, info: string): Buffer {
  return Buffer.from(hkdfSync('sha256', key, Buffer.alloc(0), info, 32));
}

/** The nonce as documented in siv.ts: HMAC(mac key, u64be(len(aad)) ‖ aad ‖ plaintext), 24 bytes. */
function documentedNonce(key: Buffer, aad: string, plaintext: Buffer): Buffer {
  const aadBytes = Buffer.from(aad, 'utf8');
  const length = Buffer.alloc(8);
  length.writeBigUInt64BE(BigInt(aadBytes.length));
  return createHmac('sha256', derive(key, `${LABEL}/siv`)).update(length).update(aadBytes).update(plaintext).digest().subarray(0, 24);
}

describe('deterministic sealing of small values (wrapped keys, sealed secrets)', () => {
  const key = randomBytes(32);

  it('derives the nonce from the plaintext and the context, as documented', () => {
    const plaintext = randomBytes(32);
    const sealed = sivSeal(key, LABEL, 'node-1', plaintext);
    expect(sealed.length).toBe(plaintext.length + SIV_OVERHEAD);
    expect(sealed.subarray(0, 24).equals(documentedNonce(key, 'node-1', plaintext))).toBe(true);
    expect(sivSeal(key, LABEL, 'node-1', plaintext).equals(sealed)).toBe(true);
    expect(sivOpen(key, LABEL, 'node-1', sealed)?.equals(plaintext)).toBe(true);
  });

  it('never reuses a nonce for different plaintexts or contexts under one key', () => {
    const a = randomBytes(32);
    const b = randomBytes(32);
    const nonces = [sivSeal(key, LABEL, 'x', a), sivSeal(key, LABEL, 'x', b), sivSeal(key, LABEL, 'y', a)].map((sealed) =>
      sealed.subarray(0, 24).toString('hex'),
    );
    expect(new Set(nonces).size).toBe(3);
    const sa = sivSeal(key, LABEL, 'x', a);
    const sb = sivSeal(key, LABEL, 'x', b);
    const xor = (p: Buffer, q: Buffer) => Buffer.from(p.map((byte, i) => byte ^ q[i]!));
    expect(xor(sa.subarray(24, 56), sb.subarray(24, 56)).equals(xor(a, b))).toBe(false);
  });

  it('keeps the context and the plaintext apart (the context length is part of the nonce input)', () => {
    const one = sivSeal(key, LABEL, 'ab', Buffer.from('c'));
    const two = sivSeal(key, LABEL, 'a', Buffer.from('bc'));
    expect(one.subarray(0, 24).equals(two.subarray(0, 24))).toBe(false);
  });

  it('refuses a value that authenticates under a nonce it would not have chosen', () => {
    const plaintext = Buffer.from('capability');
    const forged = randomBytes(24);
    const body = xchachaSeal(derive(key, `${LABEL}/enc`), forged, plaintext, Buffer.from('ctx'));
    expect(sivOpen(key, LABEL, 'ctx', Buffer.concat([forged, body]))).toBeNull();
    const honest = documentedNonce(key, 'ctx', plaintext);
    const valid = Buffer.concat([honest, xchachaSeal(derive(key, `${LABEL}/enc`), honest, plaintext, Buffer.from('ctx'))]);
    expect(sivOpen(key, LABEL, 'ctx', valid)?.equals(plaintext)).toBe(true);
  });
});
