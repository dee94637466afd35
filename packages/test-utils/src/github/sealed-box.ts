/**
 * libsodium's `crypto_box_seal` / `crypto_box_seal_open`, the sealed box GitHub's secrets API uses
 * (what `gh secret set` sends): an ephemeral X25519 key pair, nonce = BLAKE2b-192(epk ‖ pk), and
 * `crypto_box` (HSalsa20 of the shared point, then XSalsa20-Poly1305). Output = epk ‖ tag ‖ ct.
 */
import { randomBytes } from 'node:crypto';
import { x25519 } from '@noble/curves/ed25519.js';
import { hsalsa, xsalsa20poly1305 } from '@noble/ciphers/salsa.js';
import { blake2b } from '@noble/hashes/blake2.js';

export const SEAL_PUBLIC_KEY_BYTES = 32;
/** Ephemeral public key plus the Poly1305 tag. */
export const SEAL_OVERHEAD_BYTES = 48;

export interface SealKeyPair {
  publicKey: Uint8Array;
  secretKey: Uint8Array;
}

// "expand 32-byte k" as little-endian words (the Salsa20 sigma constant).
const SIGMA = new Uint32Array([0x61707865, 0x3320646e, 0x79622d32, 0x6b206574]);

function words(bytes: Uint8Array, count: number): Uint32Array {
  const out = new Uint32Array(count);
  new Uint8Array(out.buffer).set(bytes.subarray(0, count * 4));
  return out;
}

/** crypto_box_beforenm: HSalsa20(X25519(sk, pk), 16 zero bytes). */
function boxKey(secretKey: Uint8Array, publicKey: Uint8Array): Uint8Array {
  const shared = x25519.getSharedSecret(secretKey, publicKey);
  const out = new Uint32Array(8);
  hsalsa(SIGMA, words(shared, 8), new Uint32Array(4), out);
  shared.fill(0);
  return new Uint8Array(out.buffer);
}

function sealNonce(ephemeralPublicKey: Uint8Array, recipientPublicKey: Uint8Array): Uint8Array {
  const input = new Uint8Array(64);
  input.set(ephemeralPublicKey, 0);
  input.set(recipientPublicKey, 32);
  return blake2b(input, { dkLen: 24 });
}

export function sealKeyPair(): SealKeyPair {
  const secretKey = x25519.utils.randomSecretKey();
  return { secretKey, publicKey: x25519.getPublicKey(secretKey) };
}

/** crypto_box_seal(message, recipientPublicKey). */
export function seal(message: Uint8Array | string, recipientPublicKey: Uint8Array): Buffer {
  if (recipientPublicKey.length !== SEAL_PUBLIC_KEY_BYTES) throw new Error('sealed box: the public key must be 32 bytes');
  const plain = typeof message === 'string' ? Buffer.from(message, 'utf8') : message;
  const ephemeralSecret = new Uint8Array(randomBytes(32));
  const ephemeralPublic = x25519.getPublicKey(ephemeralSecret);
  const key = boxKey(ephemeralSecret, recipientPublicKey);
  const boxed = xsalsa20poly1305(key, sealNonce(ephemeralPublic, recipientPublicKey)).encrypt(plain);
  ephemeralSecret.fill(0);
  key.fill(0);
  return Buffer.concat([ephemeralPublic, boxed]);
}

/** crypto_box_seal_open; throws when the box is too short, malformed or does not authenticate. */
export function openSealed(sealed: Uint8Array, keyPair: SealKeyPair): Buffer {
  if (sealed.length < SEAL_OVERHEAD_BYTES) throw new Error('sealed box: too short');
  const ephemeralPublic = sealed.subarray(0, 32);
  const key = boxKey(keyPair.secretKey, ephemeralPublic);
  try {
    return Buffer.from(xsalsa20poly1305(key, sealNonce(ephemeralPublic, keyPair.publicKey)).decrypt(sealed.subarray(32)));
  } finally {
    key.fill(0);
  }
}
