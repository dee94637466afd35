import { hkdf as nobleHkdf } from '@noble/hashes/hkdf.js';
import { sha256 } from '@noble/hashes/sha2.js';
import { SwarmError } from '@swarm/core';
import '../errors.js';

/**
 * HKDF-SHA256 (RFC 5869). `info` is UTF-8 text naming what the key is for; every derivation in
 * swarm uses a distinct `swarm/v1/...` label so keys for different purposes never coincide.
 */
export function hkdf(ikm: Uint8Array, info: string, length = 32, salt?: Uint8Array): Buffer {
  if (!(ikm instanceof Uint8Array) || ikm.length === 0) throw new SwarmError('STATE_KEY_INVALID', 'HKDF input key material is empty');
  if (!Number.isInteger(length) || length < 1 || length > 255 * 32) {
    throw new SwarmError('STATE_KEY_INVALID', `HKDF output length ${length} is out of range`);
  }
  return Buffer.from(nobleHkdf(sha256, ikm, salt, Buffer.from(info, 'utf8'), length));
}

/** Throws unless `key` is exactly `length` bytes. */
export function assertKeyLength(key: Uint8Array, length: number, what: string): void {
  if (!(key instanceof Uint8Array) || key.length !== length) {
    throw new SwarmError('STATE_KEY_INVALID', `${what} must be ${length} bytes`, { details: { what, expected: length } });
  }
}
