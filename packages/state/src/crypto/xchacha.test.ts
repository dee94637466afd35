import { randomBytes } from 'node:crypto';
import { xchacha20poly1305 } from '@noble/ciphers/chacha.js';
import { describe, expect, it } from 'vitest';
import { XChaCha20Poly1305, hchacha20, xchachaOpen, xchachaSeal } from './xchacha.js';

describe('XChaCha20-Poly1305 over node:crypto', () => {
  it('matches the HChaCha20 test vector of the XChaCha draft', () => {
    const key = Buffer.from([...Array(32).keys()]);
    const nonce = Buffer.from('000000090000004a0000000031415927', 'hex');
    expect(hchacha20(key, nonce).toString('hex')).toBe('82413b4227b27bfed30e42508a877d73a0f9e4d58a74a853c12ec41326d3ecdc');
  });

  it('gives byte-identical output to @noble/ciphers on random inputs', () => {
    const lengths = [0, 1, 15, 16, 17, 63, 64, 65, 1000, 65_536, 65_537, 200_003];
    for (const length of lengths) {
      for (const aadLength of [0, 1, 36, 200]) {
        const key = randomBytes(32);
        const nonce = randomBytes(24);
        const plaintext = randomBytes(length);
        const aad = randomBytes(aadLength);
        const ours = xchachaSeal(key, nonce, plaintext, aad);
        const noble = xchacha20poly1305(key, nonce, aadLength > 0 ? aad : undefined).encrypt(plaintext);
        expect(ours.equals(Buffer.from(noble))).toBe(true);
        expect(xchachaOpen(key, nonce, ours, aad)?.equals(plaintext)).toBe(true);
        expect(Buffer.from(xchacha20poly1305(key, nonce, aadLength > 0 ? aad : undefined).decrypt(ours)).equals(plaintext)).toBe(true);
      }
    }
  });

  it('matches noble when one keyed instance seals and opens many messages with their own nonces', () => {
    const key = randomBytes(32);
    const cipher = new XChaCha20Poly1305(key);
    const aad = randomBytes(45);
    for (let i = 0; i < 50; i += 1) {
      const nonce = randomBytes(24);
      const plaintext = randomBytes(i * 37);
      const [body, tag] = cipher.seal(nonce, plaintext, aad);
      const noble = Buffer.from(xchacha20poly1305(key, nonce, aad).encrypt(plaintext));
      expect(Buffer.concat([body, tag]).equals(noble)).toBe(true);
      expect(cipher.open(nonce, body, tag, aad)?.equals(plaintext)).toBe(true);
      expect(cipher.open(randomBytes(24), body, tag, aad)).toBeNull();
    }
  });

  it('returns null for a wrong key, nonce, aad or any flipped bit', () => {
    const key = randomBytes(32);
    const nonce = randomBytes(24);
    const sealed = xchachaSeal(key, nonce, Buffer.from('capability'), Buffer.from('ctx'));
    expect(xchachaOpen(randomBytes(32), nonce, sealed, Buffer.from('ctx'))).toBeNull();
    expect(xchachaOpen(key, randomBytes(24), sealed, Buffer.from('ctx'))).toBeNull();
    expect(xchachaOpen(key, nonce, sealed, Buffer.from('other'))).toBeNull();
    for (let i = 0; i < sealed.length; i += 1) {
      const bad = Buffer.from(sealed);
      bad[i]! ^= 0x01;
      expect(xchachaOpen(key, nonce, bad, Buffer.from('ctx'))).toBeNull();
    }
    expect(xchachaOpen(key, nonce, sealed.subarray(0, 15), Buffer.from('ctx'))).toBeNull();
  });
});
