import { CERTIFICATE_PAYLOAD_TYPE, dssePayloadBytes, dsseSignedBy, parseDsseEnvelope, type DsseEnvelope } from '@swarm/core';
import { parseJsonBytes } from '../input-files.js';
import { failed, passed, skipped, type CheckResult } from '../report.js';
import type { CertificateInput, CheckContext } from './context.js';

/**
 * 7. signature: a DSSE envelope for certificates whose payload is exactly these certificate bytes,
 * signed (over the pre-authentication encoding, which binds the payload type) by a trusted key.
 */
export function checkSignature(input: CertificateInput, ctx: CheckContext): CheckResult {
  const bytes = input.signature ?? null;
  if (bytes === null) {
    if (ctx.requireSignature) return failed('signature', 'VERIFY_SIGNATURE_MISSING', 'a signature is required but there is no DSSE envelope');
    return skipped('signature', 'the certificate is not signed (no DSSE envelope)');
  }
  const parsed = parseJsonBytes(bytes);
  if (!parsed.ok) return failed('signature', 'VERIFY_SIGNATURE_INVALID', `the DSSE envelope ${parsed.reason}`);
  let envelope: DsseEnvelope;
  try {
    envelope = parseDsseEnvelope(parsed.value);
  } catch (error) {
    return failed('signature', 'VERIFY_SIGNATURE_INVALID', (error as Error).message);
  }
  if (envelope.payloadType !== CERTIFICATE_PAYLOAD_TYPE) {
    return failed('signature', 'VERIFY_SIGNATURE_WRONG_TYPE', `the envelope is for payload type ${JSON.stringify(envelope.payloadType)}, not ${CERTIFICATE_PAYLOAD_TYPE}`, {
      payload_type: envelope.payloadType,
    });
  }
  if (!dssePayloadBytes(envelope).equals(input.certificate)) {
    return failed('signature', 'VERIFY_SIGNATURE_PAYLOAD_MISMATCH', 'the signed payload is not byte-for-byte this certificate');
  }
  const trusted = ctx.trustedKeys();
  const signer = trusted.find((key) => dsseSignedBy(envelope, key.key));
  if (signer) {
    const from = { argument: 'given with --trusted-key', 'trust-store': 'from the trust store', self: "this installation's own key" }[signer.source];
    const label = signer.name && signer.source !== 'self' ? `${signer.keyId} "${signer.name}"` : signer.keyId;
    return passed('signature', `signed by trusted key ${label} (${from})`, {
      key_id: signer.keyId,
      name: signer.name,
      source: signer.source,
    });
  }
  const named = envelope.signatures.map((s) => s.keyid);
  const trustedIds = trusted.map((k) => k.keyId);
  if (trusted.length === 0) {
    return failed('signature', 'VERIFY_SIGNATURE_UNTRUSTED', 'no trusted keys: pass --trusted-key or add keys with `swarm keys trust`', {
      key_ids: named,
      trusted: [],
    });
  }
  if (named.some((id) => trustedIds.includes(id))) {
    return failed('signature', 'VERIFY_SIGNATURE_INVALID', 'the signature names a trusted key but does not verify over this payload and type', {
      key_ids: named,
    });
  }
  return failed('signature', 'VERIFY_SIGNATURE_UNTRUSTED', `signed by ${named.map((id) => id || '(no key id)').join(', ')}, which is not a trusted key`, {
    key_ids: named,
    trusted: trustedIds,
  });
}
