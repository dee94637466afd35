/** Operator key commands: the signing key lives in core; here is what `swarm keys` reports. */
import { generateSigningKey, keysDir, swarmHome } from '@swarm/core';
import { loadTrustStore, ownPublicKey, trustStorePath, type TrustStoreEntry } from './trust-store.js';

export interface GeneratedKey {
  key_id: string;
  public_key: string;
  /** false when the key already existed (generate is idempotent). */
  created: boolean;
  keys_dir: string;
}

/** Creates the operator's Ed25519 signing key unless it exists; returns its public half. */
export function generateOperatorKey(options: { env?: NodeJS.ProcessEnv } = {}): GeneratedKey {
  const home = swarmHome(options.env);
  const { key, created } = generateSigningKey(home);
  return { key_id: key.keyId, public_key: key.publicKey, created, keys_dir: keysDir(home) };
}

export interface KeysOverview {
  /** This installation's signing key (public half), or null before `swarm keys generate`. */
  signing_key: { key_id: string; public_key: string } | null;
  trust_store: string;
  trusted: TrustStoreEntry[];
}

export function showKeys(options: { env?: NodeJS.ProcessEnv } = {}): KeysOverview {
  const home = swarmHome(options.env);
  const own = ownPublicKey(home);
  return {
    signing_key: own && { key_id: own.keyId, public_key: own.publicKey },
    trust_store: trustStorePath(home),
    trusted: loadTrustStore(home).keys,
  };
}
