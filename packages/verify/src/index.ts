/**
 * @swarm/verify: offline verification of certificates, signatures, policies, replay windows, node
 * chains and proofs, plus the operator's trust store. Nothing here opens a socket.
 */
import './errors.js';

export { CHECK_CODES, type CheckCode } from './errors.js';
export {
  failedCodes,
  formatReport,
  verificationFailure,
  type CertificateReport,
  type ChainLinkReport,
  type ChainReport,
  type CheckResult,
  type CheckStatus,
  type ProofReport,
  type VerifyReport,
} from './report.js';
export type { CertificateCheckOptions, CertificateInput, CheckContext } from './checks/context.js';
export { checkSchema } from './checks/schema.js';
export { checkCritical } from './checks/critical.js';
export { checkArtifactHash } from './checks/artifact-hash.js';
export { checkCommitPin, workflowRefPin, type WorkflowPin } from './checks/commit-pin.js';
export { checkPolicy } from './checks/policy.js';
export { checkReplay } from './checks/replay.js';
export { checkSignature } from './checks/signature.js';
export {
  CERTIFICATE_CHECKS,
  verifyCertificate,
  verifyCertificateFile,
  type CertificateCheck,
  type VerifyCertificateFileOptions,
  type VerifyCertificateOptions,
} from './certificate.js';
export { verifyChain, type ChainLink, type ChainState, type VerifyChainOptions } from './chain.js';
export {
  ED25519_ATTESTATION,
  PROOF_PAYLOAD_TYPE,
  PROOF_TYPE,
  VERIFIABLE_PROOF_SYSTEMS,
  createEd25519Attestation,
  verifyProof,
  verifyProofFiles,
  type ProofEnvelope,
  type VerifyProofFilesOptions,
  type VerifyProofOptions,
} from './proof.js';
export { FileReplayStore, MemoryReplayStore, defaultReplayStorePath, type NonceClaim, type ReplayStore } from './replay-store.js';
export {
  TRUST_STORE_VERSION,
  isValidTrustName,
  loadTrustStore,
  ownPublicKey,
  parsePublicKey,
  resolveTrustedKeys,
  trustKey,
  trustStorePath,
  untrustKey,
  type TrustKeyResult,
  type TrustOptions,
  type TrustStore,
  type TrustStoreEntry,
  type TrustedKey,
} from './trust-store.js';
export { generateOperatorKey, showKeys, type GeneratedKey, type KeysOverview } from './keys.js';
