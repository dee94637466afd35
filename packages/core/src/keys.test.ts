import crypto from 'node:crypto';
import fs from 'node:fs';
import { execFileSync } from 'node:child_process';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { codeOf, makeTempDir } from '@swarm/test-utils';
import {
  ROOT_SECRET_FILE,
  SIGNING_KEY_FILE,
  generateSigningKey,
  keyIdOf,
  keysDir,
  loadOrCreateRootSecret,
  loadOrCreateSigningKey,
  loadSigningKey,
  publicKeyFromRaw,
} from './keys.js';

let tmp: ReturnType<typeof makeTempDir>;
let home: string;
beforeEach(() => {
  tmp = makeTempDir();
  home = path.join(tmp.dir, 'swarm-home');
});
afterEach(() => tmp.cleanup());

const modeOf = (file: string) => fs.statSync(file).mode & 0o777;

describe('root secret', () => {
  it('is 32 random bytes in a 0600 file inside a 0700 directory, created once', () => {
    const first = loadOrCreateRootSecret(home);
    expect(first.length).toBe(32);
    expect(modeOf(keysDir(home))).toBe(0o700);
    expect(modeOf(path.join(keysDir(home), ROOT_SECRET_FILE))).toBe(0o600);
    expect(loadOrCreateRootSecret(home)).toEqual(first);
    const elsewhere = loadOrCreateRootSecret(path.join(tmp.dir, 'other-home'));
    expect(elsewhere).not.toEqual(first);
  });

  it('refuses a secret readable by others, or of the wrong size', () => {
    loadOrCreateRootSecret(home);
    const file = path.join(keysDir(home), ROOT_SECRET_FILE);
    fs.chmodSync(file, 0o644);
    expect(codeOf(() => loadOrCreateRootSecret(home))).toBe('KEYS_INVALID');
    fs.writeFileSync(file, Buffer.alloc(16));
    fs.chmodSync(file, 0o600);
    expect(codeOf(() => loadOrCreateRootSecret(home))).toBe('KEYS_INVALID');
  });

  it('refuses a device, a FIFO or a huge file in place of a key, without blocking or reading it all', () => {
    loadOrCreateRootSecret(home);
    const file = path.join(keysDir(home), ROOT_SECRET_FILE);
    const signing = path.join(keysDir(home), SIGNING_KEY_FILE);
    fs.rmSync(file);
    fs.symlinkSync('/dev/zero', file);
    expect(codeOf(() => loadOrCreateRootSecret(home))).toBe('KEYS_INVALID');
    fs.rmSync(file);
    execFileSync('mkfifo', ['-m', '600', file]);
    expect(codeOf(() => loadOrCreateRootSecret(home))).toBe('KEYS_INVALID');
    fs.symlinkSync('/dev/zero', signing);
    expect(codeOf(() => loadSigningKey(home))).toBe('KEYS_INVALID');
    fs.rmSync(signing);
    fs.writeFileSync(signing, Buffer.alloc(1024 * 1024, 0x41), { mode: 0o600 });
    expect(codeOf(() => loadSigningKey(home))).toBe('KEYS_INVALID');
  });
});

describe('signing key', () => {
  it('is created once as a 0600 Ed25519 key and loaded after that', () => {
    const first = generateSigningKey(home);
    expect(first.created).toBe(true);
    expect(modeOf(path.join(keysDir(home), SIGNING_KEY_FILE))).toBe(0o600);
    const second = generateSigningKey(home);
    expect(second.created).toBe(false);
    expect(second.key.publicKey).toBe(first.key.publicKey);
    expect(loadSigningKey(home).keyId).toBe(first.key.keyId);
    expect(loadOrCreateSigningKey(home).publicKey).toBe(first.key.publicKey);
    expect(first.key.privateKey.asymmetricKeyType).toBe('ed25519');
  });

  it('is created on first use by loadOrCreateSigningKey', () => {
    const key = loadOrCreateSigningKey(home);
    expect(fs.existsSync(path.join(keysDir(home), SIGNING_KEY_FILE))).toBe(true);
    expect(loadOrCreateSigningKey(home).keyId).toBe(key.keyId);
  });

  it('has a key id made of the first 16 hex digits of the SHA-256 of the raw public key', () => {
    const { key } = generateSigningKey(home);
    const raw = Buffer.from(key.publicKey, 'base64url');
    expect(raw.length).toBe(32);
    expect(key.keyId).toBe(crypto.createHash('sha256').update(raw).digest('hex').slice(0, 16));
    expect(keyIdOf(key.publicKey)).toBe(key.keyId);
  });

  it('signs so that the raw public key verifies', () => {
    const { key } = generateSigningKey(home);
    const signature = crypto.sign(null, Buffer.from('hello'), key.privateKey);
    expect(crypto.verify(null, Buffer.from('hello'), publicKeyFromRaw(key.publicKey), signature)).toBe(true);
  });

  it('is KEYS_MISSING before it exists', () => {
    expect(codeOf(() => loadSigningKey(home))).toBe('KEYS_MISSING');
  });

  it('is KEYS_INVALID when the file is not an Ed25519 PEM key, or is readable by others', () => {
    generateSigningKey(home);
    const file = path.join(keysDir(home), SIGNING_KEY_FILE);
    fs.chmodSync(file, 0o640);
    expect(codeOf(() => loadSigningKey(home))).toBe('KEYS_INVALID');
    fs.chmodSync(file, 0o600);
    fs.writeFileSync(file, 'not a key');
    expect(codeOf(() => loadSigningKey(home))).toBe('KEYS_INVALID');
    const { privateKey } = crypto.generateKeyPairSync('x25519');
    fs.writeFileSync(file, privateKey.export({ format: 'pem', type: 'pkcs8' }));
    expect(codeOf(() => loadSigningKey(home))).toBe('KEYS_INVALID');
  });
});

describe('publicKeyFromRaw', () => {
  it('refuses anything but 32 bytes of canonical base64url', () => {
    const raw = crypto.randomBytes(32).toString('base64url');
    expect(codeOf(() => publicKeyFromRaw(raw.slice(0, -2)))).toBe('KEYS_INVALID');
    expect(codeOf(() => publicKeyFromRaw(`${raw}=`))).toBe('KEYS_INVALID');
    expect(codeOf(() => publicKeyFromRaw(crypto.randomBytes(33).toString('base64url')))).toBe('KEYS_INVALID');
  });
});
