/**
 * `verify proof`: a swarm-proof-v1 envelope over a public-inputs file.
 *
 *   { "type": "swarm-proof-v1", "proof_system": "<name>", "public_inputs_sha256": "sha256:<hex>",
 *     "proof": <system-specific>, "statement": "<optional text>", "created_at": "<optional>" }
 *
 * The envelope shape and the public-inputs digest are always checked. The proof itself is checked
 * only for systems this build can really verify: `ed25519-attestation` (an Ed25519 signature by a
 * trusted key over PAE(PROOF_PAYLOAD_TYPE, public_inputs_sha256)). Any other system, zero-knowledge
 * systems included, is reported as skipped, never as passed.
 */
import crypto from 'node:crypto';
import path from 'node:path';
import { SWARM_DIGEST_RE, preAuthEncoding, sha256Digest, swarmHome, type SigningKey } from '@swarm/core';
import { isRecord, readInputFile, readJsonInputFile } from './input-files.js';
import { failed, failedCodes, passed, skipped, type CheckResult, type ProofReport } from './report.js';
import { parsePublicKey, resolveTrustedKeys, type TrustOptions, type TrustedKey } from './trust-store.js';

export const PROOF_TYPE = 'swarm-proof-v1';
export const ED25519_ATTESTATION = 'ed25519-attestation';
/** The DSSE-style payload type an ed25519-attestation signs, so the signature cannot be reused elsewhere. */
export const PROOF_PAYLOAD_TYPE = 'application/vnd.swarm.proof-public-inputs.v1';

/** Proof systems whose proofs this build checks. */
export const VERIFIABLE_PROOF_SYSTEMS: readonly string[] = [ED25519_ATTESTATION];

const SYSTEM_RE = /^[a-z0-9][a-z0-9._-]{0,63}$/;

export interface ProofEnvelope {
  type: typeof PROOF_TYPE;
  proof_system: string;
  public_inputs_sha256: string;
  proof: unknown;
  statement?: string;
  created_at?: string;
}

export interface VerifyProofOptions extends TrustOptions {
  /** Fail (VERIFY_PROOF_UNSUPPORTED) instead of skipping when the proof system has no verifier here. */
  requireProofCheck?: boolean;
  proofLabel?: string;
  publicInputsLabel?: string;
  trusted?: readonly TrustedKey[];
}

/** Builds an ed25519-attestation proof: the signing key attests to these exact public inputs. */
export function createEd25519Attestation(publicInputs: Uint8Array, key: SigningKey, statement?: string): ProofEnvelope {
  const digest = sha256Digest(publicInputs);
  const signature = crypto.sign(null, attestationMessage(digest), key.privateKey);
  return {
    type: PROOF_TYPE,
    proof_system: ED25519_ATTESTATION,
    public_inputs_sha256: digest,
    proof: { public_key: key.publicKey, signature: signature.toString('base64url') },
    ...(statement === undefined ? {} : { statement }),
  };
}

function attestationMessage(digest: string): Buffer {
  return preAuthEncoding(PROOF_PAYLOAD_TYPE, Buffer.from(digest, 'utf8'));
}

/** Checks a parsed proof envelope against the exact public-inputs bytes. */
export function verifyProof(envelope: unknown, publicInputs: Uint8Array, options: VerifyProofOptions = {}): ProofReport {
  const digest = sha256Digest(publicInputs);
  const shape = checkEnvelope(envelope);
  const checks: CheckResult[] = [shape];
  const doc = shape.status === 'pass' ? (envelope as ProofEnvelope) : null;
  checks.push(checkPublicInputs(doc, digest));
  checks.push(checkProofBody(doc, options));
  const failures = failedCodes(checks);
  return {
    kind: 'proof',
    verified: failures.length === 0,
    proof: options.proofLabel ?? 'proof',
    public_inputs: options.publicInputsLabel ?? 'public inputs',
    proof_system: isRecord(envelope) && typeof envelope.proof_system === 'string' ? envelope.proof_system : null,
    public_inputs_sha256: digest,
    checks,
    failed: failures,
  };
}

export interface VerifyProofFilesOptions {
  proof: string;
  publicInputs: string;
  requireProofCheck?: boolean;
  trustedKeys?: readonly string[];
  trustStore?: boolean;
  cwd?: string;
  env?: NodeJS.ProcessEnv;
}

export function verifyProofFiles(options: VerifyProofFilesOptions): ProofReport {
  const cwd = options.cwd ?? process.cwd();
  const { value } = readJsonInputFile(path.resolve(cwd, options.proof), 'proof');
  const publicInputs = readInputFile(path.resolve(cwd, options.publicInputs), 'public inputs');
  for (const key of options.trustedKeys ?? []) parsePublicKey(key);
  return verifyProof(value, publicInputs, {
    requireProofCheck: options.requireProofCheck,
    trustedKeys: options.trustedKeys,
    trustStore: options.trustStore,
    home: swarmHome(options.env ?? process.env),
    proofLabel: options.proof,
    publicInputsLabel: options.publicInputs,
  });
}

function checkEnvelope(envelope: unknown): CheckResult {
  if (!isRecord(envelope)) return failed('envelope', 'VERIFY_PROOF_INVALID', 'the proof is not a JSON object');
  const problems: string[] = [];
  if (envelope.type !== PROOF_TYPE) problems.push(`/type must be ${JSON.stringify(PROOF_TYPE)}`);
  if (typeof envelope.proof_system !== 'string' || !SYSTEM_RE.test(envelope.proof_system)) {
    problems.push('/proof_system must be a lowercase name (letters, digits, . _ -)');
  }
  if (typeof envelope.public_inputs_sha256 !== 'string' || !SWARM_DIGEST_RE.test(envelope.public_inputs_sha256)) {
    problems.push('/public_inputs_sha256 must be sha256: and 64 lowercase hex digits');
  }
  if (envelope.proof === undefined || envelope.proof === null) problems.push('/proof is required');
  if (envelope.statement !== undefined && typeof envelope.statement !== 'string') problems.push('/statement must be a string');
  if (envelope.created_at !== undefined && typeof envelope.created_at !== 'string') problems.push('/created_at must be a string');
  for (const key of criticalKeys(envelope, '')) problems.push(`${key} is an unknown critical_ extension`);
  if (problems.length > 0) return failed('envelope', 'VERIFY_PROOF_INVALID', problems.join('; '), { errors: problems });
  return passed('envelope', `a ${PROOF_TYPE} envelope for ${String(envelope.proof_system)}`);
}

function criticalKeys(value: unknown, at: string): string[] {
  if (Array.isArray(value)) return value.flatMap((item, i) => criticalKeys(item, `${at}/${i}`));
  if (!isRecord(value)) return [];
  return Object.entries(value).flatMap(([key, child]) => [
    ...(key.startsWith('critical_') ? [`${at}/${key}`] : []),
    ...criticalKeys(child, `${at}/${key}`),
  ]);
}

function checkPublicInputs(envelope: ProofEnvelope | null, digest: string): CheckResult {
  if (envelope === null) return skipped('public_inputs', 'the proof envelope is invalid');
  if (envelope.public_inputs_sha256 !== digest) {
    return failed('public_inputs', 'VERIFY_PROOF_INPUTS_MISMATCH', `public inputs hash to ${digest}, the proof is for ${envelope.public_inputs_sha256}`, {
      expected: envelope.public_inputs_sha256,
      actual: digest,
    });
  }
  return passed('public_inputs', `public inputs hash to ${digest}`);
}

function checkProofBody(envelope: ProofEnvelope | null, options: VerifyProofOptions): CheckResult {
  if (envelope === null) return skipped('proof', 'the proof envelope is invalid');
  if (envelope.proof_system !== ED25519_ATTESTATION) {
    const why = `no verifier for proof system ${JSON.stringify(envelope.proof_system)} in this build; the proof itself was NOT checked`;
    if (options.requireProofCheck) return failed('proof', 'VERIFY_PROOF_UNSUPPORTED', why, { proof_system: envelope.proof_system });
    return skipped('proof', why);
  }
  const body = envelope.proof;
  const publicKey = isRecord(body) ? body.public_key : undefined;
  const signature = isRecord(body) ? body.signature : undefined;
  if (typeof publicKey !== 'string' || typeof signature !== 'string') {
    return failed('proof', 'VERIFY_PROOF_INVALID', 'an ed25519-attestation proof is {public_key, signature} in base64url');
  }
  const trusted = options.trusted ?? resolveTrustedKeys(options);
  const signer = trusted.find((k) => k.publicKey === publicKey);
  if (!signer) {
    return failed('proof', 'VERIFY_SIGNATURE_UNTRUSTED', 'the attesting key is not a trusted key', {
      key_id: safeKeyId(publicKey),
      trusted: trusted.map((k) => k.keyId),
    });
  }
  const sig = Buffer.from(signature, 'base64url');
  let ok = false;
  try {
    ok = sig.length === 64 && crypto.verify(null, attestationMessage(envelope.public_inputs_sha256), signer.key, sig);
  } catch {
    ok = false;
  }
  if (!ok) return failed('proof', 'VERIFY_PROOF_INVALID', `the attestation signature by ${signer.keyId} does not verify`);
  return passed('proof', `attested by trusted key ${signer.name ? `${signer.keyId} (${signer.name})` : signer.keyId}`, {
    key_id: signer.keyId,
    name: signer.name,
    source: signer.source,
  });
}

function safeKeyId(publicKey: string): string | null {
  try {
    return parsePublicKey(publicKey).keyId;
  } catch {
    return null;
  }
}
