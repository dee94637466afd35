/**
 * Phase 8, certify: the run's certificate (`loom-agent-run-v1`, canonical JSON) and its DSSE
 * envelope, signed with whatever key the runner holds: the operator's on a local run, the
 * runner's own on a remote worker. Needs no catalog.
 */
import crypto from 'node:crypto';
import {
  CERTIFICATE_PAYLOAD_TYPE,
  assertValidDocument,
  canonicalBytes,
  sha256Digest,
  signDsse,
  type Clock,
  type Digest,
  type SandboxKind,
  type SigningKey,
} from '@swarm/core';
import { GENERATOR } from '../store/node-row.js';
import type { Policy } from './policy.js';
import type { RunFacts } from './record.js';

export interface CertifyInput {
  facts: RunFacts;
  stateId: string;
  ratchetStep: number;
  parent: { state_id: string; bundle_sha256: string; ratchet_step: number };
  command: unknown;
  policy: Policy;
  /** sha256 of exactly the bytes written to step.log. */
  outputSha256: Digest;
  sealed: { bundleSha256: Digest; manifestSha256: Digest };
  restoreReason: string | null;
  workflowRef: string;
  runnerClass: string;
  /** More of `runtime` (a remote runner's identity: repository, run id, attempt, request id). */
  runtimeExtra?: Record<string, unknown>;
  sandbox: SandboxKind;
  allowlist: string[];
  signer: SigningKey;
  /** Keys the replay nonce (so it is unguessable but reproducible for the same run). */
  nonceKey: Buffer;
  clock: Clock;
}

export interface Certified {
  certificate: Buffer;
  envelope: Buffer;
  artifactHash: Digest;
}

/** Local certificates accept replays for 30 days (docs/verify.md). */
export const REPLAY_WINDOW_S = 30 * 24 * 3600;

export function certify(input: CertifyInput): Certified {
  const { facts } = input;
  const requestHash = sha256Digest(
    canonicalBytes({
      run_id: facts.run_id,
      parent_node_id: facts.parent_node_id,
      parent_bundle_sha256: input.parent.bundle_sha256,
      step: input.command,
      prompt_sha256: input.policy.promptSha256,
      policy_hash: input.policy.sha256,
    }),
  );
  const doc = {
    type: 'loom-agent-run-v1',
    job_id: facts.run_id,
    request_hash: requestHash,
    mode: 'prompt-run',
    parent_state: { state_id: input.parent.state_id, bundle_sha256: input.parent.bundle_sha256, ratchet_step: input.parent.ratchet_step },
    result: {
      response_sha256: input.outputSha256,
      response_locator: 'step.log',
      new_state: { state_id: input.stateId, bundle_sha256: input.sealed.bundleSha256, bundle_manifest_sha256: input.sealed.manifestSha256, ratchet_step: input.ratchetStep },
    },
    runtime: { workflow_ref: input.workflowRef, runner_class: input.runnerClass, started_at: facts.started_at, finished_at: facts.finished_at, ...input.runtimeExtra },
    // A replay window needs real time; a pinned clock (SOURCE_DATE_EPOCH) would make it already
    // expired for any verifier, so deterministic runs carry none.
    replay: input.clock.fixed
      ? undefined
      : {
          nonce: crypto.createHmac('sha256', input.nonceKey).update(`swarm-replay-nonce\0${facts.run_id}\0${input.sealed.bundleSha256}`).digest('hex'),
          expires_at_unix: Math.floor(input.clock.now() / 1000) + REPLAY_WINDOW_S,
        },
    policy: { schema_version: 'agent_swarm-policy-v1', policy_hash: input.policy.sha256, policy_ref: 'policy.json', policy_generated_at: facts.started_at },
    timestamp: facts.finished_at,
    swarm: {
      generator: GENERATOR,
      run_id: facts.run_id,
      node_id: facts.node_id,
      parent_node_id: facts.parent_node_id,
      status: facts.status,
      exit_code: facts.exit_code,
      signal: facts.signal,
      restore_mode: facts.restore_mode,
      restore_reason: input.restoreReason,
      sandbox: input.sandbox,
      egress_allowlist: input.allowlist,
      signer: input.signer.keyId,
    },
  };
  assertValidDocument('certificate', doc, 'certificate.json');
  const certificate = canonicalBytes(doc);
  const envelope = canonicalBytes(signDsse(CERTIFICATE_PAYLOAD_TYPE, certificate, input.signer));
  return { certificate, envelope, artifactHash: sha256Digest(certificate) };
}
