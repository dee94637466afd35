/**
 * Capabilities at rest: a secret sealed under the installation root secret, bound to a context
 * (what the secret is and where it belongs). Deterministic, so the same capability sealed twice gives
 * the same text and stored files stay reproducible. Form: `sealed:v1:<base64url>`.
 */
import { SwarmError, decodeBase64UrlStrict } from '@swarm/core';
import '../errors.js';
import { SIV_OVERHEAD, sivOpen, sivSeal } from './siv.js';

export const SEALED_SECRET_PREFIX = 'sealed:v1:';
const SEAL_LABEL = 'swarm/v1/sealed-secret';

function assertRootSecret(rootSecret: Buffer): void {
  if (!(rootSecret instanceof Uint8Array) || rootSecret.length < 32) {
    throw new SwarmError('STATE_KEY_INVALID', 'the installation root secret must be at least 32 bytes');
  }
}

export function sealSecret(plaintext: string, rootSecret: Buffer, context: string): string {
  assertRootSecret(rootSecret);
  return SEALED_SECRET_PREFIX + sivSeal(rootSecret, SEAL_LABEL, context, Buffer.from(plaintext, 'utf8')).toString('base64url');
}

export function isSealedSecret(value: unknown): value is string {
  return typeof value === 'string' && value.startsWith(SEALED_SECRET_PREFIX);
}

export function openSecret(sealed: string, rootSecret: Buffer, context: string): string {
  assertRootSecret(rootSecret);
  if (!isSealedSecret(sealed)) throw new SwarmError('STATE_SEALED_SECRET_MALFORMED', 'a sealed secret starts with sealed:v1:');
  const bytes = decodeBase64UrlStrict(sealed.slice(SEALED_SECRET_PREFIX.length), 'STATE_SEALED_SECRET_MALFORMED');
  if (bytes.length < SIV_OVERHEAD) throw new SwarmError('STATE_SEALED_SECRET_MALFORMED', 'a sealed secret is too short');
  const plaintext = sivOpen(rootSecret, SEAL_LABEL, context, bytes);
  if (plaintext === null) {
    throw new SwarmError('STATE_SEALED_SECRET_INVALID', 'the sealed secret does not open with this installation secret and context', {
      details: { context },
    });
  }
  try {
    return new TextDecoder('utf-8', { fatal: true }).decode(plaintext);
  } catch {
    throw new SwarmError('STATE_SEALED_SECRET_INVALID', 'the sealed secret is not UTF-8 text');
  }
}
