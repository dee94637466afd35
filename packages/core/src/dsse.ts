/**
 * DSSE envelopes (Dead Simple Signing Envelope, v1). The Ed25519 signature covers the
 * pre-authentication encoding PAE(payloadType, body), so a signature cannot be moved to another
 * payload type.
 */
import crypto from 'node:crypto';
import { SwarmError, registerErrorCodes } from './errors.js';
import type { SigningKey } from './keys.js';

registerErrorCodes('core', {
  DSSE_MALFORMED: { category: 'input', description: 'A DSSE envelope is not well formed (fields, base64).' },
});

export const CERTIFICATE_PAYLOAD_TYPE = 'application/vnd.swarm.certificate.v1+json';

export interface DsseSignature {
  keyid: string;
  sig: string;
}

export interface DsseEnvelope {
  payloadType: string;
  payload: string;
  signatures: DsseSignature[];
}

export function preAuthEncoding(payloadType: string, body: Uint8Array): Buffer {
  const type = Buffer.from(payloadType, 'utf8');
  return Buffer.concat([
    Buffer.from(`DSSEv1 ${type.length} `, 'utf8'),
    type,
    Buffer.from(` ${body.length} `, 'utf8'),
    Buffer.from(body),
  ]);
}

export function signDsse(payloadType: string, body: Uint8Array, key: SigningKey): DsseEnvelope {
  const sig = crypto.sign(null, preAuthEncoding(payloadType, body), key.privateKey);
  return {
    payloadType,
    payload: Buffer.from(body).toString('base64'),
    signatures: [{ keyid: key.keyId, sig: sig.toString('base64') }],
  };
}

/** Parses an envelope from untrusted JSON, with a coded error for every malformation. */
export function parseDsseEnvelope(value: unknown): DsseEnvelope {
  const bad = (why: string) => new SwarmError('DSSE_MALFORMED', `DSSE envelope ${why}`);
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw bad('is not a JSON object');
  const env = value as Record<string, unknown>;
  if (typeof env.payloadType !== 'string' || env.payloadType === '') throw bad('has no payloadType');
  if (typeof env.payload !== 'string' || decodeDsseBase64(env.payload) === null) throw bad('payload is not base64');
  if (!Array.isArray(env.signatures) || env.signatures.length === 0) throw bad('has no signatures');
  const signatures = env.signatures.map((s, i) => {
    const sig = s as Record<string, unknown>;
    if (typeof sig?.sig !== 'string' || decodeDsseBase64(sig.sig) === null) throw bad(`signature ${i} is not base64`);
    return { keyid: typeof sig.keyid === 'string' ? sig.keyid : '', sig: sig.sig };
  });
  return { payloadType: env.payloadType, payload: env.payload, signatures };
}

const STANDARD_RE = /^[A-Za-z0-9+/]*={0,2}$/;
const URL_SAFE_RE = /^[A-Za-z0-9_-]*={0,2}$/;

/**
 * DSSE allows standard and URL-safe base64, padded or not, so envelopes from other implementations
 * use either. One alphabet per string, padding complete when present, and zero trailing bits, so
 * each text decodes to one byte string and nothing is silently skipped (Buffer.from would skip).
 */
export function decodeDsseBase64(text: string): Buffer | null {
  if (!STANDARD_RE.test(text) && !URL_SAFE_RE.test(text)) return null;
  const data = text.replace(/=+$/, '');
  if (data.length % 4 === 1) return null;
  if (data.length !== text.length && text.length % 4 !== 0) return null;
  const bytes = Buffer.from(data.replace(/-/g, '+').replace(/_/g, '/'), 'base64');
  if (bytes.toString('base64').replace(/=+$/, '') !== data.replace(/-/g, '+').replace(/_/g, '/')) return null;
  return bytes;
}

export function dssePayloadBytes(envelope: DsseEnvelope): Buffer {
  const bytes = decodeDsseBase64(envelope.payload);
  if (bytes === null) throw new SwarmError('DSSE_MALFORMED', 'DSSE envelope payload is not base64');
  return bytes;
}

/** True when any signature in the envelope verifies under `publicKey` over PAE(type, body). */
export function dsseSignedBy(envelope: DsseEnvelope, publicKey: crypto.KeyObject): boolean {
  const pae = preAuthEncoding(envelope.payloadType, dssePayloadBytes(envelope));
  return envelope.signatures.some((s) => {
    try {
      const sig = decodeDsseBase64(s.sig);
      return sig !== null && crypto.verify(null, pae, publicKey, sig);
    } catch {
      return false;
    }
  });
}
