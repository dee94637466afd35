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
  if (typeof env.payload !== 'string' || !isBase64(env.payload)) throw bad('payload is not base64');
  if (!Array.isArray(env.signatures) || env.signatures.length === 0) throw bad('has no signatures');
  const signatures = env.signatures.map((s, i) => {
    const sig = s as Record<string, unknown>;
    if (typeof sig?.sig !== 'string' || !isBase64(sig.sig)) throw bad(`signature ${i} is not base64`);
    return { keyid: typeof sig.keyid === 'string' ? sig.keyid : '', sig: sig.sig };
  });
  return { payloadType: env.payloadType, payload: env.payload, signatures };
}

function isBase64(text: string): boolean {
  return /^[A-Za-z0-9+/]*={0,2}$/.test(text) && text.length % 4 === 0;
}

export function dssePayloadBytes(envelope: DsseEnvelope): Buffer {
  return Buffer.from(envelope.payload, 'base64');
}

/** True when any signature in the envelope verifies under `publicKey` over PAE(type, body). */
export function dsseSignedBy(envelope: DsseEnvelope, publicKey: crypto.KeyObject): boolean {
  const pae = preAuthEncoding(envelope.payloadType, dssePayloadBytes(envelope));
  return envelope.signatures.some((s) => {
    try {
      return crypto.verify(null, pae, publicKey, Buffer.from(s.sig, 'base64'));
    } catch {
      return false;
    }
  });
}
