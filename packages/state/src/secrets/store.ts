/**
 * The operator's secrets in `$SWARM_HOME/secrets/` (directory 0700, one 0600 file per secret,
 * each replaced atomically). Values are sealed at rest and never listed; every change is written
 * to the audit log first, so the log never misses one (it may name a change that then failed).
 */
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import {
  SwarmError,
  fsyncDir,
  isMissingFileError,
  isoTime,
  loadOrCreateRootSecret,
  readBoundedFile,
  systemClock,
  writeFileAtomic,
  type Clock,
} from '@swarm/core';
import { XCHACHA_NONCE_BYTES } from '../crypto/xchacha.js';
import { appendAudit } from './audit.js';
import { MAX_SECRET_VALUE_BYTES, SECRET_NAME, assertSecretName, assertSecretValue } from './names.js';
import { openSecretFile, parseSecretFile, sealSecretFile, secretsKey, unreadable, type SealedSecretFile } from './sealed-file.js';
import './errors.js';

export const SECRETS_DIR = 'secrets';
const SECRET_FILE_SUFFIX = '.secret';
/** A sealed 64 KiB value in base64url is under 88 KiB; anything much larger is not a secret file. */
const MAX_SECRET_FILE_BYTES = 2 * MAX_SECRET_VALUE_BYTES;

export interface SecretStoreOptions {
  clock?: Clock;
  /** Nonce source (the system CSPRNG unless a test pins it). */
  random?: (bytes: number) => Buffer;
}

export interface SecretInfo {
  name: string;
  created_at: string;
  updated_at: string;
}

export interface SetSecretResult extends SecretInfo {
  /** False when a secret of this name was replaced. */
  created: boolean;
}

export function secretsDir(home: string): string {
  return path.join(home, SECRETS_DIR);
}

function secretPath(home: string, name: string): string {
  return path.join(secretsDir(home), `${name}${SECRET_FILE_SUFFIX}`);
}

function ensureSecretsDir(home: string): string {
  const dir = secretsDir(home);
  try {
    fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
    fs.chmodSync(dir, 0o700);
  } catch (cause) {
    throw new SwarmError('IO_WRITE_FAILED', `cannot create ${dir}`, { details: { path: dir }, cause });
  }
  return dir;
}

/** The parsed file of a secret, or null when there is none. */
function loadSecretFile(home: string, name: string): SealedSecretFile | null {
  const file = secretPath(home, name);
  let bytes: Buffer;
  try {
    bytes = readBoundedFile(file, {
      what: 'secret file',
      maxBytes: MAX_SECRET_FILE_BYTES,
      noFollow: true,
      inspect: (stat) => {
        if ((stat.mode & 0o077) !== 0) throw unreadable(file, name, `the file is readable by others (mode ${(stat.mode & 0o777).toString(8)})`);
      },
    });
  } catch (error) {
    if (isMissingFileError(error)) return null;
    if (error instanceof SwarmError && error.code === 'SECRET_UNREADABLE') throw error;
    throw unreadable(file, name, error instanceof Error ? error.message : String(error), error);
  }
  return parseSecretFile(bytes, file, name);
}

/** Whether anything (a file, a dangling link) is at `file`. */
function exists(file: string): boolean {
  return fs.lstatSync(file, { throwIfNoEntry: false }) !== undefined;
}

function notFound(name: string): SwarmError {
  return new SwarmError('SECRET_NOT_FOUND', `no secret named ${name}`, { details: { name }, hint: 'list them with `swarm secret list`' });
}

/** The creation time of the stored secret, if its file opens (an edited time is not carried over). */
function authenticCreationTime(key: Buffer, home: string, name: string): string | undefined {
  try {
    const file = loadSecretFile(home, name);
    if (file === null) return undefined;
    openSecretFile(key, name, file, secretPath(home, name));
    return file.created_at;
  } catch (error) {
    // An unreadable file is replaced; only its creation time is lost.
    if (error instanceof SwarmError && error.code === 'SECRET_UNREADABLE') return undefined;
    throw error;
  }
}

/** Stores `value` under `name`, replacing any secret of that name. */
export function setSecret(home: string, name: string, value: string, options: SecretStoreOptions = {}): SetSecretResult {
  assertSecretName(name);
  assertSecretValue(value);
  const key = secretsKey(loadOrCreateRootSecret(home));
  ensureSecretsDir(home);
  const now = isoTime(options.clock ?? systemClock);
  const replaced = exists(secretPath(home, name));
  const times = { created_at: replaced ? (authenticCreationTime(key, home, name) ?? now) : now, updated_at: now };
  const nonce = (options.random ?? randomBytes)(XCHACHA_NONCE_BYTES);
  const sealed = sealSecretFile(key, name, value, times, nonce);
  appendAudit(home, [{ action: 'set', name, at: now }]);
  writeFileAtomic(secretPath(home, name), `${JSON.stringify(sealed)}\n`, { mode: 0o600 });
  return { name, ...times, created: !replaced };
}

/** The value of a secret (for granting it to a run; never printed). */
export function readSecret(home: string, name: string): string {
  assertSecretName(name);
  const file = loadSecretFile(home, name);
  if (file === null) throw notFound(name);
  return openSecretFile(secretsKey(loadOrCreateRootSecret(home)), name, file, secretPath(home, name));
}

/** Names and times of every stored secret, by name; values are not opened. */
export function listSecrets(home: string): SecretInfo[] {
  let entries: string[];
  try {
    entries = fs.readdirSync(secretsDir(home));
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw new SwarmError('IO_READ_FAILED', `cannot list ${secretsDir(home)}`, { details: { path: secretsDir(home) }, cause: error });
  }
  const out: SecretInfo[] = [];
  for (const entry of entries) {
    if (!entry.endsWith(SECRET_FILE_SUFFIX)) continue;
    const name = entry.slice(0, -SECRET_FILE_SUFFIX.length);
    // Temporary files of an atomic write start with a dot and never match a name.
    if (!SECRET_NAME.test(name)) continue;
    const file = loadSecretFile(home, name);
    if (file !== null) out.push({ name, created_at: file.created_at, updated_at: file.updated_at });
  }
  return out.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
}

/** Removes a secret; SECRET_NOT_FOUND when there is none of that name. */
export function removeSecret(home: string, name: string, options: Pick<SecretStoreOptions, 'clock'> = {}): { name: string } {
  assertSecretName(name);
  const file = secretPath(home, name);
  if (!exists(file)) throw notFound(name);
  appendAudit(home, [{ action: 'remove', name, at: isoTime(options.clock ?? systemClock) }]);
  try {
    fs.rmSync(file);
  } catch (cause) {
    if ((cause as NodeJS.ErrnoException).code === 'ENOENT') throw notFound(name);
    throw new SwarmError('IO_WRITE_FAILED', `cannot remove ${file}`, { details: { path: file }, cause });
  }
  fsyncDir(secretsDir(home));
  return { name };
}
