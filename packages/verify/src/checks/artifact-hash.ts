import { failed, passed, skipped, type CheckResult } from '../report.js';
import type { CertificateInput, CheckContext } from './context.js';

/** 3. artifact_hash: sha256 of the exact certificate bytes equals the expected artifact hash. */
export function checkArtifactHash(_input: CertificateInput, ctx: CheckContext): CheckResult {
  if (ctx.expectedArtifactHash === null) {
    return skipped('artifact_hash', `no expected artifact hash given (the certificate hashes to ${ctx.artifactHash})`);
  }
  if (ctx.artifactHash !== ctx.expectedArtifactHash) {
    return failed('artifact_hash', 'VERIFY_CERT_HASH_MISMATCH', `certificate bytes hash to ${ctx.artifactHash}, expected ${ctx.expectedArtifactHash}`, {
      expected: ctx.expectedArtifactHash,
      actual: ctx.artifactHash,
    });
  }
  return passed('artifact_hash', `certificate bytes hash to ${ctx.artifactHash}`, { actual: ctx.artifactHash });
}
