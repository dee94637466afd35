import { spawn, spawnSync } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CERTIFICATE_PAYLOAD_TYPE, canonicalBytes, loadSigningKey, preAuthEncoding, sha256Digest, signDsse, validateDocument } from '@swarm/core';

const BIN = fileURLToPath(new URL('../bin/swarm.js', import.meta.url));

let tmp: string;
let project: string;
let home: string;
let env: NodeJS.ProcessEnv;
let commit: string;
let artifactHash: string;
let ownKey: string;
let storeCount = 0;

function swarm(args: string[], options: { env?: NodeJS.ProcessEnv; cwd?: string; node?: string[]; wrap?: string[] } = {}) {
  const argv = [...(options.node ?? []), BIN, ...args];
  const [cmd, ...rest] = options.wrap ? [...options.wrap, process.execPath, ...argv] : [process.execPath, ...argv];
  const r = spawnSync(cmd!, rest, { cwd: options.cwd ?? project, env: { ...env, ...options.env }, encoding: 'utf8', timeout: 60_000 });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

function json(args: string[], options: Parameters<typeof swarm>[1] = {}) {
  const r = swarm([...args, '--json'], options);
  const lines = r.stdout.trim().split('\n');
  expect(lines, r.stderr).toHaveLength(1);
  const envelope = JSON.parse(lines[0]!);
  expect(validateDocument('output', envelope).errors).toEqual([]);
  return { ...r, envelope };
}

/** A fresh replay store per verification, so variants that share a nonce do not collide. */
function freshStore(): string {
  return path.join(tmp, 'stores', `store-${++storeCount}.jsonl`);
}

const RUN = () => path.join(project, '.swarm', 'runs', 'a');

/** A copy of run a's contract files in its own directory, changed by `mutate`. */
function variant(name: string, mutate: (dir: string) => void = () => {}): string {
  const dir = path.join(tmp, 'variants', name);
  fs.mkdirSync(dir, { recursive: true });
  for (const f of ['certificate.json', 'certificate.dsse.json', 'policy.json']) fs.copyFileSync(path.join(RUN(), f), path.join(dir, f));
  mutate(dir);
  return path.join(dir, 'certificate.json');
}

/** Edits the certificate document and signs it again with the operator's key, as the engine would. */
function resign(dir: string, edit: (doc: Record<string, any>) => void): void {
  const doc = JSON.parse(fs.readFileSync(path.join(dir, 'certificate.json'), 'utf8'));
  edit(doc);
  const bytes = canonicalBytes(doc);
  fs.writeFileSync(path.join(dir, 'certificate.json'), bytes);
  fs.writeFileSync(path.join(dir, 'certificate.dsse.json'), canonicalBytes(signDsse(CERTIFICATE_PAYLOAD_TYPE, bytes, loadSigningKey(home))));
}

/** A strict CI-style command line; options in `extra` replace the defaults of the same name. */
function strictArgs(certificate: string, extra: string[] = []): string[] {
  const defaults: Array<[string, string?]> = [
    ['--required-commit', commit],
    ['--require-policy'],
    ['--require-signature'],
    ['--trusted-key', ownKey],
    ['--replay-store', freshStore()],
  ];
  // `--flag=value`: a base64url key may start with "-", which clipanion would take for an option.
  const given = new Set(extra.map((a) => a.split('=')[0]));
  const kept = defaults.filter(([flag]) => !given.has(flag)).flatMap(([flag, value]) => (value === undefined ? [flag] : [`${flag}=${value}`]));
  return ['verify', 'cert', '--certificate', certificate, ...kept, ...extra];
}

function checks(envelope: any): Record<string, string> {
  const report = envelope.status === 'ok' ? envelope.data : envelope.error.details;
  return Object.fromEntries(report.checks.map((c: any) => [c.name, c.code ?? c.status]));
}

beforeAll(() => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'swarm-e2e-verify-'));
  project = path.join(tmp, 'project');
  home = path.join(tmp, 'home');
  fs.mkdirSync(project);
  env = { PATH: process.env.PATH, HOME: path.join(tmp, 'user'), SWARM_HOME: home, NO_COLOR: '1' };
  const git = (...args: string[]) => spawnSync('git', args, { cwd: project, env: { ...env, GIT_AUTHOR_NAME: 't', GIT_AUTHOR_EMAIL: 't@t', GIT_COMMITTER_NAME: 't', GIT_COMMITTER_EMAIL: 't@t' }, encoding: 'utf8' });
  git('init', '-q');
  fs.writeFileSync(path.join(project, 'README'), 'x\n');
  git('add', 'README');
  git('commit', '-q', '-m', 'init');
  commit = git('rev-parse', 'HEAD').stdout.trim();
  expect(commit).toMatch(/^[0-9a-f]{40}$/);
  const launched = json(['run', 'launch', '--unsandboxed-egress', '--node', 'root', '--run-id', 'a', '--step', 'echo hello > hello.txt']);
  expect(launched.code).toBe(0);
  artifactHash = JSON.parse(fs.readFileSync(path.join(RUN(), 'result.json'), 'utf8')).artifact_hash;
  ownKey = json(['keys', 'show']).envelope.data.signing_key.public_key;
}, 60_000);

afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

describe('swarm verify cert (built binary, real engine run)', () => {
  it('passes every check on an untouched certificate', () => {
    const r = json([...strictArgs(RUN() + '/certificate.json'), '--expected-artifact-hash', artifactHash]);
    expect(r.code).toBe(0);
    expect(r.envelope.status).toBe('ok');
    expect(checks(r.envelope)).toEqual({
      schema: 'pass',
      critical: 'pass',
      artifact_hash: 'pass',
      commit_pin: 'pass',
      policy: 'pass',
      replay: 'pass',
      signature: 'pass',
      run_status: 'pass',
    });
    expect(r.envelope.data.run).toEqual({ status: 'succeeded', exit_code: 0 });
    expect(r.envelope.data.artifact_hash).toBe(artifactHash);
    expect(r.envelope.data.inputs.policy.discovered).toBe(true);
    expect(r.envelope.data.inputs.signature.discovered).toBe(true);
  });

  it('lists every check with its status in human output', () => {
    const r = swarm(strictArgs(variant('human')));
    expect(r.code).toBe(0);
    for (const name of ['schema', 'critical', 'artifact_hash', 'commit_pin', 'policy', 'replay', 'signature', 'run_status']) {
      expect(r.stdout).toMatch(new RegExp(`^\\s+(pass|skipped)\\s+${name}\\s`, 'm'));
    }
    expect(r.stdout).toMatch(/^\s+step: succeeded, exit code 0$/m);
  });

  it('trusts its own signing key without --trusted-key', () => {
    const r = json(['verify', 'cert', '--certificate', variant('self'), '--require-signature', '--replay-store', freshStore()]);
    expect(r.code).toBe(0);
    expect(r.envelope.data.checks.find((c: any) => c.name === 'signature').details.source).toBe('self');
  });

  const tamperings: Array<[string, () => string, string[], string | string[], NodeJS.ProcessEnv?]> = [
    [
      'one byte flipped in the certificate',
      () => variant('flip', (d) => flipDigit(path.join(d, 'certificate.json'))),
      ['--expected-artifact-hash', '@hash'],
      ['VERIFY_CERT_HASH_MISMATCH', 'VERIFY_SIGNATURE_PAYLOAD_MISMATCH'],
    ],
    ['a different required commit', () => variant('commit'), ['--required-commit', 'f'.repeat(40)], 'VERIFY_COMMIT_MISMATCH'],
    ['an uppercase pin', () => variant('upper', (d) => resign(d, (c) => (c.runtime.workflow_ref = c.runtime.workflow_ref.toUpperCase()))), [], 'WORKFLOW_REF_UNPINNED'],
    ['a short pin', () => variant('short', (d) => resign(d, (c) => (c.runtime.workflow_ref = c.runtime.workflow_ref.slice(0, -30)))), [], 'WORKFLOW_REF_UNPINNED'],
    ['a changed policy file', () => variant('policy', (d) => fs.appendFileSync(path.join(d, 'policy.json'), ' ')), [], 'VERIFY_POLICY_MISMATCH'],
    ['a missing policy file under --require-policy', () => variant('nopolicy', (d) => fs.rmSync(path.join(d, 'policy.json'))), [], 'VERIFY_POLICY_MISSING'],
    ['no policy block under --require-policy', () => variant('noblock', (d) => resign(d, (c) => delete c.policy)), [], 'VERIFY_POLICY_MISSING'],
    ['an expired replay window', () => variant('expired'), [], 'VERIFY_REPLAY_EXPIRED', { SOURCE_DATE_EPOCH: '@expiry' }],
    ['a signature by an untrusted key', () => variant('untrusted'), [`--trusted-key=${crypto.generateKeyPairSync('ed25519').publicKey.export({ format: 'jwk' }).x as string}`], 'VERIFY_SIGNATURE_UNTRUSTED'],
    ['a signature moved to another payload type', () => variant('ptype', (d) => editEnvelope(d, (e) => (e.payloadType = 'application/vnd.in-toto+json'))), [], 'VERIFY_SIGNATURE_WRONG_TYPE'],
    ['a signature for another payload type relabelled', () => variant('relabel', (d) => relabel(d)), [], 'VERIFY_SIGNATURE_INVALID'],
    ['a critical_ key three levels deep', () => variant('critical', (d) => resign(d, (c) => (c.result.new_state.critical_mode = 'x'))), [], 'VERIFY_CRITICAL_EXTENSION'],
  ];

  it.each(tamperings)('fails with exit 3 on %s', (_label, make, extra, code, extraEnv) => {
    const certificate = make();
    const args = extra.map((a) => (a === '@hash' ? artifactHash : a));
    const doc = JSON.parse(fs.readFileSync(path.join(RUN(), 'certificate.json'), 'utf8'));
    const runEnv = extraEnv && { SOURCE_DATE_EPOCH: String(doc.replay.expires_at_unix + 1) };
    const r = json(strictArgs(certificate, args), { env: runEnv });
    expect(r.code).toBe(3);
    expect(r.envelope.error.code).toBe('VERIFY_FAILED');
    expect(r.envelope.error.category).toBe('verification');
    expect(r.envelope.error.details.failed).toEqual(Array.isArray(code) ? code : [code]);
  });

  it('passes twice by default, and with --consume-nonce fails the second verification as a replay', () => {
    const certificate = variant('reuse');
    const store = freshStore();
    const args = ['verify', 'cert', '--certificate', certificate, `--trusted-key=${ownKey}`, '--replay-store', store];
    expect(json(args).code).toBe(0);
    expect(json(args).code).toBe(0);
    expect(fs.existsSync(store) && fs.readFileSync(store, 'utf8').trim() !== '').toBe(false);
    expect(json([...args, '--consume-nonce']).code).toBe(0);
    const again = json([...args, '--consume-nonce']);
    expect(again.code).toBe(3);
    expect(again.envelope.error.details.failed).toEqual(['VERIFY_REPLAY_NONCE_REUSED']);
    // A consumed nonce is a replay for a plain look-up too.
    expect(json(args).envelope.error.details.failed).toEqual(['VERIFY_REPLAY_NONCE_REUSED']);
  });

  it('accepts --no-record-nonce as a no-op and --record-nonce as --consume-nonce, for existing command lines', () => {
    const args = ['verify', 'cert', '--certificate', variant('old-flags'), `--trusted-key=${ownKey}`, '--replay-store', freshStore()];
    expect(json([...args, '--no-record-nonce']).code).toBe(0);
    expect(json([...args, '--no-record-nonce']).code).toBe(0);
    expect(json([...args, '--record-nonce']).code).toBe(0);
    expect(json([...args, '--no-record-nonce']).envelope.error.details.failed).toEqual(['VERIFY_REPLAY_NONCE_REUSED']);
    const both = json([...args, '--no-record-nonce', '--consume-nonce']);
    expect(both.code).toBe(2);
    expect(both.envelope.error.code).toBe('INVALID_ARGUMENT');
  });

  it('lets exactly one of several concurrent verifiers accept a nonce', async () => {
    const certificate = variant('race');
    const store = freshStore();
    const runs = Array.from({ length: 6 }, () =>
      new Promise<{ code: number | null; out: string }>((resolve) => {
        const child = spawn(process.execPath, [BIN, 'verify', 'cert', '--certificate', certificate, '--replay-store', store, '--consume-nonce', '--json'], { cwd: project, env });
        let out = '';
        child.stdout.on('data', (d) => (out += d));
        child.on('close', (code) => resolve({ code, out }));
      }),
    );
    const results = await Promise.all(runs);
    expect(results.map((r) => r.code).sort()).toEqual([0, 3, 3, 3, 3, 3]);
    for (const r of results.filter((x) => x.code === 3)) expect(JSON.parse(r.out).error.details.failed).toEqual(['VERIFY_REPLAY_NONCE_REUSED']);
  });

  it('prints the failed checks and the error on stderr in human mode', () => {
    const r = swarm(strictArgs(variant('human-fail'), ['--required-commit', 'e'.repeat(40)]));
    expect(r.code).toBe(3);
    expect(r.stdout).toBe('');
    expect(r.stderr).toMatch(/^\s+fail\s+commit_pin\s.*\[VERIFY_COMMIT_MISMATCH\]$/m);
    expect(r.stderr).toMatch(/^\s+pass\s+signature\s/m);
    expect(r.stderr).toContain('[VERIFY_FAILED]');
  });

  it.each([
    ['a missing certificate', ['--certificate', 'nope.json'], 'FILE_NOT_FOUND'],
    ['a certificate that is not JSON', ['--certificate', '@notjson'], 'JSON_PARSE'],
    ['a short --required-commit', ['--certificate', '@good', '--required-commit', 'abc123'], 'INVALID_ARGUMENT'],
    ['a malformed --trusted-key', ['--certificate', '@good', '--trusted-key', 'abc'], 'TRUST_KEY_INVALID'],
    ['a malformed --expected-artifact-hash', ['--certificate', '@good', '--expected-artifact-hash', 'sha256:12'], 'INVALID_ARGUMENT'],
  ])('exits 2 on %s', (_label, args, code) => {
    const notJson = path.join(tmp, 'not-json.json');
    fs.writeFileSync(notJson, 'certificate?');
    const resolved = args.map((a) => (a === '@notjson' ? notJson : a === '@good' ? variant('input') : a));
    const r = json(['verify', 'cert', ...resolved, '--replay-store', freshStore()]);
    expect(r.code).toBe(2);
    expect(r.envelope.error.code).toBe(code);
  });

  it('passes a v1 certificate from another implementation, reporting the signature as skipped', () => {
    const dir = path.join(tmp, 'v1');
    fs.mkdirSync(dir, { recursive: true });
    const policy = Buffer.from('{\n  "schema_version": "agent_swarm-policy-v1"\n}\n');
    fs.writeFileSync(path.join(dir, 'policy.json'), policy);
    const cert = Buffer.from(`${JSON.stringify(v1Document(commit, sha256Digest(policy)), null, 2)}\n`);
    fs.writeFileSync(path.join(dir, 'certificate.json'), cert);
    const base = ['verify', 'cert', '--certificate', path.join(dir, 'certificate.json'), '--expected-artifact-hash', sha256Digest(cert), '--required-commit', commit, '--require-policy'];
    const r = json(base);
    expect(r.code).toBe(0);
    expect(checks(r.envelope)).toEqual({
      schema: 'pass',
      critical: 'pass',
      artifact_hash: 'pass',
      commit_pin: 'pass',
      policy: 'pass',
      replay: 'skipped',
      signature: 'skipped',
      run_status: 'skipped',
    });
    const required = json([...base, '--require-signature']);
    expect(required.code).toBe(3);
    expect(required.envelope.error.details.failed).toEqual(['VERIFY_SIGNATURE_MISSING']);
  });
});

describe('swarm verify cert as a CI gate (built binary)', () => {
  /** Writes new certificate bytes and signs exactly them with the operator's key. */
  function resignBytes(dir: string, edit: (text: string) => string): void {
    const text = fs.readFileSync(path.join(dir, 'certificate.json'), 'utf8');
    const bytes = Buffer.from(edit(text));
    expect(bytes.toString()).not.toBe(text);
    fs.writeFileSync(path.join(dir, 'certificate.json'), bytes);
    fs.writeFileSync(path.join(dir, 'certificate.dsse.json'), canonicalBytes(signDsse(CERTIFICATE_PAYLOAD_TYPE, bytes, loadSigningKey(home))));
  }

  it('reports a failed step, and fails it under --require-success (exit 3, VERIFY_RUN_NOT_SUCCEEDED)', () => {
    const launched = json(['run', 'launch', '--unsandboxed-egress', '--node', 'root', '--run-id', 'failing', '--step', 'exit 3']);
    expect(launched.code).not.toBe(0);
    const certificate = path.join(project, '.swarm', 'runs', 'failing', 'certificate.json');
    const lenient = json(strictArgs(certificate));
    expect(lenient.code).toBe(0);
    expect(lenient.envelope.data.run).toEqual({ status: 'failed', exit_code: 3 });
    expect(checks(lenient.envelope).run_status).toBe('skipped');
    const human = swarm(strictArgs(certificate));
    expect(human.stdout).toMatch(/^\s+step: failed, exit code 3$/m);
    const gate = json(strictArgs(certificate, ['--require-success']));
    expect(gate.code).toBe(3);
    expect(gate.envelope.error.code).toBe('VERIFY_FAILED');
    expect(gate.envelope.error.details.failed).toEqual(['VERIFY_RUN_NOT_SUCCEEDED']);
    // Control: the succeeded run passes the same gate.
    expect(json(strictArgs(variant('success'), ['--require-success'])).code).toBe(0);
  });

  it('fails a bound policy without its file even without --require-policy, unless --skip-policy', () => {
    const certificate = variant('policy-gone', (d) => fs.rmSync(path.join(d, 'policy.json')));
    const args = ['verify', 'cert', '--certificate', certificate, `--trusted-key=${ownKey}`, '--replay-store', freshStore()];
    const missing = json(args);
    expect(missing.code).toBe(3);
    expect(missing.envelope.error.details.failed).toEqual(['VERIFY_POLICY_MISSING']);
    const skipped = json([...args, '--skip-policy']);
    expect(skipped.code).toBe(0);
    expect(checks(skipped.envelope).policy).toBe('skipped');
    const conflict = json([...args, '--skip-policy', '--require-policy']);
    expect(conflict.code).toBe(2);
    expect(conflict.envelope.error.code).toBe('INVALID_ARGUMENT');
    // A policy file that is there is still checked under --skip-policy.
    const changed = variant('policy-changed-skip', (d) => fs.appendFileSync(path.join(d, 'policy.json'), ' '));
    expect(json(['verify', 'cert', '--certificate', changed, '--skip-policy', '--replay-store', freshStore()]).envelope.error.details.failed).toEqual(['VERIFY_POLICY_MISMATCH']);
  });

  it.each([
    ['1.0', (t: string) => t.replace(/"ratchet_step":(\d+),/, '"ratchet_step":$1.0,'), []],
    ['1e0', (t: string) => t.replace(/"ratchet_step":(\d+),/, '"ratchet_step":$1e0,'), []],
    // Beyond what the replay check can hold as a time, too.
    ['2^64', (t: string) => t.replace(/"expires_at_unix":\d+/, '"expires_at_unix":18446744073709551616'), ['VERIFY_REPLAY_INVALID']],
  ])('fails a signed certificate with an integer field written as %s (schema, exit 3)', (_label, edit, also) => {
    const certificate = variant(`float-${_label}`, (d) => resignBytes(d, edit));
    const r = json(strictArgs(certificate));
    expect(r.code).toBe(3);
    expect(r.envelope.error.details.failed).toEqual(['VERIFY_SCHEMA_INVALID', ...also]);
    const errors = r.envelope.error.details.checks[0].details.errors;
    expect(errors.map((e: any) => e.keyword)).toEqual(['integer']);
  });

  it.each([
    ['a UTF-8 byte order mark', 'bom', (t: string) => `\ufeff${t}`],
    ['a lone surrogate escape', 'lone_surrogate', (t: string) => t.replace('"runner_class":"local"', '"runner_class":"local\\ud800"')],
  ])('refuses a certificate with %s (exit 2, JSON_PARSE)', (_label, problem, edit) => {
    const certificate = variant(`text-${problem}`, (d) => resignBytes(d, edit));
    const r = json(strictArgs(certificate));
    expect(r.code).toBe(2);
    expect(r.envelope.error.code).toBe('JSON_PARSE');
    expect(r.envelope.error.details.problem).toBe(problem);
    const schema = json(['schema', 'validate', '--schema', 'certificate', '--file', certificate]);
    expect(schema.code).toBe(2);
    expect(schema.envelope.error.code).toBe('JSON_PARSE');
    expect(schema.envelope.error.details.problem).toBe(problem);
  });

  it('verifies an envelope whose payload and sig are URL-safe base64 without padding', () => {
    const toUrl = (b64: string) => Buffer.from(b64, 'base64').toString('base64url');
    const certificate = variant('base64url', (d) => editEnvelope(d, (e) => {
      e.payload = toUrl(e.payload);
      e.signatures = e.signatures.map((s: any) => ({ ...s, sig: toUrl(s.sig) }));
    }));
    const r = json(strictArgs(certificate));
    expect(r.code).toBe(0);
    expect(checks(r.envelope).signature).toBe('pass');
    const flipped = variant('base64url-flipped', (d) => {
      flipDigit(path.join(d, 'certificate.json'));
      editEnvelope(d, (e) => (e.payload = toUrl(e.payload)));
    });
    expect(json(strictArgs(flipped)).envelope.error.details.failed).toEqual(['VERIFY_SIGNATURE_PAYLOAD_MISMATCH']);
  });
});

describe('swarm verify chain (built binary, real engine runs)', () => {
  it('verifies run → fork → run back to root, and fails when a link was tampered with', () => {
    expect(json(['run', 'fork', '--node', 'run:a', '--label', 'side']).code).toBe(0);
    expect(json(['run', 'launch', '--unsandboxed-egress', '--node', 'branch:side', '--run-id', 'b', '--step', 'cat hello.txt']).code).toBe(0);
    const ok = json(['verify', 'chain', '--node', 'run:b', '--require-signature', '--require-policy']);
    expect(ok.code).toBe(0);
    expect(ok.envelope.data.links.map((l: any) => l.kind)).toEqual(['run', 'fork', 'run', 'root']);
    const policyFile = path.join(project, '.swarm', 'runs', 'a', 'policy.json');
    const original = fs.readFileSync(policyFile);
    fs.appendFileSync(policyFile, ' ');
    try {
      const bad = json(['verify', 'chain', '--node', 'run:b', '--require-policy']);
      expect(bad.code).toBe(3);
      expect(bad.envelope.error.details.failed).toEqual(['VERIFY_POLICY_MISMATCH']);
    } finally {
      fs.writeFileSync(policyFile, original);
    }
    fs.rmSync(policyFile);
    try {
      const missing = json(['verify', 'chain', '--node', 'run:b']);
      expect(missing.code).toBe(3);
      expect(missing.envelope.error.details.failed).toEqual(['VERIFY_POLICY_MISSING']);
      expect(json(['verify', 'chain', '--node', 'run:b', '--skip-policy']).code).toBe(0);
    } finally {
      fs.writeFileSync(policyFile, original);
    }
  });
});

describe('swarm verify proof (built binary)', () => {
  it('verifies an ed25519 attestation and reports an unsupported system as skipped', () => {
    const dir = path.join(tmp, 'proof');
    fs.mkdirSync(dir, { recursive: true });
    const inputs = Buffer.from('{"claim":"tests passed"}');
    fs.writeFileSync(path.join(dir, 'inputs.json'), inputs);
    const digest = sha256Digest(inputs);
    const key = loadSigningKey(home);
    const sig = crypto.sign(null, preAuthEncoding('application/vnd.swarm.proof-public-inputs.v1', Buffer.from(digest)), key.privateKey);
    const attestation = { type: 'swarm-proof-v1', proof_system: 'ed25519-attestation', public_inputs_sha256: digest, proof: { public_key: key.publicKey, signature: sig.toString('base64url') } };
    fs.writeFileSync(path.join(dir, 'attestation.json'), JSON.stringify(attestation));
    fs.writeFileSync(path.join(dir, 'zk.json'), JSON.stringify({ type: 'swarm-proof-v1', proof_system: 'groth16-bn254', public_inputs_sha256: digest, proof: 'AAAA' }));
    const args = (proof: string) => ['verify', 'proof', '--proof', path.join(dir, proof), '--public-inputs', path.join(dir, 'inputs.json')];
    const ok = json(args('attestation.json'));
    expect(ok.code).toBe(0);
    expect(checks(ok.envelope)).toEqual({ envelope: 'pass', public_inputs: 'pass', proof: 'pass' });
    const zk = json(args('zk.json'));
    expect(zk.code).toBe(0);
    expect(checks(zk.envelope).proof).toBe('skipped');
    const required = json([...args('zk.json'), '--require-proof-check']);
    expect(required.code).toBe(3);
    expect(required.envelope.error.details.failed).toEqual(['VERIFY_PROOF_UNSUPPORTED']);
    fs.writeFileSync(path.join(dir, 'inputs.json'), Buffer.concat([inputs, Buffer.from('\n')]));
    expect(json(args('attestation.json')).envelope.error.details.failed).toEqual(['VERIFY_PROOF_INPUTS_MISMATCH']);
  });
});

describe('the verifier opens no socket', () => {
  const guard = () => {
    const file = path.join(tmp, 'no-network.mjs');
    const log = path.join(tmp, 'network-attempts.log');
    fs.writeFileSync(
      file,
      `
import fs from 'node:fs';
import module from 'node:module';
import net from 'node:net';
import tls from 'node:tls';
import dgram from 'node:dgram';
import http from 'node:http';
import https from 'node:https';
import http2 from 'node:http2';
import dns from 'node:dns';
const deny = (what) => function denied() {
  fs.appendFileSync(${JSON.stringify(log)}, what + '\\n');
  const error = new Error('network access attempted: ' + what);
  error.code = 'ENETGUARD';
  throw error;
};
net.connect = deny('net.connect');
net.createConnection = deny('net.createConnection');
net.Socket.prototype.connect = deny('net.Socket.connect');
tls.connect = deny('tls.connect');
dgram.createSocket = deny('dgram.createSocket');
http.request = deny('http.request');
http.get = deny('http.get');
https.request = deny('https.request');
https.get = deny('https.get');
http2.connect = deny('http2.connect');
for (const name of ['lookup', 'resolve', 'resolve4', 'resolve6', 'resolveAny', 'reverse']) {
  dns[name] = deny('dns.' + name);
  dns.promises[name] = deny('dns.promises.' + name);
}
globalThis.fetch = deny('fetch');
module.syncBuiltinESMExports();
`,
    );
    return { file, log };
  };

  it('the guard itself catches a connection attempt', () => {
    const { file, log } = guard();
    const r = spawnSync(process.execPath, ['--import', file, '--input-type=module', '-e', "import { connect } from 'node:net'; connect(9, '127.0.0.1');"], { env, encoding: 'utf8' });
    expect(r.status).not.toBe(0);
    expect(fs.readFileSync(log, 'utf8')).toContain('net.connect');
    fs.rmSync(log);
  });

  it('verify cert, chain and proof succeed with every network API made to throw', () => {
    const { file, log } = guard();
    const node = ['--import', file];
    expect(json(strictArgs(variant('guarded'), ['--expected-artifact-hash', artifactHash]), { node }).code).toBe(0);
    expect(json(['verify', 'chain', '--node', 'run:a', '--require-signature'], { node }).code).toBe(0);
    expect(json(['verify', 'cert', '--certificate', variant('guarded-fail'), '--required-commit', 'a'.repeat(40), '--replay-store', freshStore()], { node }).code).toBe(3);
    const inputs = path.join(tmp, 'guarded-inputs.json');
    const proof = path.join(tmp, 'guarded-proof.json');
    fs.writeFileSync(inputs, '{}');
    fs.writeFileSync(proof, JSON.stringify({ type: 'swarm-proof-v1', proof_system: 'groth16-bn254', public_inputs_sha256: sha256Digest('{}'), proof: 'AAAA' }));
    expect(json(['verify', 'proof', '--proof', proof, '--public-inputs', inputs], { node }).code).toBe(0);
    expect(json(['keys', 'show'], { node }).code).toBe(0);
    expect(fs.existsSync(log)).toBe(false);
  });

  const unshare = spawnSync('unshare', ['--user', '--map-root-user', '--net', 'true']).status === 0;

  it.skipIf(!unshare)('verify cert succeeds inside a network namespace with no interfaces up', () => {
    const wrap = ['unshare', '--user', '--map-root-user', '--net'];
    const r = json(strictArgs(variant('netns'), ['--expected-artifact-hash', artifactHash]), { wrap });
    expect(r.code).toBe(0);
    const probe = spawnSync('unshare', [...wrap.slice(1), process.execPath, '-e', "require('net').connect(80, '1.1.1.1').on('error', (e) => { console.log(e.code); process.exit(0); })"], { encoding: 'utf8', timeout: 10_000 });
    expect(probe.stdout.trim()).toBe('ENETUNREACH');
  });
});

function flipDigit(file: string): void {
  const bytes = fs.readFileSync(file);
  let i = bytes.indexOf('"response_sha256":"sha256:') + 26;
  while (bytes[i]! < 0x30 || bytes[i]! > 0x39) i++;
  bytes[i] = bytes[i]! ^ 1;
  fs.writeFileSync(file, bytes);
}

function editEnvelope(dir: string, edit: (envelope: Record<string, any>) => void): void {
  const file = path.join(dir, 'certificate.dsse.json');
  const envelope = JSON.parse(fs.readFileSync(file, 'utf8'));
  edit(envelope);
  fs.writeFileSync(file, JSON.stringify(envelope));
}

/** The operator's key signs the certificate bytes as another payload type; the envelope claims a certificate. */
function relabel(dir: string): void {
  const bytes = fs.readFileSync(path.join(dir, 'certificate.json'));
  const key = loadSigningKey(home);
  const sig = crypto.sign(null, preAuthEncoding('application/octet-stream', bytes), key.privateKey).toString('base64');
  editEnvelope(dir, (e) => (e.signatures = [{ keyid: key.keyId, sig }]));
}

function v1Document(pin: string, policyHash: string): Record<string, unknown> {
  const digest = (label: string) => sha256Digest(`v1:${label}`);
  return {
    type: 'loom-agent-run-v1',
    job_id: 'job-7f3a',
    request_hash: digest('request'),
    mode: 'prompt-run',
    parent_state: { state_id: 'state-root', bundle_sha256: digest('bundle-0'), ratchet_step: 0 },
    result: {
      response_sha256: digest('response'),
      response_locator: 'artifacts/response.txt',
      new_state: { state_id: 'state-7f3a', bundle_sha256: digest('bundle-1'), bundle_manifest_sha256: digest('manifest-1') },
    },
    runtime: { workflow_ref: `acme/agents/.github/workflows/agent.yml@${pin}`, runner_class: 'github-hosted', started_at: '2024-01-01T00:00:00Z', finished_at: '2024-01-01T00:01:00Z' },
    policy: { schema_version: 'agent_swarm-policy-v1', policy_hash: policyHash, policy_ref: 'policy.json' },
    timestamp: '2024-01-01T00:01:00Z',
  };
}
