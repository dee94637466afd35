import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { xchacha20poly1305 } from '@noble/ciphers/chacha.js';
import { hkdf } from '@noble/hashes/hkdf.js';
import { sha256 } from '@noble/hashes/sha2.js';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { canonicalBytes, fixedClock, isSwarmError, loadOrCreateRootSecret } from '@swarm/core';
import { listAudit, verifyAudit } from './audit.js';
import { listSecrets, readSecret, removeSecret, setSecret } from './store.js';

let tmp: string;
let home: string;

beforeEach(() => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'swarm-secrets-'));
  home = path.join(tmp, 'home');
});
afterEach(() => fs.rmSync(tmp, { recursive: true, force: true }));

function codeOf(fn: () => unknown): string {
  try {
    fn();
  } catch (error) {
    return isSwarmError(error) ? error.code : `(not a SwarmError: ${String(error)})`;
  }
  return '(no error)';
}

const VALUE = 'sk-test-9f8e7d6c5b4a';
const file = (name: string) => path.join(home, 'secrets', `${name}.secret`);
const at = (iso: string) => ({ clock: fixedClock(Date.parse(iso)) });

describe('secret store', () => {
  it('stores a value sealed in a 0600 file in a 0700 directory, and reads it back', () => {
    const result = setSecret(home, 'API_KEY', VALUE, at('2024-01-01T00:00:00.000Z'));
    expect(result).toEqual({ name: 'API_KEY', created: true, created_at: '2024-01-01T00:00:00.000Z', updated_at: '2024-01-01T00:00:00.000Z' });
    expect(readSecret(home, 'API_KEY')).toBe(VALUE);
    expect(fs.statSync(path.join(home, 'secrets')).mode & 0o777).toBe(0o700);
    expect(fs.statSync(file('API_KEY')).mode & 0o777).toBe(0o600);
    const bytes = fs.readFileSync(file('API_KEY'));
    expect(bytes.includes(Buffer.from(VALUE))).toBe(false);
    expect(bytes.toString('latin1')).not.toContain(Buffer.from(VALUE).toString('base64url').slice(0, 12));
  });

  it('replacing keeps the creation time and reports it was replaced', () => {
    setSecret(home, 'API_KEY', VALUE, at('2024-01-01T00:00:00.000Z'));
    const again = setSecret(home, 'API_KEY', 'another-value', at('2024-02-01T00:00:00.000Z'));
    expect(again).toMatchObject({ created: false, created_at: '2024-01-01T00:00:00.000Z', updated_at: '2024-02-01T00:00:00.000Z' });
    expect(readSecret(home, 'API_KEY')).toBe('another-value');
    // An edited creation time is not carried over into the new file.
    const doc = JSON.parse(fs.readFileSync(file('API_KEY'), 'utf8'));
    fs.writeFileSync(file('API_KEY'), JSON.stringify({ ...doc, created_at: '2000-01-01T00:00:00.000Z' }));
    const third = setSecret(home, 'API_KEY', 'third-value', at('2024-03-01T00:00:00.000Z'));
    expect(third).toMatchObject({ created: false, created_at: '2024-03-01T00:00:00.000Z' });
  });

  it('seals with XChaCha20-Poly1305 under HKDF(root secret, its own label), the name and times bound as associated data', () => {
    // An independent open with noble's cipher pins the construction, not just a round trip.
    setSecret(home, 'API_KEY', VALUE, at('2024-01-01T00:00:00.000Z'));
    const doc = JSON.parse(fs.readFileSync(file('API_KEY'), 'utf8'));
    const key = hkdf(sha256, loadOrCreateRootSecret(home), undefined, Buffer.from('swarm/v1/operator-secrets'), 32);
    const aad = (name: string) => canonicalBytes({ format: 'swarm-secret/v1', name, created_at: doc.created_at, updated_at: doc.updated_at });
    const open = (name: string) => xchacha20poly1305(key, Buffer.from(doc.nonce, 'base64url'), aad(name)).decrypt(Buffer.from(doc.sealed, 'base64url'));
    expect(Buffer.from(open('API_KEY')).toString('utf8')).toBe(VALUE);
    expect(() => open('OTHER')).toThrow();
  });

  it('uses a fresh nonce for every write', () => {
    setSecret(home, 'A', VALUE);
    const first = JSON.parse(fs.readFileSync(file('A'), 'utf8')).nonce;
    setSecret(home, 'A', VALUE);
    expect(JSON.parse(fs.readFileSync(file('A'), 'utf8')).nonce).not.toBe(first);
  });

  it('lists names and times in name order, never values, and skips temporary files', () => {
    setSecret(home, 'ZETA', 'zeta-value', at('2024-01-02T00:00:00.000Z'));
    setSecret(home, 'ALPHA', VALUE, at('2024-01-01T00:00:00.000Z'));
    fs.writeFileSync(path.join(home, 'secrets', '.ALPHA.secret.abcdef.tmp'), 'partial');
    const list = listSecrets(home);
    expect(list).toEqual([
      { name: 'ALPHA', created_at: '2024-01-01T00:00:00.000Z', updated_at: '2024-01-01T00:00:00.000Z' },
      { name: 'ZETA', created_at: '2024-01-02T00:00:00.000Z', updated_at: '2024-01-02T00:00:00.000Z' },
    ]);
    expect(JSON.stringify(list)).not.toContain(VALUE);
    expect(listSecrets(path.join(tmp, 'empty-home'))).toEqual([]);
  });

  it('removes a secret; a missing one is SECRET_NOT_FOUND', () => {
    setSecret(home, 'API_KEY', VALUE);
    expect(removeSecret(home, 'API_KEY')).toEqual({ name: 'API_KEY' });
    expect(fs.existsSync(file('API_KEY'))).toBe(false);
    expect(codeOf(() => readSecret(home, 'API_KEY'))).toBe('SECRET_NOT_FOUND');
    expect(codeOf(() => removeSecret(home, 'API_KEY'))).toBe('SECRET_NOT_FOUND');
    expect(listSecrets(home)).toEqual([]);
  });

  it('accepts names of the form [A-Za-z_][A-Za-z0-9_]{0,127} only', () => {
    for (const name of ['A', '_', 'a_1', `A${'b'.repeat(127)}`]) expect(codeOf(() => setSecret(home, name, VALUE)), name).toBe('(no error)');
    for (const name of ['', '1A', 'A-B', 'A.B', '../A', 'A/B', `A${'b'.repeat(128)}`, 'Ä', 'A B']) {
      expect(codeOf(() => setSecret(home, name, VALUE)), name).toBe('SECRET_NAME_INVALID');
      expect(codeOf(() => readSecret(home, name)), name).toBe('SECRET_NAME_INVALID');
      expect(codeOf(() => removeSecret(home, name)), name).toBe('SECRET_NAME_INVALID');
    }
    expect(fs.readdirSync(tmp)).toEqual(['home']);
  });

  it('accepts values of 4 characters to 64 KiB of text without NUL only', () => {
    for (const value of ['abcd', 'x'.repeat(64 * 1024), 'line one\nline two', 'ключ']) {
      expect(codeOf(() => setSecret(home, 'V', value)), value.slice(0, 10)).toBe('(no error)');
      expect(readSecret(home, 'V')).toBe(value);
    }
    for (const value of ['', 'abc', 'x'.repeat(64 * 1024 + 1), 'é'.repeat(32 * 1024 + 1), 'abcd\0efg', 'abcd\ud800']) {
      expect(codeOf(() => setSecret(home, 'BAD', value)), JSON.stringify(value.slice(0, 10))).toBe('SECRET_VALUE_INVALID');
    }
    expect(fs.existsSync(file('BAD'))).toBe(false);
  });

  it('a file renamed to another name does not open', () => {
    setSecret(home, 'FIRST', VALUE);
    setSecret(home, 'SECOND', 'second-value');
    fs.renameSync(file('FIRST'), file('SECOND'));
    expect(codeOf(() => readSecret(home, 'SECOND'))).toBe('SECRET_UNREADABLE');
    // Positive control: the same bytes under their own name still open.
    fs.renameSync(file('SECOND'), file('FIRST'));
    expect(readSecret(home, 'FIRST')).toBe(VALUE);
  });

  it('an edited byte, an edited time, another installation or a file readable by others is SECRET_UNREADABLE', () => {
    setSecret(home, 'API_KEY', VALUE);
    expect(readSecret(home, 'API_KEY')).toBe(VALUE);
    const original = fs.readFileSync(file('API_KEY'), 'utf8');
    const doc = JSON.parse(original);
    const rewrite = (changed: Record<string, unknown>) => fs.writeFileSync(file('API_KEY'), JSON.stringify({ ...doc, ...changed }), { mode: 0o600 });

    const sealed = Buffer.from(doc.sealed, 'base64url');
    sealed[0]! ^= 1;
    rewrite({ sealed: sealed.toString('base64url') });
    expect(codeOf(() => readSecret(home, 'API_KEY'))).toBe('SECRET_UNREADABLE');

    rewrite({ created_at: '2000-01-01T00:00:00.000Z' });
    expect(codeOf(() => readSecret(home, 'API_KEY'))).toBe('SECRET_UNREADABLE');

    rewrite({ extra: true });
    expect(codeOf(() => readSecret(home, 'API_KEY'))).toBe('SECRET_UNREADABLE');
    fs.writeFileSync(file('API_KEY'), 'not json', { mode: 0o600 });
    expect(codeOf(() => readSecret(home, 'API_KEY'))).toBe('SECRET_UNREADABLE');

    fs.writeFileSync(file('API_KEY'), original, { mode: 0o600 });
    expect(readSecret(home, 'API_KEY')).toBe(VALUE);
    fs.chmodSync(file('API_KEY'), 0o644);
    expect(codeOf(() => readSecret(home, 'API_KEY'))).toBe('SECRET_UNREADABLE');
    fs.chmodSync(file('API_KEY'), 0o600);

    const other = path.join(tmp, 'other-home');
    fs.mkdirSync(path.join(other, 'secrets'), { recursive: true });
    fs.copyFileSync(file('API_KEY'), path.join(other, 'secrets', 'API_KEY.secret'));
    expect(codeOf(() => readSecret(other, 'API_KEY'))).toBe('SECRET_UNREADABLE');
  });

  it('a symlink in place of a secret file is not followed', () => {
    setSecret(home, 'REAL', VALUE);
    fs.symlinkSync(file('REAL'), file('LINK'));
    expect(codeOf(() => readSecret(home, 'LINK'))).toBe('SECRET_UNREADABLE');
  });

  it('records set and remove in the audit log, by name only', () => {
    setSecret(home, 'API_KEY', VALUE, at('2024-01-01T00:00:00.000Z'));
    setSecret(home, 'API_KEY', VALUE, at('2024-01-02T00:00:00.000Z'));
    removeSecret(home, 'API_KEY', at('2024-01-03T00:00:00.000Z'));
    expect(listAudit(home).map((e) => [e.seq, e.action, e.name, e.at])).toEqual([
      [1, 'set', 'API_KEY', '2024-01-01T00:00:00.000Z'],
      [2, 'set', 'API_KEY', '2024-01-02T00:00:00.000Z'],
      [3, 'remove', 'API_KEY', '2024-01-03T00:00:00.000Z'],
    ]);
    expect(verifyAudit(home)).toMatchObject({ ok: true, entries: 3 });
    expect(fs.readFileSync(path.join(home, 'audit.log'), 'utf8')).not.toContain(VALUE);
    // Rejected input leaves no entry.
    codeOf(() => setSecret(home, 'API_KEY', 'abc'));
    codeOf(() => removeSecret(home, 'NOPE'));
    expect(listAudit(home)).toHaveLength(3);
  });

  it('fails closed: with a broken audit log nothing is set or removed', () => {
    setSecret(home, 'KEEP', VALUE);
    const log = path.join(home, 'audit.log');
    fs.writeFileSync(log, fs.readFileSync(log, 'utf8').replace('"KEEP"', '"KEPT"'));
    expect(codeOf(() => setSecret(home, 'NEW', VALUE))).toBe('AUDIT_CHAIN_BROKEN');
    expect(fs.existsSync(file('NEW'))).toBe(false);
    expect(codeOf(() => removeSecret(home, 'KEEP'))).toBe('AUDIT_CHAIN_BROKEN');
    expect(readSecret(home, 'KEEP')).toBe(VALUE);
  });
});
