/**
 * What the certificate checks share: the exact bytes and their parse, the normalised options, the
 * clock, the replay store and the trusted keys (resolved only when a signature is checked).
 */
import '../errors.js';
import { SwarmError, sha256Digest, systemClock, validateDocument, type Clock, type Digest, type ValidationReport } from '@swarm/core';
import { isRecord, parseJsonBytes } from '../input-files.js';
import type { ReplayStore, NonceClaim } from '../replay-store.js';
import { parsePublicKey, resolveTrustedKeys, type TrustOptions, type TrustedKey } from '../trust-store.js';

export interface CertificateInput {
  /** The exact certificate bytes. */
  certificate: Uint8Array;
  /** Bytes of the policy file the certificate binds, when there is one. */
  policy?: Uint8Array | null;
  /** Bytes of the DSSE envelope (certificate.dsse.json), when there is one. */
  signature?: Uint8Array | null;
}

export interface CertificateCheckOptions extends TrustOptions {
  /** `sha256:<hex>` (or bare hex) the certificate bytes must hash to. */
  expectedArtifactHash?: string;
  /** 40-hex commit runtime.workflow_ref must be pinned to (any case; compared lowercase). */
  requiredCommit?: string;
  /** Fail unless the certificate binds a policy and the policy file matches it. */
  requirePolicy?: boolean;
  /** Accept a bound policy whose bytes are not available (reported as skipped instead of failing). */
  skipPolicy?: boolean;
  /** Fail unless the certificate says the step succeeded. */
  requireSuccess?: boolean;
  /** Fail unless there is a signature by a trusted key. */
  requireSignature?: boolean;
  /** Time for the replay window (default: the system clock). */
  clock?: Clock;
  /** Seen nonces; null or absent: nonces are not looked up. */
  replayStore?: ReplayStore | null;
  /** Claim the nonce in the store when every check passes (default false: only look it up). */
  consumeNonce?: boolean;
  /** Fail when replay.expires_at_unix has passed (default true; off for historical chain links). */
  checkReplayExpiry?: boolean;
  /** Already-resolved trusted keys (or a lazy source); replaces trustedKeys/trustStore/home. */
  trusted?: readonly TrustedKey[] | (() => readonly TrustedKey[]);
}

export interface CheckContext {
  readonly artifactHash: Digest;
  /** The parsed certificate (an object), or null with parseError set. */
  readonly document: Record<string, unknown> | null;
  readonly parseError: string | null;
  /** Schema validation of the parsed document (null when it did not parse). */
  readonly validation: ValidationReport | null;
  readonly expectedArtifactHash: Digest | null;
  readonly requiredCommit: string | null;
  readonly requirePolicy: boolean;
  readonly skipPolicy: boolean;
  readonly requireSuccess: boolean;
  readonly requireSignature: boolean;
  readonly clock: Clock;
  readonly replayStore: ReplayStore | null;
  readonly consumeNonce: boolean;
  readonly checkReplayExpiry: boolean;
  trustedKeys(): readonly TrustedKey[];
  /** Set by the replay check when the nonce may be claimed once every check has passed. */
  pendingClaim: NonceClaim | null;
}

const HEX64_RE = /^(sha256:)?[0-9a-fA-F]{64}$/;
const COMMIT_RE = /^[0-9a-fA-F]{40}$/;

export function createContext(input: CertificateInput, options: CertificateCheckOptions): CheckContext {
  if (options.skipPolicy && options.requirePolicy) {
    throw new SwarmError('INVALID_ARGUMENT', '--skip-policy and --require-policy contradict each other', {
      hint: 'pass the policy file with --policy-file, or drop --require-policy',
    });
  }
  const expectedArtifactHash = normaliseExpectedHash(options.expectedArtifactHash);
  const requiredCommit = normaliseCommit(options.requiredCommit);
  // Bad --trusted-key values are input errors even when the certificate turns out to be unsigned.
  for (const key of options.trustedKeys ?? []) parsePublicKey(key);

  const parsed = parseJsonBytes(input.certificate);
  let document: Record<string, unknown> | null = null;
  let parseError: string | null = null;
  const numbers = parsed.ok ? parsed.numbers : [];
  if (!parsed.ok) parseError = `certificate ${parsed.reason}`;
  else if (!isRecord(parsed.value)) parseError = 'certificate is not a JSON object';
  else document = parsed.value;

  const source = options.trusted;
  let trusted: readonly TrustedKey[] | undefined = typeof source === 'function' ? undefined : source;
  const resolve = typeof source === 'function' ? source : () => resolveTrustedKeys(options);
  return {
    artifactHash: sha256Digest(input.certificate),
    document,
    parseError,
    validation: document ? validateDocument('certificate', document, { numbers }) : null,
    expectedArtifactHash,
    requiredCommit,
    requirePolicy: options.requirePolicy ?? false,
    skipPolicy: options.skipPolicy ?? false,
    requireSuccess: options.requireSuccess ?? false,
    requireSignature: options.requireSignature ?? false,
    clock: options.clock ?? systemClock,
    replayStore: options.replayStore ?? null,
    consumeNonce: options.consumeNonce ?? false,
    checkReplayExpiry: options.checkReplayExpiry ?? true,
    trustedKeys: () => (trusted ??= resolve()),
    pendingClaim: null,
  };
}

function normaliseExpectedHash(value: string | undefined): Digest | null {
  if (value === undefined) return null;
  const text = value.trim();
  if (!HEX64_RE.test(text)) {
    throw new SwarmError('INVALID_ARGUMENT', 'the expected artifact hash must be sha256:<64 hex digits>', {
      details: { expected_artifact_hash: value },
    });
  }
  return `sha256:${text.replace(/^sha256:/, '').toLowerCase()}`;
}

function normaliseCommit(value: string | undefined): string | null {
  if (value === undefined) return null;
  const text = value.trim();
  if (!COMMIT_RE.test(text)) {
    throw new SwarmError('INVALID_ARGUMENT', 'the required commit must be a full 40-hex-digit commit id', {
      details: { required_commit: value },
      hint: 'in GitHub Actions, pass ${{ github.sha }}',
    });
  }
  return text.toLowerCase();
}

/** A nested field of the parsed certificate, or undefined. */
export function field(document: Record<string, unknown> | null, ...keys: string[]): unknown {
  let value: unknown = document;
  for (const key of keys) {
    if (!isRecord(value)) return undefined;
    value = value[key];
  }
  return value;
}

/** Digests compare on the lowercase hex, so a v1 document's uppercase hex still binds. */
export function sameDigest(a: string, b: string): boolean {
  return a.toLowerCase() === b.toLowerCase();
}
