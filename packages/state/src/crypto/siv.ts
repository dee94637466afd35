/**
 * Deterministic authenticated encryption for small values (wrapped keys, sealed capabilities).
 *
 * SIV-style composition: the 24-byte nonce is HMAC-SHA256(macKey, len(aad) ‖ aad ‖ plaintext)
 * truncated, and the value is XChaCha20-Poly1305 under a separate encryption key with that nonce and
 * the aad. The same inputs give the same bytes (runs stay reproducible), and a nonce can only repeat
 * when the plaintext and aad repeat too, so misuse cannot turn into nonce reuse.
 * Output layout: nonce (24) ‖ ciphertext ‖ tag (16).
 */
import { createHmac, timingSafeEqual } from 'node:crypto';
import { hkdf } from './hkdf.js';
import { POLY1305_TAG_BYTES, XCHACHA_NONCE_BYTES, xchachaOpen, xchachaSeal } from './xchacha.js';

export const SIV_OVERHEAD = XCHACHA_NONCE_BYTES + POLY1305_TAG_BYTES;

interface SivKeys {
  enc: Buffer;
  mac: Buffer;
}

function sivKeys(key: Uint8Array, label: string): SivKeys {
  return { enc: hkdf(key, `${label}/enc`), mac: hkdf(key, `${label}/siv`) };
}

function syntheticNonce(mac: Buffer, aad: Buffer, plaintext: Uint8Array): Buffer {
  const length = Buffer.alloc(8);
  length.writeBigUInt64BE(BigInt(aad.length));
  return createHmac('sha256', mac).update(length).update(aad).update(plaintext).digest().subarray(0, XCHACHA_NONCE_BYTES);
}

export function sivSeal(key: Uint8Array, label: string, aad: string, plaintext: Uint8Array): Buffer {
  const keys = sivKeys(key, label);
  const aadBytes = Buffer.from(aad, 'utf8');
  const nonce = syntheticNonce(keys.mac, aadBytes, plaintext);
  return Buffer.concat([nonce, xchachaSeal(keys.enc, nonce, plaintext, aadBytes)]);
}

/** The plaintext, or null when the key, label or aad is wrong or the bytes were altered. */
export function sivOpen(key: Uint8Array, label: string, aad: string, sealed: Uint8Array): Buffer | null {
  if (sealed.length < SIV_OVERHEAD) return null;
  const keys = sivKeys(key, label);
  const aadBytes = Buffer.from(aad, 'utf8');
  const nonce = sealed.subarray(0, XCHACHA_NONCE_BYTES);
  const plaintext = xchachaOpen(keys.enc, nonce, sealed.subarray(XCHACHA_NONCE_BYTES), aadBytes);
  if (plaintext === null) return null;
  // A valid tag under a nonce that is not the synthetic one was not made by sivSeal.
  if (!timingSafeEqual(syntheticNonce(keys.mac, aadBytes, plaintext), nonce)) return null;
  return plaintext;
}
