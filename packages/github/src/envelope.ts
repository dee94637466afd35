/**
 * The dispatch envelope: the one workflow input that carries a request. A DSSE envelope signed
 * by the operator, whose payload names the request, repository, pin, parent node and input
 * bundle in the clear (GitHub keeps dispatch inputs in the run's event forever), and seals
 * everything secret — the parent's chain keys, granted environment values, the step and its
 * prompt — to the runner's X25519 key. A raw capability never appears in it.
 */
import crypto from 'node:crypto';
import { SwarmError, canonicalBytes, dssePayloadBytes, dsseSignedBy, parseDsseEnvelope, publicKeyFromRaw, signDsse, type SigningKey } from '@swarm/core';
import './errors.js';
import { openBox, sealBox } from './sealed-box.js';

export const DISPATCH_PAYLOAD_TYPE = 'application/vnd.swarm.dispatch.v1+json';
/** GitHub's limit on all inputs together is 65,535 characters; the envelope leaves room for the rest. */
export const MAX_ENVELOPE_CHARS = 60_000;
/** How long a dispatched envelope stays valid (a queued job may wait). */
export const ENVELOPE_TTL_S = 24 * 3600;

export type InputLocator =
  | { transport: 'gh-blobs'; blobs: string[]; sha256: string; size: number }
  | {
      transport: 'gh-artifact';
      /** The remote run and artifact of the parent's request, and that request's ids. */
      run_id: number;
      artifact_id: number;
      digest: string;
      request_id: string;
      swarm_run_id: string;
      sha256: string;
      size: number;
    };

export interface ParentRef {
  node_id: string;
  state_id: string;
  ratchet_step: number;
  bundle_sha256: string;
  manifest_sha256: string;
  /** The bundle data key wrapped under the parent's state key (useless without it). */
  wrapped_key: string;
}

/** What the runner runs: the launch options that make sense remotely. */
export interface StepSpec {
  operation: 'launch' | 'resume';
  step?: string;
  /** A step file's content (base64): the runner writes it to a file and runs that, as `--step-file` does. */
  script?: string;
  prompt?: string;
  agent?: string;
  agent_args?: string[];
  timeout_s?: number;
  allow_hosts: string[];
  route_mode: 'direct' | 'client_exit';
  mount_path: string | null;
  allow_cold_start: boolean;
  discard_failed?: boolean;
}

/** The sealed part: only the runner key opens it. */
export interface SealedPart {
  state_key: string;
  net_key: string;
  env: Record<string, string>;
  step: StepSpec;
}

export interface DispatchPayload {
  v: 1;
  request_id: string;
  run_id: string;
  repo: string;
  workflow_ref: string;
  pin: string;
  parent: ParentRef;
  input: InputLocator;
  /** base64url sealed box of the SealedPart JSON. */
  sealed: string;
  /** The operator's X25519 key: where next tokens are sealed back to. */
  reply_to: string;
  /** The operator's Ed25519 key (which of the runner's operators signed). */
  operator: string;
  not_before: number;
  not_after: number;
  nonce: string;
}

export interface EnvelopeInput extends Omit<DispatchPayload, 'v' | 'sealed' | 'not_before' | 'not_after' | 'nonce' | 'operator'> {
  secret: SealedPart;
  runnerSealingKey: string;
  nowS: number;
}

export function buildEnvelope(input: EnvelopeInput, operator: SigningKey): string {
  const { secret, runnerSealingKey, nowS, ...rest } = input;
  const sealed = sealBox(Buffer.from(JSON.stringify(secret), 'utf8'), Buffer.from(runnerSealingKey, 'base64url')).toString('base64url');
  const payload: DispatchPayload = {
    v: 1,
    ...rest,
    sealed,
    operator: operator.publicKey,
    not_before: nowS - 300,
    not_after: nowS + ENVELOPE_TTL_S,
    nonce: crypto.randomBytes(16).toString('hex'),
  };
  const text = Buffer.from(canonicalBytes(signDsse(DISPATCH_PAYLOAD_TYPE, canonicalBytes(payload), operator))).toString('base64url');
  if (text.length > MAX_ENVELOPE_CHARS) {
    throw new SwarmError('GH_INPUT_TOO_LARGE', `the dispatch envelope is ${text.length} characters; GitHub takes at most ${MAX_ENVELOPE_CHARS} here`, {
      hint: 'a long prompt or many --env values make it large: put them in a file in the workspace instead',
      details: { chars: text.length, max: MAX_ENVELOPE_CHARS },
    });
  }
  return text;
}

export interface EnvelopeExpectations {
  requestId: string;
  repo: string;
  /** GITHUB_SHA and GITHUB_WORKFLOW_SHA: both must equal the pin. */
  sha: string;
  workflowSha: string;
  operators: Array<{ ed25519: string }>;
  runnerSealingSecret: Buffer;
  nowS: number;
}

export interface OpenedEnvelope {
  payload: DispatchPayload;
  secret: SealedPart;
}

/** The runner's side: signature, identity, pin and time window, then the sealed part. */
export function openEnvelope(text: string, expect: EnvelopeExpectations): OpenedEnvelope {
  const invalid = (why: string) => new SwarmError('ENVELOPE_INVALID', `the dispatch envelope is refused: ${why}`, { details: { reason: why } });
  let envelope;
  try {
    envelope = parseDsseEnvelope(JSON.parse(Buffer.from(text.trim(), 'base64url').toString('utf8')));
  } catch {
    throw invalid('not a DSSE envelope');
  }
  if (envelope.payloadType !== DISPATCH_PAYLOAD_TYPE) throw invalid(`payload type ${JSON.stringify(envelope.payloadType)}`);
  const signedBy = expect.operators.find((op) => dsseSignedBy(envelope, publicKeyFromRaw(op.ed25519)));
  if (!signedBy) throw invalid('not signed by an operator this runner trusts');
  let payload: DispatchPayload;
  try {
    payload = JSON.parse(dssePayloadBytes(envelope).toString('utf8')) as DispatchPayload;
  } catch {
    throw invalid('the payload is not JSON');
  }
  if (payload.v !== 1) throw invalid(`version ${String(payload.v)}`);
  if (payload.operator !== signedBy.ed25519) throw invalid('the payload names another operator than the one who signed it');
  if (payload.request_id !== expect.requestId) throw invalid('it is for another request id');
  if (payload.repo !== expect.repo) throw invalid('it is for another repository');
  if (payload.pin !== expect.sha || payload.pin !== expect.workflowSha) throw invalid('the run is not at the pinned commit');
  if (!(expect.nowS >= payload.not_before && expect.nowS <= payload.not_after)) throw invalid('it has expired or is not valid yet');
  const opened = openBox(Buffer.from(payload.sealed, 'base64url'), expect.runnerSealingSecret);
  if (!opened) throw invalid('its sealed part does not open with this runner key');
  let secret: SealedPart;
  try {
    secret = JSON.parse(opened.toString('utf8')) as SealedPart;
  } catch {
    throw invalid('its sealed part is not JSON');
  } finally {
    opened.fill(0);
  }
  if (!/^[0-9a-f]{64}$/.test(secret.state_key) || !/^[0-9a-f]{64}$/.test(secret.net_key)) throw invalid('its sealed keys are malformed');
  return { payload, secret };
}

/** A token sealed to the operator: `sealed-x25519:<base64url box>` (next_tokens.json allows sealed forms). */
export function sealToken(token: string, operatorSealingKey: string): string {
  return `sealed-x25519:${sealBox(Buffer.from(token, 'utf8'), Buffer.from(operatorSealingKey, 'base64url')).toString('base64url')}`;
}

export function openToken(sealed: string, operatorSealingSecret: Buffer): string | null {
  if (!sealed.startsWith('sealed-x25519:')) return null;
  return openBox(Buffer.from(sealed.slice('sealed-x25519:'.length), 'base64url'), operatorSealingSecret)?.toString('utf8') ?? null;
}
