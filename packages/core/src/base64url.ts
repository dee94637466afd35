import { SwarmError } from './errors.js';

const ALPHABET_RE = /^[A-Za-z0-9_-]*$/;

export function encodeBase64Url(data: Uint8Array | string): string {
  return Buffer.from(data).toString('base64url');
}

/**
 * Strict base64url (RFC 4648 section 5, no padding): rejects padding, other alphabets, impossible
 * lengths and non-zero trailing bits, so every byte string has exactly one accepted encoding.
 */
export function decodeBase64UrlStrict(text: string, code = 'CAPABILITY_MALFORMED'): Buffer {
  if (!ALPHABET_RE.test(text)) throw new SwarmError(code, 'not base64url without padding (bad character or padding)');
  if (text.length % 4 === 1) throw new SwarmError(code, 'not base64url without padding (impossible length)');
  const bytes = Buffer.from(text, 'base64url');
  if (bytes.toString('base64url') !== text) {
    throw new SwarmError(code, 'non-canonical base64url (trailing bits are not zero)');
  }
  return bytes;
}
