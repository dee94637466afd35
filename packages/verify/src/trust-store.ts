/**
 * The trust store: the public keys whose certificates this operator accepts, with names, in
 * `$SWARM_HOME/keys/trusted-keys.json`. It is validated on every load; a malformed store is an
 * error and is never overwritten. Edits take a lock and are written atomically (0600).
 */
import './errors.js';
import type { KeyObject } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import {
  SIGNING_KEY_FILE,
  SwarmError,
  TRUST_STORE_FILE,
  clockFromEnv,
  isMissingFileError,
  isoTime,
  keyIdOf,
  keysDir,
  loadSigningKey,
  publicKeyFromRaw,
  readBoundedFile,
  swarmHome,
  writeFileAtomic,
} from '@swarm/core';
import { withFileLock } from './file-lock.js';

export const TRUST_STORE_VERSION = 1;

export interface TrustStoreEntry {
  name: string | null;
  /** Raw 32-byte Ed25519 public key, canonical base64url. */
  public_key: string;
  /** First 16 hex digits of the key's SHA-256 (core keyIdOf). */
  key_id: string;
  added_at: string;
}

export interface TrustStore {
  version: typeof TRUST_STORE_VERSION;
  keys: TrustStoreEntry[];
}

/** A key the verifier accepts signatures from, and why. */
export interface TrustedKey {
  keyId: string;
  publicKey: string;
  name: string | null;
  /** `argument`: --trusted-key; `trust-store`: the store; `self`: this installation's signing key. */
  source: 'argument' | 'trust-store' | 'self';
  key: KeyObject;
}

export interface TrustOptions {
  /** Raw Ed25519 public keys (base64url) to trust for this verification. */
  trustedKeys?: readonly string[];
  /** Also trust the trust store. It is always used when `trustedKeys` is empty. */
  trustStore?: boolean;
  /** swarm home (default: $SWARM_HOME or ~/.swarm). */
  home?: string;
}

const NAME_RE = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;
const KEY_ID_RE = /^[0-9a-f]{16}$/;
/** A trust store holds public keys and names; anything this big is not one. */
const MAX_TRUST_STORE_BYTES = 4 * 1024 * 1024;

export function trustStorePath(home: string = swarmHome()): string {
  return path.join(keysDir(home), TRUST_STORE_FILE);
}

/** Validates a public key given by a user; returns it unchanged when it is canonical. */
export function parsePublicKey(text: string): { publicKey: string; keyId: string; key: KeyObject } {
  const publicKey = text.trim();
  try {
    return { publicKey, keyId: keyIdOf(publicKey), key: publicKeyFromRaw(publicKey) };
  } catch (cause) {
    throw new SwarmError('TRUST_KEY_INVALID', 'a public key is 32 bytes of Ed25519 in canonical base64url (no padding)', {
      details: { key: publicKey.slice(0, 64) },
      cause,
      hint: 'copy the public_key printed by `swarm keys show` on the signing machine',
    });
  }
}

/** Reads and validates the trust store; a missing file is an empty store. */
export function loadTrustStore(home: string = swarmHome()): TrustStore {
  const file = trustStorePath(home);
  let text: string;
  try {
    text = readBoundedFile(file, {
      what: 'trust store',
      maxBytes: MAX_TRUST_STORE_BYTES,
      inspect: (stat) => {
        if ((stat.mode & 0o022) !== 0) {
          throw new SwarmError('TRUST_STORE_INVALID', `${file} is writable by others (mode ${(stat.mode & 0o777).toString(8)})`, {
            details: { path: file, errors: ['unsafe permissions'] },
            hint: `chmod 600 ${file}`,
          });
        }
      },
    }).toString('utf8');
  } catch (cause) {
    if (!(cause instanceof SwarmError)) throw cause;
    if (cause.code === 'TRUST_STORE_INVALID') throw cause;
    if (cause.code === 'FILE_NOT_REGULAR') throw invalid(file, ['is not a regular file']);
    if (cause.code === 'FILE_TOO_LARGE') throw invalid(file, [`is larger than ${MAX_TRUST_STORE_BYTES} bytes`]);
    if (isMissingFileError(cause)) return { version: TRUST_STORE_VERSION, keys: [] };
    throw new SwarmError('TRUST_STORE_INVALID', `cannot read ${file}`, { details: { path: file, errors: ['unreadable'] }, cause });
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    throw invalid(file, ['is not valid JSON']);
  }
  const problems = checkTrustStore(parsed);
  if (problems.length > 0) throw invalid(file, problems);
  return parsed as TrustStore;
}

function invalid(file: string, problems: string[]): SwarmError {
  return new SwarmError('TRUST_STORE_INVALID', `trust store ${file} is invalid: ${problems.join('; ')}`, {
    details: { path: file, errors: problems },
    hint: 'fix or move the file; swarm will not overwrite it',
  });
}

function checkTrustStore(value: unknown): string[] {
  if (!isRecord(value)) return ['must be a JSON object'];
  const problems: string[] = [];
  if (value.version !== TRUST_STORE_VERSION) problems.push(`/version must be ${TRUST_STORE_VERSION}`);
  for (const key of Object.keys(value)) {
    if (key !== 'version' && key !== 'keys') problems.push(`/${key} is not a known field`);
  }
  if (!Array.isArray(value.keys)) {
    problems.push('/keys must be an array');
    return problems;
  }
  const seenKeys = new Set<string>();
  const seenNames = new Set<string>();
  value.keys.forEach((entry: unknown, i: number) => {
    const at = `/keys/${i}`;
    if (!isRecord(entry)) {
      problems.push(`${at} must be an object`);
      return;
    }
    for (const key of Object.keys(entry)) {
      if (!['name', 'public_key', 'key_id', 'added_at'].includes(key)) problems.push(`${at}/${key} is not a known field`);
    }
    if (typeof entry.public_key !== 'string') {
      problems.push(`${at}/public_key must be a string`);
    } else {
      try {
        publicKeyFromRaw(entry.public_key);
        if (entry.key_id !== keyIdOf(entry.public_key)) problems.push(`${at}/key_id does not match public_key`);
      } catch {
        problems.push(`${at}/public_key is not an Ed25519 public key in canonical base64url`);
      }
      if (seenKeys.has(entry.public_key)) problems.push(`${at}/public_key is listed twice`);
      seenKeys.add(entry.public_key);
    }
    if (entry.name !== null && !(typeof entry.name === 'string' && isValidTrustName(entry.name))) {
      problems.push(`${at}/name must be null or a name (letters, digits, . _ -)`);
    } else if (typeof entry.name === 'string') {
      if (seenNames.has(entry.name)) problems.push(`${at}/name is used twice`);
      seenNames.add(entry.name);
    }
    if (typeof entry.added_at !== 'string') problems.push(`${at}/added_at must be a string`);
  });
  return problems;
}

/** Names are short identifiers that cannot be confused with a key id. */
export function isValidTrustName(name: string): boolean {
  return NAME_RE.test(name) && !KEY_ID_RE.test(name);
}

function writeTrustStore(home: string, store: TrustStore): void {
  fs.mkdirSync(keysDir(home), { recursive: true, mode: 0o700 });
  writeFileAtomic(trustStorePath(home), `${JSON.stringify(store, null, 2)}\n`, { mode: 0o600 });
}

function editTrustStore<T>(home: string, edit: (store: TrustStore) => { result: T; changed: boolean }): T {
  fs.mkdirSync(keysDir(home), { recursive: true, mode: 0o700 });
  return withFileLock(trustStorePath(home), { busyCode: 'TRUST_STORE_BUSY' }, () => {
    const store = loadTrustStore(home);
    const { result, changed } = edit(store);
    if (changed) writeTrustStore(home, store);
    return result;
  });
}

export interface TrustKeyResult {
  entry: TrustStoreEntry;
  /** false when the key was already trusted under the same name (nothing written). */
  changed: boolean;
  trust_store: string;
}

/** Adds a key to the trust store (idempotent); with a name, names or renames it. */
export function trustKey(publicKey: string, options: { name?: string; home?: string; env?: NodeJS.ProcessEnv } = {}): TrustKeyResult {
  const home = options.home ?? swarmHome(options.env);
  const parsed = parsePublicKey(publicKey);
  const name = options.name?.trim();
  if (name !== undefined && !isValidTrustName(name)) {
    throw new SwarmError('INVALID_ARGUMENT', `invalid key name ${JSON.stringify(name)}`, {
      details: { name },
      hint: 'use up to 64 letters, digits, dots, dashes or underscores (not 16 hex digits, which look like a key id)',
    });
  }
  const added_at = isoTime(clockFromEnv(options.env));
  return editTrustStore(home, (store) => {
    if (name !== undefined) {
      const holder = store.keys.find((k) => k.name === name && k.public_key !== parsed.publicKey);
      if (holder) {
        throw new SwarmError('TRUST_NAME_TAKEN', `the name ${JSON.stringify(name)} already belongs to key ${holder.key_id}`, {
          details: { name, key_id: holder.key_id },
          hint: 'choose another name, or untrust the other key first',
        });
      }
    }
    const existing = store.keys.find((k) => k.public_key === parsed.publicKey);
    if (existing) {
      const changed = name !== undefined && existing.name !== name;
      if (changed) existing.name = name;
      return { result: { entry: { ...existing }, changed, trust_store: trustStorePath(home) }, changed };
    }
    const entry: TrustStoreEntry = { name: name ?? null, public_key: parsed.publicKey, key_id: parsed.keyId, added_at };
    store.keys.push(entry);
    return { result: { entry: { ...entry }, changed: true, trust_store: trustStorePath(home) }, changed: true };
  });
}

/** Removes the entry whose public key, key id or name is `selector` (in that order of precedence). */
export function untrustKey(selector: string, options: { home?: string; env?: NodeJS.ProcessEnv } = {}): { removed: TrustStoreEntry; trust_store: string } {
  const home = options.home ?? swarmHome(options.env);
  const wanted = selector.trim();
  return editTrustStore(home, (store) => {
    const index = [
      store.keys.findIndex((k) => k.public_key === wanted),
      store.keys.findIndex((k) => k.key_id === wanted),
      store.keys.findIndex((k) => k.name === wanted),
    ].find((i) => i >= 0);
    if (index === undefined) {
      throw new SwarmError('TRUST_KEY_UNKNOWN', `no trusted key has the public key, key id or name ${JSON.stringify(wanted)}`, {
        details: { selector: wanted, trusted: store.keys.map((k) => ({ key_id: k.key_id, name: k.name })) },
        hint: 'list trusted keys with `swarm keys show`',
      });
    }
    const [removed] = store.keys.splice(index, 1);
    return { result: { removed: removed!, trust_store: trustStorePath(home) }, changed: true };
  });
}

/**
 * The keys a verification accepts: the --trusted-key keys, plus the trust store and this
 * installation's own signing key when no key was given or the trust store was asked for.
 */
export function resolveTrustedKeys(options: TrustOptions = {}): TrustedKey[] {
  const explicit = options.trustedKeys ?? [];
  const keys: TrustedKey[] = explicit.map((text) => {
    const parsed = parsePublicKey(text);
    return { keyId: parsed.keyId, publicKey: parsed.publicKey, name: null, source: 'argument', key: parsed.key };
  });
  if (explicit.length === 0 || options.trustStore) {
    const home = options.home ?? swarmHome();
    for (const entry of loadTrustStore(home).keys) {
      keys.push({ keyId: entry.key_id, publicKey: entry.public_key, name: entry.name, source: 'trust-store', key: publicKeyFromRaw(entry.public_key) });
    }
    const own = ownPublicKey(home);
    if (own) keys.push({ keyId: own.keyId, publicKey: own.publicKey, name: 'self', source: 'self', key: publicKeyFromRaw(own.publicKey) });
  }
  const seen = new Set<string>();
  return keys.filter((k) => (seen.has(k.publicKey) ? false : (seen.add(k.publicKey), true)));
}

/** This installation's signing public key, if it has one (the private key never leaves core). */
export function ownPublicKey(home: string = swarmHome()): { keyId: string; publicKey: string } | null {
  if (!fs.existsSync(path.join(keysDir(home), SIGNING_KEY_FILE))) return null;
  const key = loadSigningKey(home);
  return { keyId: key.keyId, publicKey: key.publicKey };
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
