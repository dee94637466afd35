import { SWARM_DIGEST_RE } from '@swarm/core';
import type { ChainLink } from '../chain.js';
import { failed, passed, skipped, type CheckResult } from '../report.js';

/**
 * artifact_hash (in a chain): the certificate bytes hash to the artifact hash the catalog recorded
 * for the node's run. Binds the file on disk to what was committed, signature or not, so an edited
 * certificate fails even when it is re-signed or unsigned links are allowed.
 */
export function checkRecordedArtifactHash(link: ChainLink, artifactHash: string): CheckResult {
  const recorded = link.recordedArtifactHash;
  if (recorded === undefined) {
    return skipped('artifact_hash', `the node store did not say which artifact hash it recorded (the certificate hashes to ${artifactHash})`);
  }
  if (recorded === null) {
    return failed('artifact_hash', 'VERIFY_CERT_HASH_MISMATCH', `the catalog records no artifact hash for ${link.kind} node ${link.nodeId}, which has a certificate`, {
      expected: null,
      actual: artifactHash,
    });
  }
  if (!SWARM_DIGEST_RE.test(recorded) || recorded !== artifactHash) {
    return failed('artifact_hash', 'VERIFY_CERT_HASH_MISMATCH', `certificate bytes hash to ${artifactHash}, but the catalog recorded ${recorded}`, {
      expected: recorded,
      actual: artifactHash,
    });
  }
  return passed('artifact_hash', `certificate bytes hash to ${artifactHash}, as the catalog recorded`, { actual: artifactHash });
}
