/**
 * Envelope encryption of bundles. Each bundle body is sealed under its own data key; the node keeps
 * that data key wrapped under a key derived from its state chain key. A fork re-wraps the same data
 * key under the forked chain key, so it costs O(1) whatever the bundle size.
 */
import { SwarmError, decodeBase64UrlStrict } from '@swarm/core';
import '../errors.js';
import { assertKeyLength, hkdf } from './hkdf.js';
import { CHAIN_KEY_BYTES } from './ratchet.js';
import { SIV_OVERHEAD, sivOpen, sivSeal } from './siv.js';

export const DATA_KEY_BYTES = 32;
export const WRAPPED_KEY_PREFIX = 'swk1.';
const WRAP_LABEL = 'swarm/v1/key-wrap';

/** The key that wraps data keys for the node holding this state chain key. */
export function bundleWrapKey(stateChainKey: Buffer): Buffer {
  assertKeyLength(stateChainKey, CHAIN_KEY_BYTES, 'state chain key');
  return hkdf(stateChainKey, 'swarm/v1/bundle/wrap-key');
}

/**
 * The data key for the bundle of the node holding this state chain key. Derived, not random, so a
 * run repeated with the same inputs reproduces the same sealed bytes. A chain key must therefore
 * seal one bundle only: never seal different content twice under one node's chain key.
 */
export function deriveDataKey(stateChainKey: Buffer): Buffer {
  assertKeyLength(stateChainKey, CHAIN_KEY_BYTES, 'state chain key');
  return hkdf(stateChainKey, 'swarm/v1/bundle/data-key');
}

/**
 * Wraps a data key: `swk1.` + base64url(nonce ‖ ciphertext ‖ tag). The nonce is synthetic (derived
 * from the wrap key, aad and data key), so wrapping is deterministic and never reuses a nonce for
 * different keys. `aad` binds the wrap to its use (for example the node or state id).
 */
export function wrapDataKey(dataKey: Buffer, wrapKey: Buffer, aad: string): string {
  assertKeyLength(dataKey, DATA_KEY_BYTES, 'data key');
  assertKeyLength(wrapKey, 32, 'wrap key');
  return WRAPPED_KEY_PREFIX + sivSeal(wrapKey, WRAP_LABEL, aad, dataKey).toString('base64url');
}

export function unwrapDataKey(wrapped: string, wrapKey: Buffer, aad: string): Buffer {
  assertKeyLength(wrapKey, 32, 'wrap key');
  if (typeof wrapped !== 'string' || !wrapped.startsWith(WRAPPED_KEY_PREFIX)) {
    throw new SwarmError('STATE_WRAPPED_KEY_MALFORMED', 'a wrapped key starts with swk1.');
  }
  const bytes = decodeBase64UrlStrict(wrapped.slice(WRAPPED_KEY_PREFIX.length), 'STATE_WRAPPED_KEY_MALFORMED');
  if (bytes.length !== DATA_KEY_BYTES + SIV_OVERHEAD) {
    throw new SwarmError('STATE_WRAPPED_KEY_MALFORMED', `a wrapped key holds ${DATA_KEY_BYTES + SIV_OVERHEAD} bytes`);
  }
  const dataKey = sivOpen(wrapKey, WRAP_LABEL, aad, bytes);
  if (dataKey === null) {
    throw new SwarmError('STATE_KEY_MISMATCH', 'this capability does not open the bundle key (another node, ratchet step or branch)');
  }
  return dataKey;
}
