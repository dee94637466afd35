import { SWARM_DIGEST_RE } from '@swarm/core';
import type { ChainLink } from '../chain.js';
import { sha256OfFile, type FileDigest } from '../file-digest.js';
import { failed, passed, skipped, type CheckResult } from '../report.js';

/** Digests already computed in this verification: a fork shares its parent's object. */
export type ObjectDigests = Map<string, FileDigest>;

/**
 * bundle_object: when the store holds the node's sealed bundle, its exact bytes hash to the
 * node's recorded bundle_sha256. A missing object is reported, not failed: the chain's claims do
 * not depend on it, and whatever restores from it checks the digest again before using it.
 */
export function checkBundleObject(link: ChainLink, digests: ObjectDigests): CheckResult {
  const recorded = link.state.bundle_sha256;
  const file = link.bundleObject;
  if (file === undefined || file === null) return skipped('bundle_object', 'the node store gave no object location');
  if (!SWARM_DIGEST_RE.test(recorded)) {
    return failed('bundle_object', 'VERIFY_CHAIN_BUNDLE_MISMATCH', `the recorded bundle digest ${JSON.stringify(recorded)} is not sha256:<64 lowercase hex>`, {
      expected: recorded,
    });
  }
  let found = digests.get(file);
  if (found === undefined) {
    found = sha256OfFile(file);
    digests.set(file, found);
  }
  switch (found.status) {
    case 'missing':
      return skipped('bundle_object', `the store does not hold the bundle object ${recorded}`, { object: file, present: false });
    case 'not-a-file':
      return failed('bundle_object', 'VERIFY_CHAIN_BUNDLE_MISMATCH', `the bundle object ${file} is not a regular file`, { object: file, expected: recorded });
    case 'unreadable':
      return failed('bundle_object', 'VERIFY_CHAIN_BUNDLE_MISMATCH', `the bundle object ${file} cannot be read (${found.errno})`, {
        object: file,
        expected: recorded,
        errno: found.errno,
      });
    case 'hashed':
      if (found.digest !== recorded) {
        return failed('bundle_object', 'VERIFY_CHAIN_BUNDLE_MISMATCH', `the bundle object hashes to ${found.digest}, but the node recorded ${recorded}`, {
          object: file,
          expected: recorded,
          actual: found.digest,
          size: found.size,
        });
      }
      return passed('bundle_object', `the sealed bundle (${found.size} bytes) hashes to ${recorded}`, { object: file, present: true, size: found.size });
  }
}
