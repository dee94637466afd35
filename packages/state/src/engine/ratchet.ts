/** Phase 7, ratchet: the next node's capabilities from the parent's, for this run (DESIGN §5.9). */
import { ratchetChainKeys, type ChainKeys } from '../crypto/index.js';

export function ratchet(parent: ChainKeys, runId: string): ChainKeys {
  return ratchetChainKeys(parent, 'run', runId);
}
