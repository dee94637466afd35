import { sha256Digest } from '@swarm/core';
import { isRecord } from '../input-files.js';
import { failed, passed, skipped, type CheckResult } from '../report.js';
import { sameDigest, type CertificateInput, type CheckContext } from './context.js';

/**
 * 5. policy: the policy file hashes to the certificate's policy.policy_hash. A bound policy without
 * a policy file fails unless skipPolicy; a policy file that is there is always checked.
 */
export function checkPolicy(input: CertificateInput, ctx: CheckContext): CheckResult {
  if (ctx.document === null) return skipped('policy', 'certificate did not parse');
  const block = ctx.document.policy;
  const bytes = input.policy ?? null;
  if (block === undefined) {
    if (bytes !== null) return failed('policy', 'VERIFY_POLICY_MISSING', 'a policy file was given but the certificate binds no policy');
    if (ctx.requirePolicy) return failed('policy', 'VERIFY_POLICY_MISSING', 'a policy is required but the certificate has no policy block');
    return skipped('policy', 'the certificate binds no policy');
  }
  const bound = isRecord(block) ? block.policy_hash : undefined;
  if (typeof bound !== 'string') {
    if (ctx.requirePolicy) return failed('policy', 'VERIFY_POLICY_MISSING', 'a policy is required but the certificate policy block has no policy_hash');
    return skipped('policy', 'the policy block has no policy_hash (see schema)');
  }
  if (bytes === null) {
    // Fail closed: a bound policy nobody can check is not a policy that held (--skip-policy accepts it).
    if (ctx.skipPolicy) return skipped('policy', `the certificate binds policy ${bound}; no policy file, accepted by --skip-policy`, { expected: bound });
    return failed('policy', 'VERIFY_POLICY_MISSING', `the certificate binds policy ${bound} but no policy file was given or found`, { expected: bound });
  }
  const actual = sha256Digest(bytes);
  if (!sameDigest(actual, bound)) {
    return failed('policy', 'VERIFY_POLICY_MISMATCH', `policy file hashes to ${actual}, the certificate binds ${bound}`, { expected: bound, actual });
  }
  return passed('policy', `policy file hashes to the bound ${actual}`, { actual });
}
