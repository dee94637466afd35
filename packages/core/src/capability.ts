import { canonicalize } from './canonical-json.js';
import { decodeBase64UrlStrict, encodeBase64Url } from './base64url.js';
import { sha256Hex } from './digest.js';
import { SwarmError } from './errors.js';
import { validateDocument } from './validate.js';

export type CapabilityKind = 'state_cap' | 'net_cap';

/** The v1 capability payload, shared with other agent_swarm implementations. */
export interface CapabilityV1 {
  version: 1;
  kind: CapabilityKind;
  state_id: string;
  ratchet_step: number;
  /** 32-byte chain key as 64 lowercase hex digits. */
  chain_key: string;
}

/** v2 adds kind binding to an audience, an expiry and an issuer signature. */
export interface CapabilityV2 extends Omit<CapabilityV1, 'version'> {
  version: 2;
  audience: string;
  expires_at_unix: number | null;
  issuer: string;
  signature: string;
}

export type Capability = CapabilityV1 | CapabilityV2;

/** What may be shown about a capability: never the chain key. */
export interface CapabilitySummary {
  version: number;
  kind: CapabilityKind;
  state_id: string;
  ratchet_step: number;
  key_ref: string;
  audience?: string;
  expires_at_unix?: number | null;
  issuer?: string;
}

export function encodeCapability(capability: Capability): string {
  return encodeBase64Url(canonicalize(capability));
}

/** Decodes and validates a token; rejects non-canonical base64url and malformed payloads. */
export function decodeCapability(token: string, expectedKind?: CapabilityKind): Capability {
  const text = token.trim();
  if (text === '') throw new SwarmError('CAPABILITY_MALFORMED', 'capability token is empty');
  const bytes = decodeBase64UrlStrict(text);
  let payload: unknown;
  try {
    payload = JSON.parse(bytes.toString('utf8'));
  } catch {
    throw new SwarmError('CAPABILITY_MALFORMED', 'capability token does not hold JSON');
  }
  const report = validateDocument('capability', payload);
  if (!report.valid) {
    throw new SwarmError('CAPABILITY_MALFORMED', 'capability envelope is invalid', { details: { errors: report.errors } });
  }
  const capability = payload as Capability;
  if (expectedKind && capability.kind !== expectedKind) {
    throw new SwarmError('CAPABILITY_KIND_MISMATCH', `expected a ${expectedKind}, got a ${capability.kind}`);
  }
  return capability;
}

/** The bytes a v2 issuer signs: the canonical payload without its signature. */
export function capabilitySigningBytes(capability: Omit<CapabilityV2, 'signature'> | CapabilityV2): Buffer {
  const { signature: _ignored, ...unsigned } = capability as CapabilityV2;
  return Buffer.from(`swarm-capability-v2\n${canonicalize(unsigned)}`, 'utf8');
}

/** A short, non-reversible reference to a chain key, safe to print and store. */
export function chainKeyRef(chainKeyHex: string): string {
  return `ck_${sha256Hex(`swarm-chain-key-ref\0${chainKeyHex}`).slice(0, 16)}`;
}

export function summarizeCapability(capability: Capability): CapabilitySummary {
  const summary: CapabilitySummary = {
    version: capability.version,
    kind: capability.kind,
    state_id: capability.state_id,
    ratchet_step: capability.ratchet_step,
    key_ref: chainKeyRef(capability.chain_key),
  };
  if (capability.version === 2) {
    summary.audience = capability.audience;
    summary.expires_at_unix = capability.expires_at_unix;
    summary.issuer = capability.issuer;
  }
  return summary;
}

/** Throws when a v2 capability has expired; v1 tokens carry no expiry. */
export function assertCapabilityLive(capability: Capability, nowUnix: number): void {
  if (capability.version === 2 && capability.expires_at_unix !== null && capability.expires_at_unix <= nowUnix) {
    throw new SwarmError('CAPABILITY_EXPIRED', `capability expired at ${capability.expires_at_unix}`);
  }
}
