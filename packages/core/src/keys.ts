/**
 * The operator's key material in `$SWARM_HOME/keys/` (directory 0700, files 0600): the
 * installation root secret from which chain keys derive, and the Ed25519 signing key that signs
 * certificates. Keys are created on first use from the system CSPRNG; nothing is fixed or guessable.
 */
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { fsyncDir } from './atomic-file.js';
import { readBoundedFile } from './bounded-file.js';
import { disableCoreDumps } from './core-dumps.js';
import { swarmHome } from './config.js';
import { sha256Hex } from './digest.js';
import { SwarmError, registerErrorCodes } from './errors.js';

registerErrorCodes('core', {
  KEYS_INVALID: { category: 'input', description: 'A key file in the swarm keys directory is malformed or has unsafe permissions.' },
  KEYS_MISSING: { category: 'input', description: 'A required key does not exist yet (run `swarm keys generate`).' },
});

export const ROOT_SECRET_FILE = 'root.secret';
export const SIGNING_KEY_FILE = 'signing.ed25519.pem';
export const TRUST_STORE_FILE = 'trusted-keys.json';

export function keysDir(home: string = swarmHome()): string {
  return path.join(home, 'keys');
}

function ensureKeysDir(home: string): string {
  const dir = keysDir(home);
  fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
  fs.chmodSync(dir, 0o700);
  return dir;
}

/**
 * Creates a key file exactly once: the content is written and synced under a temporary name and
 * then hard-linked into place, so a concurrent reader never sees a partly written key and two
 * processes racing never overwrite each other's key.
 */
function createSecretFile(file: string, data: string | Uint8Array): boolean {
  disableCoreDumps();
  const tmp = `${file}.${process.pid}.${crypto.randomBytes(4).toString('hex')}.tmp`;
  try {
    const fd = fs.openSync(tmp, 'wx', 0o600);
    try {
      fs.writeFileSync(fd, data);
      fs.fsyncSync(fd);
    } finally {
      fs.closeSync(fd);
    }
    try {
      fs.linkSync(tmp, file);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'EEXIST') return false;
      throw error;
    }
    fsyncDir(path.dirname(file));
    return true;
  } catch (error) {
    throw new SwarmError('IO_WRITE_FAILED', `cannot create ${file}`, { cause: error });
  } finally {
    fs.rmSync(tmp, { force: true });
  }
}

/** Key files are a few hundred bytes; a device or a huge file in their place is refused unread. */
const MAX_KEY_FILE_BYTES = 64 * 1024;

function readSecretFile(file: string): Buffer {
  // From here on this process holds a key: no core file may carry it off.
  disableCoreDumps();
  try {
    return readBoundedFile(file, {
      what: 'key file',
      maxBytes: MAX_KEY_FILE_BYTES,
      inspect: (stat) => {
        if ((stat.mode & 0o077) !== 0) {
          throw new SwarmError('KEYS_INVALID', `${file} is readable by others (mode ${(stat.mode & 0o777).toString(8)})`, {
            hint: `chmod 600 ${file}`,
          });
        }
      },
    });
  } catch (error) {
    if (error instanceof SwarmError && (error.code === 'FILE_NOT_REGULAR' || error.code === 'FILE_TOO_LARGE')) {
      throw new SwarmError('KEYS_INVALID', `${file} is not a key file: ${error.message}`, { details: { path: file, cause_code: error.code }, cause: error });
    }
    throw error;
  }
}

/** The 32-byte installation root secret, created on first use. */
export function loadOrCreateRootSecret(home: string = swarmHome()): Buffer {
  const file = path.join(ensureKeysDir(home), ROOT_SECRET_FILE);
  if (!fs.existsSync(file)) createSecretFile(file, crypto.randomBytes(32));
  const secret = readSecretFile(file);
  if (secret.length !== 32) throw new SwarmError('KEYS_INVALID', `${file} must hold exactly 32 bytes`);
  return secret;
}

export interface SigningKey {
  keyId: string;
  /** Raw 32-byte Ed25519 public key, base64url. */
  publicKey: string;
  privateKey: crypto.KeyObject;
}

/** Raw Ed25519 public key (base64url) → key id: the first 16 hex digits of its SHA-256. */
export function keyIdOf(publicKey: string): string {
  return sha256Hex(Buffer.from(publicKey, 'base64url')).slice(0, 16);
}

export function publicKeyFromRaw(publicKey: string): crypto.KeyObject {
  const raw = Buffer.from(publicKey, 'base64url');
  if (raw.length !== 32 || raw.toString('base64url') !== publicKey) {
    throw new SwarmError('KEYS_INVALID', 'an Ed25519 public key is 32 bytes in canonical base64url');
  }
  return crypto.createPublicKey({ key: { kty: 'OKP', crv: 'Ed25519', x: publicKey }, format: 'jwk' });
}

function toSigningKey(privateKey: crypto.KeyObject): SigningKey {
  const jwk = crypto.createPublicKey(privateKey).export({ format: 'jwk' }) as { x?: string };
  if (!jwk.x) throw new SwarmError('KEYS_INVALID', 'signing key is not an Ed25519 key');
  return { keyId: keyIdOf(jwk.x), publicKey: jwk.x, privateKey };
}

/** Generates the signing key if none exists; returns the existing one otherwise. */
export function generateSigningKey(home: string = swarmHome()): { key: SigningKey; created: boolean } {
  const file = path.join(ensureKeysDir(home), SIGNING_KEY_FILE);
  const { privateKey } = crypto.generateKeyPairSync('ed25519');
  const created = createSecretFile(file, privateKey.export({ format: 'pem', type: 'pkcs8' }) as string);
  return { key: loadSigningKey(home), created };
}

export function loadSigningKey(home: string = swarmHome()): SigningKey {
  const file = path.join(keysDir(home), SIGNING_KEY_FILE);
  if (!fs.existsSync(file)) {
    throw new SwarmError('KEYS_MISSING', 'no signing key yet', { hint: 'run `swarm keys generate` (or `swarm init`)' });
  }
  let privateKey: crypto.KeyObject;
  try {
    privateKey = crypto.createPrivateKey(readSecretFile(file));
  } catch (cause) {
    if (cause instanceof SwarmError) throw cause;
    throw new SwarmError('KEYS_INVALID', `${file} is not a PEM private key`, { cause });
  }
  if (privateKey.asymmetricKeyType !== 'ed25519') throw new SwarmError('KEYS_INVALID', `${file} is not an Ed25519 key`);
  return toSigningKey(privateKey);
}

/** The signing key, created on first use (engine runs sign every certificate). */
export function loadOrCreateSigningKey(home: string = swarmHome()): SigningKey {
  return fs.existsSync(path.join(keysDir(home), SIGNING_KEY_FILE)) ? loadSigningKey(home) : generateSigningKey(home).key;
}

export const SEALING_KEY_FILE = 'sealing.x25519';

/** The operator's X25519 sealing key: what remote runners seal capabilities back to. Raw 32-byte keys. */
export interface SealingKey {
  /** base64url of the raw public key. */
  publicKey: string;
  privateKey: Buffer;
}

/** The sealing key, created on first use (32 random bytes, clamped by X25519 itself). */
export function loadOrCreateSealingKey(home: string = swarmHome()): SealingKey {
  const file = path.join(ensureKeysDir(home), SEALING_KEY_FILE);
  if (!fs.existsSync(file)) createSecretFile(file, crypto.randomBytes(32));
  const privateKey = readSecretFile(file);
  if (privateKey.length !== 32) throw new SwarmError('KEYS_INVALID', `${file} must hold exactly 32 bytes`);
  return { publicKey: x25519PublicKey(privateKey).toString('base64url'), privateKey };
}

/** The X25519 public key of a raw private key (node:crypto, no extra dependency). */
export function x25519PublicKey(privateKey: Buffer): Buffer {
  const pkcs8 = Buffer.concat([Buffer.from('302e020100300506032b656e04220420', 'hex'), privateKey]);
  const key = crypto.createPublicKey(crypto.createPrivateKey({ key: pkcs8, format: 'der', type: 'pkcs8' }));
  return Buffer.from((key.export({ format: 'jwk' }) as { x: string }).x, 'base64url');
}
