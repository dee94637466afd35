/**
 * The runner key: what a GitHub runner holds (as the environment secret SWARM_RUNNER_KEY) to open
 * capabilities sealed to it and to sign certificates, plus the operator public keys whose
 * dispatch envelopes it obeys. Generated on the operator's machine by `swarm github setup`; only
 * the public halves stay there.
 */
import crypto from 'node:crypto';
import { SwarmError, keyIdOf, x25519PublicKey, type SigningKey } from '@swarm/core';
import './errors.js';

export interface RunnerKey {
  v: 1;
  repo: string;
  /** PKCS#8 DER of the Ed25519 signing key, base64url. */
  ed25519_sk: string;
  /** Raw X25519 secret, base64url. */
  x25519_sk: string;
  /** Operators whose envelopes this runner accepts. */
  operators: Array<{ ed25519: string; x25519: string }>;
}

export interface RunnerPublic {
  /** Raw Ed25519 public key, base64url (the key certificates are checked against). */
  signing_key: string;
  key_id: string;
  /** Raw X25519 public key, base64url (what envelopes seal capabilities to). */
  sealing_key: string;
}

export function generateRunnerKey(repo: string, operator: { ed25519: string; x25519: string }): { secret: RunnerKey; public: RunnerPublic } {
  const { privateKey } = crypto.generateKeyPairSync('ed25519');
  const x = crypto.randomBytes(32);
  const secret: RunnerKey = {
    v: 1,
    repo,
    ed25519_sk: (privateKey.export({ format: 'der', type: 'pkcs8' }) as Buffer).toString('base64url'),
    x25519_sk: x.toString('base64url'),
    operators: [operator],
  };
  return { secret, public: runnerPublic(secret) };
}

export function runnerPublic(key: RunnerKey): RunnerPublic {
  const signer = runnerSigner(key);
  return { signing_key: signer.publicKey, key_id: signer.keyId, sealing_key: x25519PublicKey(Buffer.from(key.x25519_sk, 'base64url')).toString('base64url') };
}

export function runnerSigner(key: RunnerKey): SigningKey {
  const privateKey = crypto.createPrivateKey({ key: Buffer.from(key.ed25519_sk, 'base64url'), format: 'der', type: 'pkcs8' });
  if (privateKey.asymmetricKeyType !== 'ed25519') throw new SwarmError('RUNNER_KEY_INVALID', 'the runner signing key is not Ed25519');
  const x = (crypto.createPublicKey(privateKey).export({ format: 'jwk' }) as { x: string }).x;
  return { keyId: keyIdOf(x), publicKey: x, privateKey };
}

export function runnerSealingSecret(key: RunnerKey): Buffer {
  return Buffer.from(key.x25519_sk, 'base64url');
}

/** Parses SWARM_RUNNER_KEY; the message never quotes it. */
export function parseRunnerKey(text: string | undefined): RunnerKey {
  const bad = (why: string) => new SwarmError('RUNNER_KEY_INVALID', `the runner key is not usable: ${why}`, { hint: 'run `swarm github setup --rotate` on the operator machine' });
  if (!text) throw bad('SWARM_RUNNER_KEY is empty (is the job in the environment that holds it?)');
  let value: unknown;
  try {
    value = JSON.parse(Buffer.from(text.trim(), 'base64url').toString('utf8'));
  } catch {
    throw bad('not base64url JSON');
  }
  const k = value as Partial<RunnerKey>;
  const b64 = (s: unknown, len?: number) => typeof s === 'string' && /^[A-Za-z0-9_-]+$/.test(s) && (len === undefined || Buffer.from(s, 'base64url').length === len);
  if (k.v !== 1 || typeof k.repo !== 'string' || !b64(k.ed25519_sk) || !b64(k.x25519_sk, 32) || !Array.isArray(k.operators) || k.operators.length === 0) throw bad('missing fields');
  for (const op of k.operators) if (!b64(op?.ed25519, 32) || !b64(op?.x25519, 32)) throw bad('bad operator key');
  const key = k as RunnerKey;
  try {
    runnerSigner(key);
  } catch {
    throw bad('bad signing key');
  }
  return key;
}

export function encodeRunnerKey(key: RunnerKey): string {
  return Buffer.from(JSON.stringify(key), 'utf8').toString('base64url');
}
