/** Phase 7, ratchet: the next node's capabilities from the parent's, for this run (DESIGN §5.9). */
import { ratchetChainKey } from '../crypto/index.js';
import type { ChainKeys } from '../store/keyring.js';

export function ratchet(parent: ChainKeys, runId: string): ChainKeys {
  return { state: ratchetChainKey(parent.state, 'state_cap', 'run', runId), net: ratchetChainKey(parent.net, 'net_cap', 'run', runId) };
}
