/**
 * The verifier's error codes. Check codes appear in a report's failed checks; the command itself
 * fails with VERIFY_FAILED (exit 3) listing them, or with an input code (exit 2) when an input file
 * cannot be read at all.
 */
import { registerErrorCodes } from '@swarm/core';

registerErrorCodes('verify', {
  VERIFY_FAILED: { category: 'verification', description: 'One or more verification checks failed; details hold the full report with every check.' },
  VERIFY_SCHEMA_INVALID: { category: 'verification', description: 'The certificate is not JSON or does not satisfy the certificate schema; every bad field is listed.' },
  VERIFY_CRITICAL_EXTENSION: { category: 'verification', description: 'The certificate carries a critical_* key this verifier does not understand, at some depth.' },
  VERIFY_CERT_HASH_MISMATCH: { category: 'verification', description: 'The sha256 of the exact certificate bytes differs from the expected artifact hash.' },
  WORKFLOW_REF_UNPINNED: { category: 'input', description: 'runtime.workflow_ref does not end in @ and 40 lowercase hex digits (a pinned commit).' },
  VERIFY_COMMIT_MISMATCH: { category: 'verification', description: 'The commit pinned in runtime.workflow_ref differs from the required commit.' },
  VERIFY_POLICY_MISMATCH: { category: 'verification', description: 'The sha256 of the policy file differs from the policy_hash bound in the certificate.' },
  VERIFY_POLICY_MISSING: { category: 'verification', description: 'A policy binding is required (or a policy file was given) but the certificate or the policy file is missing it.' },
  VERIFY_REPLAY_INVALID: { category: 'verification', description: 'The certificate replay block has a blank nonce or a non-positive expiry.' },
  VERIFY_REPLAY_EXPIRED: { category: 'verification', description: 'The certificate replay window (replay.expires_at_unix) has passed.' },
  VERIFY_REPLAY_NONCE_REUSED: { category: 'verification', description: 'The certificate replay nonce was already accepted by this replay store (or appears twice in a chain).' },
  VERIFY_SIGNATURE_MISSING: { category: 'verification', description: 'A signature is required but there is no DSSE envelope for the certificate.' },
  VERIFY_SIGNATURE_INVALID: { category: 'verification', description: 'The DSSE envelope is malformed or its signature does not verify under the key it names.' },
  VERIFY_SIGNATURE_UNTRUSTED: { category: 'verification', description: 'No signature in the DSSE envelope verifies under a trusted key.' },
  VERIFY_SIGNATURE_PAYLOAD_MISMATCH: { category: 'verification', description: 'The DSSE payload is not byte-for-byte the certificate being verified.' },
  VERIFY_SIGNATURE_WRONG_TYPE: { category: 'verification', description: 'The DSSE envelope is signed for another payload type than swarm certificates.' },
  VERIFY_RUN_NOT_SUCCEEDED: { category: 'verification', description: 'Success was required but the certificate says its step failed, or does not say how it ended.' },
  VERIFY_CHAIN_BROKEN: { category: 'verification', description: 'The chain of nodes does not link up to a root (a missing or out-of-order parent).' },
  VERIFY_CHAIN_CERT_MISSING: { category: 'verification', description: 'A run or imported node of the chain has no certificate.' },
  VERIFY_CHAIN_PARENT_MISMATCH: { category: 'verification', description: "A certificate's parent_state differs from its parent node's state." },
  VERIFY_CHAIN_STATE_MISMATCH: { category: 'verification', description: "A certificate's result.new_state differs from its own node's state." },
  VERIFY_CHAIN_FORK_MISMATCH: { category: 'verification', description: "A fork node does not keep its parent's bundle digest under a new state id and ratchet step." },
  VERIFY_CHAIN_BUNDLE_MISMATCH: { category: 'verification', description: "A node's sealed bundle object in the store does not hash to the node's recorded bundle_sha256, or is not a readable regular file." },
  VERIFY_PROOF_INVALID: { category: 'verification', description: 'A proof envelope is not a valid swarm-proof-v1 document, or its proof does not verify.' },
  VERIFY_PROOF_INPUTS_MISMATCH: { category: 'verification', description: 'The sha256 of the public-inputs file differs from the proof envelope public_inputs_sha256.' },
  VERIFY_PROOF_UNSUPPORTED: { category: 'verification', description: 'A proof check was required but this build has no verifier for the proof system.' },
  VERIFY_INPUT_TOO_LARGE: { category: 'input', description: 'An input file is larger than the verifier accepts.' },
  VERIFY_REPLAY_STORE_UNUSABLE: { category: 'input', description: 'The replay nonce store cannot be read or appended to.' },
  TRUST_STORE_INVALID: { category: 'input', description: 'The trust store file is malformed; it is left untouched.' },
  TRUST_KEY_INVALID: { category: 'input', description: 'A public key is not 32 bytes of Ed25519 in canonical base64url.' },
  TRUST_KEY_UNKNOWN: { category: 'input', description: 'No trust store entry has this public key, key id or name.' },
  TRUST_NAME_TAKEN: { category: 'input', description: 'Another trusted key already has this name.' },
  TRUST_STORE_BUSY: { category: 'input', description: 'Another swarm process holds the trust store lock; try again.', retryable: true },
});

/** Every code a check may report, in one place so the docs and tests can list them. */
export const CHECK_CODES = [
  'VERIFY_SCHEMA_INVALID',
  'VERIFY_CRITICAL_EXTENSION',
  'VERIFY_CERT_HASH_MISMATCH',
  'WORKFLOW_REF_UNPINNED',
  'VERIFY_COMMIT_MISMATCH',
  'VERIFY_POLICY_MISMATCH',
  'VERIFY_POLICY_MISSING',
  'VERIFY_REPLAY_INVALID',
  'VERIFY_REPLAY_EXPIRED',
  'VERIFY_REPLAY_NONCE_REUSED',
  'VERIFY_SIGNATURE_MISSING',
  'VERIFY_SIGNATURE_INVALID',
  'VERIFY_SIGNATURE_UNTRUSTED',
  'VERIFY_SIGNATURE_PAYLOAD_MISMATCH',
  'VERIFY_SIGNATURE_WRONG_TYPE',
  'VERIFY_RUN_NOT_SUCCEEDED',
  'VERIFY_CHAIN_BROKEN',
  'VERIFY_CHAIN_CERT_MISSING',
  'VERIFY_CHAIN_PARENT_MISMATCH',
  'VERIFY_CHAIN_STATE_MISMATCH',
  'VERIFY_CHAIN_FORK_MISMATCH',
  'VERIFY_CHAIN_BUNDLE_MISMATCH',
  'VERIFY_PROOF_INVALID',
  'VERIFY_PROOF_INPUTS_MISMATCH',
  'VERIFY_PROOF_UNSUPPORTED',
] as const;
export type CheckCode = (typeof CHECK_CODES)[number];
