import { spawnSync } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { CERTIFICATE_PAYLOAD_TYPE, canonicalBytes, loadSigningKey, sha256Digest, signDsse, validateDocument } from '@swarm/core';

const BIN = fileURLToPath(new URL('../bin/swarm.js', import.meta.url));

let tmp: string;
let env: NodeJS.ProcessEnv;

beforeEach(() => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'swarm-e2e-keys-'));
  env = { PATH: process.env.PATH, HOME: path.join(tmp, 'user'), SWARM_HOME: path.join(tmp, 'home'), NO_COLOR: '1' };
});
afterEach(() => fs.rmSync(tmp, { recursive: true, force: true }));

function swarm(args: string[], home?: string) {
  const r = spawnSync(process.execPath, [BIN, ...args], { cwd: tmp, env: home ? { ...env, SWARM_HOME: home } : env, encoding: 'utf8', timeout: 60_000 });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

/** `--json` goes before a `--`: after it every word is an argument (keys may start with `-`). */
function json(args: string[], home?: string) {
  const end = args.indexOf('--');
  const r = swarm(end < 0 ? [...args, '--json'] : [...args.slice(0, end), '--json', ...args.slice(end)], home);
  const lines = r.stdout.trim().split('\n');
  expect(lines, r.stderr).toHaveLength(1);
  const envelope = JSON.parse(lines[0]!);
  expect(validateDocument('output', envelope).errors).toEqual([]);
  return { ...r, envelope };
}

const trustStore = () => path.join(tmp, 'home', 'keys', 'trusted-keys.json');

describe('swarm keys (built binary)', () => {
  it('generate creates a 0600 key once and prints only its public half', () => {
    const first = json(['keys', 'generate']);
    expect(first.code).toBe(0);
    expect(first.envelope.data).toMatchObject({ created: true, key_id: expect.stringMatching(/^[0-9a-f]{16}$/) });
    const pemFile = path.join(tmp, 'home', 'keys', 'signing.ed25519.pem');
    expect(fs.statSync(pemFile).mode & 0o777).toBe(0o600);
    const second = json(['keys', 'generate']);
    expect(second.envelope.data).toMatchObject({ created: false, key_id: first.envelope.data.key_id, public_key: first.envelope.data.public_key });
    const human = swarm(['keys', 'generate']);
    expect(human.code).toBe(0);
    expect(human.stdout).toContain(first.envelope.data.public_key);

    const secret = fs.readFileSync(pemFile, 'utf8').split('\n').filter((l) => l && !l.startsWith('-----')).join('');
    for (const r of [first, second, human, json(['keys', 'show']), swarm(['keys', 'show'])]) {
      expect(r.stdout + r.stderr).not.toContain(secret);
    }
  });

  it('show works before any key exists', () => {
    const r = json(['keys', 'show']);
    expect(r.code).toBe(0);
    expect(r.envelope.data).toMatchObject({ signing_key: null, trusted: [] });
  });

  it('trust, show and untrust by name, key id and public key', () => {
    const runner = path.join(tmp, 'runner-home');
    const a = json(['keys', 'generate'], runner).envelope.data;
    const b = json(['keys', 'generate'], path.join(tmp, 'other-home')).envelope.data;

    // A base64url key can start with `-` (one in 64 do), so it goes after `--`.
    const trusted = json(['keys', 'trust', '--name', 'ci-runner', '--', a.public_key]);
    expect(trusted.code).toBe(0);
    expect(trusted.envelope.data).toMatchObject({ changed: true, entry: { name: 'ci-runner', key_id: a.key_id, public_key: a.public_key } });
    expect(fs.statSync(trustStore()).mode & 0o777).toBe(0o600);
    expect(json(['keys', 'trust', '--name', 'ci-runner', '--', a.public_key]).envelope.data.changed).toBe(false);
    expect(json(['keys', 'trust', '--', b.public_key]).code).toBe(0);

    const shown = json(['keys', 'show']).envelope.data;
    expect(shown.trusted.map((k: any) => [k.key_id, k.name])).toEqual([
      [a.key_id, 'ci-runner'],
      [b.key_id, null],
    ]);
    expect(swarm(['keys', 'show']).stdout).toContain('ci-runner');

    expect(json(['keys', 'trust', '--name', 'ci-runner', '--', b.public_key]).envelope.error.code).toBe('TRUST_NAME_TAKEN');
    expect(json(['keys', 'untrust', 'ci-runner']).envelope.data.removed.key_id).toBe(a.key_id);
    expect(json(['keys', 'untrust', b.key_id]).envelope.data.removed.public_key).toBe(b.public_key);
    expect(json(['keys', 'show']).envelope.data.trusted).toEqual([]);
    const unknown = json(['keys', 'untrust', 'ci-runner']);
    expect(unknown.code).toBe(2);
    expect(unknown.envelope.error.code).toBe('TRUST_KEY_UNKNOWN');
  });

  it('rejects a malformed public key with exit 2', () => {
    const r = json(['keys', 'trust', 'not-a-key']);
    expect(r.code).toBe(2);
    expect(r.envelope.error.code).toBe('TRUST_KEY_INVALID');
    expect(fs.existsSync(trustStore())).toBe(false);
  });

  it('regression: trusts a public key that starts with "-" when it follows --', () => {
    // One base64url key in 64 starts with "-"; without `--` it reads as an unknown option.
    let key = '';
    while (!key.startsWith('-')) {
      const der = crypto.generateKeyPairSync('ed25519').publicKey.export({ format: 'der', type: 'spki' });
      key = der.subarray(der.length - 32).toString('base64url');
    }
    expect(json(['keys', 'trust', key]).envelope.error.code).toBe('USAGE');
    const r = json(['keys', 'trust', '--', key]);
    expect(r.code).toBe(0);
    expect(r.envelope.data.entry.public_key).toBe(key);
    expect(json(['keys', 'untrust', '--', key]).envelope.data.removed.public_key).toBe(key);
  });

  it('refuses a malformed trust store and never overwrites it', () => {
    fs.mkdirSync(path.dirname(trustStore()), { recursive: true });
    const text = '{"version":1,"keys":[{"public_key":"oops"}]}';
    fs.writeFileSync(trustStore(), text, { mode: 0o600 });
    const key = json(['keys', 'generate'], path.join(tmp, 'other-home')).envelope.data.public_key;
    for (const args of [['keys', 'show'], ['keys', 'trust', '--', key], ['keys', 'untrust', '--', key]]) {
      const r = json(args);
      expect(r.code).toBe(2);
      expect(r.envelope.error.code).toBe('TRUST_STORE_INVALID');
    }
    expect(fs.readFileSync(trustStore(), 'utf8')).toBe(text);
  });

  it('a trusted key lets verify cert accept its certificates; untrusting it makes them fail', () => {
    const runner = path.join(tmp, 'runner-home');
    const pub = json(['keys', 'generate'], runner).envelope.data.public_key;
    // A certificate signed by the runner's key, as the engine writes it.
    const dir = path.join(tmp, 'artifacts');
    fs.mkdirSync(dir);
    const doc = {
      type: 'loom-agent-run-v1',
      job_id: 'r1',
      request_hash: sha256Digest('request'),
      mode: 'prompt-run',
      parent_state: { state_id: 'state-root', bundle_sha256: sha256Digest('b0'), ratchet_step: 0 },
      result: { response_sha256: sha256Digest('out'), response_locator: 'step.log', new_state: { state_id: 's1', bundle_sha256: sha256Digest('b1'), bundle_manifest_sha256: sha256Digest('m1'), ratchet_step: 1 } },
      runtime: { workflow_ref: `local/swarm-local-run@${'c'.repeat(40)}`, runner_class: 'local', started_at: '2024-01-01T00:00:00.000Z', finished_at: '2024-01-01T00:00:01.000Z' },
      timestamp: '2024-01-01T00:00:01.000Z',
      swarm: { generator: 'swarm/0.1.0' },
    };
    const bytes = canonicalBytes(doc);
    fs.writeFileSync(path.join(dir, 'certificate.json'), bytes);
    fs.writeFileSync(path.join(dir, 'certificate.dsse.json'), canonicalBytes(signDsse(CERTIFICATE_PAYLOAD_TYPE, bytes, loadSigningKey(runner))));
    const verify = ['verify', 'cert', '--certificate', path.join(dir, 'certificate.json'), '--require-signature'];

    expect(json(verify).envelope.error.details.failed).toEqual(['VERIFY_SIGNATURE_UNTRUSTED']);
    expect(json(['keys', 'trust', pub, '--name', 'runner']).code).toBe(0);
    const ok = json(verify);
    expect(ok.code).toBe(0);
    expect(ok.envelope.data.checks.find((c: any) => c.name === 'signature').details).toMatchObject({ name: 'runner', source: 'trust-store' });
    expect(json(['keys', 'untrust', 'runner']).code).toBe(0);
    const again = json(verify);
    expect(again.code).toBe(3);
    expect(again.envelope.error.details.failed).toEqual(['VERIFY_SIGNATURE_UNTRUSTED']);
  });
});
