/**
 * XChaCha20-Poly1305, built from HChaCha20 (noble) and node:crypto's IETF ChaCha20-Poly1305.
 *
 * XChaCha20-Poly1305 is defined as: subkey = HChaCha20(key, nonce[0..16]), then
 * ChaCha20-Poly1305 (RFC 8439) under the subkey with nonce = 4 zero bytes ‖ nonce[16..24]. The
 * pure-JS cipher is an order of magnitude slower than OpenSSL's, so the bulk work goes through
 * node:crypto; a test checks the bytes are identical to noble's `xchacha20poly1305`.
 */
import { createCipheriv, createDecipheriv } from 'node:crypto';
import { hchacha } from '@noble/ciphers/chacha.js';
import { assertKeyLength } from './hkdf.js';

export const XCHACHA_KEY_BYTES = 32;
export const XCHACHA_NONCE_BYTES = 24;
export const POLY1305_TAG_BYTES = 16;

// "expand 32-byte k" as little-endian words.
const SIGMA = new Uint32Array([0x61707865, 0x3320646e, 0x79622d32, 0x6b206574]);

function words(bytes: Uint8Array, count: number): Uint32Array {
  const copy = new Uint8Array(count * 4);
  copy.set(bytes.subarray(0, count * 4));
  return new Uint32Array(copy.buffer);
}

/** HChaCha20(key, 16-byte nonce) → 32-byte subkey. */
export function hchacha20(key: Uint8Array, nonce16: Uint8Array): Buffer {
  assertKeyLength(key, XCHACHA_KEY_BYTES, 'XChaCha20 key');
  assertKeyLength(nonce16, 16, 'HChaCha20 nonce');
  const out = new Uint32Array(8);
  hchacha(SIGMA, words(key, 8), words(nonce16, 4), out);
  return Buffer.from(out.buffer);
}

/**
 * ChaCha20-Poly1305 under an XChaCha subkey: the last 8 nonce bytes select the message. Keeping the
 * subkey lets a stream that shares one 16-byte nonce prefix run HChaCha20 once, not per chunk.
 */
export interface XChaChaSubkeyCipher {
  /** Returns ciphertext then tag as two buffers (no concatenation copy). */
  seal(nonceTail8: Uint8Array, plaintext: Uint8Array, aad?: Uint8Array): [Buffer, Buffer];
  /** Returns the plaintext, or null when authentication fails. */
  open(nonceTail8: Uint8Array, ciphertext: Uint8Array, tag: Uint8Array, aad?: Uint8Array): Buffer | null;
}

export function xchachaSubkeyCipher(key: Uint8Array, noncePrefix16: Uint8Array): XChaChaSubkeyCipher {
  const subkey = hchacha20(key, noncePrefix16);
  const ietfNonce = (tail: Uint8Array): Buffer => {
    assertKeyLength(tail, 8, 'XChaCha20 nonce tail');
    const nonce = Buffer.alloc(12);
    nonce.set(tail, 4);
    return nonce;
  };
  return {
    seal(tail, plaintext, aad) {
      const cipher = createCipheriv('chacha20-poly1305', subkey, ietfNonce(tail), { authTagLength: POLY1305_TAG_BYTES });
      if (aad && aad.length > 0) cipher.setAAD(aad, { plaintextLength: plaintext.length });
      const body = cipher.update(plaintext);
      const rest = cipher.final();
      return [rest.length === 0 ? body : Buffer.concat([body, rest]), cipher.getAuthTag()];
    },
    open(tail, ciphertext, tag, aad) {
      if (tag.length !== POLY1305_TAG_BYTES) return null;
      const decipher = createDecipheriv('chacha20-poly1305', subkey, ietfNonce(tail), { authTagLength: POLY1305_TAG_BYTES });
      decipher.setAuthTag(tag);
      if (aad && aad.length > 0) decipher.setAAD(aad, { plaintextLength: ciphertext.length });
      const body = decipher.update(ciphertext);
      try {
        const rest = decipher.final();
        return rest.length === 0 ? body : Buffer.concat([body, rest]);
      } catch {
        body.fill(0);
        return null;
      }
    },
  };
}

/** One-shot XChaCha20-Poly1305 seal: ciphertext ‖ 16-byte tag (the same layout as noble's). */
export function xchachaSeal(key: Uint8Array, nonce24: Uint8Array, plaintext: Uint8Array, aad?: Uint8Array): Buffer {
  assertKeyLength(nonce24, XCHACHA_NONCE_BYTES, 'XChaCha20 nonce');
  const [body, tag] = xchachaSubkeyCipher(key, nonce24.subarray(0, 16)).seal(nonce24.subarray(16), plaintext, aad);
  return Buffer.concat([body, tag]);
}

/** One-shot XChaCha20-Poly1305 open of ciphertext ‖ tag; null when authentication fails. */
export function xchachaOpen(key: Uint8Array, nonce24: Uint8Array, sealed: Uint8Array, aad?: Uint8Array): Buffer | null {
  assertKeyLength(nonce24, XCHACHA_NONCE_BYTES, 'XChaCha20 nonce');
  if (sealed.length < POLY1305_TAG_BYTES) return null;
  const split = sealed.length - POLY1305_TAG_BYTES;
  return xchachaSubkeyCipher(key, nonce24.subarray(0, 16)).open(
    nonce24.subarray(16),
    sealed.subarray(0, split),
    sealed.subarray(split),
    aad,
  );
}
