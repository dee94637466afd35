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

/** Little-endian words of `bytes` (the byte view of a fresh Uint32Array, so host order: x86/ARM). */
function words(bytes: Uint8Array, count: number): Uint32Array {
  const out = new Uint32Array(count);
  new Uint8Array(out.buffer).set(bytes.subarray(0, count * 4));
  return out;
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
 * XChaCha20-Poly1305 under one key for many messages, each with its own 24-byte nonce (a sealed
 * bundle has one per chunk). The key is split into words once and the per-message scratch (nonce
 * words, subkey, IETF nonce) is reused, so a message costs one HChaCha20 block and the AEAD itself.
 */
export class XChaCha20Poly1305 {
  readonly #keyWords: Uint32Array;
  readonly #nonceWords = new Uint32Array(4);
  readonly #nonceBytes = new Uint8Array(this.#nonceWords.buffer);
  readonly #subkeyWords = new Uint32Array(8);
  readonly #subkey = Buffer.from(this.#subkeyWords.buffer);
  readonly #ietfNonce = Buffer.alloc(12);

  constructor(key: Uint8Array) {
    assertKeyLength(key, XCHACHA_KEY_BYTES, 'XChaCha20 key');
    this.#keyWords = words(key, 8);
  }

  /** Sets up the subkey and IETF nonce for `nonce24` (createCipheriv copies both). */
  #prepare(nonce24: Uint8Array): void {
    assertKeyLength(nonce24, XCHACHA_NONCE_BYTES, 'XChaCha20 nonce');
    this.#nonceBytes.set(nonce24.subarray(0, 16));
    hchacha(SIGMA, this.#keyWords, this.#nonceWords, this.#subkeyWords);
    this.#ietfNonce.set(nonce24.subarray(16), 4);
  }

  /** Returns ciphertext then tag as two buffers (no concatenation copy). */
  seal(nonce24: Uint8Array, plaintext: Uint8Array, aad?: Uint8Array): [Buffer, Buffer] {
    this.#prepare(nonce24);
    const cipher = createCipheriv('chacha20-poly1305', this.#subkey, this.#ietfNonce, { authTagLength: POLY1305_TAG_BYTES });
    if (aad && aad.length > 0) cipher.setAAD(aad, { plaintextLength: plaintext.length });
    const body = cipher.update(plaintext);
    const rest = cipher.final();
    return [rest.length === 0 ? body : Buffer.concat([body, rest]), cipher.getAuthTag()];
  }

  /** Returns the plaintext, or null when authentication fails. */
  open(nonce24: Uint8Array, ciphertext: Uint8Array, tag: Uint8Array, aad?: Uint8Array): Buffer | null {
    if (tag.length !== POLY1305_TAG_BYTES) return null;
    this.#prepare(nonce24);
    const decipher = createDecipheriv('chacha20-poly1305', this.#subkey, this.#ietfNonce, { authTagLength: POLY1305_TAG_BYTES });
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
  }
}

/** One-shot XChaCha20-Poly1305 seal: ciphertext ‖ 16-byte tag (the same layout as noble's). */
export function xchachaSeal(key: Uint8Array, nonce24: Uint8Array, plaintext: Uint8Array, aad?: Uint8Array): Buffer {
  const [body, tag] = new XChaCha20Poly1305(key).seal(nonce24, plaintext, aad);
  return Buffer.concat([body, tag]);
}

/** One-shot XChaCha20-Poly1305 open of ciphertext ‖ tag; null when authentication fails. */
export function xchachaOpen(key: Uint8Array, nonce24: Uint8Array, sealed: Uint8Array, aad?: Uint8Array): Buffer | null {
  const cipher = new XChaCha20Poly1305(key);
  assertKeyLength(nonce24, XCHACHA_NONCE_BYTES, 'XChaCha20 nonce');
  if (sealed.length < POLY1305_TAG_BYTES) return null;
  const split = sealed.length - POLY1305_TAG_BYTES;
  return cipher.open(nonce24, sealed.subarray(0, split), sealed.subarray(split), aad);
}
