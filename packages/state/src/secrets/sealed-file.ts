/**
 * One secret at rest: a small JSON file holding the value sealed with XChaCha20-Poly1305 under a
 * key derived from the installation root secret. The name and both times are the associated
 * data, so a file renamed to another secret, or with its times edited, fails to open.
 */
import { SwarmError, canonicalBytes } from '@swarm/core';
import { hkdf } from '../crypto/hkdf.js';
import { XCHACHA_NONCE_BYTES, xchachaOpen, xchachaSeal } from '../crypto/xchacha.js';
import { isIsoTime } from './names.js';
import './errors.js';

export const SECRET_FILE_FORMAT = 'swarm-secret/v1';
/** Its own label: no other key swarm derives from the root secret can coincide with it. */
const SECRETS_KEY_LABEL = 'swarm/v1/operator-secrets';

export interface SecretTimes {
  created_at: string;
  updated_at: string;
}

export interface SealedSecretFile extends SecretTimes {
  format: typeof SECRET_FILE_FORMAT;
  /** 24 bytes, base64url. */
  nonce: string;
  /** Ciphertext ‖ Poly1305 tag, base64url. */
  sealed: string;
}

export function secretsKey(rootSecret: Buffer): Buffer {
  return hkdf(rootSecret, SECRETS_KEY_LABEL);
}

function associatedData(name: string, times: SecretTimes): Buffer {
  return canonicalBytes({ format: SECRET_FILE_FORMAT, name, created_at: times.created_at, updated_at: times.updated_at });
}

export function sealSecretFile(key: Buffer, name: string, value: string, times: SecretTimes, nonce: Buffer): SealedSecretFile {
  const plaintext = Buffer.from(value, 'utf8');
  try {
    const sealed = xchachaSeal(key, nonce, plaintext, associatedData(name, times));
    return { format: SECRET_FILE_FORMAT, ...times, nonce: nonce.toString('base64url'), sealed: sealed.toString('base64url') };
  } finally {
    plaintext.fill(0);
  }
}

export function openSecretFile(key: Buffer, name: string, file: SealedSecretFile, where: string): string {
  const plaintext = xchachaOpen(key, Buffer.from(file.nonce, 'base64url'), Buffer.from(file.sealed, 'base64url'), associatedData(name, file));
  if (plaintext === null) {
    throw unreadable(where, name, 'it does not open with this installation secret under this name (edited, renamed, or from another installation)');
  }
  try {
    return new TextDecoder('utf-8', { fatal: true }).decode(plaintext);
  } catch {
    throw unreadable(where, name, 'its value is not UTF-8 text');
  } finally {
    plaintext.fill(0);
  }
}

const FIELDS = ['format', 'created_at', 'updated_at', 'nonce', 'sealed'];
const BASE64URL = /^[A-Za-z0-9_-]*$/;

/** Parses a stored secret file; anything but the exact form is SECRET_UNREADABLE. */
export function parseSecretFile(bytes: Buffer, where: string, name: string): SealedSecretFile {
  let doc: unknown;
  try {
    doc = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(bytes));
  } catch {
    throw unreadable(where, name, 'it is not JSON');
  }
  const record = doc as Record<string, unknown>;
  if (typeof doc !== 'object' || doc === null || Array.isArray(doc) || Object.keys(record).sort().join() !== [...FIELDS].sort().join()) {
    throw unreadable(where, name, `it does not have exactly the fields ${FIELDS.join(', ')}`);
  }
  if (record.format !== SECRET_FILE_FORMAT) throw unreadable(where, name, `its format is not ${SECRET_FILE_FORMAT}`);
  for (const field of ['created_at', 'updated_at'] as const) {
    if (!isIsoTime(record[field])) throw unreadable(where, name, `${field} is not an ISO time`);
  }
  const nonce = record.nonce;
  if (typeof nonce !== 'string' || !BASE64URL.test(nonce) || Buffer.from(nonce, 'base64url').length !== XCHACHA_NONCE_BYTES) {
    throw unreadable(where, name, `its nonce is not ${XCHACHA_NONCE_BYTES} bytes of base64url`);
  }
  if (typeof record.sealed !== 'string' || !BASE64URL.test(record.sealed)) throw unreadable(where, name, 'its sealed value is not base64url');
  return record as unknown as SealedSecretFile;
}

export function unreadable(where: string, name: string, why: string, cause?: unknown): SwarmError {
  return new SwarmError('SECRET_UNREADABLE', `secret ${name} cannot be read: ${why}`, {
    details: { name, path: where },
    hint: `set it again with \`swarm secret set ${name}\`, or remove it with \`swarm secret rm ${name}\``,
    cause,
  });
}
