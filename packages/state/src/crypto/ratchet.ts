/**
 * The capability ratchet (chain keys of state_cap and net_cap). The empty root node's chain keys
 * come from the installation root secret; every run and every fork derives its child's chain keys
 * with HKDF-SHA256 over the parent's chain key and a context naming the capability kind, the
 * operation and the run id or fork label. Knowing a child's key reveals nothing about its parent's,
 * and siblings (other runs, other fork labels) get unrelated keys.
 */
import { SwarmError, type CapabilityKind } from '@swarm/core';
import '../errors.js';
import { assertKeyLength, hkdf } from './hkdf.js';

export const CHAIN_KEY_BYTES = 32;

/** What a step of the ratchet is for; a seed is the node a `--workspace` launch starts from. */
export type RatchetOperation = 'run' | 'fork' | 'seed';

export interface ChainKeys {
  state: Buffer;
  net: Buffer;
}

/** The empty root node's chain keys: the same root secret gives the same root everywhere. */
export function rootChainKeys(rootSecret: Buffer): ChainKeys {
  if (!(rootSecret instanceof Uint8Array) || rootSecret.length < 32) {
    throw new SwarmError('STATE_KEY_INVALID', 'the installation root secret must be at least 32 bytes');
  }
  return {
    state: hkdf(rootSecret, 'swarm/v1/root-chain-key/state_cap'),
    net: hkdf(rootSecret, 'swarm/v1/root-chain-key/net_cap'),
  };
}

/** One ratchet step of one chain. The id (run id or fork label) goes last, so any text is unambiguous. */
export function ratchetChainKey(chainKey: Buffer, kind: CapabilityKind, op: RatchetOperation, id: string): Buffer {
  assertKeyLength(chainKey, CHAIN_KEY_BYTES, 'chain key');
  if (kind !== 'state_cap' && kind !== 'net_cap') throw new SwarmError('STATE_KEY_INVALID', `unknown capability kind ${String(kind)}`);
  if (op !== 'run' && op !== 'fork' && op !== 'seed') throw new SwarmError('STATE_KEY_INVALID', `unknown ratchet operation ${String(op)}`);
  if (typeof id !== 'string' || id.length === 0) {
    throw new SwarmError('STATE_KEY_INVALID', `a ratchet step needs a non-empty ${op === 'fork' ? 'fork label' : 'run id'}`);
  }
  return hkdf(chainKey, `swarm/v1/ratchet\0${kind}\0${op}\0${id}`);
}

/** Both chains one step on: a run uses op 'run' and its run id, a fork op 'fork' and its label. */
export function ratchetChainKeys(keys: ChainKeys, op: RatchetOperation, id: string): ChainKeys {
  return { state: ratchetChainKey(keys.state, 'state_cap', op, id), net: ratchetChainKey(keys.net, 'net_cap', op, id) };
}
