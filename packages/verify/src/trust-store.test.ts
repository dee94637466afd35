import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { generateSigningKey } from '@swarm/core';
import { withFileLock } from './file-lock.js';
import { generateOperatorKey, showKeys } from './keys.js';
import { loadTrustStore, resolveTrustedKeys, trustKey, trustStorePath, untrustKey } from './trust-store.js';
import { newSigningKey } from './test-support/engine-run.js';

let home: string;
beforeEach(() => {
  home = fs.mkdtempSync(path.join(os.tmpdir(), 'swarm-trust-'));
});
afterEach(() => fs.rmSync(home, { recursive: true, force: true }));

function codeOf(fn: () => unknown): string | undefined {
  try {
    fn();
  } catch (error) {
    return (error as { code?: string }).code;
  }
  return undefined;
}

describe('trust store', () => {
  it('adds a key once, with a name, in a 0600 file', () => {
    const key = newSigningKey();
    const first = trustKey(key.publicKey, { name: 'ci-runner', home });
    expect(first.changed).toBe(true);
    expect(first.entry).toMatchObject({ name: 'ci-runner', public_key: key.publicKey, key_id: key.keyId });
    expect(fs.statSync(trustStorePath(home)).mode & 0o777).toBe(0o600);
    expect(trustKey(key.publicKey, { name: 'ci-runner', home }).changed).toBe(false);
    expect(trustKey(key.publicKey, { home }).changed).toBe(false);
    expect(loadTrustStore(home).keys).toHaveLength(1);
  });

  it('renames a key when trusted again under another name', () => {
    const key = newSigningKey();
    trustKey(key.publicKey, { name: 'old', home });
    expect(trustKey(key.publicKey, { name: 'new', home }).changed).toBe(true);
    expect(loadTrustStore(home).keys.map((k) => k.name)).toEqual(['new']);
  });

  it('refuses a name another key holds, a malformed key, and a name that looks like a key id', () => {
    trustKey(newSigningKey().publicKey, { name: 'ci', home });
    expect(codeOf(() => trustKey(newSigningKey().publicKey, { name: 'ci', home }))).toBe('TRUST_NAME_TAKEN');
    expect(codeOf(() => trustKey('AAAA', { home }))).toBe('TRUST_KEY_INVALID');
    expect(codeOf(() => trustKey(`${newSigningKey().publicKey}=`, { home }))).toBe('TRUST_KEY_INVALID');
    expect(codeOf(() => trustKey(newSigningKey().publicKey, { name: '0123456789abcdef', home }))).toBe('INVALID_ARGUMENT');
    expect(codeOf(() => trustKey(newSigningKey().publicKey, { name: '../x', home }))).toBe('INVALID_ARGUMENT');
    expect(loadTrustStore(home).keys).toHaveLength(1);
  });

  it('untrusts by public key, key id or name', () => {
    const [a, b, c] = [newSigningKey(), newSigningKey(), newSigningKey()];
    trustKey(a.publicKey, { home });
    trustKey(b.publicKey, { home });
    trustKey(c.publicKey, { name: 'gamma', home });
    expect(untrustKey(a.publicKey, { home }).removed.key_id).toBe(a.keyId);
    expect(untrustKey(b.keyId, { home }).removed.public_key).toBe(b.publicKey);
    expect(untrustKey('gamma', { home }).removed.public_key).toBe(c.publicKey);
    expect(loadTrustStore(home).keys).toEqual([]);
    expect(codeOf(() => untrustKey('gamma', { home }))).toBe('TRUST_KEY_UNKNOWN');
  });

  it.each([
    ['not JSON', '{"version":1,'],
    ['a wrong version', '{"version":2,"keys":[]}'],
    ['an unknown field', '{"version":1,"keys":[],"extra":true}'],
    ['a bad public key', '{"version":1,"keys":[{"name":null,"public_key":"AAAA","key_id":"x","added_at":"t"}]}'],
  ])('rejects a store with %s, and never overwrites it', (_label, text) => {
    fs.mkdirSync(path.join(home, 'keys'), { recursive: true });
    fs.writeFileSync(trustStorePath(home), text, { mode: 0o600 });
    expect(codeOf(() => loadTrustStore(home))).toBe('TRUST_STORE_INVALID');
    expect(codeOf(() => trustKey(newSigningKey().publicKey, { home }))).toBe('TRUST_STORE_INVALID');
    expect(codeOf(() => untrustKey('x', { home }))).toBe('TRUST_STORE_INVALID');
    expect(fs.readFileSync(trustStorePath(home), 'utf8')).toBe(text);
  });

  it('rejects an entry whose key id does not match its key, and a key listed twice', () => {
    const key = newSigningKey();
    const entry = { name: null, public_key: key.publicKey, key_id: '0'.repeat(16), added_at: 't' };
    fs.mkdirSync(path.join(home, 'keys'), { recursive: true });
    fs.writeFileSync(trustStorePath(home), JSON.stringify({ version: 1, keys: [entry] }), { mode: 0o600 });
    expect(codeOf(() => loadTrustStore(home))).toBe('TRUST_STORE_INVALID');
    const good = { ...entry, key_id: key.keyId };
    fs.writeFileSync(trustStorePath(home), JSON.stringify({ version: 1, keys: [good, good] }), { mode: 0o600 });
    expect(codeOf(() => loadTrustStore(home))).toBe('TRUST_STORE_INVALID');
  });

  it('rejects a trust store others can write to', () => {
    trustKey(newSigningKey().publicKey, { home });
    fs.chmodSync(trustStorePath(home), 0o666);
    expect(codeOf(() => loadTrustStore(home))).toBe('TRUST_STORE_INVALID');
  });

  it('resolves --trusted-key keys, or the store plus the own key', () => {
    const stored = newSigningKey();
    const given = newSigningKey();
    trustKey(stored.publicKey, { name: 'stored', home });
    const { key: own } = generateSigningKey(home);
    expect(resolveTrustedKeys({ home }).map((k) => [k.keyId, k.source])).toEqual([
      [stored.keyId, 'trust-store'],
      [own.keyId, 'self'],
    ]);
    expect(resolveTrustedKeys({ home, trustedKeys: [given.publicKey] }).map((k) => k.source)).toEqual(['argument']);
    expect(resolveTrustedKeys({ home, trustedKeys: [given.publicKey], trustStore: true }).map((k) => k.source)).toEqual([
      'argument',
      'trust-store',
      'self',
    ]);
  });
});

describe('operator keys', () => {
  it('generate is idempotent and show never includes the private key', () => {
    const env = { SWARM_HOME: home };
    const first = generateOperatorKey({ env });
    const second = generateOperatorKey({ env });
    expect(first.created).toBe(true);
    expect(second.created).toBe(false);
    expect(second.public_key).toBe(first.public_key);
    const shown = showKeys({ env });
    expect(shown.signing_key).toEqual({ key_id: first.key_id, public_key: first.public_key });
    const pem = fs.readFileSync(path.join(home, 'keys', 'signing.ed25519.pem'), 'utf8');
    const body = pem.split('\n').filter((l) => l && !l.startsWith('-----')).join('');
    expect(JSON.stringify(shown)).not.toContain(body);
    expect(JSON.stringify(first)).not.toContain(body);
  });

  it('show works before any key exists', () => {
    expect(showKeys({ env: { SWARM_HOME: home } })).toMatchObject({ signing_key: null, trusted: [] });
  });
});

describe('withFileLock', () => {
  it('reports a held lock as busy and takes over a stale one', () => {
    const target = path.join(home, 'file');
    fs.writeFileSync(`${target}.lock`, '1\n');
    expect(codeOf(() => withFileLock(target, { busyCode: 'TRUST_STORE_BUSY', timeoutMs: 50 }, () => 1))).toBe('TRUST_STORE_BUSY');
    const old = new Date(Date.now() - 60_000);
    fs.utimesSync(`${target}.lock`, old, old);
    expect(withFileLock(target, { busyCode: 'TRUST_STORE_BUSY', timeoutMs: 50 }, () => 42)).toBe(42);
    expect(fs.existsSync(`${target}.lock`)).toBe(false);
  });
});
