/**
 * Anonymous sealed boxes (libsodium's crypto_box_seal): X25519 with an ephemeral key, then
 * XSalsa20-Poly1305 under the HSalsa20 of the shared secret, nonce = BLAKE2b-192(epk ‖ pk).
 * GitHub seals Actions secrets this way; swarm uses the same construction for capabilities sent
 * to a runner and for tokens a runner sends back, so one audited primitive covers both.
 */
import crypto from 'node:crypto';
import { xsalsa20poly1305 } from '@noble/ciphers/salsa.js';
import { hsalsa } from '@noble/ciphers/salsa.js';
import { x25519 } from '@noble/curves/ed25519.js';
import { blake2b } from '@noble/hashes/blake2.js';
import { SwarmError } from '@swarm/core';

function boxKey(shared: Uint8Array): Uint8Array {
  // crypto_box_beforenm: HSalsa20(shared, zero nonce) with the "expand 32-byte k" constants.
  const sigma = new Uint32Array([0x61707865, 0x3320646e, 0x79622d32, 0x6b206574]);
  const key32 = new Uint32Array(shared.buffer.slice(shared.byteOffset, shared.byteOffset + 32));
  const out = new Uint32Array(8);
  hsalsa(sigma, key32, new Uint32Array(4), out);
  return new Uint8Array(out.buffer);
}

function nonceOf(ephemeralPublic: Uint8Array, recipientPublic: Uint8Array): Uint8Array {
  return blake2b(Buffer.concat([ephemeralPublic, recipientPublic]), { dkLen: 24 });
}

export function sealBox(message: Uint8Array, recipientPublic: Uint8Array): Buffer {
  if (recipientPublic.length !== 32) throw new SwarmError('KEYS_INVALID', 'an X25519 public key is 32 bytes');
  const ephemeralSecret = crypto.randomBytes(32);
  const ephemeralPublic = x25519.getPublicKey(ephemeralSecret);
  const key = boxKey(x25519.getSharedSecret(ephemeralSecret, recipientPublic));
  const sealed = xsalsa20poly1305(key, nonceOf(ephemeralPublic, recipientPublic)).encrypt(message);
  ephemeralSecret.fill(0);
  return Buffer.concat([ephemeralPublic, sealed]);
}

/** Opens a sealed box, or returns null (wrong key, tampered, truncated). */
export function openBox(box: Uint8Array, recipientSecret: Uint8Array): Buffer | null {
  if (box.length < 32 + 16) return null;
  const recipientPublic = x25519.getPublicKey(recipientSecret);
  const ephemeralPublic = box.subarray(0, 32);
  try {
    const key = boxKey(x25519.getSharedSecret(recipientSecret, ephemeralPublic));
    return Buffer.from(xsalsa20poly1305(key, nonceOf(ephemeralPublic, recipientPublic)).decrypt(box.subarray(32)));
  } catch {
    return null;
  }
}
